"""The Live API of the mock server: a WebSocket endpoint (RFC 6455, written
here from the RFC, sharing nothing with the client's framer) speaking the
BidiGenerateContent protocol as the official SDKs do (python-genai
google/genai/live.py and types.py LiveClientMessage / LiveServerMessage;
js-genai src/live.ts).

Endpoints (whole paths, so `plain_route`; the handler checks auth itself):

    GET /ws/google.ai.generativelanguage.{v}.GenerativeService.BidiGenerateContent
        "x-goog-api-key: KEY" (the mock's key), else an HTTP 401/400 error
        answer instead of the upgrade (no key in the query: 400).
    GET /ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained
        "Authorization: Token auth_tokens/<id>" with a token minted by the
        mock's POST v1alpha/auth_tokens (auth_token_routes.start_session:
        unknown, expired or used up -> 401); another version -> 400.

The handshake is checked as a server must (4.2.1): GET, "Upgrade: websocket",
"Connection" naming upgrade, "Sec-WebSocket-Version: 13", a key of 16 base64
bytes; else 400. The answer is 101 with the right Sec-WebSocket-Accept.

The client's frames are checked strictly (a real peer): every frame masked,
no reserved bit, known opcodes, control frames unfragmented and <= 125
bytes, continuation only inside a message, text valid UTF-8 and every
message a JSON object. A violation is answered with close 1002 (1007 for
bad UTF-8) and logged in the entry's "ws_errors".

Protocol (each server message is one JSON text frame):

    client {"setup": {"model": "models/x", "generationConfig": ...,
            "systemInstruction", "tools", "sessionResumption": {"handle"?},
            "inputAudioTranscription", "outputAudioTranscription", ...}}
        -> {"setupComplete": {}}   (the first message must be setup; a
           resumption handle the mock did not issue -> close 1008)
    client {"clientContent": {"turns": [...], "turnComplete": true}}
        -> a turn: with functionDeclarations in setup.tools and no tool
           answered yet in this turn: {"toolCall": {"functionCalls": [{"id":
           "call-N", "name": first function, "args": {...}}]}}, then the
           client's {"toolResponse": {"functionResponses": [{"id", "name",
           "response"}]}} (the id must match, else close 1008), then the
           answer quoting the response. Otherwise the answer:
           responseModalities ["AUDIO"]: two serverContent messages with
           modelTurn parts {"inlineData": {"mimeType": "audio/pcm;rate=24000",
           "data": base64 of 480 bytes each}} (+ "outputTranscription"
           {"text"} when outputAudioTranscription was set); else two
           messages with text parts: "Live echo: " and the user's text.
           Then {"serverContent": {"generationComplete": true}},
           {"usageMetadata": {"promptTokenCount": 5, "responseTokenCount": 7,
           "totalTokenCount": 12}}, with sessionResumption in setup
           {"sessionResumptionUpdate": {"newHandle": "handle-N",
           "resumable": true}}, and {"serverContent": {"turnComplete": true}}.
    client {"realtimeInput": {"audio": {"data", "mimeType"}} | "video" |
            "text" | "audioStreamEnd": true | "activityStart": {} |
            "activityEnd": {}}
        audio is kept; audioStreamEnd or activityEnd ends the user's turn:
        {"serverContent": {"inputTranscription": {"text": "heard N bytes"}}}
        (with inputAudioTranscription), then the answer as above; "text"
        answers at once.
    A resumed session (setup with a handle the mock issued) answers its
    first turn with the text "Resumed <handle>: ..." instead of "Live echo: ".

Faults, POSTed to /_mock/live/faults {"faults": [F, ...]}, each taken by the
next connection (all of a connection's faults apply to it):
    {"type": "bad_accept"}       101 with a wrong Sec-WebSocket-Accept
    {"type": "close", "code": 1011, "reason": "..."}
                                 mid-turn (after the first model part): a
                                 close frame, then the socket is closed
    {"type": "drop"}             mid-turn: TCP close without a close frame
    {"type": "fragment"}         every message in 3 frames (continuations),
                                 a ping between the first two
    {"type": "ping"}             a ping ("mock-ping") before each message;
                                 the client's pongs must echo it (checked
                                 for every ping sent: "pongs" counts the
                                 good ones; another pong is a ws_error)
    {"type": "go_away"}          {"goAway": {"timeLeft": "10s"}} after the
                                 first turn's turnComplete
    {"type": "big", "bytes": N}  the first text part has N bytes
    {"type": "cancel"}           after the toolCall, {"toolCallCancellation":
                                 {"ids": [...]}} and the turn ends without
                                 waiting for the answer
    {"type": "binary"}           messages as binary frames (as Google sends)
    {"type": "slow", "delay": S} S seconds (0.05) before each message
    {"type": "slow_upgrade", "delay": S}  S seconds (0.3) before the 101
    {"type": "raw", "op": 1, "data": B64}  right after setupComplete, one
                                 frame (opcode op, default 1: text) with
                                 the bytes of the base64 B64, whatever
                                 they are (not JSON, bad UTF-8, ...)
    {"type": "slow_read", "bytes": N, "delay": S}  a frame payload larger
                                 than N (65536) is read N bytes at a time,
                                 S seconds (0.02) apart, with a receive
                                 buffer of N bytes: a client sending much
                                 must wait

Vertex AI (python-genai live.py AsyncLive.connect, the vertexai branches):

    GET [/prefix]/ws/google.cloud.aiplatform.{v}.LlmBidiService/BidiGenerateContent
        "Authorization: Bearer <token>" with a token of token_registry.py
        valid now (unknown, expired, revoked -> 401, the log entry's auth
        says which), or express mode "x-goog-api-key: KEY" alone (another
        key, or none -> 401). The entry's auth is then "bearer"/"express".
        The setup's model must be its full name
        "projects/{p}/locations/{l}/publishers/{pub}/models/{m}" with a
        bearer token, "publishers/{pub}/models/{m}" in express mode (else
        close 1008). Answers as above, but usageMetadata counts
        "candidatesTokenCount" (Vertex's name) and a toolResponse may
        leave out the id.

Control: POST /_mock/live/faults (above). The request log entry of a Live connection has status 101
and "ws_messages" (the client's messages, decoded), "ws_close" ({"code",
"reason"} of the client's close frame), "ws_errors" and "pongs".
/_mock/reset forgets faults and handles.
"""
import base64
import hashlib
import json
import re
import socket
import struct
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
LOCK = threading.Lock()
FAULTS = []
HANDLES = set()
COUNTER = [0]
# The fields a setup's generationConfig may hold: the main mock's
# GenerationConfig fields (set by register) and the Live-only
# enableAffectiveDialog (_live_converters.py, _LiveConnectConfig_to_mldev).
GENERATION_CONFIG_FIELDS = {"enableAffectiveDialog", "enable_affective_dialog"}


def reset():
    with LOCK:
        FAULTS.clear()
        HANDLES.clear()


def next_id(prefix):
    with LOCK:
        COUNTER[0] += 1
        return "%s-%d" % (prefix, COUNTER[0])


class Closed(Exception):
    """The connection ended (either side)."""


class Peer:
    """One client connection after the upgrade: strict frame reading, frame
    writing, and the log entry."""

    def __init__(self, ctx, faults):
        self.ctx = ctx
        self.sock = ctx.h.connection
        self.rfile = ctx.h.rfile
        self.faults = faults
        self.messages = []
        self.errors = []
        self.pongs = 0
        self.pings = []  # payloads of the pings sent and not answered yet

    def fault(self, kind):
        for f in self.faults:
            if f.get("type") == kind:
                return f
        return None

    def log(self):
        self.ctx.update(ws_messages=self.messages, ws_errors=self.errors, pongs=self.pongs)

    def violation(self, why, code=1002):
        self.errors.append(why)
        self.log()
        try:
            self.send_frame(0x8, struct.pack(">H", code) + why.encode()[:100])
        except OSError:
            pass
        raise Closed()

    # -- reading -----------------------------------------------------------

    def read_exact(self, n):
        slow = self.fault("slow_read")
        step = int(slow.get("bytes", 65536)) if slow else 0
        if slow and n > step:   # a large payload, slowly
            parts, left = [], n
            while left > 0:
                part = self.rfile.read(min(step, left))
                if not part:
                    raise Closed()
                parts.append(part)
                left -= len(part)
                time.sleep(float(slow.get("delay", 0.02)))
            return b"".join(parts)
        data = self.rfile.read(n) if n else b""
        if len(data) < n:
            raise Closed()
        return data

    def read_frame(self):
        b1, b2 = self.read_exact(2)
        fin, rsv, op = b1 & 0x80, b1 & 0x70, b1 & 0x0F
        masked, n = b2 & 0x80, b2 & 0x7F
        if rsv:
            self.violation("reserved bits set")
        if op not in (0, 1, 2, 8, 9, 10):
            self.violation("unknown opcode %d" % op)
        if not masked:
            self.violation("unmasked frame from the client")
        if n == 126:
            n = struct.unpack(">H", self.read_exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self.read_exact(8))[0]
        if op >= 8 and (not fin or n > 125):
            self.violation("bad control frame")
        if n > 64 * 1024 * 1024:
            self.violation("frame too big", 1009)
        key = self.read_exact(4)
        data = bytearray(self.read_exact(n))
        for i in range(n):
            data[i] ^= key[i & 3]
        return bool(fin), op, bytes(data)

    def read_message(self):
        """The next data message (opcode, bytes), answering pings; a close
        from the client is logged, echoed and ends the session."""
        parts, first = None, None
        while True:
            fin, op, data = self.read_frame()
            if op == 9:
                self.send_frame(0xA, data)
                continue
            if op == 10:
                if data in self.pings:
                    self.pings.remove(data)
                    self.pongs += 1
                else:
                    self.errors.append("pong without the ping's payload")
                self.log()
                continue
            if op == 8:
                code = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else 1005
                self.ctx.update(ws_close={"code": code,
                                          "reason": data[2:].decode("utf-8", "replace")})
                try:
                    self.send_frame(0x8, data[:2])
                except OSError:
                    pass
                raise Closed()
            if op == 0 and parts is None:
                self.violation("continuation outside a message")
            if op in (1, 2) and parts is not None:
                self.violation("new message inside a fragmented one")
            if op in (1, 2):
                parts, first = [], op
            parts.append(data)
            if fin:
                return first, b"".join(parts)

    def read_json(self):
        op, data = self.read_message()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.violation("invalid UTF-8", 1007)
        try:
            msg = json.loads(text)
        except ValueError:
            self.violation("not JSON", 1007)
        if not isinstance(msg, dict):
            self.violation("not a JSON object", 1007)
        self.messages.append(msg)
        self.log()
        return msg

    # -- writing -----------------------------------------------------------

    def send_frame(self, op, data, fin=True):
        if op == 0x9:
            self.pings.append(data)
        n = len(data)
        head = bytes([(0x80 if fin else 0) | op])
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack(">H", n)
        else:
            head += bytes([127]) + struct.pack(">Q", n)
        self.sock.sendall(head + data)

    def send(self, obj):
        data = json.dumps(obj).encode()
        slow = self.fault("slow")
        if slow:
            time.sleep(float(slow.get("delay", 0.05)))
        op = 2 if self.fault("binary") else 1
        if self.fault("ping"):
            self.send_frame(0x9, b"mock-ping")
        if self.fault("fragment") and len(data) >= 3:
            a, b = len(data) // 3, 2 * len(data) // 3
            self.send_frame(op, data[:a], fin=False)
            self.send_frame(0x9, b"frag-ping")
            self.send_frame(0x0, data[a:b], fin=False)
            self.send_frame(0x0, data[b:])
        else:
            self.send_frame(op, data)


def text_of(turns):
    out = []
    for c in turns or []:
        for p in (c or {}).get("parts") or []:
            if isinstance(p, dict) and isinstance(p.get("text"), str):
                out.append(p["text"])
    return " ".join(out)


def function_names(setup):
    names = []
    for t in setup.get("tools") or []:
        for d in (t or {}).get("functionDeclarations") or []:
            names.append(d.get("name"))
    return names


class Session:
    def __init__(self, peer, setup, resumed, vertex=None):
        self.vertex = vertex
        self.peer = peer
        self.setup = setup
        self.resumed = resumed
        self.turns = 0
        gen = setup.get("generationConfig") or {}
        self.audio = "AUDIO" in (gen.get("responseModalities") or [])
        self.audio_in = 0

    def mid_turn_faults(self):
        p = self.peer
        f = p.fault("close")
        if f:
            code = f.get("code", 1011)
            p.send_frame(0x8, struct.pack(">H", code) + f.get("reason", "Internal error").encode())
            p.sock.shutdown(socket.SHUT_RDWR)
            raise Closed()
        if p.fault("drop"):
            p.sock.shutdown(socket.SHUT_RDWR)
            raise Closed()

    def answer(self, said):
        p = self.peer
        self.turns += 1
        if self.audio:
            pcm = bytes((i * 7) & 0xFF for i in range(480))
            for k in range(2):
                sc = {"modelTurn": {"parts": [{"inlineData": {
                    "mimeType": "audio/pcm;rate=24000", "data": base64.b64encode(pcm).decode()}}]}}
                if "outputAudioTranscription" in self.setup:
                    sc["outputTranscription"] = {"text": ["Spoken ", "answer."][k]}
                p.send({"serverContent": sc})
                if k == 0:
                    self.mid_turn_faults()
        else:
            head = ("Resumed %s: " % self.resumed) if self.resumed and self.turns == 1 else "Live echo: "
            big = p.fault("big")
            if big:
                head = "x" * int(big.get("bytes", 1 << 20))
            p.send({"serverContent": {"modelTurn": {"role": "model", "parts": [{"text": head}]}}})
            self.mid_turn_faults()
            p.send({"serverContent": {"modelTurn": {"role": "model", "parts": [{"text": said}]}}})
        p.send({"serverContent": {"generationComplete": True}})
        # (Vertex AI says candidates where the Gemini API says response)
        p.send({"usageMetadata": {"promptTokenCount": 5,
                                  ("candidatesTokenCount" if self.vertex else "responseTokenCount"): 7,
                                  "totalTokenCount": 12}})
        if "sessionResumption" in self.setup:
            handle = next_id("handle")
            with LOCK:
                HANDLES.add(handle)
            p.send({"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}})
        p.send({"serverContent": {"turnComplete": True}})
        if self.turns == 1 and p.fault("go_away"):
            p.send({"goAway": {"timeLeft": "10s"}})

    def tool_turn(self, said):
        p = self.peer
        name = function_names(self.setup)[0]
        call_id = next_id("call")
        p.send({"toolCall": {"functionCalls": [{"id": call_id, "name": name,
                                                "args": {"location": "Paris"}}]}})
        if p.fault("cancel"):
            p.send({"toolCallCancellation": {"ids": [call_id]}})
            p.send({"serverContent": {"turnComplete": True}})
            return
        while True:
            msg = p.read_json()
            if "toolResponse" in msg:
                break
        frs = (msg["toolResponse"] or {}).get("functionResponses") or []
        if not frs or (frs[0].get("id") != call_id and not (self.vertex and "id" not in frs[0])):
            p.violation("toolResponse without the call's id %s" % call_id, 1008)
        self.answer("The tool said " + json.dumps(frs[0].get("response"), sort_keys=True))

    def turn(self, said):
        if function_names(self.setup):
            self.tool_turn(said)
        else:
            self.answer(said)

    def run(self):
        p = self.peer
        while True:
            msg = p.read_json()
            if "clientContent" in msg:
                cc = msg["clientContent"] or {}
                if cc.get("turnComplete"):
                    self.turn(text_of(cc.get("turns")))
            elif "realtimeInput" in msg:
                ri = msg["realtimeInput"] or {}
                if "audio" in ri:
                    self.audio_in += len(base64.b64decode(ri["audio"].get("data", "")))
                if "text" in ri:
                    self.turn(ri["text"])
                if ri.get("audioStreamEnd") or "activityEnd" in ri:
                    if "inputAudioTranscription" in self.setup:
                        p.send({"serverContent": {"inputTranscription": {
                            "text": "heard %d bytes" % self.audio_in}}})
                    self.turn("audio of %d bytes" % self.audio_in)
                    self.audio_in = 0
            elif "toolResponse" in msg:
                pass  # an answer to a cancelled call: ignored, as at Google
            else:
                p.violation("unknown client message %s" % sorted(msg), 1007)


def bad_request(ctx, why):
    ctx.send_error(400, why)


def authorised(ctx, method):
    h = ctx.headers
    if method.endswith("Constrained"):
        if ctx.params.get("version") != "v1alpha":
            bad_request(ctx, "Ephemeral tokens are supported in v1alpha only.")
            return False
        mo = re.match(r"^Token (auth_tokens/\S+)$", h.get("authorization") or "")
        why = "no token"
        if mo:
            import auth_token_routes  # the tokens its POST v1alpha/auth_tokens minted
            _, why = auth_token_routes.start_session(mo.group(1))
        if why is not None:
            ctx.send_error(401, "Request had invalid authentication credentials (token %s)." % why)
            return False
        return True
    if "key" in ctx.query:
        bad_request(ctx, "API keys must not be sent in the URL query string.")
        return False
    key = (h.get("x-goog-api-key") or "").strip()
    if not key:
        ctx.send_error(401, "Method doesn't allow unregistered callers.")
        return False
    if key != ctx.state.key:
        bad_request(ctx, "API key not valid. Please pass a valid API key.")
        return False
    return True


VERTEX_MODEL = r"publishers/[^/]+/models/[^/]+"


def vertex_authorised(ctx):
    """Vertex AI's Live endpoint: a valid bearer token of token_registry, or
    (express mode) the mock's key alone; else 401 as vertex_routes.py says.
    Returns "bearer" or "express", or None (answered)."""
    import token_registry
    import vertex_routes
    mo = re.match(r"(?i)^bearer\s+(\S+)$", (ctx.headers.get("authorization") or "").strip())
    key = (ctx.headers.get("x-goog-api-key") or "").strip()
    if mo:
        ok, why = token_registry.check(mo.group(1))
        if ok:
            return "bearer"
        ctx.update(auth=why)
        ctx.send_error(401, vertex_routes.INVALID)
        return None
    if key and key == ctx.state.key:
        return "express"
    ctx.update(auth="missing" if not key else "bad key")
    ctx.send_error(401, vertex_routes.MISSING)
    return None


def check_vertex_model(peer, auth, model):
    """The setup's model on Vertex AI: its full name with a bearer token,
    publishers/... in express mode (live.py AsyncLive.connect)."""
    full = re.match(r"^projects/[^/]+/locations/[^/]+/" + VERTEX_MODEL + r"\Z", model)
    short = re.match(r"^" + VERTEX_MODEL + r"\Z", model)
    if not (full if auth == "bearer" else short):
        peer.violation("model %s is not a %s name" % (model, "full" if auth == "bearer" else "publisher model"),
                       1008)


def live_vertex(ctx):
    ctx.h.close_connection = True
    auth = vertex_authorised(ctx)
    if auth is not None:
        ctx.update(auth=auth)
        serve(ctx, auth)


def live(ctx):
    ctx.h.close_connection = True
    if authorised(ctx, ctx.params["method"]):
        serve(ctx, None)


def serve(ctx, vertex):
    """The upgrade and the session; `vertex`: None (the Gemini API), or how
    the Vertex AI client authenticated ("bearer", "express")."""
    h = ctx.headers
    key = h.get("sec-websocket-key") or ""
    try:
        key_ok = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        key_ok = False
    if (ctx.method != "GET" or (h.get("upgrade") or "").lower() != "websocket"
            or "upgrade" not in [t.strip().lower() for t in (h.get("connection") or "").split(",")]
            or h.get("sec-websocket-version") != "13" or not key_ok):
        bad_request(ctx, "Not a WebSocket upgrade request.")
        return
    with LOCK:
        faults = list(FAULTS)
        FAULTS.clear()
    accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if any(f.get("type") == "bad_accept" for f in faults):
        accept = base64.b64encode(hashlib.sha1(b"not the key" + GUID).digest()).decode()
    slow = next((f for f in faults if f.get("type") == "slow_upgrade"), None)
    if slow:
        time.sleep(float(slow.get("delay", 0.3)))
    ctx.h.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
    ctx.update(status=101, live_faults=[f.get("type") for f in faults])
    peer = Peer(ctx, faults)
    slow_read = peer.fault("slow_read")
    if slow_read:
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(slow_read.get("bytes", 65536)))
    try:
        first = peer.read_json()
        setup = first.get("setup")
        if not isinstance(setup, dict) or not isinstance(setup.get("model"), str):
            peer.violation("the first message must be a setup with a model", 1007)
        gen = setup.get("generationConfig")
        for k in (gen if isinstance(gen, dict) else {}):
            if k not in GENERATION_CONFIG_FIELDS:
                # As the REST API refuses it, in a close frame's reason.
                peer.violation("Unknown name \"%s\" at 'setup.generation_config': Cannot"
                               " find field." % k, 1007)
        if vertex:
            check_vertex_model(peer, vertex, setup["model"])
        resumed = None
        sr = setup.get("sessionResumption")
        if isinstance(sr, dict) and sr.get("handle") is not None:
            with LOCK:
                known = sr["handle"] in HANDLES
            if not known:
                peer.violation("unknown session resumption handle", 1008)
            resumed = sr["handle"]
        peer.send({"setupComplete": {}})
        raw = peer.fault("raw")
        if raw:
            peer.send_frame(int(raw.get("op", 1)), base64.b64decode(raw.get("data", "")))
        Session(peer, setup, resumed, vertex).run()
    except (Closed, OSError, ValueError):
        pass
    finally:
        peer.log()
        ctx.update(completed=True)


def control_faults(state, data, query):
    fs = (data or {}).get("faults")
    if not isinstance(fs, list):
        return 400, {"error": {"code": 400, "message": "'faults' must be a list"}}
    with LOCK:
        FAULTS.extend(fs)
        n = len(FAULTS)
    return 200, {"ok": True, "pending": n}


def register(mock):
    GENERATION_CONFIG_FIELDS.update(mock.GENERATION_CONFIG_FIELDS_ALL)
    mock.plain_route("GET", r"/ws/google\.ai\.generativelanguage\.(?P<version>v1\w*)"
                            r"\.GenerativeService\.(?P<method>BidiGenerateContent(?:Constrained)?)")(live)
    mock.plain_route("GET", r"(?:/[^/]+)*/ws/google\.cloud\.aiplatform\.(?P<version>v1\w*)"
                            r"\.LlmBidiService/BidiGenerateContent")(live_vertex)
    mock.CONTROL_ROUTES[("POST", "/_mock/live/faults")] = control_faults
    mock.RESET_HOOKS.append(reset)
