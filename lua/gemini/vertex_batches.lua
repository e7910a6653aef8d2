--- `client.batches` in Vertex AI mode: batch prediction jobs
-- (`projects/{p}/locations/{l}/batchPredictionJobs`), with the calls of the
-- Gemini API's batches (`create`, `get`, `list`, `cancel`, `delete`,
-- `wait`) as python-genai's batches.py makes them on Vertex:
--
--    local job, err = client.batches:create{ model = "gemini-2.5-flash",
--      src = "gs://bucket/requests.jsonl",
--      config = { dest = "gs://bucket/out", display_name = "x" } }
--    job, err = client.batches:wait(job)      -- or :get(name), :cancel(name), :delete(name)
--    for j in client.batches:list{ page_size = 10 } do print(j.name, j.state) end
--
-- `src` is a `gs://` URI (or a list of them) or a `bq://` table, or the
-- SDK's form `{ gcs_uri = {...} | bigquery_uri = ..., format = }`; `dest`
-- a `gs://` prefix or a `bq://` table, or the SDK's form
-- `{ gcs_uri = | bigquery_uri =, format = }`. Inlined requests and files
-- are the Gemini API's: a clear error here (`t_batch_job_source`).
-- Without `dest`, the SDK's (`_extra_utils.format_destination`): next to a
-- `.jsonl` source (`{src without .jsonl}/dest`), or
-- `{bq source}_dest_{time}`. The
-- results are in `dest`: `batches:results` and `create_embeddings` are
-- the Gemini API's only.
--
-- A job (what `create`, `get`, `wait` and `list` give) is the SDK's
-- BatchJob: `name` (its full name), `display_name`, `model`, `state`
-- (`JOB_STATE_*` as sent), `done`, `create_time`, `start_time`, `end_time`,
-- `update_time`, `src`, `dest` (`format`, `gcs_uri`, `bigquery_uri`),
-- `completion_stats`, `output_info`, `error` (a `gemini.Error` of kind
-- "api") and `job` (the BatchPredictionJob as decoded). Wire shapes in
-- docs/wire-format-2.md, "Vertex AI mode".
-- @module gemini.vertex_batches
local async = require("gemini.async")
local core = require("gemini.core")
local defaults = require("gemini.defaults")
local errors = require("gemini.errors")
local json = require("gemini.json")
local resource = require("gemini.resource")

local Batches
Batches = resource.service{ collection = "batchPredictionJobs", field = "batches",
  noun = "batch job name", expected = "batch job name or job", list_field = "batchPredictionJobs",
  cancel = true,
  wrap = function(client, j) return Batches.to_job(client, j) end }
local check_self = Batches.check_self

--- The states in which a job has ended (JobState of Vertex AI; the SDK's
-- `JOB_STATES_ENDED` and PAUSED, which needs a hand to go on).
Batches.ENDED = { JOB_STATE_SUCCEEDED = true, JOB_STATE_FAILED = true,
                  JOB_STATE_CANCELLED = true, JOB_STATE_EXPIRED = true,
                  JOB_STATE_PARTIALLY_SUCCEEDED = true, JOB_STATE_PAUSED = true }

-- outputConfig -> the SDK's BatchJobDestination (_BatchJobDestination_from_vertex).
local function destination(out)
  if type(out) ~= "table" then return nil end
  return { format = out.predictionsFormat,
           gcs_uri = type(out.gcsDestination) == "table" and out.gcsDestination.outputUriPrefix or nil,
           bigquery_uri = type(out.bigqueryDestination) == "table"
             and out.bigqueryDestination.outputUri or nil }
end

-- inputConfig -> the SDK's BatchJobSource (_BatchJobSource_from_vertex).
local function source_of(input)
  if type(input) ~= "table" then return nil end
  return { format = input.instancesFormat,
           gcs_uri = type(input.gcsSource) == "table" and input.gcsSource.uris or nil,
           bigquery_uri = type(input.bigquerySource) == "table" and input.bigquerySource.inputUri or nil }
end

--- A job from a BatchPredictionJob: `name` (its full name), `display_name`,
-- `model`, `state` (`JOB_STATE_*` as sent), `done`, `create_time`,
-- `start_time`, `end_time`, `update_time`, `src`, `dest` (`format`,
-- `gcs_uri`, `bigquery_uri`), `completion_stats`, `output_info`, `error`
-- (a `gemini.Error` of kind "api") and `job` (as decoded).
-- @local
function Batches.to_job(client, j)
  return {
    name = j.name, display_name = j.displayName, model = j.model, state = j.state,
    done = Batches.ENDED[j.state] == true,
    create_time = j.createTime, start_time = j.startTime, end_time = j.endTime,
    update_time = j.updateTime,
    src = source_of(j.inputConfig), dest = destination(j.outputConfig),
    completion_stats = j.completionStats, output_info = j.outputInfo,
    error = type(j.error) == "table" and errors.from_rpc(j.error, client._secrets) or nil,
    job = j,
  }
end

local function bad(field, msg)
  errors.misuse(string.format("bad field '%s' to 'create' (%s)", field, msg))
end

-- A `gs://` or `bq://` URI, else raises naming `field`.
local function uri(v, field)
  if type(v) ~= "string" or not (v:find("^gs://.") or v:find("^bq://.")) then
    bad(field, "a gs:// or bq:// URI expected on Vertex AI")
  end
  return v
end

-- The inputConfig of `src` (t_batch_job_source on Vertex).
local function input_config(src)
  if type(src) == "string" then
    if uri(src, "src"):find("^gs://") then return { instancesFormat = "jsonl", gcsSource = { uris = { src } } } end
    return { instancesFormat = "bigquery", bigquerySource = { inputUri = src } }
  end
  if type(src) ~= "table" then bad("src", "a gs:// or bq:// URI expected, got " .. type(src)) end
  if src.inlined_requests ~= nil or src.file_name ~= nil or src.path ~= nil or src[1] ~= nil
     and type(src[1]) ~= "string" then
    bad("src", "inlined requests and files are the Gemini API's; Vertex AI batch jobs read a gs://"
      .. " or bq:// source")
  end
  if src[1] ~= nil then   -- a list of gs:// URIs
    for i, u in ipairs(src) do uri(u, "src[" .. i .. "]") end
    return { instancesFormat = "jsonl", gcsSource = { uris = src } }
  end
  local gcs, bq = src.gcs_uri, src.bigquery_uri
  if (gcs == nil) == (bq == nil) then bad("src", "exactly one of gcs_uri or bigquery_uri expected") end
  if gcs ~= nil then
    if type(gcs) == "string" then gcs = { gcs } end
    for i, u in ipairs(gcs) do uri(u, "src.gcs_uri[" .. i .. "]") end
    return { instancesFormat = src.format or "jsonl", gcsSource = { uris = gcs } }
  end
  return { instancesFormat = src.format or "bigquery", bigquerySource = { inputUri = uri(bq, "src.bigquery_uri") } }
end

-- The outputConfig of `dest` (t_batch_job_destination).
local function output_config(dest)
  if type(dest) == "table" then
    local gcs, bq = dest.gcs_uri, dest.bigquery_uri
    if (gcs == nil) == (bq == nil) then bad("config.dest", "exactly one of gcs_uri or bigquery_uri expected") end
    if gcs then
      return { predictionsFormat = dest.format or "jsonl", gcsDestination = { outputUriPrefix = uri(gcs, "config.dest.gcs_uri") } }
    end
    return { predictionsFormat = dest.format or "bigquery",
             bigqueryDestination = { outputUri = uri(bq, "config.dest.bigquery_uri") } }
  end
  if uri(dest, "config.dest"):find("^gs://") then
    return { predictionsFormat = "jsonl", gcsDestination = { outputUriPrefix = dest } }
  end
  return { predictionsFormat = "bigquery", bigqueryDestination = { outputUri = dest } }
end

-- format_destination: the dest when none is given, or nil.
local function default_dest(input, stamp)
  local uris = input.gcsSource and input.gcsSource.uris
  if uris and #uris == 1 and uris[1]:find("%.jsonl$") then return uris[1]:sub(1, -7) .. "/dest" end
  if input.bigquerySource then return input.bigquerySource.inputUri .. "_dest_" .. stamp end
  return nil
end

--- Creates a batch prediction job.
-- @tparam table args `{model=, src=, config={dest=, display_name=, http_options=}}` (see the module)
-- @tparam[opt] function cb with the client's loop: `cb(err, job)`
-- @return the job, or nil, `gemini.Error`
function Batches:create(args, cb)
  check_self(self, "create")
  if cb ~= nil then
    return async.call(self.client, "create", 2, cb, function(c) return c.batches:create(args) end)
  end
  errors.arg("create", 1, args, "table")
  errors.known_fields("create", args, { "model", "src", "config" })
  local model = self.client:_model(args.model, "create")
  local config = errors.field("create", "config", args.config, "table", true) or {}
  errors.known_fields("create", config, { "dest", "display_name", "http_options" }, "config")
  local input = input_config(args.src)
  local stamp = os.date("!%Y%m%d%H%M%S") .. string.format("_%04x", math.random(0, 0xffff))
  local dest = config.dest or default_dest(input, stamp)
  if dest == nil then
    bad("config.dest", "a gs:// or bq:// destination expected (none can be made from this src)")
  end
  local display = errors.field("create", "config.display_name", config.display_name, "string", true)
    or "genai_batch_job_" .. stamp
  local body = { displayName = display, model = model, inputConfig = input,
                 outputConfig = output_config(dest) }
  local job, err = self.client:_call{ path = "batchPredictionJobs", body = json.encode(body),
    http_options = self.client:_check_http_options(config.http_options, "create") }
  if not job then return nil, err end
  return Batches.to_job(self.client, job)
end

--- Polls a job until it ends (see `ENDED`): each poll a `get`, the pause
-- from `interval` (1 s) growing by half up to `max_interval` (20 s), the
-- SDK's LRO polling; `timeout` (3 days) bounds it (an error of kind
-- "timeout" whose `job` is the job as last seen). Returns the job.
-- @tparam string|table job a job or its name
-- @tparam[opt] table opts `{timeout=, interval=, max_interval=, on_progress=function(job)}`
-- @tparam[opt] function cb with the client's loop: `cb(err, job)`
-- @return the job, or nil, `gemini.Error`
function Batches:wait(job, opts, cb)
  check_self(self, "wait")
  if type(opts) == "function" and cb == nil then opts, cb = nil, opts end
  if cb ~= nil then
    return async.call(self.client, "wait", 3, cb, function(c) return c.batches:wait(job, opts) end)
  end
  local name = Batches.normalize_name(job, "wait")
  errors.arg("wait", 2, opts, "table", true)
  errors.known_fields("wait", opts, { "timeout", "interval", "max_interval", "on_progress" })
  opts = opts or {}
  local timeout = errors.field("wait", "timeout", opts.timeout, "number", true) or defaults.batch_timeout
  local delay = errors.field("wait", "interval", opts.interval, "number", true) or 1
  local max = errors.field("wait", "max_interval", opts.max_interval, "number", true) or 20
  local on_progress = errors.field("wait", "on_progress", opts.on_progress, "function", true)
  local deadline = core.now() + timeout
  while true do
    local j, err = self:get(name)
    if not j then return nil, err end
    if on_progress then on_progress(j) end
    if j.done then return j end
    local left = deadline - core.now()
    if left <= 0 then
      return nil, self.client:error("timeout", string.format("%s is still %s after %gs (batches:wait"
        .. " timeout)", name, tostring(j.state), timeout), { job = j })
    end
    self.client.transport:sleep(math.min(delay, left))
    delay = math.min(delay * 1.5, max)
  end
end

-- The Gemini API's batch calls that Vertex has not: an error naming the
-- mode and saying where to go instead, not a call of nil.
local GEMINI_API_ONLY = {
  results = "a Vertex job's answers are in its dest: job.dest.gcs_uri or job.dest.bigquery_uri",
  create_embeddings = "use it with an API key of the Gemini API, or create a job of an"
    .. " embedding model with a gs:// or bq:// src",
  write_requests = "a Vertex job reads its requests from Cloud Storage or BigQuery: write the"
    .. " JSONL there (lines {\"request\": {...}})",
}
for name, instead in pairs(GEMINI_API_ONLY) do
  Batches[name] = function()
    errors.misuse(string.format("gemini: client.batches:%s is not available in Vertex AI mode (%s)",
      name, instead))
  end
end

return Batches
