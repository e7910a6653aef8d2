#!/usr/bin/env python3
"""Local mock of the Google Gemini REST API (Gemini-native wire format).

This is the test double for the `gemini` Lua module: the busted suite starts it
(through spec/support/mock.lua), and `make demo` (.ci/with-mock) falls back to it
when no API key is configured.

Why Python (3.11+, standard library only):

* Independence. The server shares no code, no JSON library and no HTTP stack
  with the client under test (C core on libcurl + Lua). A bug in the client's
  SSE parser, JSON encoder or chunk handling cannot be mirrored by the same bug
  in the server, so the tests catch it.
* Byte-level control. Faults such as a stream cut in the middle of an event, a
  chunked body without its terminating chunk, "\\n\\n" instead of "\\r\\n\\r\\n",
  a bare pretty-printed error object in an SSE stream, a stalled socket or a
  connection closed before any response need direct access to the socket.
  http.server gives the HTTP/1.1 parsing for free and lets us write raw bytes.
* Standard library only: runs with Debian's python3 in CI, nothing from pip.

Usage:
    python3 gemini_mock.py --port 0 --key KEY [--port-file FILE]
                           [--stream-delay SECONDS] [--quiet] [--key-hint]
                           [--tls-cert CERT.pem --tls-key KEY.pem]   (HTTPS)

The server listens on 127.0.0.1. Port 0 picks a free port; the chosen port is
written atomically to --port-file and printed as "listening on 127.0.0.1:PORT".

Routing accepts any prefix before the version segment (a proxy base such as
/proxy/v1beta/...). Routes live in the ROUTES table (see `route`), so more
endpoints (files, cachedContents) can be added with a decorated function.

Control API (no auth, JSON bodies), not recorded in the request log:
    GET  /_mock/health              {"ok": true, "port": N}
    GET  /_mock/log[?since=ID]      {"requests": [entry, ...]}
    POST /_mock/reset               clear log, faults, scripts
    POST /_mock/faults  {"faults": [F, ...]}      append faults
    GET  /_mock/faults              pending faults
    POST /_mock/script  {"responses": [R, ...]}   append scripted responses
    GET  /_mock/script              pending scripted responses
    POST /_mock/shutdown            answer, then stop the server

Route modules (files_routes.py, ...) add versioned routes with `route`,
whole-path routes served without the key check with `plain_route` (a token
endpoint, a metadata server), auth schemes of their own to AUTH_CHECKS and
control endpoints to CONTROL_ROUTES. Versions: v1beta, v1, v1alpha, v1beta1.

Auth (non-control requests): "x-goog-api-key: KEY" or "Authorization: Bearer
KEY". Both -> 400 "Multiple authentication credentials received"; none -> 401
UNAUTHENTICATED; wrong key -> 400 INVALID_ARGUMENT with an ErrorInfo detail
(reason API_KEY_INVALID); any "key=" query parameter -> 400 (a client must never
put the key in the URL). The key is never echoed.

Request log entry: id, method, path (no query), query (dict, first value of
each name), headers (lower-case name -> value), body (raw, UTF-8 with
replacement), json (parsed body or null), peer ("127.0.0.1:PORT" of the client
socket, equal for requests on one kept-alive connection), status, events_sent,
events_total, completed, disconnected, t_start, t_end (epoch seconds), plus when
relevant: model, stream, sse, fault (type applied), scripted. Updated live.

Scripted responses R, consumed in order by generateContent and
streamGenerateContent requests (after auth and validation):
    {"body": {...}, "status": 200, "headers": {...}}
        non-stream answer (any status; an error body with status 4xx/5xx);
        for a stream: status 200 -> one event, other status -> that error
        response before any event.
    {"chunks": [C, ...], "delay": S}
        stream: one event per chunk (a JSON value, framed as "data: ...\r\n\r\n";
        a JSON *string* is written verbatim as its own HTTP chunk); S seconds
        between events (default --stream-delay). Non-stream: the chunks merged
        (parts of candidate 0 concatenated, other fields from the last chunk).
    {"raw": "...", "content_type": "...", "status": N}
        a verbatim body.
    In a verbatim text (a raw body, a chunk that is a JSON string) the escapes
    "\\udc80".."\\udcff" stand for the single bytes 0x80..0xFF: invalid UTF-8
    on the wire, as a hostile or broken server may send (see raw_bytes).
    Any of these with "latency": S (generateContent only): wait S seconds
    before answering (a slow model, for concurrency tests); {"latency": S}
    alone: the default answer, late.

Default answers (no script, no fault) react to the request like a real model
(see feature_answer): functionDeclarations -> functionCall part(s) with args
synthesized from the parameters schema (strings "Paris", enums their first
value, numbers 1; one call per function when the prompt says "parallel" or
"both") and a thoughtSignature on the first; a last content of
functionResponse parts -> text quoting their JSON; googleSearch / googleMaps
-> text with groundingMetadata (segment offsets in UTF-8 bytes); codeExecution
-> executableCode + codeExecutionResult + text; responseModalities IMAGE -> a
small real PNG as inlineData; responseModalities AUDIO -> a 0.25 s 440 Hz tone
as inlineData audio/L16;codec=pcm;rate=24000 (16-bit mono PCM); responseMimeType application/json -> JSON text
matching responseSchema / responseJsonSchema (propertyOrdering honoured);
thinkingConfig -> thoughtsTokenCount, and with includeThoughts a first
thought part; a gemini-3 text answer carries a thoughtSignature (in a stream,
on its own last chunk); thinkingLevel sent to a gemini-2.x model -> 400
"Thinking level is not supported for this model.". A plain prompt gets the
fixed default_answer text (it echoes the system instruction when there is one).

Faults F, POSTed to /_mock/faults, each used by the next `times` (default 1)
matching non-control requests; `match` (optional) is a substring of the request
target (path?query). "any" faults apply to every route, "gen"/"stream" ones
only to generate/stream requests (other requests skip them). status, html,
stall, close (and cut on a non-stream request) are served before the auth
check; the stream-shaped faults are taken only by a request that passed auth:
    status       any     code (500), message, status (name override),
                         retry_delay ("0.05s" -> RetryInfo detail), retry_after
                         (-> Retry-After header), details (extra), headers
                         429 also carries QuotaFailure and Help details like Google.
    html         any     code (502), body -> text/html body
    stall        any     seconds (5): read the request, send nothing, close
    close        any     read the request, close without any response
    cut          any     stream: events (1) good events, then half an event, then
                         close without the terminating chunk; non-stream: half of
                         the announced Content-Length, then close
    big          gen     bytes (1048576): 200 answer whose text part has that size
    stall_after  stream  events (1), seconds (5): events, silence, close
    slow_stream  stream  events (10), delay (0.3): the default answer in N events
    not_json     stream  after (1): good events, then "data: this is not json"
    stream_error stream  after (1), code (500), message, status, bare (false):
                         good events, then {"error": ...} as a data event, or
                         (bare) pretty-printed over several lines without "data:"
    many         stream  events (1000): tiny events "w<i> ", last with STOP
    lf           stream  the normal (or scripted) stream framed with "\n\n"
    trickle      gen     interval (1.0): the default answer one byte per interval
                         (a stream: its first event), for stall/timeout tests
The "good events" of stream faults carry no finishReason. A client that goes
away is noticed while waiting between events (the socket is polled for EOF) and
on any failed write: the entry gets disconnected=true and the handler stops.

Status names: 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
404 NOT_FOUND, 408 and 504 DEADLINE_EXCEEDED, 429 RESOURCE_EXHAUSTED, 500
INTERNAL, 502 and 503 UNAVAILABLE (google.rpc.Code has no BAD_GATEWAY).

Faults by model name (MODEL_FAULTS, listed by --help): a request to
models/mock-fail-500 (mock-fail-429, mock-cut, mock-slow, ...; on Vertex AI
paths publishers/google/models/mock-fail-500) gets that fault every time,
after auth, when no pending fault applies.
"""

import argparse
import hashlib
import http.server
import json
import os
import re
import select
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
import urllib.parse

# ---------------------------------------------------------------------------
# Constants

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",  # google.rpc.Code has no BAD_GATEWAY; gRPC maps 502 to UNAVAILABLE
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request is missing required authentication credential.",
    403: "The caller does not have permission.",
    404: "Requested entity was not found.",
    408: "Request timed out.",
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in "
         "https://developers.generativeai.google/guide/troubleshooting",
    502: "Bad gateway.",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}

T_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
T_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
T_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
T_HELP = "type.googleapis.com/google.rpc.Help"
T_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
T_LOCALIZED = "type.googleapis.com/google.rpc.LocalizedMessage"

JSON_CT = "application/json; charset=UTF-8"
HTML_502 = "<html><body><h1>502 Bad Gateway</h1></body></html>"

GEN_METHODS = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]


def _model(mid, display, desc, inp, out, methods=None, version="001", sampling=True, thinking=False):
    m = {
        "name": "models/" + mid,
        "baseModelId": mid,
        "version": version,
        "displayName": display,
        "description": desc,
        "inputTokenLimit": inp,
        "outputTokenLimit": out,
        "supportedGenerationMethods": list(methods or GEN_METHODS),
    }
    if sampling:
        m.update({"temperature": 1, "maxTemperature": 2, "topP": 0.95, "topK": 64})
    if thinking:
        m["thinking"] = True
    return m


# The fixed model catalogue served by models.get / models.list (order = list order).
MODELS = [
    _model("gemini-2.5-flash", "Gemini 2.5 Flash",
           "Stable version of Gemini 2.5 Flash (mock).", 1048576, 65536, thinking=True),
    _model("gemini-2.5-pro", "Gemini 2.5 Pro",
           "Stable release of Gemini 2.5 Pro (mock).", 1048576, 65536, thinking=True),
    _model("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite",
           "Stable version of Gemini 2.5 Flash-Lite (mock).", 1048576, 65536, thinking=True),
    _model("gemini-3-pro-preview", "Gemini 3 Pro Preview",
           "Gemini 3 Pro Preview (mock).", 1048576, 65536, version="3-pro-preview-11-2025",
           thinking=True),
    _model("gemini-3-flash-preview", "Gemini 3 Flash Preview",
           "Gemini 3 Flash Preview (mock).", 1048576, 65536, version="3-flash-preview-12-2025",
           thinking=True),
    _model("gemini-embedding-001", "Gemini Embedding 001",
           "Obtain a distributed representation of a text (mock).", 2048, 1,
           methods=["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"],
           sampling=False),
    _model("gemini-2.5-flash-image", "Nano Banana",
           "Gemini 2.5 Flash Image (mock).", 32768, 32768,
           methods=["generateContent", "countTokens", "batchGenerateContent"]),
    _model("gemini-2.0-flash", "Gemini 2.0 Flash",
           "Gemini 2.0 Flash (mock).", 1048576, 8192),
]
MODELS_BY_ID = {m["baseModelId"]: m for m in MODELS}

# Known request fields (camelCase; snake_case spellings are derived).
GENERATE_FIELDS = {
    "model", "contents", "systemInstruction", "tools", "toolConfig", "safetySettings",
    "generationConfig", "cachedContent", "serviceTier", "store",
}
GENERATION_CONFIG_FIELDS = {
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema",
    "_responseJsonSchema", "responseJsonSchemaOrdered", "responseModalities", "candidateCount",
    "maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty",
    "frequencyPenalty", "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers",
    "speechConfig", "thinkingConfig", "imageConfig", "mediaResolution",
    "audioTranscriptionConfig",
}


def _snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _with_snake(names):
    out = set(names)
    for n in names:
        out.add(_snake(n))
    # proto field response_json_schema has JSON name _responseJsonSchema
    out.add("response_json_schema")
    return out


GENERATE_FIELDS_ALL = _with_snake(GENERATE_FIELDS)
GENERATION_CONFIG_FIELDS_ALL = _with_snake(GENERATION_CONFIG_FIELDS)

# Fault types: which kind of request may consume them.
#   any      every non-control request
#   gen      generateContent and streamGenerateContent
#   stream   streamGenerateContent only
FAULT_TYPES = {
    "status": "any",
    "html": "any",
    "stall": "any",
    "close": "any",
    "cut": "any",
    "big": "gen",
    "stall_after": "stream",
    "slow_stream": "stream",
    "not_json": "stream",
    "stream_error": "stream",
    "many": "stream",
    "lf": "stream",
    "trickle": "gen",
}
GENERIC_FAULTS = {"status", "html", "stall", "close"}


def fault_applies(f, kind):
    """Whether fault F may be served to a request of this route kind."""
    scope = FAULT_TYPES[f["type"]]
    if scope == "gen":
        return kind in ("generate", "stream")
    if scope == "stream":
        return kind == "stream"
    # "any", or a scope of a route module's own (files_routes.py)
    return scope == "any" or kind == scope


# Faults chosen by the model's name, for users of the mock (a plugin's own
# tests, a curl command): every request to models/mock-fail-500 is answered
# as the fault F says, with no call to the control API. A pending fault of
# /_mock/faults comes first; a stream-shaped fault leaves other requests to
# that model (generateContent, countTokens) answered as usual.
MODEL_FAULTS = {
    "mock-fail-500": ({"type": "status", "code": 500}, "500 INTERNAL (retried by clients)"),
    "mock-fail-503": ({"type": "status", "code": 503}, "503 UNAVAILABLE (retried by clients)"),
    "mock-fail-429": ({"type": "status", "code": 429, "retry_delay": "2s", "retry_after": 2},
                      "429 RESOURCE_EXHAUSTED with RetryInfo 2s and Retry-After: 2"),
    "mock-fail-400": ({"type": "status", "code": 400}, "400 INVALID_ARGUMENT (not retried)"),
    "mock-html-502": ({"type": "html"}, "an HTML 502 page, as from a proxy"),
    "mock-close": ({"type": "close"}, "the connection closed with no answer"),
    "mock-stall": ({"type": "stall", "seconds": 60}, "no answer for 60 s, then closed"),
    "mock-cut": ({"type": "cut", "events": 2},
                 "cut mid-answer (a stream: after 2 events, mid-event)"),
    "mock-slow": ({"type": "slow_stream", "events": 10, "delay": 0.5},
                  "streams only: the answer in 10 events, 0.5 s apart"),
    "mock-stall-stream": ({"type": "stall_after", "events": 1, "seconds": 60},
                          "streams only: 1 event, then 60 s of silence, then closed"),
    "mock-not-json": ({"type": "not_json"}, "streams only: 1 event, then one that is not JSON"),
    "mock-stream-error": ({"type": "stream_error", "code": 500},
                          "streams only: 1 event, then an error object as an event"),
}


def model_fault(ctx):
    """The fault the request's model name selects (MODEL_FAULTS), or None.
    A Vertex AI path names its model "mid" (vertex_routes.MODEL)."""
    name = (ctx.params.get("model") or ctx.params.get("mid") or "").rsplit("/", 1)[-1]
    fault = MODEL_FAULTS.get(name)
    if fault is None or not fault_applies(fault[0], ctx.kind):
        return None
    return dict(fault[0])


def model_faults_help():
    lines = ["Faults chosen by the model name (send the key of --key, test-key by default):"]
    for name, (_, what) in MODEL_FAULTS.items():
        lines.append("  %-18s %s" % (name, what))
    lines += [
        "",
        "  curl -s -H 'x-goog-api-key: test-key' -H 'Content-Type: application/json' \\",
        "    -d '{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}' \\",
        "    http://127.0.0.1:PORT/v1beta/models/mock-fail-429:generateContent",
        "",
        "Streams: :streamGenerateContent?alt=sse. Any other model (gemini-2.5-flash...)",
        "answers normally. Faults for one request at a time, and scripted answers:",
        "POST /_mock/faults, /_mock/script (the control API in this file's docstring).",
    ]
    return "\n".join(lines)

VERSION_RE = re.compile(r"^(.*?)/(v1beta1|v1beta|v1alpha|v1)/(.*)$")


def raw_bytes(text):
    """A verbatim text of a script as bytes; lone surrogates U+DC80..U+DCFF
    become the bytes 0x80..0xFF (Python's surrogateescape), so a script can
    put invalid UTF-8 on the wire."""
    return text.encode("utf-8", "surrogateescape")


def dumps(obj, pretty=False):
    if pretty:
        return json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8")
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def words(text):
    return len(text.split())


def error_body(code, message, status=None, details=None):
    err = {"code": code, "message": message, "status": status or STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        err["details"] = details
    return {"error": err}


class ClientGone(Exception):
    """The client closed the connection (or a write to it failed)."""


# ---------------------------------------------------------------------------
# Shared state


RESET_HOOKS = []  # what route modules clear of their own state on /_mock/reset


class State:
    def __init__(self, key, stream_delay, quiet):
        self.key = key
        self.stream_delay = stream_delay
        self.quiet = quiet
        self.lock = threading.Lock()
        self.log = []
        self.faults = []
        self.scripts = []
        self.next_id = 1

    def new_entry(self, **fields):
        with self.lock:
            entry = {
                "id": self.next_id,
                "method": None, "path": None, "query": {}, "headers": {}, "body": "",
                "json": None, "peer": None, "status": None,
                "events_sent": 0, "events_total": 0,
                "completed": False, "disconnected": False,
                "t_start": time.time(), "t_end": None,
            }
            entry.update(fields)
            self.next_id += 1
            self.log.append(entry)
            return entry

    def update(self, entry, **fields):
        with self.lock:
            entry.update(fields)

    def log_json(self, since=0):
        with self.lock:
            return dumps({"requests": [e for e in self.log if e["id"] > since]})

    def reset(self):
        with self.lock:
            self.log = []
            self.faults = []
            self.scripts = []
        for clear in RESET_HOOKS:
            clear()

    def take_fault(self, target, kind, only=None):
        """First pending fault matching this request; consumes one use of it.
        With `only` (a predicate), a first match that fails it is left pending
        and None is returned."""
        with self.lock:
            for i, f in enumerate(self.faults):
                if not fault_applies(f, kind):
                    continue
                match = f.get("match")
                if match and match not in target:
                    continue
                if only is not None and not only(f):
                    return None
                f["_left"] -= 1
                if f["_left"] <= 0:
                    del self.faults[i]
                out = dict(f)
                out.pop("_left", None)
                return out
        return None

    def take_script(self):
        with self.lock:
            if self.scripts:
                return self.scripts.pop(0)
        return None


# ---------------------------------------------------------------------------
# Routing table

ROUTES = []  # (method, compiled regex over the path after the version, kind, function)


def route(method, pattern, kind="other"):
    """Register a handler. `pattern` is matched (fully) against the URL-decoded
    path after "/<version>/"; named groups become ctx.params. `kind` is
    "generate", "stream" or "other" and decides which faults apply."""
    rx = re.compile(pattern + r"\Z")

    def deco(fn):
        ROUTES.append((method, rx, kind, fn))
        return fn
    return deco


PLAIN_ROUTES = []  # (method, compiled regex over the whole path, function)


def plain_route(method, pattern):
    """Register a handler for a whole path outside the API's versions (an
    OAuth token endpoint, a metadata server): matched before the versioned
    routes and served without the API key check (the handler checks what
    it needs); the "any" faults apply to it as to every request."""
    rx = re.compile(pattern + r"\Z")

    def deco(fn):
        PLAIN_ROUTES.append((method, rx, fn))
        return fn
    return deco


AUTH_CHECKS = []  # fn(ctx) -> None (not mine) | True (passed) | False (answered)

CONTROL_ROUTES = {}  # (method, path) -> fn(state, data, query) -> (status, obj)


def wrap_routes(kinds, wrapper):
    """Replaces the function of every route of these kinds by
    wrapper(function): how a route module puts its checks in front of the
    generate routes."""
    for i, (m, rx, kind, fn) in enumerate(ROUTES):
        if kind in kinds:
            ROUTES[i] = (m, rx, kind, wrapper(fn))


def find_route(method, rest, after=None):
    """(function, kind, params) of the route for this method and path, or
    (None, "other", {}) when nothing matches. With `after` (a route's
    function), only the routes registered after it: how a route that does
    not know a request hands it on."""
    skip = after is not None
    for m, rx, kind, fn in ROUTES:
        if skip:
            skip = fn is not after
            continue
        mo = rx.match(rest)
        if mo and (m == method or m == "*"):
            return fn, kind, mo.groupdict()
    return None, "other", {}


# ---------------------------------------------------------------------------
# Request context handed to route handlers


class Ctx:
    def __init__(self, h, entry, method, path, target, query, headers, body, prefix, version, rest):
        self.h = h
        self.state = h.server.state
        self.entry = entry
        self.method = method
        self.path = path
        self.target = target
        self.query = query
        self.headers = headers
        self.body = body
        self.prefix = prefix
        self.version = version
        self.rest = rest
        self.params = {}
        self.kind = "other"
        self.fault = None
        self._json = None
        self._json_err = None
        if body.strip():
            try:
                self._json = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                self._json_err = str(e)
        self.state.update(entry, json=self._json)

    def update(self, **fields):
        self.state.update(self.entry, **fields)

    # -- responses ---------------------------------------------------------

    def send_json(self, status, obj, headers=None):
        self.h.send_bytes(status, dumps(obj), JSON_CT, headers)

    def send_error(self, code, message=None, status=None, details=None, headers=None):
        if message is None:
            message = DEFAULT_MESSAGES.get(code, "Error.")
        self.send_json(code, error_body(code, message, status, details), headers)

    def json_object(self):
        """The request body as a dict ({} when empty), or None after sending a 400."""
        if self._json_err is not None:
            self.send_error(400, "Invalid JSON payload received. " + self._json_err)
            return None
        if self._json is None:
            return {}
        if not isinstance(self._json, dict):
            self.send_error(400, "Invalid JSON payload received. Expected an object at the top level.")
            return None
        return self._json

    def stream(self, framing):
        return Stream(self, framing)


class Stream:
    """A chunked streaming response; one HTTP chunk per event."""

    def __init__(self, ctx, framing):
        self.ctx = ctx
        self.h = ctx.h
        self.sock = ctx.h.connection
        self.framing = framing  # "sse", "sse-lf" or "array"
        self.chunked = ctx.h.request_version != "HTTP/1.0"
        self.count = 0   # events sent
        self.items = 0   # JSON items written (array framing)

    def start(self, total):
        h = self.h
        h.send_response(200)
        if self.framing == "array":
            h.send_header("Content-Type", JSON_CT)
        else:
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Cache-Control", "no-cache")
        if self.chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.close_connection = True
            h.send_header("Connection", "close")
        h.send_header("X-Mock-Request-Id", str(self.ctx.entry["id"]))
        h.end_headers()
        self.ctx.update(status=200, events_total=total)

    def _chunk(self, payload):
        if not self.chunked:
            return payload
        return b"%x\r\n" % len(payload) + payload + b"\r\n"

    def send_raw(self, payload):
        if not payload:
            return
        if self.h.peer_closed():
            raise ClientGone()
        self.h.sendall(self._chunk(payload))

    def frame(self, obj):
        data = obj if isinstance(obj, bytes) else dumps(obj)
        if self.framing == "array":
            prefix = b"[" if self.items == 0 else b",\r\n"
            self.items += 1
            return prefix + data
        sep = b"\n\n" if self.framing == "sse-lf" else b"\r\n\r\n"
        return b"data: " + data + sep

    def event(self, obj):
        """Send one event. `obj` is a JSON value (framed), or a str: raw bytes
        written as they are in their own HTTP chunk."""
        if isinstance(obj, str):
            payload = raw_bytes(obj)
        else:
            payload = self.frame(obj)
        self.send_raw(payload)
        self.count += 1
        self.ctx.update(events_sent=self.count)

    def play(self, events, delay):
        for i, ev in enumerate(events):
            if i and delay > 0:
                self.h.wait(delay)
            self.event(ev)

    def finish(self):
        if self.framing == "array":
            self.send_raw(b"[]" if self.items == 0 else b"]")
        if self.chunked:
            self.h.sendall(b"0\r\n\r\n")
        self.ctx.update(completed=True)

    def abort(self):
        """End without the terminating chunk: the connection is closed."""
        self.h.close_connection = True


# ---------------------------------------------------------------------------
# Content helpers


def part_texts(content):
    out = []
    if isinstance(content, dict):
        for p in content.get("parts") or []:
            if isinstance(p, dict) and isinstance(p.get("text"), str):
                out.append(p["text"])
    return out


def contents_list(req):
    c = req.get("contents")
    return c if isinstance(c, list) else []


def request_word_count(req):
    n = 0
    for c in contents_list(req):
        for t in part_texts(c):
            n += words(t)
    si = req.get("systemInstruction", req.get("system_instruction"))
    for t in part_texts(si):
        n += words(t)
    return n


def last_user_text(req):
    for c in reversed(contents_list(req)):
        if isinstance(c, dict) and c.get("role", "user") == "user":
            texts = part_texts(c)
            if texts:
                return " ".join(texts)
    return ""


# --key-hint: the answer says how to ask the real model (`make demo` with no
# key); a mock started on purpose does not.
KEY_HINT = False


def default_answer(req):
    asked = last_user_text(req)[:200]
    text = "This answer comes from the local gemini mock server. You asked: \"%s\"." % asked
    if KEY_HINT:
        text += " Set GEMINI_API_KEY (or COMETAPI_KEY with GEMINI_BASE_URL) to ask the real model."
    # A system instruction is acknowledged, so its effect can be seen.
    si = " ".join(part_texts(req.get("systemInstruction", req.get("system_instruction"))))
    if si:
        text += " System instruction followed: \"%s\"." % si[:200]
    return text


def tokens_of(text):
    toks = re.findall(r"\S+\s*", text)
    lead = re.match(r"\s*", text).group(0)
    if toks and lead:
        toks[0] = lead + toks[0]
    return toks or [text]


def group(toks, n_groups):
    """Split a token list into n_groups runs as evenly as possible."""
    out = []
    total = len(toks)
    for i in range(n_groups):
        a = (i * total) // n_groups
        b = ((i + 1) * total) // n_groups
        out.append("".join(toks[a:b]))
    return out


def model_id(model):
    return model[len("models/"):] if model.startswith("models/") else model


def gen_response(text, model, rid, prompt_tokens, cand_tokens, finish=True):
    cand = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        cand["finishReason"] = "STOP"
    usage = {"promptTokenCount": prompt_tokens}
    if cand_tokens:
        usage["candidatesTokenCount"] = cand_tokens
    usage["totalTokenCount"] = prompt_tokens + cand_tokens
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt_tokens}]
    return {"candidates": [cand], "usageMetadata": usage, "modelVersion": model_id(model),
            "responseId": rid}


def stream_events(pieces, model, rid, prompt_tokens, finish_last=True):
    """Events for text deltas `pieces`; usage on every chunk, STOP on the last."""
    events = []
    so_far = 0
    for i, piece in enumerate(pieces):
        so_far += words(piece)
        last = i == len(pieces) - 1
        events.append(gen_response(piece, model, rid, prompt_tokens, so_far,
                                   finish=(last and finish_last)))
    return events


def merge_chunks(chunks):
    """A non-stream answer from scripted chunks: parts of candidate 0 joined."""
    merged = None
    parts = []
    finish = None
    for ch in chunks:
        if not isinstance(ch, dict):
            continue
        if "error" in ch:
            return ch
        merged = json.loads(json.dumps(ch))
        cands = ch.get("candidates") or []
        if cands and isinstance(cands[0], dict):
            parts.extend(((cands[0].get("content") or {}).get("parts")) or [])
            if cands[0].get("finishReason"):
                finish = cands[0]["finishReason"]
    if merged is None:
        return {}
    cands = merged.get("candidates") or []
    if cands:
        c0 = cands[0]
        c0.setdefault("content", {"role": "model"})
        c0["content"]["parts"] = parts
        if finish:
            c0["finishReason"] = finish
    return merged


def embedding_values(text, dim):
    raw = hashlib.shake_256(text.encode("utf-8")).digest(2 * dim)
    vals = [int.from_bytes(raw[2 * i:2 * i + 2], "big") / 32767.5 - 1.0 for i in range(dim)]
    norm = sum(v * v for v in vals) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in vals]


def model_ok_for_generate(model):
    if model.startswith("tunedModels/"):
        return True
    mid = model_id(model)
    return mid in MODELS_BY_ID or mid.startswith("gemini-") or mid.startswith("mock-")


def not_found_model(ctx, model, method="generateContent"):
    ctx.send_error(404, "%s is not found for API version %s, or is not supported for %s. "
                        "Call ListModels to see the list of available models and their "
                        "supported methods." % (model, ctx.version, method))


def unknown_field_error(ctx, name, where=None):
    at = " at '%s'" % where if where else ""
    field = (where + "." + name) if where else name
    ctx.send_error(400, 'Invalid JSON payload received. Unknown name "%s"%s: Cannot find field.'
                   % (name, at),
                   details=[{"@type": T_BAD_REQUEST, "fieldViolations": [
                       {"field": field, "description": 'Invalid JSON payload received. Unknown '
                        'name "%s"%s: Cannot find field.' % (name, at)}]}])


def validate_generate(ctx, req, what="GenerateContentRequest"):
    """Google-like checks of a GenerateContentRequest; sends a 400 and returns
    False when the request is invalid."""
    for k in req:
        if k not in GENERATE_FIELDS_ALL:
            unknown_field_error(ctx, k)
            return False
    gc = req.get("generationConfig", req.get("generation_config"))
    if gc is not None:
        if not isinstance(gc, dict):
            ctx.send_error(400, "Invalid JSON payload received. Invalid value at "
                                "'generation_config': expected an object.")
            return False
        for k in gc:
            if k not in GENERATION_CONFIG_FIELDS_ALL:
                unknown_field_error(ctx, k, "generation_config")
                return False
    contents = req.get("contents")
    if not isinstance(contents, list) or not contents:
        ctx.send_error(400, "* %s.contents: contents is not specified" % what)
        return False
    for i, c in enumerate(contents):
        if not isinstance(c, dict) or not isinstance(c.get("parts"), list) or not c["parts"]:
            ctx.send_error(400, "* %s.contents[%d].parts: contents.parts must not be empty."
                           % (what, i))
            return False
        role = c.get("role")
        if role is not None and role not in ("user", "model"):
            ctx.send_error(400, "Please use a valid role: user, model.")
            return False
    si = req.get("systemInstruction", req.get("system_instruction"))
    if si is not None and not isinstance(si, dict):
        ctx.send_error(400, "Invalid JSON payload received. Invalid value at "
                            "'system_instruction': expected an object.")
        return False
    return True


# ---------------------------------------------------------------------------
# Feature answers: with no script or fault, the default answer reacts to what
# the request asks for, like a real model would: function calls for declared
# functions (with a Gemini 3 style thoughtSignature), a text answer quoting
# function responses, grounding metadata for googleSearch / googleMaps, code
# execution parts, an inline PNG for responseModalities IMAGE, JSON text
# matching responseSchema / responseJsonSchema, thought summaries for
# thinkingConfig.includeThoughts. A plain prompt keeps default_answer.

CITIES = ["Paris", "London", "Tokyo"]


def _camel(name):
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def _get(d, camel):
    """d[camel], or d[snake_case spelling]; None when absent or d is no dict."""
    if not isinstance(d, dict):
        return None
    v = d.get(camel)
    if v is None:
        v = d.get(_snake(camel))
    return v


def _thinking_config(req):
    tc = _get(_get(req, "generationConfig"), "thinkingConfig")
    return tc if isinstance(tc, dict) else None


def model_generation(model):
    """2 for gemini-2.x, 3 for gemini-3.x, else None."""
    mo = re.match(r"gemini-(\d+)[.-]", model_id(model))
    return int(mo.group(1)) if mo else None


def thinking_error(req, model):
    """Google's 400 message for a thinking level sent to a Gemini 2.x model."""
    tc = _thinking_config(req)
    if tc is not None and _get(tc, "thinkingLevel") is not None and model_generation(model) == 2:
        return "Thinking level is not supported for this model."
    return None


def _tools(req):
    """(function declarations, {tool kind: config}) of the request."""
    decls, kinds = [], {}
    tools = _get(req, "tools")
    for t in tools if isinstance(tools, list) else []:
        if not isinstance(t, dict):
            continue
        for k, v in t.items():
            k = _camel(k)
            if k == "functionDeclarations" and isinstance(v, list):
                decls.extend(d for d in v if isinstance(d, dict))
            elif k in ("googleSearch", "googleSearchRetrieval"):
                kinds["search"] = v
            elif k == "googleMaps":
                kinds["maps"] = v if isinstance(v, dict) else {}
            elif k == "codeExecution":
                kinds["code"] = v
            elif k == "urlContext":
                kinds["url"] = v
    return decls, kinds


def _last_function_responses(req):
    """[(name, response)] of the last content, when it holds functionResponse parts."""
    contents = contents_list(req)
    if not contents or not isinstance(contents[-1], dict):
        return []
    out = []
    for p in contents[-1].get("parts") or []:
        fr = _get(p, "functionResponse")
        if isinstance(fr, dict):
            out.append((fr.get("name"), fr.get("response")))
    return out


def _int_or(v, default):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def synth_value(schema, name="", k=0, strings=None, depth=0):
    """A value that matches a Gemini Schema or a JSON Schema (types in either
    case, propertyOrdering honoured, enums -> first value, numbers 1 clamped
    to minimum/maximum). `strings` picks plain strings (function args use
    city names); otherwise "<name> <k+1>"."""
    if not isinstance(schema, dict) or depth > 12:
        return None
    for key in ("anyOf", "any_of", "oneOf"):
        alts = schema.get(key)
        if isinstance(alts, list) and alts:
            pick = next((a for a in alts if isinstance(a, dict)
                         and str(a.get("type", "")).upper() != "NULL"), alts[0])
            return synth_value(pick, name, k, strings, depth + 1)
    if "const" in schema:
        return schema["const"]
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if str(t).upper() != "NULL"), "null")
    typ = str(typ).upper() if typ is not None else (
        "OBJECT" if "properties" in schema else "ARRAY" if "items" in schema else "STRING")
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        v = enum[0]
        if typ == "INTEGER" and isinstance(v, str):
            return _int_or(v, v)
        if typ == "NUMBER" and isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                return v
        return v
    if typ == "OBJECT":
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        order = schema.get("propertyOrdering", schema.get("property_ordering")) or []
        keys = [p for p in order if p in props] + [p for p in props if p not in order]
        return {p: synth_value(props[p], p, k, strings, depth + 1) for p in keys}
    if typ == "ARRAY":
        lo = _int_or(schema.get("minItems", schema.get("min_items")), 0)
        hi = schema.get("maxItems", schema.get("max_items"))
        n = max(lo, 2)
        if hi is not None:
            n = min(n, _int_or(hi, n))
        return [synth_value(schema.get("items"), name, i, strings, depth + 1) for i in range(n)]
    if typ in ("INTEGER", "NUMBER"):
        v = 1
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        hi = schema.get("maximum", schema.get("exclusiveMaximum"))
        if isinstance(lo, (int, float)) and v < lo:
            v = lo + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
        if isinstance(hi, (int, float)) and v > hi:
            v = hi
        return int(v) if typ == "INTEGER" else v
    if typ == "BOOLEAN":
        return True
    if typ == "NULL":
        return None
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2025-01-01T12:00:00Z"
    if fmt == "date":
        return "2025-01-01"
    s = strings[k % len(strings)] if strings else ("%s %d" % (name or "text", k + 1))
    lo = _int_or(schema.get("minLength", schema.get("min_length")), 0)
    hi = schema.get("maxLength", schema.get("max_length"))
    if len(s) < lo:
        s += "x" * (lo - len(s))
    if hi is not None:
        s = s[:max(0, _int_or(hi, len(s)))]
    return s


def _signature(rid, n=0):
    import base64
    return base64.b64encode(("mock-thought-signature:%s:%d" % (rid, n)).encode()).decode()


def _function_calls(req, decls, rid):
    fcc = _get(_get(req, "toolConfig"), "functionCallingConfig") or {}
    if str(_get(fcc, "mode") or "AUTO").upper() == "NONE":
        return None
    allowed = _get(fcc, "allowedFunctionNames")
    if isinstance(allowed, list) and allowed:
        decls = [d for d in decls if d.get("name") in allowed] or decls
    prompt = last_user_text(req).lower()
    n = 1
    if re.search(r"\b(parallel|both)\b", prompt):
        n = max(2, min(len(decls), 3))
    parts = []
    for i in range(n):
        d = decls[i % len(decls)]
        params = d.get("parameters")
        if params is None:
            params = _get(d, "parametersJsonSchema")
        args = synth_value(params, strings=CITIES[i:] + CITIES[:i]) if params else {}
        part = {"functionCall": {"name": d.get("name"), "args": args if isinstance(args, dict)
                                 else {}}}
        if i == 0:
            part["thoughtSignature"] = _signature(rid)
        parts.append(part)
    return parts


def _utf8_len(s):
    return len(s.encode("utf-8"))


def _grounded(sentences):
    """(text, supports) from [(sentence, [chunk indices])]: segment offsets
    are byte offsets into the UTF-8 text, startIndex left out when 0 (proto3
    JSON omits zero values, as Google's answers do)."""
    text, supports, pos = "", [], 0
    for s, idx in sentences:
        start = pos
        pos += _utf8_len(s)
        text += s
        if idx:
            seg = {"endIndex": pos, "text": s.strip()}
            lead = _utf8_len(s) - _utf8_len(s.lstrip())
            if start + lead:
                seg["startIndex"] = start + lead
            supports.append({"segment": seg, "groundingChunkIndices": idx})
    return text, supports


def _search_answer(req):
    q = last_user_text(req)[:80] or "your question"
    chunks = [{"web": {"uri": "https://example.com/mock-search/1", "title": "example.com"}},
              {"web": {"uri": "https://example.org/mock-search/2", "title": "example.org"}}]
    text, supports = _grounded([
        ("The mock searched the web for \u201c%s\u201d." % q, [0]),
        (" Two sources \u2014 example.com and example.org \u2014 agree on the answer.", [0, 1]),
        (" This last sentence cites no source.", []),
    ])
    meta = {"webSearchQueries": [q],
            "searchEntryPoint": {"renderedContent": "<div class=\"mock-search\">%s</div>"
                                 % q.replace("<", "&lt;")},
            "groundingChunks": chunks, "groundingSupports": supports}
    return text, meta


def _maps_answer(req, cfg):
    q = last_user_text(req)[:80] or "places"
    chunks = [{"maps": {"uri": "https://maps.google.com/?cid=1001", "title": "Caf\u00e9 Mock",
                        "placeId": "places/ChIJmock0001"}},
              {"maps": {"uri": "https://maps.google.com/?cid=1002", "title": "Boulangerie Lua",
                        "placeId": "places/ChIJmock0002"}}]
    text, supports = _grounded([
        ("For \u201c%s\u201d the mock suggests Caf\u00e9 Mock, 1 Rue de la Paix (4.6\u2605)." % q,
         [0]),
        (" Boulangerie Lua, 2 Avenue du Test, is a short walk away (4.8\u2605).", [1]),
    ])
    meta = {"groundingChunks": chunks, "groundingSupports": supports}
    if isinstance(cfg, dict) and _get(cfg, "enableWidget"):
        meta["googleMapsWidgetContextToken"] = "widgetcontent/mock-widget-token"
    return text, meta


def _code_parts():
    primes, n = [], 2
    while len(primes) < 50:
        if all(n % p for p in primes if p * p <= n):
            primes.append(n)
        n += 1
    code = ("def is_prime(n):\n"
            "    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))\n\n"
            "primes = []\n"
            "n = 2\n"
            "while len(primes) < 50:\n"
            "    if is_prime(n):\n"
            "        primes.append(n)\n"
            "    n += 1\n"
            "print(sum(primes))\n")
    total = sum(primes)
    return [{"text": "I will compute this with Python.\n"},
            {"executableCode": {"language": "PYTHON", "code": code}},
            {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "%d\n" % total}},
            {"text": "The sum of the first 50 prime numbers is %d." % total}]


def mock_png(w=16, h=16):
    """A small valid PNG (an RGB gradient), built with zlib."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"".join(bytes((x * 255 // (w - 1), y * 255 // (h - 1), 160))
                                       for x in range(w)) for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


TTS_MIME = "audio/L16;codec=pcm;rate=24000"


def mock_tone(rate=24000, seconds=0.25, hz=440):
    """A short sine tone as a TTS answer's audio: headerless 16-bit mono
    little-endian PCM (what Gemini labels TTS_MIME)."""
    import math
    import struct
    n = int(rate * seconds)
    return struct.pack("<%dh" % n, *(int(8000 * math.sin(2 * math.pi * hz * i / rate))
                                     for i in range(n)))


def feature_answer(req, model, rid):
    """{"parts": [...], "extra": {candidate fields}, "thoughts": n} for a
    request that asks for a feature, or None for a plain prompt."""
    decls, kinds = _tools(req)
    gc = _get(req, "generationConfig") or {}
    tc = _thinking_config(req)
    modalities = [str(m).upper() for m in (_get(gc, "responseModalities") or [])]
    mime = _get(gc, "responseMimeType")
    schema = _get(gc, "responseJsonSchema") or gc.get("_responseJsonSchema") \
        or _get(gc, "responseSchema")
    gen3 = model_generation(model) == 3
    parts, extra = None, {}
    responses = _last_function_responses(req)
    if responses:
        quoted = "; ".join("%s returned %s" % (name, json.dumps(resp, ensure_ascii=False,
                                                                 separators=(",", ":")))
                           for name, resp in responses)
        parts = [{"text": "The function results are in: %s." % quoted}]
    elif decls:
        parts = _function_calls(req, decls, rid)
    if parts is None and "code" in kinds:
        parts = _code_parts()
    if parts is None and ("search" in kinds or "maps" in kinds):
        texts, meta = [], {"groundingChunks": [], "groundingSupports": []}
        for kind in ("search", "maps"):
            if kind not in kinds:
                continue
            t, m = _search_answer(req) if kind == "search" else _maps_answer(req, kinds["maps"])
            base, off = len(meta["groundingChunks"]), sum(_utf8_len(x) for x in texts)
            if texts:
                t = " " + t
                off += 1
            for s in m.pop("groundingSupports"):
                s["groundingChunkIndices"] = [i + base for i in s["groundingChunkIndices"]]
                seg = s["segment"]
                seg["endIndex"] += off
                if seg.get("startIndex", 0) + off:
                    seg["startIndex"] = seg.get("startIndex", 0) + off
                meta["groundingSupports"].append(s)
            meta["groundingChunks"].extend(m.pop("groundingChunks"))
            meta.update(m)
            texts.append(t)
        parts = [{"text": "".join(texts)}]
        extra["groundingMetadata"] = meta
    if parts is None and "url" in kinds:
        urls = re.findall(r"https?://[^\s\"'<>]+", last_user_text(req))
        parts = [{"text": "The mock read %d page(s): %s." % (len(urls), ", ".join(urls) or "none")}]
        extra["urlContextMetadata"] = {"urlMetadata": [
            {"retrievedUrl": u, "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS"}
            for u in urls]}
    if parts is None and "IMAGE" in modalities:
        import base64
        parts = [{"text": "Here is a small gradient image from the mock server."},
                 {"inlineData": {"mimeType": "image/png",
                                 "data": base64.b64encode(mock_png()).decode()}}]
    if parts is None and "AUDIO" in modalities:  # text-to-speech: the audio alone
        import base64
        parts = [{"inlineData": {"mimeType": TTS_MIME, "data": base64.b64encode(mock_tone()).decode()}}]
    if parts is None and mime == "application/json":
        value = synth_value(schema) if isinstance(schema, dict) else \
            {"answer": "This JSON comes from the local gemini mock server.", "mock": True}
        parts = [{"text": json.dumps(value, ensure_ascii=False)}]
    if parts is None and tc is None:
        return None
    if parts is None:
        parts = [{"text": default_answer(req)}]
    thoughts = 0
    budget = _get(tc, "thinkingBudget") if tc else None
    if tc is not None and budget != 0:
        summary = ("**Planning the answer**\n\nThe mock server read the request and decided"
                   " what a real model would answer.")
        thoughts = 3 * words(summary)
        if _get(tc, "includeThoughts"):
            parts = [{"text": summary, "thought": True}] + parts
    if gen3 and not any("thoughtSignature" in p for p in parts):
        last = parts[-1]
        if "text" in last and not last.get("thought"):
            last["thoughtSignature"] = _signature(rid, 1)
    return {"parts": parts, "extra": extra, "thoughts": thoughts}


def _part_tokens(p):
    if isinstance(p.get("text"), str):
        return words(p["text"])
    return 1 if "inlineData" not in p else 258


def _usage(prompt, cand, thoughts):
    u = {"promptTokenCount": prompt}
    if cand:
        u["candidatesTokenCount"] = cand
    if thoughts:
        u["thoughtsTokenCount"] = thoughts
    u["totalTokenCount"] = prompt + cand + thoughts
    u["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    return u


def answer_response(ans, model, rid, prompt):
    """The generateContent body of a feature answer."""
    parts = ans["parts"]
    cand = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
    cand.update(ans["extra"])
    answer_tokens = sum(_part_tokens(p) for p in parts if not p.get("thought"))
    return {"candidates": [cand], "usageMetadata": _usage(prompt, answer_tokens, ans["thoughts"]),
            "modelVersion": model_id(model), "responseId": rid}


def answer_events(ans, model, rid, prompt):
    """The same answer as stream events: text in runs of a few words
    (thoughts first), function calls whole in one event, each other part in
    its own event, a text part's thoughtSignature in its own last event
    (as Gemini 3 streams it); candidate extras, finishReason and the thought
    token count on the last event."""
    groups = []
    calls = []
    sig_event = None
    for p in ans["parts"]:
        if "functionCall" in p:
            calls.append(p)
            continue
        if calls:
            groups.append(calls)
            calls = []
        if isinstance(p.get("text"), str):
            toks = tokens_of(p["text"])
            size = 6 if p.get("thought") else 3
            for i in range(0, len(toks), size):
                q = {"text": "".join(toks[i:i + size])}
                if p.get("thought"):
                    q["thought"] = True
                groups.append([q])
            if "thoughtSignature" in p:
                sig_event = [{"text": "", "thoughtSignature": p["thoughtSignature"]}]
        else:
            groups.append([p])
    if calls:
        groups.append(calls)
    if sig_event:
        groups.append(sig_event)
    events, so_far = [], 0
    for i, g in enumerate(groups):
        so_far += sum(_part_tokens(p) for p in g if not p.get("thought"))
        last = i == len(groups) - 1
        cand = {"content": {"role": "model", "parts": g}, "index": 0}
        if last:
            cand["finishReason"] = "STOP"
            cand.update(ans["extra"])
        events.append({"candidates": [cand],
                       "usageMetadata": _usage(prompt, so_far, ans["thoughts"] if last else 0),
                       "modelVersion": model_id(model), "responseId": rid})
    return events


# ---------------------------------------------------------------------------
# Routes: models


MODEL_PATH = r"(?P<model>(?:models|tunedModels)/[^:/]+)"


def _generate_common(ctx):
    req = ctx.json_object()
    if req is None:
        return None
    model = ctx.params["model"]
    if not model_ok_for_generate(model):
        not_found_model(ctx, model)
        return None
    if not validate_generate(ctx, req):
        return None
    msg = thinking_error(req, model)
    if msg:
        ctx.send_error(400, msg)
        return None
    ctx.update(model=model)
    return req


@route("POST", MODEL_PATH + r":generateContent", "generate")
def generate_content(ctx):
    req = _generate_common(ctx)
    if req is None:
        return
    model = ctx.params["model"]
    rid = "mock-%06d" % ctx.entry["id"]
    prompt = max(1, request_word_count(req))
    f = ctx.fault
    if f and f["type"] == "big":
        n = int(f.get("bytes", 1 << 20))
        text = ("0123456789" * (n // 10 + 1))[:n]
        ctx.send_json(200, gen_response(text, model, rid, prompt, max(1, n // 5)))
        ctx.update(completed=True)
        return
    if f and f["type"] == "trickle":
        body = dumps(gen_response(default_answer(req), model, rid, prompt, 10))
        h = ctx.h
        h.send_response(200)
        h.send_header("Content-Type", JSON_CT)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        ctx.update(status=200)
        for i in range(len(body)):
            h.wait(float(f.get("interval", 1.0)))
            h.sendall(body[i:i + 1])
        ctx.update(completed=True)
        return
    script = ctx.state.take_script()
    if script is not None and float(script.get("latency", 0)) > 0:
        ctx.h.wait(float(script["latency"]))
        if not any(k in script for k in ("body", "chunks", "raw")):
            script = None
    if script is not None:
        ctx.update(scripted=True)
        headers = script.get("headers")
        if "chunks" in script:
            body = merge_chunks(script["chunks"])
            status = script.get("status", 200)
            if "error" in body and isinstance(body["error"], dict) and status == 200:
                status = int(body["error"].get("code", 500))
            ctx.send_json(status, body, headers)
        elif "raw" in script:
            ctx.h.send_bytes(int(script.get("status", 200)), raw_bytes(script["raw"]),
                             script.get("content_type", JSON_CT), headers)
        else:
            ctx.send_json(int(script.get("status", 200)), script.get("body", {}), headers)
        ctx.update(completed=True)
        return
    ans = feature_answer(req, model, rid)
    if ans is not None:
        ctx.send_json(200, answer_response(ans, model, rid, prompt))
        ctx.update(completed=True)
        return
    text = default_answer(req)
    ctx.send_json(200, gen_response(text, model, rid, prompt, words(text)))
    ctx.update(completed=True)


@route("POST", MODEL_PATH + r":streamGenerateContent", "stream")
def stream_generate_content(ctx):
    req = _generate_common(ctx)
    if req is None:
        return
    model = ctx.params["model"]
    rid = "mock-%06d" % ctx.entry["id"]
    prompt = max(1, request_word_count(req))
    sse = ctx.query.get("alt") == "sse"
    framing = "sse" if sse else "array"
    f = ctx.fault
    ftype = f["type"] if f else None
    if ftype == "lf" and sse:
        framing = "sse-lf"
    delay = float(f.get("delay", ctx.state.stream_delay)) if f else ctx.state.stream_delay
    ctx.update(stream=True, sse=sse)
    st = ctx.stream(framing)
    answer = default_answer(req)
    toks = tokens_of(answer)

    def good_events(k):
        # k events without finishReason: the default answer, then filler.
        pieces = ["".join(toks[i:i + 3]) for i in range(0, len(toks), 3)][:k]
        while len(pieces) < k:
            pieces.append("more ")
        return stream_events(pieces, model, rid, prompt, finish_last=False)

    if ftype == "trickle":
        payload = st.frame(stream_events(["".join(toks)], model, rid, prompt)[0])
        st.start(1)
        for i in range(len(payload)):
            ctx.h.wait(float(f.get("interval", 1.0)))
            st.send_raw(payload[i:i + 1])
        st.count = 1
        st.finish()
        return
    if ftype == "many":
        stream_many(ctx, st, int(f.get("events", 1000)), model, rid, prompt)
        return
    if ftype == "slow_stream":
        n = max(1, int(f.get("events", 10)))
        delay = float(f.get("delay", 0.3))
        events = stream_events(group(toks, n), model, rid, prompt)
        st.start(len(events))
        st.play(events, delay)
        st.finish()
        return
    if ftype == "stall_after":
        k = int(f.get("events", 1))
        st.start(k)
        st.play(good_events(k), delay)
        ctx.h.wait(float(f.get("seconds", 5)))
        st.abort()
        return
    if ftype == "cut":
        k = int(f.get("events", 1))
        events = good_events(k + 1)
        st.start(k)
        st.play(events[:k], delay)
        if k and delay > 0:
            ctx.h.wait(delay)
        whole = st.frame(events[k])
        st.send_raw(whole[:len(whole) // 2])
        st.abort()
        return
    if ftype == "not_json":
        k = int(f.get("after", 1))
        st.start(k + 1)
        st.play(good_events(k), delay)
        if k and delay > 0:
            ctx.h.wait(delay)
        st.event(b"this is not json")
        st.finish()
        return
    if ftype == "stream_error":
        k = int(f.get("after", 1))
        code = int(f.get("code", 500))
        err = error_body(code, f.get("message") or DEFAULT_MESSAGES.get(code, "Error."),
                         f.get("status"))
        st.start(k + 1)
        st.play(good_events(k), delay)
        if k and delay > 0:
            ctx.h.wait(delay)
        if f.get("bare"):
            st.event(dumps(err, pretty=True).decode("utf-8") + "\n\n")
        else:
            st.event(err)
        st.finish()
        return
    if ftype == "big":
        n = int(f.get("bytes", 1 << 20))
        text = ("0123456789" * (n // 10 + 1))[:n]
        st.start(1)
        st.event(gen_response(text, model, rid, prompt, max(1, n // 5)))
        st.finish()
        return

    script = ctx.state.take_script()
    if script is not None:
        ctx.update(scripted=True)
        delay = float(script.get("delay", delay))
        if "chunks" in script:
            events = list(script["chunks"])
        else:
            status = int(script.get("status", 200))
            if status != 200 or "raw" in script:
                if "raw" in script:
                    ctx.h.send_bytes(status, raw_bytes(script["raw"]),
                                     script.get("content_type", JSON_CT), script.get("headers"))
                else:
                    ctx.send_json(status, script.get("body", {}), script.get("headers"))
                ctx.update(completed=True)
                return
            events = [script.get("body", {})]
        st.start(len(events))
        st.play(events, delay)
        st.finish()
        return

    ans = feature_answer(req, model, rid)
    if ans is not None:
        events = answer_events(ans, model, rid, prompt)
    else:
        pieces = ["".join(toks[i:i + 3]) for i in range(0, len(toks), 3)]
        events = stream_events(pieces, model, rid, prompt)
    st.start(len(events))
    st.play(events, delay)
    st.finish()


def stream_many(ctx, st, n, model, rid, prompt):
    """n tiny events, built as bytes and sent many per socket write."""
    n = max(1, n)
    st.start(n)
    sep = b"\n\n" if st.framing == "sse-lf" else b"\r\n\r\n"
    array = st.framing == "array"
    batch = 2000
    i = 1
    while i <= n:
        end = min(n, i + batch - 1)
        out = []
        for j in range(i, end + 1):
            if j == n:
                body = dumps({"candidates": [{"content": {"role": "model", "parts": [
                    {"text": "w%d " % j}]}, "finishReason": "STOP", "index": 0}],
                    "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": n,
                                      "totalTokenCount": prompt + n},
                    "modelVersion": model_id(model), "responseId": rid})
            else:
                body = (b'{"candidates":[{"content":{"role":"model","parts":[{"text":"w%d "}]},'
                        b'"index":0}]}' % j)
            if array:
                payload = (b"[" if j == 1 else b",\r\n") + body
            else:
                payload = b"data: " + body + sep
            out.append(b"%x\r\n" % len(payload) + payload + b"\r\n" if st.chunked else payload)
        if ctx.h.peer_closed():
            raise ClientGone()
        ctx.h.sendall(b"".join(out))
        st.count = end
        ctx.update(events_sent=end)
        i = end + 1
    st.items = n
    st.finish()


@route("POST", MODEL_PATH + r":countTokens")
def count_tokens(ctx):
    req = ctx.json_object()
    if req is None:
        return
    model = ctx.params["model"]
    if not model_ok_for_generate(model):
        not_found_model(ctx, model, "countTokens")
        return
    for k in req:
        if k not in ("contents", "generateContentRequest", "generate_content_request"):
            unknown_field_error(ctx, k)
            return
    gcr = req.get("generateContentRequest", req.get("generate_content_request"))
    if gcr is not None and "contents" in req:
        ctx.send_error(400, "contents and generate_content_request are mutually exclusive.")
        return
    if gcr is not None:
        if not isinstance(gcr, dict) or not validate_generate(ctx, gcr, "GenerateContentRequest"):
            if not isinstance(gcr, dict):
                ctx.send_error(400, "Invalid JSON payload received. Invalid "
                                    "generate_content_request.")
            return
        n = request_word_count(gcr)
    else:
        if not isinstance(req.get("contents"), list):
            ctx.send_error(400, "* CountTokensRequest.contents: contents is not specified")
            return
        n = request_word_count(req)
    n = max(1, n)
    ctx.send_json(200, {"totalTokens": n,
                        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]})
    ctx.update(completed=True)


def _embed_one(ctx, r, url_model, where):
    """Values for one EmbedContentRequest, or None after sending a 400."""
    if not isinstance(r, dict):
        ctx.send_error(400, "Invalid JSON payload received. %s must be an object." % where)
        return None
    m = r.get("model")
    if m is not None and m != url_model:
        ctx.send_error(400, "Model name in the request (%s) does not match the model in the "
                            "URL (%s)." % (m, url_model))
        return None
    content = r.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        ctx.send_error(400, "* %s.content: content is not specified" % where)
        return None
    dim = r.get("outputDimensionality", r.get("output_dimensionality"))
    if dim is None:
        dim = 8
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1 or dim > 3072:
        ctx.send_error(400, "* %s.output_dimensionality: must be between 1 and 3072." % where)
        return None
    return embedding_values(" ".join(part_texts(content)), dim)


def _embed_model_ok(model):
    return model_ok_for_generate(model) or "embedding" in model


@route("POST", MODEL_PATH + r":embedContent")
def embed_content(ctx):
    req = ctx.json_object()
    if req is None:
        return
    model = ctx.params["model"]
    if not _embed_model_ok(model):
        not_found_model(ctx, model, "embedContent")
        return
    vals = _embed_one(ctx, req, model, "EmbedContentRequest")
    if vals is None:
        return
    ctx.send_json(200, {"embedding": {"values": vals}})
    ctx.update(completed=True)


@route("POST", MODEL_PATH + r":batchEmbedContents")
def batch_embed_contents(ctx):
    req = ctx.json_object()
    if req is None:
        return
    model = ctx.params["model"]
    if not _embed_model_ok(model):
        not_found_model(ctx, model, "batchEmbedContents")
        return
    reqs = req.get("requests")
    if not isinstance(reqs, list) or not reqs:
        ctx.send_error(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
        return
    out = []
    for i, r in enumerate(reqs):
        vals = _embed_one(ctx, r, model, "BatchEmbedContentsRequest.requests[%d]" % i)
        if vals is None:
            return
        out.append({"values": vals})
    ctx.send_json(200, {"embeddings": out})
    ctx.update(completed=True)


@route("GET", r"models/(?P<id>[^:/]+)")
def get_model(ctx):
    m = MODELS_BY_ID.get(ctx.params["id"])
    if m is None:
        ctx.send_error(404, "models/%s is not found for API version %s, or is not supported "
                            "for GET. Call ListModels to see the list of available models and "
                            "their supported methods." % (ctx.params["id"], ctx.version))
        return
    ctx.send_json(200, m)
    ctx.update(completed=True)


def _page_args(ctx, default_size, max_size):
    """(size, offset) from pageSize/pageToken, or None after a 400."""
    raw = ctx.query.get("pageSize", ctx.query.get("page_size", ""))
    size = default_size
    if raw != "":
        try:
            size = int(raw)
        except ValueError:
            ctx.send_error(400, "Invalid value at 'page_size' (TYPE_INT32), \"%s\"" % raw)
            return None
        if size <= 0:
            size = default_size
        size = min(size, max_size)
    token = ctx.query.get("pageToken", ctx.query.get("page_token", ""))
    offset = 0
    if token:
        mo = re.match(r"^mockpage-(\d+)$", token)
        if not mo:
            ctx.send_error(400, "Invalid page token.")
            return None
        offset = int(mo.group(1))
    return size, offset


@route("GET", r"models")
def list_models(ctx):
    pa = _page_args(ctx, 50, 1000)
    if pa is None:
        return
    size, offset = pa
    page = MODELS[offset:offset + size]
    body = {"models": page}
    if offset + size < len(MODELS):
        body["nextPageToken"] = "mockpage-%d" % (offset + size)
    ctx.send_json(200, body)
    ctx.update(completed=True)


# ---------------------------------------------------------------------------
# HTTP handler


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gemini-mock/1"
    sys_version = ""
    disable_nagle_algorithm = True

    # -- logging -----------------------------------------------------------

    def log_request(self, code="-", size="-"):
        pass  # access lines are written by _access_log at the end of a request

    def log_message(self, fmt, *args):
        if not self.server.state.quiet:
            msg = fmt % args
            if len(msg) > 200:
                msg = msg[:200] + "..."
            sys.stderr.write("mock: %s\n" % msg)
            sys.stderr.flush()

    def _access_log(self, entry):
        if self.server.state.quiet:
            return
        extra = ""
        if entry.get("events_total"):
            extra = " events=%d/%d" % (entry["events_sent"], entry["events_total"])
        if entry.get("disconnected"):
            extra += " client-gone"
        if entry.get("fault"):
            extra += " fault=" + entry["fault"]
        sys.stdout.write("%s %s %s -> %s%s %.3fs\n" % (
            entry["peer"], entry["method"], entry["path"], entry["status"], extra,
            (entry["t_end"] or time.time()) - entry["t_start"]))
        sys.stdout.flush()

    # -- socket helpers ----------------------------------------------------

    def sendall(self, data):
        try:
            self.connection.sendall(data)
        except OSError as e:
            raise ClientGone() from e

    def peer_closed(self):
        """True when the client has closed its side (EOF or reset)."""
        if isinstance(self.connection, ssl.SSLSocket):
            return False  # TLS cannot peek; a client gone is noticed on the next write
        try:
            p = select.poll()
            p.register(self.connection, select.POLLIN | select.POLLERR | select.POLLHUP)
            if not p.poll(0):
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def wait(self, seconds):
        """Sleep, noticing a client that goes away (raises ClientGone)."""
        end = time.monotonic() + seconds
        p = select.poll()
        p.register(self.connection, select.POLLIN | select.POLLERR | select.POLLHUP)
        while True:
            rem = end - time.monotonic()
            if rem <= 0:
                return
            try:
                ready = p.poll(rem * 1000.0)
            except OSError:
                raise ClientGone()
            if ready:
                if self.peer_closed():
                    raise ClientGone()
                # Pipelined data is waiting; EOF can no longer be seen by polling.
                time.sleep(max(0.0, end - time.monotonic()))
                return

    def send_bytes(self, status, data, ctype, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if getattr(self, "_entry", None) is not None:
            self.send_header("X-Mock-Request-Id", str(self._entry["id"]))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        entry = getattr(self, "_entry", None)
        if entry is not None:
            self.server.state.update(entry, status=status)
        if self.command != "HEAD":
            self.sendall(data)
        if entry is not None:
            self.server.state.update(entry, completed=True)

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ClientGone()
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ValueError("bad chunk size line")
                if size == 0:
                    while True:  # trailers up to the blank line
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    break
                data = self.rfile.read(size)
                if len(data) < size:
                    raise ClientGone()
                parts.append(data)
                self.rfile.readline(65537)  # CRLF after the chunk data
            return b"".join(parts)
        n = self.headers.get("Content-Length")
        if n:
            n = int(n)
            data = self.rfile.read(n) if n > 0 else b""
            if len(data) < n:
                raise ClientGone()
            return data
        return b""

    # -- dispatch ----------------------------------------------------------

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def dispatch(self):
        self._entry = None
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        qs = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        query = {k: v[0] for k, v in qs.items()}
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            self.send_bytes(400, dumps(error_body(400, "Malformed request body framing.")),
                            JSON_CT)
            return
        except (ClientGone, OSError):
            self.close_connection = True
            return
        if path.startswith("/_mock/") or path == "/_mock":
            self.control(path, query, body)
            return

        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = (headers[k] + ", " + v) if k in headers else v
        state = self.server.state
        entry = state.new_entry(
            method=self.command, path=path, query=query, headers=headers,
            body=body.decode("utf-8", errors="replace"),
            peer="%s:%d" % (self.client_address[0], self.client_address[1]))
        self._entry = entry
        try:
            self.handle_api(entry, path, split.query, query, headers, body)
        except ClientGone:
            self.close_connection = True
            state.update(entry, disconnected=True)
        except Exception as e:  # a bug in the mock: answer 500, keep serving
            self.close_connection = True
            sys.stderr.write("mock: internal error on %s %s: %s\n%s" % (
                self.command, path, e, traceback.format_exc()))
            sys.stderr.flush()
            try:
                if entry.get("status") is None:
                    self.send_bytes(500, dumps(error_body(500, "mock server bug: %s" % e)),
                                    JSON_CT)
            except (ClientGone, OSError):
                pass
        finally:
            state.update(entry, t_end=time.time())
            self._access_log(entry)

    def handle_api(self, entry, path, raw_query, query, headers, body):
        state = self.server.state
        target = path + ("?" + raw_query if raw_query else "")
        mo = VERSION_RE.match(path)
        prefix, version, rest = (mo.group(1), mo.group(2),
                                 urllib.parse.unquote(mo.group(3))) if mo else ("", None, "")
        ctx = Ctx(self, entry, self.command, path, target, query, headers, body,
                  prefix, version, rest)
        fn, kind, params = (find_route(self.command, rest) if mo else (None, "other", {}))
        plain = None
        for m, rx, pfn in PLAIN_ROUTES:
            pmo = rx.match(path)
            if pmo and (m == self.command or m == "*"):
                plain, params = pfn, pmo.groupdict()
                break
        ctx.params = params
        ctx.kind = kind

        # Transport-level faults win over everything (served before auth);
        # the others are taken only once the request passed auth.
        def early(f):
            return f["type"] in GENERIC_FAULTS or (f["type"] == "cut" and kind != "stream")

        f = state.take_fault(target, kind, only=early)
        if f is not None:
            state.update(entry, fault=f["type"])
            self.run_generic_fault(ctx, f)
            return
        if plain is not None:
            plain(ctx)
            return
        if not self.check_auth(ctx):
            return
        f = state.take_fault(target, kind) or model_fault(ctx)
        if f is not None:
            state.update(entry, fault=f["type"])
            if early(f):  # queued behind another request's fault meanwhile
                self.run_generic_fault(ctx, f)
                return
            ctx.fault = f
        if fn is None:
            ctx.send_error(404, "Method not found." if mo else "Not found: %s" % path)
            return
        fn(ctx)

    def check_auth(self, ctx):
        for check in AUTH_CHECKS:  # a route module's own scheme (Vertex's bearer tokens)
            verdict = check(ctx)
            if verdict is not None:
                return verdict
        if "key" in ctx.query:
            ctx.send_error(400, "API keys must not be sent in the URL query string (key=...); "
                                "send the x-goog-api-key header instead.")
            return False
        api_key = (ctx.headers.get("x-goog-api-key") or "").strip()
        authz = (ctx.headers.get("authorization") or "").strip()
        if api_key and authz:
            ctx.send_error(400, "Multiple authentication credentials received. Please pass only "
                                "one.")
            return False
        if not api_key and not authz:
            ctx.send_error(401, "Method doesn't allow unregistered callers (callers without "
                                "established identity). Please use API Key or other form of API "
                                "consumer identity to call this API.")
            return False
        if authz:
            mo = re.match(r"(?i)^bearer\s+(.*)$", authz)
            if not mo:
                ctx.send_error(401, "Request had invalid authentication credentials. Expected "
                                    "OAuth 2 access token, login cookie or other valid "
                                    "authentication credential.")
                return False
            api_key = mo.group(1).strip()
        if api_key != self.server.state.key:
            ctx.send_error(400, "API key not valid. Please pass a valid API key.", details=[
                {"@type": T_ERROR_INFO, "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                 "metadata": {"service": "generativelanguage.googleapis.com"}},
                {"@type": T_LOCALIZED, "locale": "en-US",
                 "message": "API key not valid. Please pass a valid API key."}])
            return False
        return True

    def run_generic_fault(self, ctx, f):
        t = f["type"]
        if t == "status":
            code = int(f.get("code", 500))
            message = f.get("message")
            if message is None:
                message = DEFAULT_MESSAGES.get(code, "Error.")
                if f.get("retry_delay") and code == 429:
                    message += " Please retry in %s." % f["retry_delay"]
            details = []
            if code == 429:
                details.append({"@type": T_QUOTA_FAILURE, "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/"
                                   "generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": "mock"},
                    "quotaValue": "10"}]})
                details.append({"@type": T_HELP, "links": [{
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]})
            if f.get("retry_delay"):
                details.append({"@type": T_RETRY_INFO, "retryDelay": str(f["retry_delay"])})
            details.extend(f.get("details") or [])
            headers = dict(f.get("headers") or {})
            if f.get("retry_after") is not None:
                headers["Retry-After"] = str(f["retry_after"])
            ctx.send_error(code, message, f.get("status"), details, headers)
            ctx.update(completed=True)
        elif t == "html":
            code = int(f.get("code", 502))
            body = f.get("body") or HTML_502
            self.send_bytes(code, body.encode("utf-8"), "text/html; charset=UTF-8",
                            f.get("headers"))
            ctx.update(completed=True)
        elif t == "stall":
            self.close_connection = True
            self.wait(float(f.get("seconds", 5)))
        elif t == "close":
            self.close_connection = True
        elif t == "cut":
            whole = dumps(gen_response("This response was cut in half by the mock server.",
                                       ctx.params.get("model", "models/mock"), "mock-cut", 1, 10))
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", JSON_CT)
            self.send_header("Content-Length", str(len(whole)))
            self.end_headers()
            ctx.update(status=200)
            self.sendall(whole[:len(whole) // 2])

    # -- control plane -----------------------------------------------------

    def control(self, path, query, body):
        state = self.server.state
        method = self.command

        def reply(status, obj):
            self.send_bytes(status, dumps(obj), JSON_CT)

        def bad(msg):
            reply(400, error_body(400, msg))

        try:
            data = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as e:
            bad("Invalid JSON payload received. %s" % e)
            return
        try:
            if path == "/_mock/health" and method == "GET":
                reply(200, {"ok": True, "port": self.server.server_address[1]})
            elif path == "/_mock/log" and method == "GET":
                since = int(query.get("since", "0") or 0)
                self.send_bytes(200, state.log_json(since), JSON_CT)
            elif path == "/_mock/reset" and method == "POST":
                state.reset()
                reply(200, {"ok": True})
            elif path == "/_mock/faults" and method == "GET":
                with state.lock:
                    reply(200, {"faults": list(state.faults)})
            elif path == "/_mock/faults" and method == "POST":
                faults = data.get("faults") if isinstance(data, dict) else None
                if not isinstance(faults, list):
                    bad('expected {"faults": [...]}')
                    return
                clean = []
                for f in faults:
                    if not isinstance(f, dict) or f.get("type") not in FAULT_TYPES:
                        bad("unknown fault: %s (types: %s)" % (
                            json.dumps(f), ", ".join(sorted(FAULT_TYPES))))
                        return
                    times = f.get("times", 1)
                    if not isinstance(times, int) or times < 1:
                        bad("fault 'times' must be a positive integer")
                        return
                    f = dict(f)
                    f["_left"] = times
                    clean.append(f)
                with state.lock:
                    state.faults.extend(clean)
                    n = len(state.faults)
                reply(200, {"ok": True, "pending": n})
            elif path == "/_mock/script" and method == "GET":
                with state.lock:
                    reply(200, {"responses": list(state.scripts)})
            elif path == "/_mock/script" and method == "POST":
                rs = data.get("responses") if isinstance(data, dict) else None
                if not isinstance(rs, list):
                    bad('expected {"responses": [...]}')
                    return
                for r in rs:
                    if not isinstance(r, dict) or not ("body" in r or "chunks" in r or "raw" in r
                                                        or "latency" in r):
                        bad("a scripted response needs 'body', 'chunks' or 'raw': %s"
                            % json.dumps(r))
                        return
                    if "chunks" in r and not isinstance(r["chunks"], list):
                        bad("'chunks' must be a list")
                        return
                with state.lock:
                    state.scripts.extend(rs)
                    n = len(state.scripts)
                reply(200, {"ok": True, "pending": n})
            elif path == "/_mock/shutdown" and method == "POST":
                self.close_connection = True
                reply(200, {"ok": True})
                threading.Thread(target=self.server.shutdown, daemon=True).start()
            elif (method, path) in CONTROL_ROUTES:  # a route module's own
                status, obj = CONTROL_ROUTES[(method, path)](state, data, query)
                reply(status, obj)
            else:
                reply(404, error_body(404, "unknown control endpoint %s %s" % (method, path)))
        except ClientGone:
            self.close_connection = True


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self):
        # Skip HTTPServer.server_bind's getfqdn() (a possibly slow DNS lookup).
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ClientGone)):
            return  # the client went away; nothing to report
        sys.stderr.write("mock: error with client %s: %r\n" % (client_address, exc))
        sys.stderr.flush()


# Files (resumable upload) and cachedContents live in their own module.
import files_routes  # noqa: E402
files_routes.register(sys.modules[__name__])
# File search stores, after files (whose upload sessions it shares) and
# before media_routes (its operations route must come before the generic one).
import file_search_routes  # noqa: E402
file_search_routes.register(sys.modules[__name__])
# Long-running operations (Veo) and downloads, after files (it reads uploads).
import media_routes  # noqa: E402
media_routes.register(sys.modules[__name__])
import batch_routes  # noqa: E402  (batch jobs; after files_routes, whose store it uses)
batch_routes.register(sys.modules[__name__])
import token_registry  # noqa: E402  (the OAuth access tokens of Vertex mode)
token_registry.register(sys.modules[__name__])
import auth_token_routes  # noqa: E402  (ephemeral tokens of the Live API)
auth_token_routes.register(sys.modules[__name__])
import vertex_routes  # noqa: E402  (Vertex AI paths, bearer auth, batchPredictionJobs)
vertex_routes.register(sys.modules[__name__])
import auth_routes  # noqa: E402  (token endpoint and metadata server; mints through token_registry)
auth_routes.register(sys.modules[__name__])
import live_routes  # noqa: E402  (the Live API over WebSocket)
live_routes.register(sys.modules[__name__])


def main(argv=None):
    global KEY_HINT
    ap = argparse.ArgumentParser(
        description="Local mock of the Gemini REST API, on 127.0.0.1. Point a client at it"
                    " with GEMINI_BASE_URL=http://127.0.0.1:PORT and the key given here.",
        epilog=model_faults_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    ap.add_argument("--key", default="test-key", help="the API key it accepts (default test-key)")
    ap.add_argument("--port-file", help="write the port chosen to this file")
    ap.add_argument("--stream-delay", type=float, default=0.0,
                    help="seconds between the events of a stream (default 0)")
    ap.add_argument("--quiet", action="store_true", help="no access log on stderr")
    ap.add_argument("--key-hint", action="store_true",
                    help="answers end by saying how to ask the real model (make demo with no key)")
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (and --tls-key)")
    ap.add_argument("--tls-key")
    args = ap.parse_args(argv)
    KEY_HINT = args.key_hint

    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args.key, args.stream_delay, args.quiet)
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        # The handshake runs in accept(); a client that rejects the
        # certificate makes accept() fail, which socketserver ignores.
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    if args.port_file:
        tmp = "%s.tmp.%d" % (args.port_file, os.getpid())
        with open(tmp, "w") as fh:
            fh.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    sys.stdout.write("listening on 127.0.0.1:%d\n" % port)
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
