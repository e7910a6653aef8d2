--- `client.operations`: long-running operations, fetched and waited for.
--
-- An operation is the decoded REST JSON,
-- `{name, done, metadata, error | response}`. Every kind is polled alike,
-- with `GET {version}/{name}` and
-- the name used verbatim as the path, as both SDKs do (wire-format-2
-- §13.2): video generation (`models/{m}/operations/{id}`), file search
-- stores' uploads and imports (`fileSearchStores/{s}/upload/operations/{id}`,
-- `fileSearchStores/{s}/operations/{id}`), batches (`batches/{id}`). Once
-- done it holds `error` (a google.rpc.Status: numeric `code`, `message`)
-- or `response`; a failed operation is an answer, not a call's failure
-- (neither SDK raises on it), so check `op.error`.
--
-- A finished video operation also gets the SDK's names (gemini.videos):
-- `op.response.generated_videos[i].video`, which `files:download` takes.
-- In Vertex AI mode a video operation (under `.../models/{m}/`) is polled
-- with POST `{model}:fetchPredictOperation`, as python-genai does (see
-- `fetch`; wire-format-2 §19.5).
--
-- Neither SDK has a `wait` (§16.9); this one polls with a growing interval
-- (1 s, then 1.5 times longer each time, at most 10 s: Google's Veo
-- samples poll every 10 s) through `client.transport:sleep`, so a wait
-- never blocks an event loop or an nginx worker.
--
-- With the client's `loop`, `get` and `wait` also take a trailing
-- callback, `cb(err, op)`, and return a handle at once (gemini.async).
-- @module gemini.operations
local async = require("gemini.async")
local core = require("gemini.core")
local errors = require("gemini.errors")
local json = require("gemini.json")
local defaults = require("gemini.defaults")
local resource = require("gemini.resource")
local videos = require("gemini.videos")

local Operations = {}
Operations.__index = Operations


--- Creates the service; `client.operations` is one.
-- @local
function Operations.new(client)
  return setmetatable({ client = client }, Operations)
end

local function check_self(self, fname)
  if getmetatable(self) ~= Operations then
    errors.misuse(string.format("bad self to '%s' (call it as client.operations:%s(...))", fname, fname))
  end
end

--- The name of an operation (a table with `name`, or the name itself),
-- checked (`resource.is_path`, at least two segments), so that it is
-- exactly the request's path. Raises for anything else.
-- @param op
-- @tparam string fname the call, for the message
-- @local
function Operations.name_of(op, fname)
  local name = type(op) == "table" and op.name or op
  if not (resource.is_path(name) and name:find("/", 1, true)) then
    errors.misuse(string.format("bad argument #1 to '%s' (an operation or its name expected, got %s)",
      fname, type(name) == "string" and string.format("%q", name)
        or (op == nil and "no value" or type(op))))
  end
  return name
end

--- An operation as the API sent it, with the SDK's names added to a
-- finished video's response (see `gemini.videos`). Returns `op`.
-- @local
function Operations.wrap(op)
  local res = op.response
  if op.done == true and type(res) == "table" and (type(res.generateVideoResponse) == "table"
      or type(res.videos) == "table" or res.raiMediaFilteredCount ~= nil) then   -- (Vertex AI's)
    videos.convert(res)
  end
  return op
end

-- One poll within `timeout` seconds (retries included): GET {version}/{name};
-- in Vertex AI mode, an operation of a model (Veo's predictLongRunning) is
-- read with POST {model}:fetchPredictOperation {"operationName": name}, the
-- model being the name before "/operations/" (python-genai operations.py
-- `get`, `_fetch_predict_videos_operation`). The operation, or nil, err.
local function fetch(client, name, timeout)
  local ho = timeout and { timeout = timeout } or nil
  local model = client._vertex and name:match("^(.*/models/[^/]+)/operations/[^/]+$")
  local op, err
  if model then
    op, err = client:_call{ path = model .. ":fetchPredictOperation", http_options = ho,
                            body = json.encode_verbatim{ operationName = name } }
  else
    op, err = client:_call{ method = "GET", path = name, http_options = ho }
  end
  if not op then return nil, err end
  return Operations.wrap(op)
end

--- The operation as it is now.
-- @param op an operation (`op.name` is used) or its name
-- @tparam[opt] function cb with the client's loop: `cb(err, op)`, and a handle is returned at once
-- @return the operation, or nil, `gemini.Error`
function Operations:get(op, cb)
  check_self(self, "get")
  if cb ~= nil then
    return async.call(self.client, "get", 2, cb, function(c) return c.operations:get(op) end)
  end
  return fetch(self.client, Operations.name_of(op, "get"))
end

-- A number of seconds of `wait`'s options, checked: positive (an interval of 0
-- would poll the server as fast as it answers) and finite.
local function seconds(opts, field)
  local v = errors.field("wait", field, opts[field], "number", true)
  if v ~= nil and not (v > 0 and v < math.huge) then
    errors.misuse(string.format("bad field '%s' to 'wait' (a finite number of seconds > 0 expected)", field))
  end
  return v
end

--- Polls an operation until it is done.
-- @param op an operation or its name: a name is fetched at once; an
--   operation not done yet is fetched after the first interval, one done
--   already is returned as it is
-- @tparam[opt] table opts `{timeout = (seconds, the client's timeout),
--   interval = (the first wait, 1 s; each next one 1.5 times longer),
--   max_interval = (10 s), on_progress = function(op)}`: `on_progress` is
--   called with every operation fetched, the done one too
-- @tparam[opt] function cb with the client's loop: `cb(err, op)`, and a handle is returned at once
-- @return the operation once done (check `op.error`); or nil,
--   `gemini.Error`: kind "timeout" when time is up (its `operation` field
--   holds the operation as last seen), or the error of a poll that failed
--   after its retries. A poll made as the time runs out is given at least
--   a second.
function Operations:wait(op, opts, cb)
  check_self(self, "wait")
  if type(opts) == "function" and cb == nil then opts, cb = nil, opts end
  if cb ~= nil then
    return async.call(self.client, "wait", 3, cb,
      function(c) return c.operations:wait(op, opts) end)
  end
  local name = Operations.name_of(op, "wait")
  errors.arg("wait", 2, opts, "table", true)
  errors.known_fields("wait", opts, { "timeout", "interval", "max_interval", "on_progress" })
  opts = opts or {}
  local client = self.client
  local timeout = seconds(opts, "timeout") or client.timeout
  local max_interval = seconds(opts, "max_interval") or defaults.operation_max_interval
  local delay = math.min(seconds(opts, "interval") or defaults.operation_interval, max_interval)
  local on_progress = errors.field("wait", "on_progress", opts.on_progress, "function", true)
  local deadline = core.now() + timeout
  local current = type(op) == "table" and op or nil
  while true do
    if not current then
      local err
      current, err = fetch(client, name, math.min(client.timeout,
        math.max(deadline - core.now(), 1)))
      if not current then return nil, err end
      if on_progress then on_progress(current) end
    end
    if current.done == true then return current end
    local left = deadline - core.now()
    if left <= 0 then
      return nil, client:error("timeout", string.format("%s is not done after %gs"
        .. " (operations:wait timeout)", name, timeout), { operation = current })
    end
    client.transport:sleep(math.min(delay, left))
    delay = math.min(delay * defaults.operation_growth, max_interval)
    current = nil
  end
end

return Operations
