"""Files (resumable upload) and cachedContents endpoints of the mock server.

Loaded by gemini_mock.py, which calls `register(module)` once its own routes
and classes exist. Everything lives here so the main mock stays untouched
apart from that hook (and one line of State.take_fault that lets a fault
type have a scope of its own, such as "upload"); `register` adds routes
through the module's `route` decorator, fault types to its FAULT_TYPES, and
wraps four things: Handler.read_body (upload chunks are streamed, never held
in memory), Handler.check_auth (a session URL is its own credential),
State.reset (also clears the stores below) and the generate routes (a
`cachedContent` of this mock's own form must name an existing cache).

Upload protocol (Google's "X-Goog-Upload" resumable protocol, see
wire-format.md section 7):

    POST {prefix}/upload/v1beta/files
        X-Goog-Upload-Protocol: resumable, X-Goog-Upload-Command: start,
        X-Goog-Upload-Header-Content-Length: N (required here),
        X-Goog-Upload-Header-Content-Type: mime (or file.mimeType in the body)
        body {"file": {name?, displayName?, mimeType?, sizeBytes?}} (either
        spelling; unknown fields -> 400)
      -> 200, X-Goog-Upload-Status: active,
         X-Goog-Upload-URL: http://HOST{same path}?upload_id=ID&upload_protocol=resumable
    POST <upload URL>  X-Goog-Upload-Command: upload | upload, finalize
                       X-Goog-Upload-Offset: must equal the bytes received so far
      -> 200 active (+ X-Goog-Upload-Size-Received), or on finalize
         200 final with {"file": File}; a wrong offset -> 400 with
         X-Goog-Upload-Status: active and X-Goog-Upload-Size-Received
         (nothing of that body is kept); finalize with fewer or more bytes
         than announced -> 400 and the session is cancelled.
    POST <upload URL>  X-Goog-Upload-Command: query (empty body)
      -> 200, X-Goog-Upload-Status: active|final|cancelled,
         X-Goog-Upload-Size-Received: N (and {"file": ...} once final)
    POST <upload URL>  X-Goog-Upload-Command: cancel -> 200 cancelled

Requests to a session URL need no API key: the URL authorises them, as at
Google (a key they do send must still be right).

Upload bytes are never kept: each chunk is read from the socket in 1 MiB
blocks into a running SHA-256 and a byte count (the File's sizeBytes and
sha256Hash come from them), so a 1 GB upload costs the mock no memory. The
request log keeps only the first LOG_KEEP bytes of a chunk's body.

Files: GET files (pageSize default 10, max 100), GET files/ID, DELETE
files/ID; an unknown id -> 403 PERMISSION_DENIED, as Google answers. A
file is ACTIVE at once, except video/* files, which are PROCESSING for their
first 2 GETs (like the real API), or as the "processing" fault says.

cachedContents: POST (model, contents, systemInstruction, tools, toolConfig,
displayName, ttl xor expireTime; unknown fields -> 400), GET one, GET list
(pageSize default 100, max 1000), PATCH (ttl or expireTime only; any other
field -> 400; optional updateMask must name only those), DELETE. A
generateContent/streamGenerateContent whose cachedContent has this mock's
form (cachedContents/cache-N) but names no existing cache (never made,
deleted, reset) is refused; other names pass unchecked (specs of the
request body send made-up names); a non-stream answer that used a cache
reports usageMetadata.cachedContentTokenCount. An unknown cache (get, update, delete,
generate) -> 403 PERMISSION_DENIED "CachedContent not found (or permission
denied)", as Google answers.

Faults (POST /_mock/faults), in addition to the generic ones (which also hit
these routes: e.g. {"type": "status", "code": 503, "match": "upload_id"}
answers 503 to the next chunk or query request without keeping its bytes):
    upload_cut   upload chunks  bytes (default: half of the chunk), offset
                 (only the chunk sent at that X-Goog-Upload-Offset), drain
                 (true): keep that many bytes of the chunk, read the rest
                 without keeping it, then close the connection without an
                 answer; with drain = false the rest is never read (the
                 client may then fail while still sending).
    upload_status upload chunks code (503), message, status, offset: read the
                 chunk (sent at that offset), keep none of it, answer that
                 error (no X-Goog-Upload-Status header, like a front end's 5xx).
    upload_active upload chunks received (a string, sent verbatim; default
                 the bytes the session holds), offset, query (false): read
                 the chunk, keep none of it, answer 200 "active" with
                 X-Goog-Upload-Size-Received: received (a server that takes
                 nothing, or one that sends a bad count). With query = true
                 the queries are answered so instead, and the chunks as usual.
    upload_host  upload start   host ("name:port"): the session URL names that
                 host instead of the request's Host (a session on another origin).
    upload_granularity upload start value (a string, sent verbatim): the
                 X-Goog-Upload-Chunk-Granularity of the answer.
    upload_strict upload start  the session answers a chunk at a wrong offset
                 with a bare 400 (no X-Goog-Upload-* headers, nothing that says
                 it is about the offset), as a front end may.
    processing   upload start   gets (2): the new file stays PROCESSING for
                 that many GETs; fail (a message): then FAILED with that error.
"""

import base64
import calendar
import hashlib
import json
import re
import threading
import time
import urllib.parse

LOG_KEEP = 64 * 1024       # bytes of a chunk body kept in the request log
READ_BLOCK = 1 << 20
GRANULARITY = 256 * 1024
FILE_FIELDS = {"name", "displayName", "display_name", "mimeType", "mime_type",
               "sizeBytes", "size_bytes"}
CACHE_FIELDS = {"model", "contents", "systemInstruction", "system_instruction", "tools",
                "toolConfig", "tool_config", "displayName", "display_name", "ttl",
                "expireTime", "expire_time"}
TTL_RE = re.compile(r"^\d+(\.\d{1,9})?s$")
TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?"
                     r"(Z|[+-]\d{2}:\d{2})$")
MOCK_CACHE_ID = re.compile(r"^cache-\d+$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def parse_time(s):
    """Epoch seconds of an RFC 3339 timestamp, or None."""
    mo = TIME_RE.match(s) if isinstance(s, str) else None
    if not mo:
        return None
    y, mo_, d, h, mi, sec = (int(mo.group(i)) for i in range(1, 7))
    t = calendar.timegm((y, mo_, d, h, mi, sec, 0, 0, 0)) + float(mo.group(7) or 0)
    tz = mo.group(8)
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        t -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return t


class Store:
    """Upload sessions, files and caches of one mock server."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self):
        self.sessions = {}
        self.files = {}      # id -> File dict (+ private "_" keys), insertion order = list order
        self.caches = {}
        self.n = 0

    def next_id(self, what):
        with self.lock:
            self.n += 1
            return "%s-%04d" % (what, self.n)


STORE = Store()


def public(obj):
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def register(mock):
    """Adds the routes and faults of this file to the gemini_mock module."""
    route = mock.route
    mock.FAULT_TYPES["upload_cut"] = "upload_body"   # taken only by read_body below
    mock.FAULT_TYPES["upload_status"] = "upload_body"
    mock.FAULT_TYPES["upload_active"] = "upload_body"
    mock.FAULT_TYPES["processing"] = "upload"        # taken by the upload start
    mock.FAULT_TYPES["upload_host"] = "upload"
    mock.FAULT_TYPES["upload_granularity"] = "upload"
    mock.FAULT_TYPES["upload_strict"] = "upload"

    # -- state reset --------------------------------------------------------
    orig_reset = mock.State.reset

    def reset(self):
        orig_reset(self)
        with STORE.lock:
            STORE.clear()
    mock.State.reset = reset

    # -- the session URL authorises its requests --------------------------------
    orig_check_auth = mock.Handler.check_auth

    def check_auth(self, ctx):
        """Requests to an upload session URL need no key (the URL is the
        credential, as at Google); a key they do carry must be right."""
        sid = ctx.query.get("upload_id")
        if sid is not None and "key" not in ctx.query and not (
                ctx.headers.get("x-goog-api-key") or ctx.headers.get("authorization")):
            with STORE.lock:
                if sid in STORE.sessions:
                    return True
        return orig_check_auth(self, ctx)
    mock.Handler.check_auth = check_auth

    # -- streaming chunk bodies ------------------------------------------------
    orig_read_body = mock.Handler.read_body

    def read_body(self):
        """Chunks of an upload session are hashed and counted as they arrive
        (never held); other requests are read as usual."""
        self._upload = None
        split = urllib.parse.urlsplit(self.path)
        qs = urllib.parse.parse_qs(split.query)
        cmd = commands(self.headers.get("X-Goog-Upload-Command"))
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        length = self.headers.get("Content-Length")
        if (self.command != "POST" or "upload_id" not in qs or "upload" not in cmd
                or "chunked" in te or length is None or not length.strip().isdigit()):
            return orig_read_body(self)
        n = int(length)
        sid = qs["upload_id"][0]
        offset = to_int(self.headers.get("X-Goog-Upload-Offset"))
        with STORE.lock:
            sess = STORE.sessions.get(sid)
            matched = (sess is not None and sess["status"] == "active"
                       and offset == sess["received"])
            hasher = sess["hash"].copy() if matched else None
        target = split.path + ("?" + split.query if split.query else "")

        def only(f):
            return f["type"] in ("upload_cut", "upload_status", "upload_active") \
                and not f.get("query") \
                and (f.get("offset") is None or to_int(f.get("offset")) == offset)
        fault = self.server.state.take_fault(target, "upload_body", only=only)
        limit = n
        if fault is not None and fault["type"] == "upload_cut":
            limit = min(n, to_int(fault.get("bytes"), n // 2))
        got, prefix = 0, bytearray()
        up = {"sid": sid, "offset": offset, "length": 0, "declared": n, "hash": hasher,
              "matched": matched, "cut": fault}
        self._upload = up
        while got < limit:
            block = self.rfile.read(min(READ_BLOCK, limit - got))
            if not block:
                # The client went away mid-chunk: a real server keeps what
                # it got, so a resumed upload continues from there.
                commit(up)
                raise mock.ClientGone()
            got += len(block)
            up["length"] = got
            if hasher is not None:
                hasher.update(block)
            if len(prefix) < LOG_KEEP:
                prefix += block[:LOG_KEEP - len(prefix)]
        if fault is not None and fault["type"] == "upload_cut":
            self.close_connection = True
            if fault.get("drain", True):
                # Read the rest unkept, so the client has sent the whole
                # request when the connection drops: the failure is then
                # always "no answer" (which libcurl itself retries once on a
                # reused connection), never a race with a failing send.
                left = n - got
                while left > 0:
                    block = self.rfile.read(min(READ_BLOCK, left))
                    if not block:
                        break
                    left -= len(block)
        return bytes(prefix)
    mock.Handler.read_body = read_body

    # -- upload -------------------------------------------------------------

    def commit(up):
        """Adds a chunk's bytes to its session; False on an offset mismatch."""
        with STORE.lock:
            sess = STORE.sessions.get(up["sid"])
            if (not up["matched"] or sess is None or sess["status"] != "active"
                    or sess["received"] != up["offset"]):
                return False
            sess["received"] += up["length"]
            sess["hash"] = up["hash"]
            up["matched"] = False   # committed once
            return True

    def answer_active(ctx, sess, f):
        """The upload_active fault: 200 "active", the count it says."""
        received = f.get("received")
        ctx.update(fault="upload_active")
        ctx.h.send_bytes(200, b"", mock.JSON_CT, upload_headers(
            "active", sess["received"] if received is None else received))

    def upload_headers(status, received=None, extra=None):
        h = {"X-Goog-Upload-Status": status}
        if received is not None:
            h["X-Goog-Upload-Size-Received"] = str(received)
        h.update(extra or {})
        return h

    def host_base(ctx):
        host = ctx.headers.get("host") or "127.0.0.1:%d" % ctx.h.server.server_address[1]
        return "http://" + host

    @route("POST", r"files", "upload")
    def files_post(ctx):
        if not ctx.prefix.endswith("/upload"):
            ctx.send_error(400, "Media upload is only accepted at /upload/%s/files."
                           % ctx.version)
            return
        if "upload_id" in ctx.query:
            session_request(ctx)
        else:
            upload_start(ctx)
        ctx.update(completed=True)

    def upload_start(ctx):
        hd = ctx.headers
        if (hd.get("x-goog-upload-protocol") or "").lower() != "resumable":
            ctx.send_error(400, "X-Goog-Upload-Protocol must be 'resumable'.")
            return
        if commands(hd.get("x-goog-upload-command")) != ["start"]:
            ctx.send_error(400, "X-Goog-Upload-Command must be 'start' for a new upload.")
            return
        size = to_int(hd.get("x-goog-upload-header-content-length"))
        if size is None or size < 0:
            ctx.send_error(400, "X-Goog-Upload-Header-Content-Length is missing or invalid.")
            return
        req = ctx.json_object()
        if req is None:
            return
        for k in req:
            if k != "file":
                mock.unknown_field_error(ctx, k)
                return
        meta = req.get("file") or {}
        if not isinstance(meta, dict):
            ctx.send_error(400, "Invalid JSON payload received. 'file' must be an object.")
            return
        for k in meta:
            if k not in FILE_FIELDS:
                mock.unknown_field_error(ctx, k, "file")
                return
        mime = (meta.get("mimeType") or meta.get("mime_type")
                or hd.get("x-goog-upload-header-content-type"))
        if not mime:
            ctx.send_error(400, "Upload has no MIME type (X-Goog-Upload-Header-Content-Type "
                                "or file.mimeType).")
            return
        declared = meta.get("sizeBytes", meta.get("size_bytes"))
        if declared is not None and to_int(declared) != size:
            ctx.send_error(400, "file.sizeBytes (%s) does not match "
                                "X-Goog-Upload-Header-Content-Length (%d)." % (declared, size))
            return
        name = meta.get("name")
        if name is not None:
            fid = name[len("files/"):] if isinstance(name, str) and name.startswith("files/") \
                else name
            if not isinstance(fid, str) or not ID_RE.match(fid):
                ctx.send_error(400, "Invalid file name %r: up to 40 lower-case letters, digits "
                                    "or dashes." % (name,))
                return
            with STORE.lock:
                taken = fid in STORE.files
            if taken:
                ctx.send_error(409, "File files/%s already exists." % fid, "ALREADY_EXISTS")
                return
        fault = ctx.fault or {}
        f = ctx.fault if fault.get("type") == "processing" else None
        sid = STORE.next_id("upload")
        sess = {
            "id": sid, "size": size, "received": 0, "hash": hashlib.sha256(),
            "status": "active", "mime": mime, "name": name,
            "display_name": meta.get("displayName", meta.get("display_name")),
            "processing": f, "base": host_base(ctx), "prefix": ctx.prefix[:-len("/upload")],
            "version": ctx.version, "file": None, "strict": fault.get("type") == "upload_strict",
        }
        with STORE.lock:
            STORE.sessions[sid] = sess
        base = host_base(ctx)
        if ctx.fault and ctx.fault["type"] == "upload_host":
            base = "http://" + str(ctx.fault.get("host"))
        url = "%s%s?upload_id=%s&upload_protocol=resumable" % (base, ctx.path, sid)
        granularity = str(GRANULARITY)
        if fault.get("type") == "upload_granularity":
            granularity = str(fault.get("value"))
        ctx.update(upload_id=sid)
        ctx.h.send_bytes(200, b"", "text/plain; charset=utf-8", upload_headers("active", None, {
            "X-Goog-Upload-URL": url, "X-Goog-Upload-Chunk-Granularity": granularity,
            "X-GUploader-UploadID": sid}))

    def make_file(sess):
        fid = sess["name"] or STORE.next_id("file")
        if fid.startswith("files/"):
            fid = fid[len("files/"):]
        now = time.time()
        digest = sess["hash"].digest()
        f = {
            "name": "files/" + fid, "mimeType": sess["mime"], "sizeBytes": str(sess["size"]),
            "createTime": rfc3339(now), "updateTime": rfc3339(now),
            "expirationTime": rfc3339(now + 48 * 3600),
            "sha256Hash": base64.b64encode(digest).decode("ascii"),
            "uri": "%s%s/%s/files/%s" % (sess["base"], sess["prefix"], sess["version"], fid),
            "state": "ACTIVE", "source": "UPLOADED",
        }
        if sess["display_name"]:
            f["displayName"] = sess["display_name"]
        fault = sess["processing"]
        gets = None
        if fault is not None:
            gets = to_int(fault.get("gets"), 2)
        elif sess["mime"].startswith("video/"):
            gets = 2
        if gets:
            f["state"] = "PROCESSING"
            f["_gets_left"] = gets
            f["_fail"] = fault.get("fail") if fault else None
        with STORE.lock:
            STORE.files[fid] = f
        return f

    def session_request(ctx):
        sid = ctx.query["upload_id"]
        up = getattr(ctx.h, "_upload", None)
        cmd = commands(ctx.headers.get("x-goog-upload-command"))
        ctx.update(upload_id=sid, upload_command=", ".join(cmd))
        with STORE.lock:
            sess = STORE.sessions.get(sid)
        if sess is None:
            ctx.send_error(404, "Upload session %s not found." % sid)
            return
        if cmd == ["query"]:
            target = ctx.h.path
            f = ctx.h.server.state.take_fault(
                target, "upload_body", only=lambda f: f["type"] == "upload_active" and f.get("query"))
            if f is not None:
                answer_active(ctx, sess, f)
                return
            body = b""
            if sess["status"] == "final":
                body = mock.dumps({"file": public(sess["file"])})
            ctx.h.send_bytes(200, body, mock.JSON_CT,
                             upload_headers(sess["status"], sess["received"]))
            return
        if cmd == ["cancel"]:
            with STORE.lock:
                if sess["status"] == "active":
                    sess["status"] = "cancelled"
            ctx.h.send_bytes(200, b"", mock.JSON_CT, upload_headers(sess["status"]))
            return
        if "upload" not in cmd or not set(cmd) <= {"upload", "finalize"}:
            ctx.send_error(400, "Unknown X-Goog-Upload-Command %r."
                           % ctx.headers.get("x-goog-upload-command"))
            return
        if sess["status"] != "active":
            ctx.send_error(400, "Upload session is %s." % sess["status"],
                           headers=upload_headers(sess["status"], sess["received"]))
            return
        if up is None or up["offset"] is None:
            ctx.send_error(400, "An upload chunk needs a valid X-Goog-Upload-Offset and a "
                                "Content-Length.",
                           headers=upload_headers("active", sess["received"]))
            return
        ctx.update(upload_offset=up["offset"], upload_length=up["length"])
        f = up["cut"]
        if f is not None and f["type"] == "upload_status":
            code = to_int(f.get("code"), 503)
            ctx.update(fault="upload_status")
            ctx.send_error(code, f.get("message"), f.get("status"))
            return
        if f is not None and f["type"] == "upload_active":
            answer_active(ctx, sess, f)
            return
        if f is not None:
            commit(up)
            ctx.update(fault="upload_cut", upload_received=sess["received"])
            ctx.h.close_connection = True   # no answer: the client sees a dropped connection
            return
        if not commit(up):
            ctx.send_error(400, "Invalid X-Goog-Upload-Offset %d: %d bytes received so far."
                           % (up["offset"], sess["received"]),
                           headers=None if sess["strict"] else
                           upload_headers("active", sess["received"]))
            return
        ctx.update(upload_received=sess["received"])
        if sess["received"] > sess["size"]:
            with STORE.lock:
                sess["status"] = "cancelled"
            ctx.send_error(400, "Received %d bytes, more than the %d announced."
                           % (sess["received"], sess["size"]),
                           headers=upload_headers("cancelled", sess["received"]))
            return
        if "finalize" not in cmd:
            ctx.h.send_bytes(200, b"", mock.JSON_CT, upload_headers("active", sess["received"]))
            return
        if sess["received"] != sess["size"]:
            with STORE.lock:
                sess["status"] = "cancelled"
            ctx.send_error(400, "Finalized after %d bytes, but %d were announced."
                           % (sess["received"], sess["size"]),
                           headers=upload_headers("cancelled", sess["received"]))
            return
        f = make_file(sess)
        with STORE.lock:
            sess["status"] = "final"
            sess["file"] = f
        ctx.send_json(200, {"file": public(f)}, upload_headers("final", sess["received"]))

    # -- files ----------------------------------------------------------------

    def send_page(ctx, key, items, offset, size):
        """One page of a list answer, with nextPageToken when more follow."""
        page = items[offset:offset + size]
        body = {key: page} if page else {}
        if offset + size < len(items):
            body["nextPageToken"] = "mockpage-%d" % (offset + size)
        ctx.send_json(200, body)
        ctx.update(completed=True)

    def delete(ctx, found, table):
        """DELETE of a stored resource: {} once found() saw it (or answered)."""
        if found(ctx) is None:
            return
        with STORE.lock:
            table.pop(ctx.params["id"], None)
        ctx.send_json(200, {})
        ctx.update(completed=True)

    def file_or_404(ctx):
        fid = ctx.params["id"]
        with STORE.lock:
            f = STORE.files.get(fid)
        if f is None:
            ctx.send_error(403, "You do not have permission to access the File %s or it may not "
                                "exist." % fid, "PERMISSION_DENIED")
        return f

    @route("GET", r"files/(?P<id>[^/:]+)")
    def files_get(ctx):
        f = file_or_404(ctx)
        if f is None:
            return
        with STORE.lock:
            if f["state"] == "PROCESSING":
                if f["_gets_left"] > 0:
                    f["_gets_left"] -= 1
                elif f.get("_fail"):
                    f["state"] = "FAILED"
                    f["error"] = {"code": 3, "message": str(f["_fail"])}
                    f["updateTime"] = rfc3339(time.time())
                else:
                    f["state"] = "ACTIVE"
                    f["updateTime"] = rfc3339(time.time())
            out = public(f)
        ctx.send_json(200, out)
        ctx.update(completed=True)

    @route("DELETE", r"files/(?P<id>[^/:]+)")
    def files_delete(ctx):
        delete(ctx, file_or_404, STORE.files)

    @route("GET", r"files")
    def files_list(ctx):
        pa = mock._page_args(ctx, 10, 100)
        if pa is None:
            return
        size, offset = pa
        with STORE.lock:
            items = [public(f) for f in STORE.files.values()]
        send_page(ctx, "files", items, offset, size)

    # -- cachedContents --------------------------------------------------------

    def expiry(ctx, obj, now):
        """Expire time from ttl or expireTime, or None after a 400."""
        ttl = obj.get("ttl")
        exp = obj.get("expireTime", obj.get("expire_time"))
        if ttl is not None and exp is not None:
            ctx.send_error(400, "Only one of ttl and expire_time may be set (oneof expiration).")
            return None
        if ttl is not None:
            if not isinstance(ttl, str) or not TTL_RE.match(ttl):
                ctx.send_error(400, "Invalid value at 'cached_content.ttl' (type.googleapis.com/"
                                    "google.protobuf.Duration), %s" % json.dumps(ttl))
                return None
            return now + float(ttl[:-1])
        if exp is not None:
            t = parse_time(exp)
            if t is None:
                ctx.send_error(400, "Invalid value at 'cached_content.expire_time' (type.googleapis"
                                    ".com/google.protobuf.Timestamp), %s" % json.dumps(exp))
                return None
            return t
        return now + 3600   # the API's default TTL is one hour

    def cache_or_404(ctx):
        cid = ctx.params["id"]
        with STORE.lock:
            c = STORE.caches.get(cid)
        if c is None:
            ctx.send_error(403, "CachedContent not found (or permission denied)",
                           "PERMISSION_DENIED")
        return c

    @route("POST", r"cachedContents")
    def caches_create(ctx):
        req = ctx.json_object()
        if req is None:
            return
        for k in req:
            if k not in CACHE_FIELDS:
                mock.unknown_field_error(ctx, k)
                return
        model = req.get("model")
        if not isinstance(model, str) or not model:
            ctx.send_error(400, "* CachedContent.model: model is required.")
            return
        if not model.startswith("models/"):
            ctx.send_error(400, "Invalid model name %r: expected models/{model}." % model)
            return
        if not mock.model_ok_for_generate(model):
            mock.not_found_model(ctx, model, "createCachedContent")
            return
        contents = req.get("contents")
        if contents is not None:
            probe = {"contents": contents}
            if not mock.validate_generate(ctx, probe, "CachedContent"):
                return
        now = time.time()
        exp = expiry(ctx, req, now)
        if exp is None:
            return
        tokens = max(1, mock.request_word_count(req))
        cid = STORE.next_id("cache")
        c = {"name": "cachedContents/" + cid, "model": model,
             "createTime": rfc3339(now), "updateTime": rfc3339(now), "expireTime": rfc3339(exp),
             "usageMetadata": {"totalTokenCount": tokens}}
        dn = req.get("displayName", req.get("display_name"))
        if dn is not None:
            c["displayName"] = dn
        with STORE.lock:
            STORE.caches[cid] = c
        ctx.update(cache=c["name"])
        ctx.send_json(200, c)
        ctx.update(completed=True)

    @route("GET", r"cachedContents/(?P<id>[^/:]+)")
    def caches_get(ctx):
        c = cache_or_404(ctx)
        if c is None:
            return
        ctx.send_json(200, c)
        ctx.update(completed=True)

    @route("PATCH", r"cachedContents/(?P<id>[^/:]+)")
    def caches_update(ctx):
        req = ctx.json_object()
        if req is None:
            return
        c = cache_or_404(ctx)
        if c is None:
            return
        for k in req:
            if k not in ("ttl", "expireTime", "expire_time"):
                ctx.send_error(400, "Field %r of CachedContent cannot be updated: only ttl or "
                                    "expire_time." % k)
                return
        mask = ctx.query.get("updateMask", ctx.query.get("update_mask"))
        if mask:
            for m in mask.split(","):
                if m.strip() not in ("ttl", "expireTime", "expire_time"):
                    ctx.send_error(400, "Invalid update mask path %r." % m)
                    return
        if not req:
            ctx.send_error(400, "Nothing to update: give ttl or expire_time.")
            return
        now = time.time()
        exp = expiry(ctx, req, now)
        if exp is None:
            return
        with STORE.lock:
            c["expireTime"] = rfc3339(exp)
            c["updateTime"] = rfc3339(now)
        ctx.send_json(200, c)
        ctx.update(completed=True)

    @route("DELETE", r"cachedContents/(?P<id>[^/:]+)")
    def caches_delete(ctx):
        delete(ctx, cache_or_404, STORE.caches)

    @route("GET", r"cachedContents")
    def caches_list(ctx):
        pa = mock._page_args(ctx, 100, 1000)
        if pa is None:
            return
        size, offset = pa
        with STORE.lock:
            items = list(STORE.caches.values())
        send_page(ctx, "cachedContents", items, offset, size)

    # -- generate with cachedContent ------------------------------------------

    def with_cache(fn):
        def wrapped(ctx):
            req = ctx._json if isinstance(ctx._json, dict) else {}
            name = req.get("cachedContent", req.get("cached_content"))
            if name is None:
                return fn(ctx)
            cid = name[len("cachedContents/"):] if isinstance(name, str) and \
                name.startswith("cachedContents/") else None
            with STORE.lock:
                c = STORE.caches.get(cid) if cid else None
            if c is None and not (cid and MOCK_CACHE_ID.match(cid)):
                return fn(ctx)   # not a name this mock hands out: no cache, no check
            if c is None:
                ctx.send_error(403, "CachedContent not found (or permission denied)",
                               "PERMISSION_DENIED")
                return None
            ctx.update(cached_content=name)
            cached = c["usageMetadata"]["totalTokenCount"]
            send_json = ctx.send_json

            def send_with_usage(status, obj, headers=None):
                if status == 200 and isinstance(obj, dict) and \
                        isinstance(obj.get("usageMetadata"), dict):
                    u = obj["usageMetadata"]
                    u["cachedContentTokenCount"] = cached
                    u["promptTokenCount"] = u.get("promptTokenCount", 0) + cached
                    u["totalTokenCount"] = u.get("totalTokenCount", 0) + cached
                return send_json(status, obj, headers)
            ctx.send_json = send_with_usage
            return fn(ctx)
        return wrapped

    for i, (m, rx, kind, fn) in enumerate(mock.ROUTES):
        if kind in ("generate", "stream"):
            mock.ROUTES[i] = (m, rx, kind, with_cache(fn))


def commands(value):
    return [c.strip().lower() for c in (value or "").split(",") if c.strip()]


def to_int(v, default=None):
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return default
