"""Batch jobs of the mock server: batchGenerateContent, asyncBatchEmbedContent
and the batches/* operations, in the wire format of docs/wire-format-2.md
section 12 (what the official SDKs send and parse).

Loaded by gemini_mock.py, which calls `register(module)` once its own routes
and files_routes.py's exist. Everything lives here, so the main mock only has
the import line; `register` adds routes through the module's `route`
decorator, a fault type to its FAULT_TYPES, and wraps State.reset (which then
also forgets the jobs).

Create (wire-format-2 12.2, 12.3, 12.9):

    POST {v}/models/{m}:batchGenerateContent
        {"batch": {"displayName": ..., "inputConfig": {"requests": {"requests": [
            {"request": GenerateContentRequest, "metadata": {...}}, ...]}}
                                     | {"fileName": "files/..."}   (or file_name),
                   "webhookConfig": ..., "priority": ...}}
    POST {v}/models/{m}:asyncBatchEmbedContent
        the same, each request an EmbedContentRequest ({"content", "taskType",
        "outputDimensionality", "title"})
      -> an Operation {"name": "batches/<id>", "metadata": {"@type":
         ...v1main.GenerateContentBatch (EmbedContentBatch), "model",
         "displayName", "inputConfig" (file source only), "createTime",
         "updateTime", "batchStats": {"requestCount": "<n>",
         "pendingRequestCount": "<n>"}, "state": "BATCH_STATE_PENDING", "name"}}
         (no "done"). 400 INVALID_ARGUMENT for: a body that is not
         {"batch": {...}}, an unknown field (batch, inputConfig, item, request,
         generationConfig), no displayName, not exactly one of fileName and
         requests, an empty request list, an input file that does not exist
         or whose bytes the mock did not keep (media_routes.py keeps uploads
         up to KEEP_UPLOAD bytes), a model that does not exist.
         A request that is well formed but invalid (no contents, a thinking
         level for a 2.x model, a bad JSONL line) is not refused here: its
         item fails in the results, as at Google.

Polls: GET {v}/batches/<id> advances the job one step along its script of
states (default PENDING, PENDING, RUNNING, RUNNING, SUCCEEDED: the create
answer shows the first, each GET the next, the last one stays) and answers
the Operation. Once ended it has "done": true and "endTime"; SUCCEEDED also
has "metadata.output" and a top-level "response" (its @type
...GenerateContentBatchOutput) holding either
"inlinedResponses": {"inlinedResponses": [{"metadata", "response" | "error"}]}
(inlined source; input order) or "responsesFile": "files/batch-<id>" (file
source). FAILED has a top-level "error": {"code": 13, "message"}; CANCELLED
and EXPIRED have neither output nor error. A state of another name (e.g.
"HIBERNATING") is sent as BATCH_STATE_HIBERNATING and ends nothing.

An answer is what generateContent would answer (the feature answers of the
main mock: JSON for a response schema, function calls for declarations...);
an embedding is {"embedding": {"values": [...]}}. An item error is a
google.rpc.Status with the numeric code: {"code": 3, "message"}.

The result file is a File of files_routes.py's store ("source": "GENERATED",
"mimeType": "application/jsonl") whose bytes media_routes.py's download
route serves (a blob of its BLOBS, with its redirect, Range and the
"download" fault's cut): JSONL lines {"response": ..., "key": k} or
{"error": {...}, "key": k}, each ended by "\\n", in input order, "key" echoed
from the input line (absent when the line had none).

    POST {v}/batches/<id>:cancel  -> {}; the next GET shows CANCELLED (done).
                                     A job already ended stays as it is.
    DELETE {v}/batches/<id>       -> {}; then GET -> 404 NOT_FOUND.
    GET {v}/batches?pageSize=N&pageToken=T
        -> {"operations": [Operation, ...], "nextPageToken": ...} (page size
           default 10, max 100; creation order; listing advances nothing).
    An unknown id -> 404 NOT_FOUND.

Fault (POST /_mock/faults), taken by the next create:
    batch   states (list of state names without the BATCH_STATE_ prefix),
            error ({"code", "message"}: the operation error of a FAILED end;
            default code 13), fail_items (1-based inputs whose item fails),
            item_error ({"code", "message"}; default code 13 INTERNAL),
            long_text (bytes: the first answer's text has that length),
            result_size (bytes: the result file is at least that many bytes
            of generated lines of one length, about 800 bytes, one in 1000 an
            item error, whatever the inputs; made as sent, never held; a file
            source is needed), no_final_newline (the result file's last line
            has no "\\n"), garbage_line (n: the n-th line of the result file
            is not JSON).
"""

import base64
import hashlib
import json
import threading
import time

import files_routes
import media_routes

KEEP_ORDER = ["PENDING", "PENDING", "RUNNING", "RUNNING", "SUCCEEDED"]
ENDED = {"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"}
T_BATCH = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
T_BATCH_OUT = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
T_EMBED = "type.googleapis.com/google.ai.generativelanguage.v1main.EmbedContentBatch"
T_EMBED_OUT = "type.googleapis.com/google.ai.generativelanguage.v1main.EmbedContentBatchOutput"
BATCH_FIELDS = {"displayName", "display_name", "inputConfig", "input_config", "webhookConfig",
                "webhook_config", "priority", "model"}
INPUT_FIELDS = {"fileName", "file_name", "requests"}
ITEM_FIELDS = {"request", "metadata"}
EMBED_FIELDS = {"model", "content", "taskType", "task_type", "title", "outputDimensionality",
                "output_dimensionality"}


class Jobs:
    """The batch jobs of one mock server."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self):
        self.jobs = {}   # id -> job dict, insertion order = list order
        self.n = 0

    def next_id(self):
        with self.lock:
            self.n += 1
            return "mockbatch%04d" % self.n


JOBS = Jobs()


class Capture:
    """Stands in for a request context where the main mock's validators
    would answer an error: the error is kept, as an item's google.rpc.Status."""

    def __init__(self, version):
        self.version = version
        self.error = None

    def send_error(self, code, message=None, status=None, details=None, headers=None):
        if self.error is None:
            self.error = {"code": RPC_OF_HTTP.get(code, 2), "message": message or "Error."}


# google.rpc.Code numbers of the HTTP statuses the validators answer.
RPC_OF_HTTP = {400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 429: 8, 500: 13, 503: 14, 504: 4}


def register(mock):
    """Adds the routes and the fault of this file to the gemini_mock module."""
    route = mock.route
    mock.FAULT_TYPES["batch"] = "batch"   # taken by the create routes

    orig_reset = mock.State.reset

    def reset(self):
        orig_reset(self)
        with JOBS.lock:
            JOBS.clear()
    mock.State.reset = reset

    def now():
        return files_routes.rfc3339(time.time())

    # -- create ---------------------------------------------------------------

    def unknown(ctx, fields, obj, where):
        """A 400 for the first key of obj not in fields; True when sent."""
        for k in obj:
            if k not in fields:
                mock.unknown_field_error(ctx, k, where)
                return True
        return False

    def item_error(ctx, req, model, embed):
        """The google.rpc.Status of a request the batch engine would refuse,
        or None."""
        cap = Capture(ctx.version)
        if embed:
            mock._embed_one(cap, req, model, "EmbedContentRequest")
        elif mock.validate_generate(cap, req):
            msg = mock.thinking_error(req, model)
            if msg:
                cap.send_error(400, msg)
        return cap.error

    def inlined_items(ctx, reqs, embed):
        """[(metadata or None, request)] of an inlined source, or None after a 400."""
        if not isinstance(reqs, dict) or unknown(ctx, {"requests"}, reqs, "batch.input_config.requests"):
            if not isinstance(reqs, dict):
                ctx.send_error(400, "Invalid JSON payload received. 'requests' must be an object.")
            return None
        items = reqs.get("requests")
        if not isinstance(items, list) or not items:
            ctx.send_error(400, "* batch.input_config.requests.requests: requests is empty")
            return None
        out = []
        for i, it in enumerate(items):
            where = "batch.input_config.requests.requests[%d]" % i
            if not isinstance(it, dict) or not isinstance(it.get("request"), dict):
                ctx.send_error(400, "* %s.request: request is not specified" % where)
                return None
            if unknown(ctx, ITEM_FIELDS, it, where):
                return None
            fields = EMBED_FIELDS if embed else mock.GENERATE_FIELDS_ALL
            if unknown(ctx, fields, it["request"], where + ".request"):
                return None
            gc = it["request"].get("generationConfig", it["request"].get("generation_config"))
            if isinstance(gc, dict) and unknown(ctx, mock.GENERATION_CONFIG_FIELDS_ALL, gc,
                                                where + ".request.generation_config"):
                return None
            out.append((it.get("metadata"), it["request"]))
        return out

    def file_items(ctx, name):
        """[(key or None, request or None, error or None)] from the JSONL
        content of an uploaded file, or None after a 400."""
        fid = name[len("files/"):] if isinstance(name, str) and name.startswith("files/") else None
        with files_routes.STORE.lock:
            f = files_routes.STORE.files.get(fid) if fid else None
        if f is None:
            ctx.send_error(400, "Input file %s does not exist." % name)
            return None
        blob = media_routes.find_blob(fid)
        if blob is None or "data" not in blob:
            ctx.send_error(400, "mock: the bytes of %s were not kept (uploads over %d bytes "
                                "are only hashed)" % (name, media_routes.KEEP_UPLOAD))
            return None
        content = blob["data"]
        out = []
        for n, line in enumerate(content.decode("utf-8", "replace").split("\n"), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                out.append((None, None, {"code": 3, "message": "Invalid JSON in line %d: %s"
                                         % (n, e)}))
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("request"), dict):
                out.append((obj.get("key") if isinstance(obj, dict) else None, None,
                            {"code": 3, "message": "Line %d has no request object." % n}))
                continue
            out.append((obj.get("key"), obj["request"], None))
        return out

    def create(ctx, embed):
        body = ctx.json_object()
        if body is None:
            return
        if unknown(ctx, {"batch"}, body, None):
            return
        batch = body.get("batch")
        if not isinstance(batch, dict):
            ctx.send_error(400, "* batch: batch is not specified")
            return
        if unknown(ctx, BATCH_FIELDS, batch, "batch"):
            return
        model = ctx.params["model"]
        ok = mock._embed_model_ok(model) if embed else mock.model_ok_for_generate(model)
        if not ok:
            mock.not_found_model(ctx, model, "asyncBatchEmbedContent" if embed
                                 else "batchGenerateContent")
            return
        display = batch.get("displayName", batch.get("display_name"))
        if not isinstance(display, str) or not display:
            ctx.send_error(400, "* GenerateContentBatch.display_name: display_name is required")
            return
        inp = batch.get("inputConfig", batch.get("input_config"))
        if not isinstance(inp, dict):
            ctx.send_error(400, "* batch.input_config: input_config is not specified")
            return
        if unknown(ctx, INPUT_FIELDS, inp, "batch.input_config"):
            return
        file_name = inp.get("fileName", inp.get("file_name"))
        if (file_name is None) == (inp.get("requests") is None):
            ctx.send_error(400, "* batch.input_config: exactly one of file_name and requests "
                                "must be set")
            return
        job = {"model": model, "displayName": display, "embed": embed, "file": file_name,
               "createTime": now(), "fault": ctx.fault or {}, "i": 0, "cancelled": False,
               "output": None}
        if file_name is not None:
            lines = file_items(ctx, file_name)
            if lines is None:
                return
            job["items"] = [{"key": k, "request": r, "error": e} for k, r, e in lines]
        else:
            items = inlined_items(ctx, inp["requests"], embed)
            if items is None:
                return
            job["items"] = [{"metadata": md, "request": r, "error": None} for md, r in items]
        fail = job["fault"].get("fail_items") or []
        injected = job["fault"].get("item_error") or {}
        for n, it in enumerate(job["items"], 1):
            if it["error"] is None:
                it["error"] = item_error(ctx, it["request"], model, embed)
            if it["error"] is None and n in fail:
                it["error"] = {"code": int(injected.get("code", 13)),
                               "message": injected.get("message", "Internal error encountered.")}
        states = job["fault"].get("states") or KEEP_ORDER
        job["states"] = [str(s) for s in states]
        jid = JOBS.next_id()
        job["id"], job["name"] = jid, "batches/" + jid
        job["updateTime"] = job["createTime"]
        with JOBS.lock:
            JOBS.jobs[jid] = job
        ctx.update(batch=job["name"])
        ctx.send_json(200, operation(ctx, job))
        ctx.update(completed=True)

    @route("POST", mock.MODEL_PATH + r":batchGenerateContent", "batch")
    def batch_generate_content(ctx):
        create(ctx, embed=False)

    @route("POST", mock.MODEL_PATH + r":asyncBatchEmbedContent", "batch")
    def async_batch_embed_content(ctx):
        create(ctx, embed=True)

    # -- the job as an Operation ------------------------------------------------

    def state_of(job):
        if job["cancelled"]:
            return "CANCELLED"
        return job["states"][min(job["i"], len(job["states"]) - 1)]

    def stats(job, state):
        n = len(job["items"])
        failed = sum(1 for it in job["items"] if it["error"] is not None)
        s = {"requestCount": str(n)}
        if state == "SUCCEEDED":
            if n - failed:
                s["successfulRequestCount"] = str(n - failed)
            if failed:
                s["failedRequestCount"] = str(failed)
        elif state == "RUNNING":
            s["successfulRequestCount"] = str(n // 2)
            s["pendingRequestCount"] = str(n - n // 2)
        elif state not in ENDED:
            s["pendingRequestCount"] = str(n)
        return s

    def operation(ctx, job):
        state = state_of(job)
        md = {"@type": T_EMBED if job["embed"] else T_BATCH, "model": job["model"],
              "displayName": job["displayName"]}
        if job["file"] is not None:
            md["inputConfig"] = {"fileName": job["file"]}
        md.update({"createTime": job["createTime"], "updateTime": job["updateTime"],
                   "batchStats": stats(job, state), "state": "BATCH_STATE_" + state,
                   "name": job["name"]})
        op = {"name": job["name"], "metadata": md}
        if state in ENDED:
            job.setdefault("endTime", now())
            md["endTime"] = job["endTime"]
            op["done"] = True
        if state == "SUCCEEDED":
            if job["output"] is None:
                job["output"] = output(ctx, job)
            md["output"] = job["output"]
            out = {"@type": T_EMBED_OUT if job["embed"] else T_BATCH_OUT}
            out.update(job["output"])
            op["response"] = out
        elif state == "FAILED":
            err = job["fault"].get("error") or {}
            op["error"] = {"code": int(err.get("code", 13)),
                           "message": err.get("message", "The batch failed: internal error.")}
        return op

    # -- results ----------------------------------------------------------------

    def answer(job, n, it):
        """{"response": ...} or {"error": ...} for the n-th item (from 1)."""
        f = job["fault"]
        if it["error"] is not None:
            return {"error": it["error"]}
        req, model = it["request"], job["model"]
        if job["embed"]:
            cap = Capture("v1beta")
            vals = mock._embed_one(cap, req, model, "EmbedContentRequest")
            return {"response": {"embedding": {"values": vals}}}
        rid = "mock-%s-%d" % (job["id"], n)
        prompt = max(1, mock.request_word_count(req))
        if n == 1 and f.get("long_text"):
            text = ("0123456789" * (int(f["long_text"]) // 10 + 1))[:int(f["long_text"])]
            return {"response": mock.gen_response(text, model, rid, prompt, len(text) // 5)}
        ans = mock.feature_answer(req, model, rid)
        if ans is not None:
            return {"response": mock.answer_response(ans, model, rid, prompt)}
        text = mock.default_answer(req)
        return {"response": mock.gen_response(text, model, rid, prompt, mock.words(text))}

    def output(ctx, job):
        if job["file"] is None:
            out = []
            for n, it in enumerate(job["items"], 1):
                item = {}
                if it["metadata"] is not None:
                    item["metadata"] = it["metadata"]
                item.update(answer(job, n, it))
                out.append(item)
            return {"inlinedResponses": {"inlinedResponses": out}}
        name = result_file(ctx, job)
        return {"responsesFile": name}

    def result_lines(job):
        """The result file's lines (bytes, "\\n" ended) for the job's items."""
        out = []
        for n, it in enumerate(job["items"], 1):
            line = answer(job, n, it)
            if it.get("key") is not None:
                line["key"] = it["key"]
            out.append(mock.dumps(line) + b"\n")
        garbage = job["fault"].get("garbage_line")
        if garbage:
            out[int(garbage) - 1] = b"this line is not JSON\n"
        return out

    def synthetic(size):
        """(total size, source) of at least `size` bytes of result lines, all
        of one length, one in 1000 an item error: source(start, end) makes
        the bytes [start, end) as they are sent, so none is held."""
        def line(n):
            key = "line-%09d" % n
            if n % 1000 == 999:
                obj = {"error": {"code": 13, "message": "Internal error encountered."},
                       "key": key}
            else:
                text = "Answer %09d: " % n + "lorem ipsum dolor sit amet " * 16
                obj = {"response": mock.gen_response(text, "models/gemini-2.5-flash",
                                                     "mock-big-%09d" % n, 8, 100), "key": key}
            return mock.dumps(obj)
        width = len(line(0)) + 1

        def padded(n):      # blanks inside the object, so every line has one length
            text = line(n)
            return text[:-1] + b" " * (width - 1 - len(text)) + b"}\n"
        count = -(-size // width)

        def source(start, end):
            first = start // width
            data = b"".join(padded(n) for n in range(first, min(count, -(-end // width))))
            return data[start - first * width:end - first * width]
        return count * width, source

    def result_file(ctx, job):
        """Makes the job's result file (a File and its bytes); its name."""
        f = job["fault"]
        fid = "batch-" + job["id"]
        t = now()
        base = "http://%s" % (ctx.headers.get("host") or "127.0.0.1")
        meta = {"name": "files/" + fid, "displayName": fid, "mimeType": "application/jsonl",
                "createTime": t, "updateTime": t,
                "expirationTime": files_routes.rfc3339(time.time() + 48 * 3600),
                "uri": "%s%s/%s/files/%s" % (base, ctx.prefix, ctx.version, fid),
                "downloadUri": "%s%s/%s/files/%s:download?alt=media" % (base, ctx.prefix,
                                                                         ctx.version, fid),
                "state": "ACTIVE", "source": "GENERATED"}
        if f.get("result_size"):
            size, source = synthetic(int(f["result_size"]))
            media_routes.BLOBS.put(fid, size=size, source=source, mime=meta["mimeType"])
        else:
            content = b"".join(result_lines(job))
            if f.get("no_final_newline") and content.endswith(b"\n"):
                content = content[:-1]
            size = len(content)
            media_routes.BLOBS.put(fid, data=content, mime=meta["mimeType"])
            meta["sha256Hash"] = base64.b64encode(
                hashlib.sha256(content).digest()).decode("ascii")
        meta["sizeBytes"] = str(size)
        with files_routes.STORE.lock:
            files_routes.STORE.files[fid] = meta
        return meta["name"]

    # -- get, list, cancel, delete ------------------------------------------------

    def job_or_404(ctx):
        jid = ctx.params["id"]
        with JOBS.lock:
            job = JOBS.jobs.get(jid)
        if job is None:
            ctx.send_error(404, "Requested entity was not found.", "NOT_FOUND")
        return job

    @route("GET", r"batches/(?P<id>[^/:]+)")
    def batches_get(ctx):
        job = job_or_404(ctx)
        if job is None:
            return
        with JOBS.lock:
            if state_of(job) not in ENDED and job["i"] < len(job["states"]) - 1:
                job["i"] += 1
                job["updateTime"] = now()
        ctx.update(batch_state=state_of(job))
        ctx.send_json(200, operation(ctx, job))
        ctx.update(completed=True)

    @route("GET", r"batches")
    def batches_list(ctx):
        pa = mock._page_args(ctx, 10, 100)
        if pa is None:
            return
        size, offset = pa
        with JOBS.lock:
            jobs = list(JOBS.jobs.values())
        ops = [operation(ctx, j) for j in jobs[offset:offset + size]]
        body = {"operations": ops} if ops else {}
        if offset + size < len(jobs):
            body["nextPageToken"] = "mockpage-%d" % (offset + size)
        ctx.send_json(200, body)
        ctx.update(completed=True)

    @route("POST", r"batches/(?P<id>[^/:]+):cancel")
    def batches_cancel(ctx):
        body = ctx.json_object()
        if body is None:
            return
        if body:
            mock.unknown_field_error(ctx, next(iter(body)))
            return
        job = job_or_404(ctx)
        if job is None:
            return
        with JOBS.lock:
            if state_of(job) not in ENDED:
                job["cancelled"] = True
                job["updateTime"] = now()
        ctx.send_json(200, {})
        ctx.update(completed=True)

    @route("DELETE", r"batches/(?P<id>[^/:]+)")
    def batches_delete(ctx):
        if job_or_404(ctx) is None:
            return
        with JOBS.lock:
            JOBS.jobs.pop(ctx.params["id"], None)
        ctx.send_json(200, {})
        ctx.update(completed=True)
