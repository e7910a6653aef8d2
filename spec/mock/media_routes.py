"""Long-running operations (Veo video generation) and file downloads of the
mock server.

Loaded by gemini_mock.py, which calls `register(module)` once its own routes
exist (after files_routes.py, whose upload sessions this module reads).
Wire format: docs/wire-format-2.md sections 13 (operations, Veo) and 14
(downloads); what the mock must do: its section 18.

Operations
    POST {version}/models/veo-*:predictLongRunning
        body {"instances": [{"prompt", "image", "lastFrame", "video",
        "referenceImages"}], "parameters": {"sampleCount", "durationSeconds",
        "aspectRatio", "resolution", "personGeneration", "negativePrompt",
        "enhancePrompt"}, "webhookConfig"} (either spelling of each key;
        unknown keys -> 400; an image must be {bytesBase64Encoded, mimeType}:
        an `inlineData` image -> 400 "`inlineData` isn't supported by this
        model." as Google answers; a model that is not veo-* -> 404)
      -> {"name": "models/<model>/operations/<id>"}
    GET {version}/<anything>/operations/<id>   (any operation of the store)
      -> {"name", "done": false} for the first `polls` polls (2), then
         {"name", "done": true, "response": {"@type": ...PredictLongRunningResponse,
          "generateVideoResponse": {"generatedSamples": [{"video": {"uri":
          "http://HOST/v1beta/files/<fid>:download?alt=media"}}, ...]}}}
         (one sample per sampleCount, each an MP4 the download route
         serves), or with "error": {code, message} instead of "response";
         an unknown operation -> 404 NOT_FOUND.
    Other route modules make operations of their own (file search stores'
    upload and import operations, ...) with
        media_routes.OPERATIONS.create(name, polls=2, response={...} | error={...},
                                       metadata=None)
    and GET polls them like the video ones.

Downloads
    GET {prefix}/{version}/files/<fid>:download?alt=media  (also with the
    media prefix /download/v1beta/...), with the API key as usual
      -> 302, Location: http://localhost:PORT/signed/<fid>?sig=<token> (https
         when the mock serves TLS): a
         signed URL on *another origin* (the client talks to 127.0.0.1:PORT;
         localhost:PORT is the same server under another host name). That
         host needs no key; it records in the request log whether one came
         (entry "credentials": true/false) and refuses a request that brought
         one from another origin with 403 ("credentials sent to another
         origin"), so a client that leaks its key fails.
      The bytes: Range "bytes=N-" / "bytes=N-M" -> 206 with Content-Range
      (Accept-Ranges: bytes); a start past the end -> 416 with
      "Content-Range: bytes */SIZE"; no Range -> 200. Log entries of bytes
      answers carry "range_start" and "bytes_total".
      An unknown id -> 404; no alt=media -> 400.
    Downloadable files: the videos of operations; files uploaded through
    files_routes.py whose announced size is at most KEEP_UPLOAD (their bytes
    are kept as they arrive); and files registered by a spec or by another
    route module:
        POST /_mock/blobs {"id": "abc", "text": "..." | "size": N, "mime_type": "..."}
        media_routes.BLOBS.put("batch-abc", data=b"...", mime="application/jsonl")
        media_routes.BLOBS.put("batch-abc", size=N, source=f)   (f(start, end) -> bytes)
    (read by another module with media_routes.find_blob(fid), or None); and
    operations of any name are made by a spec with
        POST /_mock/operations {"name": "fileSearchStores/s/upload/operations/d",
                                "polls": N, "response": {...} | "error": {...}, "metadata": {...}}
    A file given by `size` holds N bytes of lines of 16 bytes, each naming
    its own offset ("%015d\\n"), so any slice tells where it came from; it is
    made as it is sent, never held (a 50 MB file costs the mock nothing).

Faults (POST /_mock/faults), besides the generic ones (which also hit these
routes, the signed host included: {"type": "status", "code": 503, "match":
"/signed/"}):
    operation    predictLongRunning  polls (2): not done for that many polls;
                 error ({"code": 3, "message": ...}, or true): the operation
                 ends with that error; filtered (true): it ends with a
                 safety-filtered answer (raiMediaFilteredCount, reasons, no
                 samples); video_size (bytes of each MP4, 65536).
    download     files/<fid>:download  what this download does (the options
                 travel in the signed URL to the host that serves the bytes):
                 redirect "other" (default) | "same" (a signed URL on
                 127.0.0.1, the client's own origin) | "relative" (a Location
                 without scheme and host) | "none" (the bytes at once, 200);
                 host ("name:port": the signed URL's host); status (302: the
                 redirect's status); location (a string: the redirect's
                 Location, verbatim); hops (1: redirects in a row, each to a
                 new signed URL); range (true: false ignores Range and always
                 sends the whole file with 200); cut (bytes: the answer stops
                 after that many bytes of its body and the connection closes,
                 Content-Length announcing the whole).
"""

import base64
import json
import random
import re
import ssl
import string
import threading
import urllib.parse

KEEP_UPLOAD = 16 * 1024 * 1024   # uploads up to this size are kept for downloads
BLOCK = 64 * 1024
VIDEO_SIZE = 65536
OP_POLLS = 2
VEO_RESPONSE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
REDIRECTS = {301, 302, 303, 307, 308}

TOP_FIELDS = {"instances", "parameters", "webhookConfig"}
INSTANCE_FIELDS = {"prompt", "image", "lastFrame", "video", "referenceImages"}
PARAMETER_FIELDS = {"sampleCount", "durationSeconds", "aspectRatio", "resolution",
                    "personGeneration", "negativePrompt", "enhancePrompt"}
IMAGE_FIELDS = {"bytesBase64Encoded", "mimeType"}
VIDEO_FIELDS = {"uri", "encodedVideo", "encoding"}


def _camel(name):
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def _random_id(n=12):
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def pattern_bytes(start, end):
    """Bytes [start, end) of the patterned file: 16-byte lines naming their offset."""
    first = start - start % 16
    lines = "".join("%015d\n" % off for off in range(first, end, 16))
    return lines[start - first:end - first].encode("ascii")


def mp4_bytes(size, label):
    """A file with an MP4's box structure (ftyp, then mdat) of `size` bytes."""
    ftyp = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp42"
    payload = size - len(ftyp) - 8
    if payload < 0:
        return ftyp[:size]
    text = ("gemini mock video: %s\n" % label).encode("utf-8")
    body = (text * (payload // max(1, len(text)) + 1))[:payload]
    return ftyp + len(body + b"12345678").to_bytes(4, "big") + b"mdat" + body


class Operations:
    """Long-running operations by name, each done after a number of polls."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self):
        self.ops = {}

    def create(self, name, polls=OP_POLLS, response=None, error=None, metadata=None):
        """A new operation `name`; the GET after `polls` not-done ones ends
        it with `error` if given, else `response`."""
        op = {"name": name, "polls": max(0, int(polls)), "response": response, "error": error,
              "metadata": metadata, "done": False}
        with self.lock:
            self.ops[name] = op
        return self.view(op)

    @staticmethod
    def view(op):
        out = {"name": op["name"]}
        if op["metadata"] is not None:
            out["metadata"] = op["metadata"]
        if op["done"]:
            out["done"] = True
            if op["error"] is not None:
                out["error"] = op["error"]
            else:
                out["response"] = op["response"] if op["response"] is not None else {}
        return out

    def poll(self, name):
        """The operation as a GET shows it (one poll more), or None."""
        with self.lock:
            op = self.ops.get(name)
            if op is None:
                return None
            if not op["done"]:
                if op["polls"] > 0:
                    op["polls"] -= 1
                else:
                    op["done"] = True
            return self.view(op)


class Blobs:
    """Downloadable bytes by file id: {"data": bytes}, {"size": n} (patterned)
    or {"size": n, "source": f} (made as sent: f(start, end) gives the bytes
    [start, end), so a large generated file is never held)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self):
        self.blobs = {}

    def put(self, fid, data=None, size=None, mime="application/octet-stream", source=None):
        blob = {"mime": mime}
        if data is not None:
            blob["data"] = bytes(data)
            blob["size"] = len(blob["data"])
        else:
            blob["size"] = int(size)
            if source is not None:
                blob["source"] = source
        with self.lock:
            self.blobs[fid] = blob
        return blob

    def get(self, fid):
        with self.lock:
            return self.blobs.get(fid)


OPERATIONS = Operations()
BLOBS = Blobs()


def blob_blocks(blob, start, end):
    """The bytes [start, end) of a blob, in blocks of at most BLOCK bytes."""
    pos = start
    while pos < end:
        n = min(BLOCK, end - pos)
        if "data" in blob:
            yield blob["data"][pos:pos + n]
        elif "source" in blob:
            yield blob["source"](pos, pos + n)
        else:
            yield pattern_bytes(pos, pos + n)
        pos += n


def parse_range(value, total):
    """(start, end exclusive) of a single "bytes=N-[M]" range; "unsatisfiable"
    for a start at or past the end; None to ignore (absent, several ranges,
    a suffix range or a malformed one: the whole file is sent)."""
    mo = re.match(r"^\s*bytes\s*=\s*(\d+)\s*-\s*(\d*)\s*$", value or "")
    if not mo:
        return None
    start = int(mo.group(1))
    end = int(mo.group(2)) + 1 if mo.group(2) else total
    if start >= total:
        return "unsatisfiable"
    if end <= start:
        return None
    return start, min(end, total)


def register(mock):
    """Adds the routes and faults of this file to the gemini_mock module."""
    import files_routes
    route = mock.route
    mock.FAULT_TYPES["operation"] = "operation"   # taken by predictLongRunning
    mock.FAULT_TYPES["download"] = "download"     # taken by files/<fid>:download
    tokens = {}      # signed URL token -> what it serves
    kept = {}        # upload session id -> bytearray of the bytes it received
    lock = threading.Lock()

    # -- state reset --------------------------------------------------------
    orig_reset = mock.State.reset

    def reset(self):
        orig_reset(self)
        OPERATIONS.clear()
        BLOBS.clear()
        with lock:
            tokens.clear()
            kept.clear()
    mock.State.reset = reset

    # -- the bytes of uploads, kept for downloads -----------------------------

    class Tee:
        """A reader that copies what is read into `buf` from `pos` on."""

        def __init__(self, inner, buf, pos):
            self.inner, self.buf, self.pos = inner, buf, pos

        def read(self, n=-1):
            data = self.inner.read(n)
            if data:
                end = min(len(self.buf), self.pos + len(data))
                if end > self.pos:
                    self.buf[self.pos:end] = data[:end - self.pos]
                self.pos += len(data)
            return data

        def readline(self, *args):
            return self.inner.readline(*args)

    orig_read_body = mock.Handler.read_body

    def read_body(self):
        """An upload chunk of a small enough session: its bytes are also
        copied at their offset (what the session commits is a prefix of
        them), so the finished file can be downloaded."""
        split = urllib.parse.urlsplit(self.path)
        sid = urllib.parse.parse_qs(split.query).get("upload_id", [None])[0]
        offset = files_routes.to_int(self.headers.get("X-Goog-Upload-Offset"))
        with files_routes.STORE.lock:
            sess = files_routes.STORE.sessions.get(sid) if sid else None
        if self.command != "POST" or sess is None or offset is None or offset < 0 \
                or sess["size"] > KEEP_UPLOAD:
            return orig_read_body(self)
        with lock:
            buf = kept.setdefault(sid, bytearray(sess["size"]))
        inner = self.rfile
        self.rfile = Tee(inner, buf, offset)
        try:
            return orig_read_body(self)
        finally:
            self.rfile = inner

    mock.Handler.read_body = read_body

    def uploaded(fid):
        """The blob of an uploaded file whose bytes were kept, or None."""
        with files_routes.STORE.lock:
            f = files_routes.STORE.files.get(fid)
            sessions = list(files_routes.STORE.sessions.values())
        if f is None:
            return None
        for sess in sessions:
            if sess["status"] == "final" and sess["file"] is not None \
                    and sess["file"]["name"] == f["name"]:
                with lock:
                    buf = kept.get(sess["id"])
                if buf is None and sess["size"] == 0:
                    buf = bytearray()
                if buf is None:
                    return None
                return {"data": bytes(buf[:sess["size"]]), "size": sess["size"],
                        "mime": sess["mime"]}
        return None

    # -- operations -------------------------------------------------------------

    def bad(ctx, message):
        ctx.send_error(400, message)
        return False

    def known(ctx, obj, fields, where):
        """Unknown keys (either spelling) -> 400; returns the object with
        camelCase keys, or None after the 400."""
        if not isinstance(obj, dict):
            bad(ctx, "Invalid JSON payload received. '%s' must be an object." % where)
            return None
        out = {}
        for k, v in obj.items():
            ck = _camel(k)
            if ck not in fields:
                mock.unknown_field_error(ctx, k, where)
                return None
            out[ck] = v
        return out

    def check_image(ctx, image, where):
        if isinstance(image, dict) and ("inlineData" in image or "inline_data" in image):
            return bad(ctx, "`inlineData` isn't supported by this model.")
        image = known(ctx, image, IMAGE_FIELDS, where)
        if image is None:
            return False
        data, mime = image.get("bytesBase64Encoded"), image.get("mimeType")
        if not isinstance(data, str) or not data:
            return bad(ctx, "%s.bytesBase64Encoded is required." % where)
        try:
            base64.b64decode(data, validate=True)
        except ValueError:
            return bad(ctx, "Invalid value at '%s.bytes_base64_encoded' (TYPE_BYTES), Base64 "
                            "decoding failed." % where)
        if not isinstance(mime, str) or not mime.startswith("image/"):
            return bad(ctx, "%s.mimeType must be an image MIME type." % where)
        return True

    def check_instance(ctx, inst):
        inst = known(ctx, inst, INSTANCE_FIELDS, "instances[0]")
        if inst is None:
            return None
        prompt = inst.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            bad(ctx, "instances[0].prompt must be a string.")
            return None
        if not prompt and "image" not in inst and "video" not in inst:
            bad(ctx, "A prompt, an image or a video is required.")
            return None
        for k in ("image", "lastFrame"):
            if k in inst and not check_image(ctx, inst[k], "instances[0]." + k):
                return None
        if "video" in inst:
            video = known(ctx, inst["video"], VIDEO_FIELDS, "instances[0].video")
            if video is None:
                return None
            if "encodedVideo" in video:
                bad(ctx, "Gemini Developer API does not support video bytes.")
                return None
        refs = inst.get("referenceImages", [])
        if not isinstance(refs, list):
            bad(ctx, "instances[0].referenceImages must be a list.")
            return None
        for i, r in enumerate(refs):
            r = known(ctx, r, {"image", "referenceType"}, "instances[0].referenceImages[%d]" % i)
            if r is None or not check_image(ctx, r.get("image"),
                                            "instances[0].referenceImages[%d].image" % i):
                return None
        return inst

    def check_parameters(ctx, params):
        params = known(ctx, params if params is not None else {}, PARAMETER_FIELDS, "parameters")
        if params is None:
            return None
        n = params.get("sampleCount", 1)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 4:
            bad(ctx, "parameters.sampleCount must be an integer from 1 to 4.")
            return None
        ar = params.get("aspectRatio")
        if ar is not None and ar not in ("16:9", "9:16"):
            bad(ctx, "Aspect ratio %s is not supported: use 16:9 or 9:16." % json.dumps(ar))
            return None
        d = params.get("durationSeconds")
        if d is not None and (isinstance(d, bool) or not isinstance(d, (int, float))
                              or not 4 <= d <= 8):
            bad(ctx, "parameters.durationSeconds must be a number from 4 to 8.")
            return None
        return params

    def host_base(ctx):
        return "http://" + (ctx.headers.get("host")
                            or "127.0.0.1:%d" % ctx.h.server.server_address[1])

    @route("POST", r"models/(?P<model>[^/:]+):predictLongRunning", "operation")
    def predict_long_running(ctx):
        req = ctx.json_object()
        if req is None:
            return
        model = ctx.params["model"]
        if not model.startswith("veo-"):
            mock.not_found_model(ctx, "models/" + model, "predictLongRunning")
            return
        req = known(ctx, req, TOP_FIELDS, None)
        if req is None:
            return
        insts = req.get("instances")
        if not isinstance(insts, list) or len(insts) != 1:
            bad(ctx, "instances must hold exactly one instance.")
            return
        inst = check_instance(ctx, insts[0])
        if inst is None:
            return
        params = check_parameters(ctx, req.get("parameters"))
        if params is None:
            return
        f = ctx.fault or {}
        name = "models/%s/operations/%s" % (model, _random_id())
        error, response = f.get("error"), None
        if error is True:
            error = {"code": 3, "message": "The prompt could not be processed (mock failure)."}
        elif error is None and f.get("filtered"):
            response = {"@type": VEO_RESPONSE, "generateVideoResponse": {
                "raiMediaFilteredCount": 1,
                "raiMediaFilteredReasons": ["The video was filtered by the mock's safety check."]}}
        elif error is None:
            samples = []
            for _ in range(params.get("sampleCount", 1)):
                fid = _random_id()
                BLOBS.put(fid, data=mp4_bytes(int(f.get("video_size", VIDEO_SIZE)),
                                              inst.get("prompt") or "image"), mime="video/mp4")
                samples.append({"video": {"uri": "%s%s/%s/files/%s:download?alt=media"
                                          % (host_base(ctx), ctx.prefix, ctx.version, fid)}})
            response = {"@type": VEO_RESPONSE,
                        "generateVideoResponse": {"generatedSamples": samples}}
        op = OPERATIONS.create(name, polls=f.get("polls", OP_POLLS), response=response,
                               error=error)
        ctx.update(model="models/" + model, operation=name)
        ctx.send_json(200, op)
        ctx.update(completed=True)

    @route("GET", r"(?P<name>[^:]+/operations/[^/:]+)")
    def get_operation(ctx):
        op = OPERATIONS.poll(ctx.params["name"])
        if op is None:
            ctx.send_error(404, "Operation %s not found." % ctx.params["name"])
            return
        ctx.update(operation=op["name"], done=op.get("done", False))
        ctx.send_json(200, op)
        ctx.update(completed=True)

    # -- downloads ---------------------------------------------------------------

    global find_blob

    def find_blob(fid):
        """The blob of a downloadable file, or None; also for other route
        modules (batch_routes.py reads a batch's JSONL input file here)."""
        return BLOBS.get(fid) or uploaded(fid)

    def serve_bytes(ctx, blob, opts):
        """The blob's bytes: 206 for a Range, 416 past the end, else 200;
        with opts "cut", only that many bytes of the body, then close."""
        h = ctx.h
        total = blob["size"]
        start, end, status = 0, total, 200
        headers = {}
        if opts.get("range", True):
            headers["Accept-Ranges"] = "bytes"
            rng = parse_range(ctx.headers.get("range"), total)
            if rng == "unsatisfiable":
                ctx.send_error(416, "Requested range not satisfiable.", "OUT_OF_RANGE",
                               headers={"Content-Range": "bytes */%d" % total})
                return
            if rng:
                start, end = rng
                status = 206
                headers["Content-Range"] = "bytes %d-%d/%d" % (start, end - 1, total)
        cut = opts.get("cut")
        send_end = end if cut is None else min(end, start + int(cut))
        h.send_response(status)
        h.send_header("Content-Type", blob["mime"])
        h.send_header("Content-Length", str(end - start))
        h.send_header("X-Mock-Request-Id", str(ctx.entry["id"]))
        for k, v in headers.items():
            h.send_header(k, v)
        if cut is not None:
            h.close_connection = True
            h.send_header("Connection", "close")
        h.end_headers()
        ctx.update(status=status, range_start=start, bytes_total=total)
        for block in blob_blocks(blob, start, send_end):
            h.sendall(block)
        if send_end < end:
            ctx.update(cut=send_end - start)
            return
        ctx.update(completed=True)

    def signed_url(ctx, fid, opts, host, origin):
        """A new signed URL of `fid` on `host` (https when this server
        speaks TLS); `origin` is the API host the download began at (the
        only one credentials may reach)."""
        token = _random_id(24)
        with lock:
            tokens[token] = {"fid": fid, "opts": opts, "origin": origin}
        path = "/signed/%s?sig=%s" % (fid, token)
        if opts.get("redirect") == "relative":
            return path
        scheme = "https" if isinstance(ctx.h.connection, ssl.SSLSocket) else "http"
        return "%s://%s%s" % (scheme, host, path)

    def redirect(ctx, fid, opts):
        port = ctx.h.server.server_address[1]
        host = opts.get("host") or ("127.0.0.1:%d" % port if opts.get("redirect") in
                                    ("same", "relative") else "localhost:%d" % port)
        status = int(opts.get("status", 302))
        url = opts["location"] if "location" in opts else \
            signed_url(ctx, fid, opts, host, ctx.headers.get("host"))
        ctx.update(location=url)
        ctx.h.send_bytes(status, b"", "text/html; charset=UTF-8", {"Location": url})
        ctx.update(completed=True)

    @route("GET", r"files/(?P<id>[^/:]+):download", "download")
    def download(ctx):
        if ctx.query.get("alt") != "media":
            ctx.send_error(400, "A download needs alt=media.")
            return
        fid = ctx.params["id"]
        blob = find_blob(fid)
        if blob is None:
            ctx.send_error(404, "File files/%s was not found or cannot be downloaded." % fid)
            return
        opts = dict(ctx.fault or {})
        opts["hops"] = int(opts.get("hops", 1))
        if opts.get("redirect") == "none":
            serve_bytes(ctx, blob, opts)
        else:
            redirect(ctx, fid, opts)

    def signed(h, entry, path, raw_query, query, headers, body):
        """A request to a signed URL: no key needed; one that brings
        credentials from another origin is refused."""
        state = h.server.state
        target = path + ("?" + raw_query if raw_query else "")
        ctx = mock.Ctx(h, entry, h.command, path, target, query, headers, body, "", None, "")
        creds = bool(headers.get("x-goog-api-key") or headers.get("authorization"))
        ctx.update(signed=True, credentials=creds)
        f = state.take_fault(target, "signed",
                             only=lambda f: f["type"] in mock.GENERIC_FAULTS)
        if f is not None:
            state.update(entry, fault=f["type"])
            h.run_generic_fault(ctx, f)
            return
        with lock:
            grant = tokens.get(query.get("sig") or "")
        if grant is None or path != "/signed/" + grant["fid"]:
            ctx.send_error(403, "The signature of this URL is not valid.")
            return
        if creds and headers.get("host") != grant["origin"]:
            ctx.send_error(403, "mock: credentials sent to another origin (%s) by a redirect "
                                "from %s." % (headers.get("host"), grant["origin"]))
            return
        opts = grant["opts"]
        if opts["hops"] > 1:
            more = dict(opts, hops=opts["hops"] - 1)
            url = signed_url(ctx, grant["fid"], more, headers.get("host"), grant["origin"])
            ctx.update(location=url)
            h.send_bytes(int(opts.get("status", 302)), b"", "text/html; charset=UTF-8",
                         {"Location": url})
            ctx.update(completed=True)
            return
        blob = find_blob(grant["fid"])
        if blob is None:
            ctx.send_error(404, "Not found.")
            return
        serve_bytes(ctx, blob, opts)

    orig_handle_api = mock.Handler.handle_api

    def handle_api(self, entry, path, raw_query, query, headers, body):
        if path.startswith("/signed/"):
            signed(self, entry, path, raw_query, query, headers, body)
        else:
            orig_handle_api(self, entry, path, raw_query, query, headers, body)
    mock.Handler.handle_api = handle_api

    # -- control: files to download ----------------------------------------------
    orig_control = mock.Handler.control

    def control(self, path, query, body):
        if path not in ("/_mock/blobs", "/_mock/operations") or self.command != "POST":
            return orig_control(self, path, query, body)
        try:
            data = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as e:
            data = {"_error": str(e)}
        if path == "/_mock/operations":
            control_operation(self, data)
            return
        fid = data.get("id") if isinstance(data, dict) else None
        size = data.get("size") if isinstance(data, dict) else None
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(fid, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", fid) \
                or (text is None) == (size is None) \
                or (size is not None and (not isinstance(size, int) or size < 0)) \
                or (text is not None and not isinstance(text, str)):
            self.send_bytes(400, mock.dumps(mock.error_body(
                400, 'expected {"id": "...", "text": "..." | "size": N, "mime_type": "..."}')),
                mock.JSON_CT)
            return
        mime = data.get("mime_type") or "application/octet-stream"
        if text is not None:
            BLOBS.put(fid, data=mock.raw_bytes(text), mime=mime)
        else:
            BLOBS.put(fid, size=size, mime=mime)
        self.send_bytes(200, mock.dumps({"ok": True, "name": "files/" + fid}), mock.JSON_CT)
    mock.Handler.control = control

    def control_operation(h, data):
        name = data.get("name") if isinstance(data, dict) else None
        polls = data.get("polls", OP_POLLS) if isinstance(data, dict) else None
        if not isinstance(name, str) or "/operations/" not in "/" + name \
                or not isinstance(polls, int) or polls < 0:
            h.send_bytes(400, mock.dumps(mock.error_body(
                400, 'expected {"name": ".../operations/<id>", "polls": N, "response": {...} | '
                     '"error": {...}, "metadata": {...}}')), mock.JSON_CT)
            return
        op = OPERATIONS.create(name, polls=polls, response=data.get("response"),
                               error=data.get("error"), metadata=data.get("metadata"))
        h.send_bytes(200, mock.dumps(op), mock.JSON_CT)
