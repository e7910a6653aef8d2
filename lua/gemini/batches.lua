--- `client.batches`: batch jobs, Google's batch engine for bulk work (half
-- the price of the same calls one by one, answers within 24 hours).
--
-- A job is made from inlined requests (the request tables of
-- `generate_content`, without `model`), from a JSONL file of requests
-- already uploaded ("files/..."), or from a local JSONL file
-- (`{ path = }`, uploaded first with the resumable protocol);
-- `write_requests` writes such a file from request tables. `wait` polls a
-- job until it ends; `results` hands over its answers one by one, the
-- inlined ones in input order, a result file's line by line as it
-- downloads (never held whole). The wire format is described in
-- docs/wire-format-2.md section 12.
--
-- A job is a Lua table in the SDK's shape (`BatchJob`): `name`
-- ("batches/..."), `display_name`, `model`, `state` (the SDK's
-- `JOB_STATE_*` names, not the wire's `BATCH_STATE_*`: PENDING, RUNNING,
-- SUCCEEDED, FAILED, CANCELLED, EXPIRED; an unknown state as sent), `done`
-- (true once it has ended), `create_time`, `update_time`, `end_time`,
-- `batch_stats` (`request_count`, `successful_request_count`,
-- `failed_request_count`, `pending_request_count`), `dest` (`file_name`
-- or `inlined_responses`, once succeeded), `error` (a `gemini.Error` of
-- kind "api" when the job failed) and `operation` (the Operation itself,
-- as decoded).
--
-- With the client's `loop`, each method also takes a trailing callback,
-- `cb(err, result)` (for `list`, every job in a list; for `results`, see
-- there), and returns a handle at once (gemini.async).
-- @module gemini.batches
local async = require("gemini.async")
local core = require("gemini.core")
local defaults = require("gemini.defaults")
local download = require("gemini.download")
local deliver = require("gemini.async.deliver").deliver
local errors = require("gemini.errors")
local json = require("gemini.json")
local lines = require("gemini.lines")
local request = require("gemini.request")
local resource = require("gemini.resource")
local response = require("gemini.response")
local uploads = require("gemini.upload")

-- `get`, `list` and the names (`batches/x`, `x`, a URI or a job) are those
-- of every collection (gemini.resource), each answer made a job. The list
-- is a ListOperationsResponse: its field is "operations" (12.1).
local Batches
Batches = resource.service{ collection = "batches", field = "batches", noun = "batch name",
  expected = "batch name or job", list_field = "operations", cancel = true,
  wrap = function(client, op) return Batches.to_job(client, op) end }
local check_self = Batches.check_self

-- ---- the job ------------------------------------------------------------------

-- The wire's BATCH_STATE_<x> is the SDK's JOB_STATE_<x> for these x
-- (t_job_state / tJobState, wire-format-2 12.4); other names pass unchanged.
local MAPPED = { UNSPECIFIED = true, PENDING = true, RUNNING = true, SUCCEEDED = true,
                 FAILED = true, CANCELLED = true, EXPIRED = true }

--- The states in which a job has ended (the SDK's `JOB_STATES_ENDED`).
Batches.ENDED = { JOB_STATE_SUCCEEDED = true, JOB_STATE_FAILED = true,
                  JOB_STATE_CANCELLED = true, JOB_STATE_EXPIRED = true }

local function job_state(s)
  local x = type(s) == "string" and s:match("^BATCH_STATE_(.+)$")
  if x and MAPPED[x] then return "JOB_STATE_" .. x end
  return s
end

local function snake(k)
  return (k:gsub("%u", function(c) return "_" .. c:lower() end))
end

-- batchStats with snake_case names and numbers (int64 counts come as strings).
local function stats(s)
  if type(s) ~= "table" then return nil end
  local out = {}
  for k, v in pairs(s) do
    if type(k) == "string" then out[snake(k)] = tonumber(v) or v end
  end
  return out
end

-- The SDK's BatchJobDestination of the batch's output (t_recv_batch_job_destination):
-- `file_name`, or `inlined_responses` (the items as sent); embedding items
-- are also `inlined_embed_content_responses`, the SDK's name for them.
local function destination(out)
  if type(out) ~= "table" then return nil end
  local d = { file_name = type(out.responsesFile) == "string" and out.responsesFile or nil }
  local inl = out.inlinedResponses
  if type(inl) == "table" and inl.inlinedResponses ~= nil then inl = inl.inlinedResponses end
  if type(inl) == "table" then
    d.inlined_responses = inl
    for _, item in ipairs(inl) do
      if type(item) == "table" and type(item.response) == "table" and item.response.embedding then
        d.inlined_embed_content_responses = inl
        break
      end
    end
  end
  if next(d) == nil then return nil end
  return d
end

--- A job from the Operation the API answers (create, get, list). Fields:
-- `name` ("batches/..."), `display_name`, `model`, `state` (`JOB_STATE_*`:
-- PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, EXPIRED; an unknown
-- wire state as sent), `done` (true once it has ended), `create_time`,
-- `update_time`, `end_time`, `batch_stats` (`request_count`,
-- `successful_request_count`, `failed_request_count`,
-- `pending_request_count`: numbers), `dest` (`file_name` or
-- `inlined_responses`, once succeeded), `error` (a `gemini.Error` of kind
-- "api" when the operation failed: the SDKs drop it, wire-format-2 12.4)
-- and `operation` (the decoded Operation, as sent).
-- @param client the client (its secrets are redacted from `error`)
-- @tparam table op
-- @local
function Batches.to_job(client, op)
  local md = type(op.metadata) == "table" and op.metadata or {}
  local state = job_state(md.state)
  return {
    name = op.name or md.name,
    display_name = md.displayName,
    model = md.model,
    state = state,
    done = Batches.ENDED[state] == true or op.done == true,
    create_time = md.createTime, update_time = md.updateTime, end_time = md.endTime,
    batch_stats = stats(md.batchStats),
    dest = destination(md.output or op.response),
    error = type(op.error) == "table" and errors.from_rpc(op.error, client._secrets) or nil,
    operation = op,
  }
end
local to_job = Batches.to_job

-- A job that has ended, as `to_job` made it (not an Operation or a table
-- of the caller's own, which are fetched again by name).
local function ended_job(v)
  return type(v) == "table" and v.done == true and type(v.operation) == "table"
end

-- ---- create -----------------------------------------------------------------------

-- Whether each inlined request of a job made here asked for a JSON answer,
-- by job name, so that its results decode `res.parsed` (the answers do not
-- say). Forgotten when the job is deleted.
local json_modes = {}

-- Raises a programmer error about the `i`th request of a source (`where`
-- names the list), with the message of the error its checks raised.
local function bad_item(msg, where, i)
  msg = tostring(msg):gsub("^[^\n]-:%d+: ", "")
  errors.misuse(string.format("%s in %s[%d]", msg, where, i))
end

-- The generate request of one item of a source (a string is its
-- contents), built as generate_content builds its own: `{body=, model=,
-- is_json=}` with the item's `key` and `metadata`.
local function generate_item(models, item, model, fname, where, i)
  if type(item) == "string" then item = { contents = item } end
  if type(item) ~= "table" then
    errors.misuse(string.format("bad field '%s[%d]' to '%s' (a request table or a string expected,"
      .. " got %s)", where, i, fname, type(item)))
  end
  local req, key, metadata = {}, nil, nil
  for k, v in pairs(item) do
    if k == "key" then key = v elseif k == "metadata" then metadata = v else req[k] = v end
  end
  if req.model == nil then req.model = model end
  local ok, r = pcall(models.build_generate, models, req, fname, model == nil)
  if not ok then bad_item(r, where, i) end
  if key ~= nil and type(key) ~= "string" then
    bad_item(string.format("bad field 'key' to '%s' (string expected, got %s)", fname, type(key)),
      where, i)
  end
  if metadata ~= nil and type(metadata) ~= "table" then
    bad_item(string.format("bad field 'metadata' to '%s' (table expected, got %s)", fname,
      type(metadata)), where, i)
  end
  -- An item's own model goes in its request; the batch's is in the path (12.3).
  if item.model ~= nil then r.body.model = r.model end
  r.key, r.metadata = key, metadata
  return r
end

-- The inlined items of generate requests (12.3), and the JSON-mode flags of
-- the items (nil when none asks for JSON).
local function inlined_generate(models, list, model, fname)
  local out, flags = {}, nil
  for i = 1, #list do
    local r = generate_item(models, list[i], model, fname, "src", i)
    if r.key ~= nil and r.metadata ~= nil then
      bad_item(string.format("bad field 'key' to '%s' (key and metadata exclude each other;"
        .. " the key is metadata.key)", fname), "src", i)
    end
    local metadata = r.metadata or (r.key ~= nil and { key = r.key } or nil)
    out[i] = { request = r.body, metadata = metadata }
    if r.is_json then
      flags = flags or {}
      flags[i] = true
    end
  end
  return out, flags
end

-- The inlined items of an embedding batch: one request per content, the
-- one config copied into each (12.9; no metadata, no model, as the SDKs).
local function inlined_embed(models, batch, fname)
  errors.field(fname, "src.inlined_requests", batch, "table")
  local config = errors.field(fname, "src.inlined_requests.config", batch.config, "table", true) or {}
  for k in pairs(batch) do
    if k ~= "contents" and k ~= "config" then
      errors.misuse(string.format("bad field 'src.inlined_requests.%s' to '%s' (unknown; expected"
        .. " contents, config)", tostring(k), fname))
    end
  end
  local out = {}
  for i, content in ipairs(models.embed_contents(batch.contents, fname)) do
    out[i] = { request = models.embed_request(content, config) }
  end
  return out
end

local SOURCE_FORMS = "a list of requests, \"files/...\", { path = }, { file_name = } or"
  .. " { inlined_requests = }"

-- What `src` says: ("file", "files/x"), ("upload", {path=...}) or
-- ("inlined", list); raises for anything else.
local function source(src, fname)
  if type(src) == "string" then
    if not src:find("^files/[^/]+$") then
      errors.misuse(string.format("bad field 'src' to '%s' (a file name \"files/...\" expected, got %q;"
        .. " to upload a local file pass src = { path = ... })", fname, src))
    end
    return "file", src
  end
  if type(src) ~= "table" then
    errors.misuse(string.format("bad field 'src' to '%s' (%s expected, got %s)", fname, SOURCE_FORMS,
      src == nil and "no value" or type(src)))
  end
  if next(src) == nil then errors.misuse(string.format("bad field 'src' to '%s' (no requests)", fname)) end
  local forms, kind, value = 0, nil, nil
  if src.path ~= nil then forms, kind, value = forms + 1, "upload", src end
  local file = request.get(src, "fileName", "file_name")
  if file ~= nil then
    forms, kind, value = forms + 1, "file", file
    if type(file) ~= "string" or not file:find("^files/[^/]+$") then
      errors.misuse(string.format("bad field 'src.file_name' to '%s' (a file name \"files/...\" expected)",
        fname))
    end
  end
  local inl = request.get(src, "inlinedRequests", "inlined_requests")
  if inl ~= nil then forms, kind, value = forms + 1, "inlined", inl end
  if src[1] ~= nil then forms, kind, value = forms + 1, "inlined", src end
  if forms ~= 1 then
    errors.misuse(string.format("bad field 'src' to '%s' (%s expected%s)", fname, SOURCE_FORMS,
      forms > 1 and ", one of them" or ""))
  end
  return kind, value
end

local UPLOAD_KEYS = { path = true, mime_type = true, display_name = true, on_progress = true }

-- Uploads a local JSONL request file: its File name, or nil, err.
local function upload(client, src, fname)
  errors.field(fname, "src.path", src.path, "string")
  for k in pairs(src) do
    if not UPLOAD_KEYS[k] then
      errors.misuse(string.format("bad field 'src.%s' to '%s' (unknown; expected path, mime_type,"
        .. " display_name, on_progress)", tostring(k), fname))
    end
  end
  -- Checked here, so that an unreadable file is named as this call's; an
  -- empty one would make a job of no requests.
  if uploads.file_size(src.path, "batches:" .. fname) == 0 then
    errors.misuse(string.format("bad field 'src.path' to '%s' (%q is empty: no requests)", fname, src.path))
  end
  local file, err = client.files:upload{
    path = src.path,
    -- Google's samples upload request files as "jsonl" (12.8).
    mime_type = src.mime_type or "jsonl",
    display_name = src.display_name or src.path:match("([^/]*)$"),
    on_progress = src.on_progress,
  }
  if not file then return nil, err end
  return file.name
end

local CONFIG_KEYS = { displayName = true, webhookConfig = true, httpOptions = true }

-- The batch's display name, webhook config and http_options from `config`.
local function create_config(client, config, fname)
  config = errors.field(fname, "config", config, "table", true) or {}
  for k in pairs(config) do
    local ck = request.camel(k)
    if ck == "dest" then
      errors.misuse(string.format("bad field 'config.dest' to '%s' (a destination is for Vertex AI"
        .. " batch jobs; the Gemini API answers inlined requests inline and a file of"
        .. " requests with a result file)", fname))
    end
    if not CONFIG_KEYS[ck] then
      errors.misuse(string.format("bad field 'config.%s' to '%s' (unknown; expected display_name,"
        .. " webhook_config, http_options)", tostring(k), fname))
    end
  end
  local display = errors.field(fname, "config.display_name",
    request.get(config, "displayName", "display_name"), "string", true)
  -- The API requires a display name (12.2); the SDKs invent one only on Vertex.
  display = display or string.format("gemini-lua-%s-%04x", os.date("!%Y%m%d-%H%M%S"),
    math.random(0, 0xffff))
  local webhook = errors.field(fname, "config.webhook_config",
    request.get(config, "webhookConfig", "webhook_config"), "table", true)
  return display, webhook, client:_http_options(config, fname)
end

local ARG_KEYS = { model = true, src = true, config = true }

local function check_args(args, fname)
  errors.arg(fname, 1, args, "table")
  for k in pairs(args) do
    if not ARG_KEYS[k] then
      errors.misuse(string.format("bad field '%s' to '%s' (unknown; expected model, src, config)",
        tostring(k), fname))
    end
  end
end

-- Sends a create: `method` is batchGenerateContent or asyncBatchEmbedContent.
local function send_create(self, model, method, display, webhook, input, ho)
  local body = { batch = { displayName = display, inputConfig = input, webhookConfig = webhook } }
  local op, err = self.client:_call{
    path = model .. ":" .. method, body = json.encode(body, { root = "request" }), http_options = ho,
  }
  if not op then return nil, err end
  return to_job(self.client, op)
end

-- The inputConfig of a file source, uploading a local file first.
local function file_input(client, kind, value, fname)
  if kind == "upload" then
    local name, err = upload(client, value, fname)
    if not name then return nil, err end
    value = name
  end
  return { fileName = value }
end

--- Creates a batch job of generate requests.
--
-- Not idempotent (two creates are two jobs): a create retried after an
-- answer was lost may make two; `config.http_options = { retry = false }`
-- never retries.
-- @tparam table args `{model=, src=, config={display_name=, webhook_config=,
--   http_options=}}`. `src` is one of:
--   a list of requests, each a `generate_content` request without `model`
--   (`contents`, `config` with the same splitting, tools and schemas, or
--   the REST fields), or a string (its contents), with an optional `key`
--   (sent as `metadata.key`) or `metadata`; `{ inlined_requests = list }`
--   (the SDK's form); `"files/abc"` or `{ file_name = "files/abc" }`, a
--   JSONL file of requests already uploaded; `{ path = "requests.jsonl",
--   display_name=, mime_type= ("jsonl"), on_progress= }`, a local JSONL
--   file, uploaded first (see `write_requests`). `display_name` defaults to
--   a generated one (the API requires one).
-- @tparam[opt] function cb with the client's loop: `cb(err, job)`, and a handle is returned at once
-- @return the job (see the module's description; state `JOB_STATE_PENDING`), or nil, `gemini.Error`
function Batches:create(args, cb)
  check_self(self, "create")
  if cb ~= nil then
    return async.call(self.client, "create", 2, cb, function(c) return c.batches:create(args) end)
  end
  local fname = "create"
  check_args(args, fname)
  local model = request.model(args.model, fname)
  local display, webhook, ho = create_config(self.client, args.config, fname)
  local kind, value = source(args.src, fname)
  local input, flags, err
  if kind == "inlined" then
    errors.field(fname, "src", value, "table")
    if #value == 0 then errors.misuse("bad field 'src' to 'create' (no requests)") end
    local items
    items, flags = inlined_generate(self.client.models, value, model, fname)
    input = { requests = { requests = items } }
  else
    input, err = file_input(self.client, kind, value, fname)
    if not input then return nil, err end
  end
  local job
  job, err = send_create(self, model, "batchGenerateContent", display, webhook, input, ho)
  if job and flags and job.name then json_modes[job.name] = flags end
  return job, err
end

--- Creates a batch job of embeddings (`:asyncBatchEmbedContent`, marked
-- experimental by the SDKs).
-- @tparam table args `{model=, src=, config={display_name=, webhook_config=,
--   http_options=}}`; `src` is `{ inlined_requests = { contents = "a" or
--   {"a", "b"}, config = { task_type=, title=, output_dimensionality= } } }`
--   (one request per content, each with that config), or a JSONL file of
--   requests: `"files/abc"`, `{ file_name = "files/abc" }` or `{ path = }`
--   as for `create`
-- @tparam[opt] function cb with the client's loop: `cb(err, job)`, and a handle is returned at once
-- @return the job, or nil, `gemini.Error`
function Batches:create_embeddings(args, cb)
  check_self(self, "create_embeddings")
  if cb ~= nil then
    return async.call(self.client, "create_embeddings", 2, cb,
      function(c) return c.batches:create_embeddings(args) end)
  end
  local fname = "create_embeddings"
  check_args(args, fname)
  local model = request.model(args.model, fname)
  local display, webhook, ho = create_config(self.client, args.config, fname)
  local kind, value = source(args.src, fname)
  local input, err
  if kind == "inlined" then
    if value == args.src then
      errors.misuse("bad field 'src' to 'create_embeddings' (a list of requests is for create;"
        .. " expected { inlined_requests = { contents =, config = } })")
    end
    input = { requests = { requests = inlined_embed(self.client.models, value, fname) } }
  else
    -- The SDKs send this one as snake `file_name` (12.9, 16.4); the
    -- canonical proto JSON name is what the generate batch sends.
    input, err = file_input(self.client, kind, value, fname)
    if not input then return nil, err end
  end
  return send_create(self, model, "asyncBatchEmbedContent", display, webhook, input, ho)
end

--- Writes a JSONL file of requests for a batch (`create{ src = { path = } }`),
-- one line `{"key": ..., "request": {...}}` per request (12.8), each built
-- as `generate_content` builds its request. From prompts to a job:
--
--    client.batches:write_requests("requests.jsonl", { "Why is the sky blue?", "Name a moon." })
--    local job = client.batches:create{ model = "gemini-2.5-flash", src = { path = "requests.jsonl" } }
--
-- @tparam string path the file to write (replaced)
-- @param requests a list of requests (as for `create`'s list: tables or
--   strings, each with an optional `key`, default its position "1", "2",
--   ...), or a function returning the next one and nil at the end (so that
--   a million requests need not be in memory at once)
-- @tparam[opt] table opts `{model=}`: the batch's model, for the checks
--   that depend on it (thinking); without it they are left to the server
-- @return the number of requests written. Raises for a bad request or
--   none at all (the file is then removed) or a file that cannot be written.
function Batches:write_requests(path, requests, opts)
  check_self(self, "write_requests")
  local fname = "write_requests"
  errors.arg(fname, 1, path, "string")
  errors.arg(fname, 2, requests, "table|function")
  errors.arg(fname, 3, opts, "table", true)
  errors.known_fields(fname, opts, { "model" })
  local model = opts and opts.model ~= nil and request.model(opts.model, fname) or nil
  local nextreq = requests
  if type(requests) == "table" then
    local i = 0
    nextreq = function() i = i + 1 return requests[i] end
  end
  local f, msg = io.open(path, "wb")
  if not f then errors.misuse("gemini: batches:write_requests: cannot open " .. msg) end
  local models = self.client.models
  local ok, res = pcall(function()
    local n = 0
    while true do
      local item = nextreq()
      if item == nil then
        -- A file of no lines would make a job of no requests.
        if n == 0 then error("bad argument #2 to 'write_requests' (no requests)", 0) end
        return n
      end
      n = n + 1
      local r = generate_item(models, item, model, fname, "requests", n)
      if r.metadata ~= nil then
        bad_item("bad field 'metadata' to 'write_requests' (a request file's lines have a key,"
          .. " no metadata)", "requests", n)
      end
      local line = json.encode({ key = r.key or tostring(n), request = r.body }, { root = "line" })
      local written, werr = f:write(line, "\n")
      if not written then error("gemini: batches:write_requests: cannot write " .. path .. ": "
        .. tostring(werr), 0) end
    end
  end)
  local closed, cerr = f:close()
  if ok and not closed then
    ok, res = false, "gemini: batches:write_requests: cannot write " .. path .. ": " .. tostring(cerr)
  end
  if not ok then
    os.remove(path)
    errors.misuse(res)
  end
  return res
end

-- ---- get, list, cancel, delete ------------------------------------------------------

local delete = Batches.delete

--- Deletes a job (its results go with it).
-- @tparam string|table name as for `get`
-- @tparam[opt] function cb with the client's loop: `cb(err, true)`, and a handle is returned at once
-- @return true, or nil, `gemini.Error`
function Batches:delete(name, cb)
  local ok, err = delete(self, name, cb)
  if ok == true then json_modes[Batches.normalize_name(name, "delete")] = nil end
  return ok, err
end

-- ---- wait ---------------------------------------------------------------------------

-- A positive finite number of seconds, or `default` for nil; raises else.
local function seconds(fname, field, v, default)
  errors.field(fname, field, v, "number", true)
  if v == nil then return default end
  if not (v > 0 and v < math.huge) then
    errors.misuse(string.format("bad field '%s' to '%s' (a positive finite number of seconds expected)",
      field, fname))
  end
  return v
end

--- Polls a job until it ends (SUCCEEDED, FAILED, CANCELLED or EXPIRED:
-- the operation is then done), with `client.operations:wait`, the one
-- poller of long-running operations: the pause between polls starts at
-- `interval` and grows by half after each poll up to `max_interval`, and
-- goes through the transport, so an event loop or an OpenResty worker is
-- never blocked. Each poll is a `get` with the client's retries.
-- @tparam string|table job a job or its name: a name is polled at once, a
--   job still running after the first pause, a job that has ended is
--   returned as it is
-- @tparam[opt] table opts `{timeout= (seconds, 3 days: a job not done in
--   48 hours ends EXPIRED), interval= (5), max_interval= (60),
--   on_progress=function(job)}`: `on_progress` gets the job after every
--   poll, the last one included
-- @tparam[opt] function cb with the client's loop: `cb(err, job)`, and a handle is returned at once
-- @return the job in whatever state it ended (check `job.state`); or nil,
--   `gemini.Error`: kind "timeout" when the time is up (its `job` field
--   holds the job as last seen), or the error of a poll
function Batches:wait(job, opts, cb)
  check_self(self, "wait")
  if type(opts) == "function" and cb == nil then opts, cb = nil, opts end
  local fname = "wait"
  local name = Batches.normalize_name(job, fname)
  errors.arg(fname, 2, opts, "table", true)
  errors.known_fields(fname, opts, { "timeout", "interval", "max_interval", "on_progress" })
  opts = opts or {}
  local client = self.client
  local on_progress = errors.field(fname, "on_progress", opts.on_progress, "function", true)
  local o = {
    timeout = seconds(fname, "timeout", opts.timeout, defaults.batch_timeout),
    interval = seconds(fname, "interval", opts.interval, defaults.batch_interval),
    max_interval = seconds(fname, "max_interval", opts.max_interval, defaults.batch_max_interval),
  }
  if cb ~= nil then
    -- Progress reaches the caller the way callbacks do on this loop.
    if on_progress then o.on_progress = function(j) deliver(client, on_progress, j) end end
    return async.call(client, fname, 3, cb, function(c) return c.batches:wait(job, o) end)
  end
  if ended_job(job) then return job end
  if on_progress then o.on_progress = function(op) on_progress(to_job(client, op)) end end
  local op, err = client.operations:wait(type(job) == "table" and job.operation or name, o)
  if op then return to_job(client, op) end
  if err.kind == "timeout" and err.operation then
    local last = to_job(client, err.operation)
    return nil, client:error("timeout", string.format("%s is still %s after %gs (batches:wait"
      .. " timeout)", name, tostring(last.state), o.timeout), { job = last })
  end
  return nil, err
end

-- ---- results ------------------------------------------------------------------------

local Results = {}
Results.__index = Results

--- Every answer of a job that has ended, one by one:
--
--    for i, res, err, key in client.batches:results(job) do ... end
--
-- `res` is a response with the helpers of `generate_content` (`res.text`,
-- `res.parsed`...; an embedding batch's `res.embeddings[1].values`), or
-- `err` the item's `gemini.Error` (kind "api", `status` the google.rpc code
-- name, `code` its HTTP status); `key` the item's key (`metadata.key` of an
-- inlined request, `key` of a JSONL line). Inlined answers come in input
-- order (`i` the request's position); a result file is downloaded
-- (`gemini.download`: its redirect followed, a cut resumed) and read line
-- by line as it arrives, never held whole (`i` counts its lines). When the
-- download fails for good, its error comes as one more `i, nil, err`
-- (without a key) and the loop ends: never a silent end.
-- @tparam string|table job a job or its name; a job that has not ended is
--   fetched once more. A FAILED job raises its error; a CANCELLED or
--   EXPIRED one without results gives none; one still running raises.
-- @tparam[opt] table opts `{json=}`: true or false says whether the
--   answers are JSON-mode ones (`res.parsed`); by default, for an inlined
--   job made by this process, what each request asked for, else false.
--   With a callback: `on_item = function(i, res, err, key)` too.
-- @tparam[opt] function cb with the client's loop: `cb(err, items)`, every
--   item as `items[i] = { response =, error =, key = }` (err: the error
--   that ended the reading, the items read until then still given); with
--   `opts.on_item`, each item is handed to it as it arrives instead, none
--   is kept, and `cb(err, n)` gives their number. A handle is returned at once.
-- @return the `Results` object (callable: the iterator of a generic `for`)
function Batches:results(job, opts, cb)
  check_self(self, "results")
  if type(opts) == "function" and cb == nil then opts, cb = nil, opts end
  local fname = "results"
  local name = Batches.normalize_name(job, fname)
  errors.arg(fname, 2, opts, "table", true)
  errors.known_fields(fname, opts, { "json", "on_item" })
  opts = opts or {}
  local as_json = errors.field(fname, "json", opts.json, "boolean", true)
  local on_item = errors.field(fname, "on_item", opts.on_item, "function", true)
  if cb ~= nil then
    local client = self.client
    return async.call(client, fname, 3, cb, function(c)
      local r = c.batches:results(job, { json = as_json })
      local items = not on_item and {} or nil
      while true do
        local i, res, err, key = r:next()
        if i == nil then break end
        if r.error then break end
        if on_item then
          deliver(client, on_item, i, res, err, key)
        else
          items[i] = { response = res, error = err, key = key }
        end
      end
      return items or r.n, r.error
    end)
  end
  if on_item then
    errors.misuse("bad field 'on_item' to 'results' (for the callback form; a for loop gets each item)")
  end
  local client = self.client
  local j = ended_job(job) and job or nil
  if not j then
    local op, err = client:_call{ method = "GET", path = name }
    if not op then errors.raise(err) end
    j = to_job(client, op)
  end
  local r = setmetatable({ client = client, name = name, n = 0, json = as_json,
                           flags = json_modes[name] }, Results)
  local dest = j.dest or {}
  if dest.inlined_responses then
    r.list = dest.inlined_responses
  elseif dest.file_name then
    r.file = dest.file_name
  elseif j.state == "JOB_STATE_FAILED" then
    errors.raise(j.error or client:error("api", name .. " failed (no reason given)",
      { status = "UNKNOWN", code = 500 }))
  elseif j.done then
    r.ended = true            -- cancelled or expired: no results
  else
    errors.misuse(string.format("bad argument #1 to 'results' (%s is %s: wait for it to end first)",
      name, tostring(j.state)))
  end
  return r, nil, nil, r
end

--- The answers of a job, in order: what `results` returns. Callable, so it
-- drives a generic `for`; `next()`; `close()` (also on `break` under Lua
-- 5.4, and on garbage collection); `error`, the error that ended the
-- reading early (the download failed), once it has.
-- @type Results

-- One item of a result ({response=} or {error=}, and its key or metadata)
-- -> res, err, key.
function Results:_item(obj, n)
  local key = obj.key
  if key == nil and type(obj.metadata) == "table" then key = obj.metadata.key end
  local res = obj.response
  if type(res) == "table" then
    if res.embedding ~= nil then
      -- As embed_content answers: one embedding in a list.
      res.embeddings = res.embeddings or { res.embedding }
      return res, nil, key
    end
    return response.wrap(res, self.json == true or (self.json == nil and self.flags and
      self.flags[n] == true)), nil, key
  end
  if type(obj.error) == "table" then
    return nil, errors.from_rpc(obj.error, self.client._secrets), key
  end
  return nil, self.client:error("decode", string.format("result %d of %s has neither a response"
    .. " nor an error", n, self.name)), key
end

-- Ends the reading with `err` as the last item (a failure is never a
-- silent end): i, nil, err.
function Results:_fail(err)
  self:close()
  self.error = err
  return self.n + 1, nil, err
end

--- The next answer: `i, res, err, key` (`res` a response with its
-- helpers, or `err` the item's `gemini.Error`; `key` the item's key), or
-- nil at the end.
function Results:next()
  if self.ended then return nil end
  if self.list then
    local item = self.list[self.n + 1]
    if item == nil then
      self.ended = true
      return nil
    end
    self.n = self.n + 1
    if type(item) ~= "table" then
      return self.n, nil, self.client:error("decode", string.format("result %d of %s is not an"
        .. " object", self.n, self.name))
    end
    return self.n, self:_item(item, self.n)
  end
  if not self.lines then
    local reader, err = download.open(self.client, self.file)
    if not reader then return self:_fail(err) end
    self.reader, self.lines = reader, lines.new(reader)
  end
  while true do
    local line, err = self.lines:next()
    if err then return self:_fail(err) end
    if line == nil then
      self:close()
      return nil
    end
    if line:find("%S") then
      self.n = self.n + 1
      local obj, msg = json.decode(line)
      if type(obj) ~= "table" or not json.is_object(obj) then
        return self.n, nil, self.client:error("decode", string.format("line %d of %s is not a JSON"
          .. " object%s: %s", self.n, self.file, msg and (" (" .. msg .. ")") or "",
          errors.snippet(line, 80, self.client._secrets)))
      end
      return self.n, self:_item(obj, self.n)
    end
  end
end

--- Ends the reading (the download stops at once); `next` then gives nil.
function Results:close()
  self.ended = true
  if self.reader then
    self.reader:close()
    self.reader = nil
  end
end

function Results:__call()
  return self:next()
end

Results.__close = Results.close
Results.__gc = Results.close

return Batches
