"""Vertex AI (enterprise) mode of the mock server: its auth, its paths and
its batch prediction jobs, in the wire format python-genai sends on Vertex
(google/genai/_api_client.py, models.py, caches.py, batches.py; see
docs/wire-format-2.md "Vertex AI mode").

Auth (an AUTH_CHECKS entry):
    {v}/projects/...      "Authorization: Bearer <token>", a token of
                          token_registry.py that is valid now. None, an
                          unknown, expired or revoked one -> 401
                          UNAUTHENTICATED with Google's text (the log entry
                          gets auth = "missing" | "unknown" | "expired" |
                          "revoked"); an x-goog-api-key alone -> 401 too.
    {v}/publishers/...    express mode: "x-goog-api-key: KEY" (the mock's
                          key), or a valid bearer token.

Routes (v1beta1 and the other versions; `{P}` = projects/{p}/locations/{l}/,
optional before publishers/ paths), each handing the request to the main
mock's handler of the Gemini API path with the model's name rewritten
("publishers/google/models/m" -> "models/m"), so answers, scripts and faults
are the same:
    POST {P}publishers/{pub}/models/{m}:generateContent | :streamGenerateContent
         | :countTokens | :embedContent (embedContentConfig read as the
         Gemini API's top-level fields)
    POST {P}publishers/{pub}/models/{m}:predict
        {"instances": [{"content": TEXT, "task_type"?, "title"?}],
         "parameters": {"outputDimensionality"?}}
        -> {"predictions": [{"embeddings": {"values": [...], "statistics":
            {"token_count": N, "truncated": false}}}], "metadata": {...}}
    {P}cachedContents[/id]   the main mock's caches; the body's model given
        by its full name ({P}publishers/google/models/m), the answer's name
        and model full names too.
    GET publishers/google/models/{m}   (no {P}: the SDK's base-model GET)
        -> a PublisherModel {"name": "publishers/google/models/m", "versionId",
           "openSourceCategory", "launchStage"} of the main mock's catalogue;
           404 NOT_FOUND for another model.
    GET publishers/google/models[?pageSize&pageToken&filter]
        -> {"publisherModels": [...], "nextPageToken"?} (the catalogue, paged
           as the main mock's models list; filter not applied)
    GET {P}models[?filter=...]   the project's models: a tuned one
        ("labels": {"tune-type": "sft"}) and an uploaded one; a filter
        "labels.tune-type:*" (one of the repeated filter parameters) keeps the
        tuned one. The log entry gets filters = [every filter parameter].
    POST {P}publishers/{pub}/models/veo-*:predictLongRunning   (Veo on Vertex,
        python-genai models.py _GenerateVideosParameters_to_vertex)
        body {"instances": [{"prompt", "image", "lastFrame", "video",
        "referenceImages", "mask"}], "parameters": {"sampleCount",
        "storageUri", "fps", "durationSeconds", "seed", "aspectRatio",
        "resolution", "personGeneration", "pubsubTopic", "negativePrompt",
        "enhancePrompt", "generateAudio", "compressionQuality", "resizeMode"},
        "labels"}; an image {gcsUri | bytesBase64Encoded, mimeType}, a video
        {gcsUri | bytesBase64Encoded, mimeType}; another key (the Gemini
        API's uri / encodedVideo / webhookConfig...) -> 400
      -> {"name": "{P}publishers/{pub}/models/{m}/operations/<id>"}
        (media_routes.py's operations store: the "operation" fault's polls,
        error and filtered apply)
    POST {P}publishers/{pub}/models/{m}:fetchPredictOperation
        {"operationName": N}  (N under that model, else 400; unknown -> 404)
      -> the operation as media_routes.py polls it; once done its response
         {"@type": ...GenerateVideoResponse, "raiMediaFilteredCount": 0,
          "videos": [{"bytesBase64Encoded", "mimeType": "video/mp4"}, ...]}
         or with parameters.storageUri [{"gcsUri": "<storageUri>/<id>/sample_<i>.mp4",
         "mimeType"}]; the log entry gets operation = N, done.
    {P}batchPredictionJobs   POST create {"displayName", "model",
        "inputConfig": {"instancesFormat", "gcsSource": {"uris"} |
        "bigquerySource": {"inputUri"}}, "outputConfig": {"predictionsFormat",
        "gcsDestination": {"outputUriPrefix"} | "bigqueryDestination":
        {"outputUri"}}} -> the BatchPredictionJob, state JOB_STATE_PENDING;
        400 INVALID_ARGUMENT without displayName, model, a source or a
        destination, or with an inlined/file source. Each GET moves a job on
        one state: PENDING -> RUNNING -> SUCCEEDED (outputInfo,
        completionStats). GET list {"batchPredictionJobs": [...]};
        POST {name}:cancel -> {} then CANCELLED; DELETE -> a done
        Operation, then 404.
"""
import base64
import json
import re
import threading
import time
import urllib.parse

import media_routes
import token_registry

P = r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/"
MODEL = r"publishers/(?P<publisher>[^/]+)/models/(?P<mid>[^:/]+)"

MISSING = ("Request is missing required authentication credential. Expected OAuth 2 access "
           "token, login cookie or other valid authentication credential. See "
           "https://developers.google.com/identity/sign-in/web/devconsole-project.")
INVALID = ("Request had invalid authentication credentials. Expected OAuth 2 access token, "
           "login cookie or other valid authentication credential. See "
           "https://developers.google.com/identity/sign-in/web/devconsole-project.")


class Jobs:
    def __init__(self):
        self.lock = threading.Lock()
        self.jobs = {}
        self.n = 0


JOBS = Jobs()


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000000Z"


def register(mock):
    route = mock.route

    def bearer(ctx):
        authz = (ctx.headers.get("authorization") or "").strip()
        mo = re.match(r"(?i)^bearer\s+(\S+)$", authz)
        return mo.group(1) if mo else None

    def auth_check(ctx):
        rest = ctx.rest if ctx.version else ""
        if rest.startswith("projects/"):
            token = bearer(ctx)
            if token is None:
                ctx.update(auth="missing")
                ctx.send_error(401, MISSING)
                return False
            ok, why = token_registry.check(token)
            if not ok:
                ctx.update(auth=why)
                ctx.send_error(401, INVALID)
                return False
            return True
        if rest.startswith("publishers/"):
            token = bearer(ctx)
            if token is not None and token_registry.check(token)[0]:
                return True
            if (ctx.headers.get("x-goog-api-key") or "").strip() == ctx.state.key and not token:
                return True
            ctx.update(auth="missing" if not token else "invalid")
            ctx.send_error(401, MISSING if not token else INVALID)
            return False
        return None

    mock.AUTH_CHECKS.append(auth_check)

    orig_reset = mock.State.reset

    def reset(self):
        orig_reset(self)
        with JOBS.lock:
            JOBS.jobs.clear()
    mock.State.reset = reset

    def scope(ctx):
        p = ctx.params
        return "projects/%s/locations/%s/" % (p["project"], p["location"]) if p.get("project") else ""

    def short_model(name):
        """projects/../publishers/google/models/m or publishers/google/models/m -> models/m."""
        mo = re.match(r"^(?:projects/[^/]+/locations/[^/]+/)?publishers/[^/]+/models/([^:/]+)$",
                      name or "")
        return "models/" + mo.group(1) if mo else name

    def delegate(method_name, rewrite=None):
        """A Vertex route handing the request to the Gemini API route."""
        def handler(ctx):
            model = "models/" + ctx.params["mid"]
            fn, _, params = mock.find_route("POST", model + ":" + method_name)
            if rewrite is not None and isinstance(ctx._json, dict):
                # A copy: the request log keeps the body as sent.
                ctx._json = json.loads(json.dumps(ctx._json))
                rewrite(ctx, ctx._json, model)
            ctx.params = dict(params, model=model)
            fn(ctx)
        return handler

    def gen_rewrite(ctx, req, model):
        cc = req.get("cachedContent")
        if isinstance(cc, str):
            req["cachedContent"] = re.sub(r"^" + P, "", cc)

    def count_rewrite(ctx, req, model):
        """Vertex's CountTokensRequest has the generate fields beside contents."""
        extra = [k for k in req if k != "contents"]
        if extra:
            inner = {k: req.pop(k) for k in extra}
            inner["model"] = model
            inner["contents"] = req.pop("contents", [])
            req["generateContentRequest"] = inner

    def embed_rewrite(ctx, req, model):
        cfg = req.pop("embedContentConfig", None)
        if isinstance(cfg, dict):
            for k in ("outputDimensionality", "taskType", "title"):
                if k in cfg:
                    req[k] = cfg[k]

    for method_name, kind, rw in (("generateContent", "generate", gen_rewrite),
                                  ("streamGenerateContent", "stream", gen_rewrite),
                                  ("countTokens", "other", count_rewrite),
                                  ("embedContent", "other", embed_rewrite)):
        route("POST", r"(?:" + P + r")?" + MODEL + ":" + method_name, kind)(
            delegate(method_name, rw))

    @route("POST", r"(?:" + P + r")?" + MODEL + r":predict")
    def predict(ctx):
        req = ctx.json_object()
        if req is None:
            return
        insts = req.get("instances")
        if not isinstance(insts, list) or not insts:
            ctx.send_error(400, "Invalid JSON payload: instances is required.")
            return
        params = req.get("parameters") or {}
        dim = params.get("outputDimensionality", 8)
        out = []
        for i, inst in enumerate(insts):
            if not isinstance(inst, dict) or not isinstance(inst.get("content"), str):
                ctx.send_error(400, "instances[%d].content: a string is required." % i)
                return
            text = inst["content"]
            out.append({"embeddings": {"values": mock.embedding_values(text, dim),
                                       "statistics": {"token_count": max(1, len(text.split())),
                                                      "truncated": False}}})
        ctx.send_json(200, {"predictions": out, "metadata": {"billableCharacterCount": 1}})
        ctx.update(completed=True)

    # -- Veo: predictLongRunning and fetchPredictOperation ------------------------------

    VIDEO_RESPONSE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
    TOP = {"instances", "parameters", "labels"}
    INSTANCE = {"prompt", "image", "lastFrame", "video", "referenceImages", "mask"}
    PARAMETERS = {"sampleCount", "storageUri", "fps", "durationSeconds", "seed", "aspectRatio",
                  "resolution", "personGeneration", "pubsubTopic", "negativePrompt",
                  "enhancePrompt", "generateAudio", "compressionQuality", "resizeMode"}
    MEDIA = {"gcsUri", "bytesBase64Encoded", "mimeType"}

    def unknown_key(ctx, obj, fields, where):
        """True (a 400 sent) when `obj` is no object or has a key not in `fields`."""
        if not isinstance(obj, dict):
            ctx.send_error(400, "Invalid JSON payload received. '%s' must be an object." % where)
            return True
        extra = sorted(set(obj) - set(fields))
        if extra:
            mock.unknown_field_error(ctx, extra[0], where)
        return bool(extra)

    def bad_media(ctx, obj, where, extra=()):
        if unknown_key(ctx, obj, MEDIA | set(extra), where):
            return True
        if not obj.get("gcsUri") and not obj.get("bytesBase64Encoded"):
            ctx.send_error(400, "%s: gcsUri or bytesBase64Encoded is required." % where)
            return True
        return None

    @route("POST", r"(?:" + P + r")?" + MODEL + r":predictLongRunning", "operation")
    def vertex_predict_long_running(ctx):
        mid = ctx.params["mid"]
        if not mid.startswith("veo-"):
            mock.not_found_model(ctx, "publishers/google/models/" + mid, "predictLongRunning")
            return
        req = ctx.json_object()
        if req is None or unknown_key(ctx, req, TOP, None):
            return
        insts = req.get("instances")
        if not isinstance(insts, list) or len(insts) != 1:
            ctx.send_error(400, "instances must hold exactly one instance.")
            return
        inst = insts[0]
        if unknown_key(ctx, inst, INSTANCE, "instances[0]"):
            return
        for k in ("image", "lastFrame", "video"):
            if k in inst and bad_media(ctx, inst[k], "instances[0]." + k):
                return
        if "mask" in inst and bad_media(ctx, inst["mask"], "instances[0].mask", ("maskMode",)):
            return
        if not inst.get("prompt") and "image" not in inst and "video" not in inst:
            ctx.send_error(400, "A prompt, an image or a video is required.")
            return
        params = req.get("parameters") or {}
        if unknown_key(ctx, params, PARAMETERS, "parameters"):
            return
        f = ctx.fault or {}
        oid = media_routes._random_id()
        name = "%spublishers/%s/models/%s/operations/%s" % (scope(ctx), ctx.params["publisher"],
                                                            mid, oid)
        error, response = f.get("error"), None
        if error is True:
            error = {"code": 3, "message": "The prompt could not be processed (mock failure)."}
        elif error is None and f.get("filtered"):
            response = {"@type": VIDEO_RESPONSE, "raiMediaFilteredCount": 1,
                        "raiMediaFilteredReasons": ["The video was filtered by the mock's safety"
                                                    " check."]}
        elif error is None:
            videos = []
            for i in range(params.get("sampleCount", 1)):
                if params.get("storageUri"):
                    videos.append({"gcsUri": "%s/%s/sample_%d.mp4"
                                   % (params["storageUri"].rstrip("/"), oid, i),
                                   "mimeType": "video/mp4"})
                else:
                    data = media_routes.mp4_bytes(int(f.get("video_size", 4096)),
                                                  inst.get("prompt") or "image")
                    videos.append({"bytesBase64Encoded": base64.b64encode(data).decode("ascii"),
                                   "mimeType": "video/mp4"})
            response = {"@type": VIDEO_RESPONSE, "raiMediaFilteredCount": 0, "videos": videos}
        op = media_routes.OPERATIONS.create(name, polls=f.get("polls", media_routes.OP_POLLS),
                                            response=response, error=error)
        ctx.update(operation=name)
        ctx.send_json(200, op)
        ctx.update(completed=True)

    @route("POST", r"(?:" + P + r")?" + MODEL + r":fetchPredictOperation")
    def vertex_fetch_operation(ctx):
        req = ctx.json_object()
        if req is None or unknown_key(ctx, req, {"operationName"}, None):
            return
        name = req.get("operationName")
        model = "%spublishers/%s/models/%s/operations/" % (scope(ctx), ctx.params["publisher"],
                                                            ctx.params["mid"])
        if not isinstance(name, str) or not name.startswith(model):
            ctx.send_error(400, "operationName must name an operation of %s." % model[:-12])
            return
        op = media_routes.OPERATIONS.poll(name)
        if op is None:
            ctx.send_error(404, "Operation %s not found." % name)
            return
        ctx.update(operation=name, done=op.get("done", False))
        ctx.send_json(200, op)
        ctx.update(completed=True)

    # -- models: publisher (base) models and the project's own -----------------------

    def publisher_model(m):
        return {"name": "publishers/google/" + m["name"], "versionId": m.get("version", "001"),
                "openSourceCategory": "PROPRIETARY", "launchStage": "GA"}

    @route("GET", r"publishers/google/models/(?P<mid>[^:/]+)")
    def publisher_get(ctx):
        m = mock.MODELS_BY_ID.get(ctx.params["mid"])
        if m is None:
            ctx.send_error(404, "Publisher Model `publishers/google/models/%s` not found."
                           % ctx.params["mid"])
            return
        ctx.send_json(200, publisher_model(m))
        ctx.update(completed=True)

    @route("GET", r"publishers/google/models")
    def publisher_list(ctx):
        """The main mock's models list (its pages), the items as PublisherModels."""
        fn, _, _ = mock.find_route("GET", "models")
        send = ctx.send_json

        def as_publisher_models(status, body, *args, **kwargs):
            if status == 200:
                body = dict(body, publisherModels=[publisher_model(m) for m in body.pop("models")])
            send(status, body, *args, **kwargs)
        ctx.send_json = as_publisher_models
        fn(ctx)

    @route("GET", P + r"models")
    def project_models(ctx):
        pre = scope(ctx)
        qs = urllib.parse.parse_qs(urllib.parse.urlsplit(ctx.target).query, keep_blank_values=True)
        filters = qs.get("filter", [])
        items = [{"name": pre + "models/1234567890", "displayName": "my-tuned-model",
                  "versionId": "1", "labels": {"tune-type": "sft"},
                  "deployedModels": [{"endpoint": pre + "endpoints/987", "deployedModelId": "1"}]},
                 {"name": pre + "models/555", "displayName": "an-uploaded-model", "versionId": "1"}]
        if "labels.tune-type:*" in filters:
            items = [m for m in items if "tune-type" in m.get("labels", {})]
        ctx.update(filters=filters)
        ctx.send_json(200, {"models": items})
        ctx.update(completed=True)

    # -- cachedContents: the main mock's, with Vertex names ----------------------------

    @route("*", P + r"cachedContents(?P<tail>(?:/[^/:]+)?)")
    def caches(ctx):
        pre = scope(ctx)
        if isinstance(ctx._json, dict) and isinstance(ctx._json.get("model"), str):
            m = ctx._json["model"]
            if not m.startswith(pre + "publishers/"):
                ctx.send_error(400, "CachedContent.model: a full model name %spublishers/.../"
                                    "models/... is required." % pre)
                return
            ctx._json = dict(ctx._json, model=short_model(m))
        fn, _, params = mock.find_route(ctx.method, "cachedContents" + ctx.params["tail"])
        if fn is None:
            ctx.send_error(404, "Method not found.")
            return
        send = ctx.send_json

        def full(obj):
            if isinstance(obj, dict):
                if isinstance(obj.get("name"), str) and obj["name"].startswith("cachedContents/"):
                    obj = dict(obj, name=pre + obj["name"])
                if isinstance(obj.get("model"), str) and obj["model"].startswith("models/"):
                    obj = dict(obj, model=pre + "publishers/google/" + obj["model"])
                if isinstance(obj.get("cachedContents"), list):
                    obj = dict(obj, cachedContents=[full(c) for c in obj["cachedContents"]])
            return obj
        ctx.send_json = lambda status, obj, headers=None: send(status, full(obj), headers)
        ctx.params = params
        fn(ctx)

    # -- batchPredictionJobs ------------------------------------------------------------

    def job_or_404(ctx):
        name = scope(ctx) + "batchPredictionJobs/" + ctx.params["id"]
        with JOBS.lock:
            j = JOBS.jobs.get(name)
        if j is None:
            ctx.send_error(404, "The BatchPredictionJob does not exist.", "NOT_FOUND")
        return j

    @route("POST", P + r"batchPredictionJobs")
    def jobs_create(ctx):
        req = ctx.json_object()
        if req is None:
            return
        for k in req:
            if k not in ("displayName", "model", "inputConfig", "outputConfig", "labels"):
                mock.unknown_field_error(ctx, k)
                return
        if not req.get("displayName"):
            ctx.send_error(400, "BatchPredictionJob.display_name is required.")
            return
        if not isinstance(req.get("model"), str) or "/models/" not in req["model"]:
            ctx.send_error(400, "BatchPredictionJob.model is required.")
            return
        ic, oc = req.get("inputConfig"), req.get("outputConfig")
        if not isinstance(ic, dict) or ("gcsSource" in ic) == ("bigquerySource" in ic) \
                or not ic.get("instancesFormat"):
            ctx.send_error(400, "BatchPredictionJob.input_config: exactly one of gcs_source or "
                                "bigquery_source, and instances_format, are required.")
            return
        if not isinstance(oc, dict) or ("gcsDestination" in oc) == ("bigqueryDestination" in oc) \
                or not oc.get("predictionsFormat"):
            ctx.send_error(400, "BatchPredictionJob.output_config: exactly one destination and "
                                "predictions_format are required.")
            return
        now = time.time()
        with JOBS.lock:
            JOBS.n += 1
            name = scope(ctx) + "batchPredictionJobs/%d" % (1000 + JOBS.n)
            j = {"name": name, "displayName": req["displayName"], "model": req["model"],
                 "inputConfig": ic, "outputConfig": oc, "state": "JOB_STATE_PENDING",
                 "createTime": rfc3339(now), "updateTime": rfc3339(now)}
            JOBS.jobs[name] = j
            out = dict(j)
        ctx.send_json(200, out)
        ctx.update(completed=True)

    NEXT = {"JOB_STATE_PENDING": "JOB_STATE_RUNNING", "JOB_STATE_RUNNING": "JOB_STATE_SUCCEEDED"}

    @route("GET", P + r"batchPredictionJobs/(?P<id>[^/:]+)")
    def jobs_get(ctx):
        j = job_or_404(ctx)
        if j is None:
            return
        with JOBS.lock:
            nxt = NEXT.get(j["state"])
            if nxt:
                j["state"] = nxt
                j["updateTime"] = rfc3339(time.time())
                if nxt == "JOB_STATE_SUCCEEDED":
                    j["endTime"] = j["updateTime"]
                    j["completionStats"] = {"successfulCount": "1"}
                    gd = j["outputConfig"].get("gcsDestination")
                    if gd:
                        j["outputInfo"] = {"gcsOutputDirectory": gd["outputUriPrefix"] +
                                           "/prediction-model-1"}
                    else:
                        j["outputInfo"] = {"bigqueryOutputTable": "predictions"}
            out = dict(j)
        ctx.send_json(200, out)
        ctx.update(completed=True)

    @route("GET", P + r"batchPredictionJobs")
    def jobs_list(ctx):
        pre = scope(ctx)
        with JOBS.lock:
            items = [dict(j) for n, j in JOBS.jobs.items() if n.startswith(pre)]
        ctx.send_json(200, {"batchPredictionJobs": items})
        ctx.update(completed=True)

    @route("POST", P + r"batchPredictionJobs/(?P<id>[^/:]+):cancel")
    def jobs_cancel(ctx):
        j = job_or_404(ctx)
        if j is None:
            return
        with JOBS.lock:
            if j["state"] in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING"):
                j["state"] = "JOB_STATE_CANCELLED"
        ctx.send_json(200, {})
        ctx.update(completed=True)

    @route("DELETE", P + r"batchPredictionJobs/(?P<id>[^/:]+)")
    def jobs_delete(ctx):
        j = job_or_404(ctx)
        if j is None:
            return
        with JOBS.lock:
            JOBS.jobs.pop(j["name"], None)
        ctx.send_json(200, {"name": scope(ctx) + "operations/%s" % ctx.params["id"],
                            "done": True,
                            "metadata": {"@type": "type.googleapis.com/google.cloud.aiplatform."
                                                  "v1beta1.DeleteOperationMetadata"}})
        ctx.update(completed=True)
