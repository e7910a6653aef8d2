--- Automatic function calling (the SDK's AFC): when the model answers with
-- `functionCall` parts and the config's tools carry Lua handlers (built
-- with `gemini.tools.functions`), the handlers are called and their results
-- sent back, until the model answers without calls or the limit is reached.
--
-- What is sent back, per round: candidate 0's content exactly as received
-- (every part, `thought` parts and `thoughtSignature`s included: Gemini 3
-- rejects a conversation without them), then one `user` content holding
-- one `functionResponse` part per call, in the order of the calls, each
-- with the call's `id` when it had one.
--
-- A handler is called as `handler(args, call)`: `args` is a copy of the
-- call's arguments (integral numbers as Lua integers on 5.3+, as Python
-- does), `call` is `{name=, args=, id=}`. Its first return value is sent
-- as `{result = value}`; a handler that raises, or returns `nil, err`, is
-- answered with `{error = <message>}` and the loop goes on (the model sees
-- the failure and may recover). A call naming a function without a handler
-- is answered with `{error = "no handler for function 'x'"}`.
--
-- The limit, `config.automatic_function_calling.maximum_remote_calls`
-- (default 10), counts requests to the model, as in the SDK. Unlike the
-- SDK, the calls of the last response are not run when no further request
-- may carry their results: that response is returned with its calls
-- pending in `res.function_calls`, just as with `disable = true`, so the
-- caller can answer them (in a chat, by sending the `functionResponse`
-- parts as the next message).
-- @module gemini.afc
local errors = require("gemini.errors")
local json = require("gemini.json")
local request = require("gemini.request")
local response = require("gemini.response")

local M = {}

--- The SDK's default for `maximum_remote_calls`.
M.DEFAULT_MAXIMUM_REMOTE_CALLS = 10

--- Whether AFC applies to a config: the handler map (name -> function)
-- and the maximum number of requests, or nil when it does not (no config,
-- no tools with handlers, `disable = true`, or `maximum_remote_calls <= 0`).
-- Raises for a malformed `automatic_function_calling` field.
-- @tparam[opt] table config the SDK-style flat config
-- @tparam string fname the public function, for error messages
function M.settings(config, fname)
  if type(config) ~= "table" then return nil end
  local tools = config.tools
  if type(tools) ~= "table" then return nil end
  local afc = request.get(config, "automaticFunctionCalling", "automatic_function_calling")
  local disable, max = false, M.DEFAULT_MAXIMUM_REMOTE_CALLS
  if afc ~= nil then
    errors.field(fname, "config.automatic_function_calling", afc, "table")
    disable = errors.field(fname, "config.automatic_function_calling.disable",
      afc.disable, "boolean", true) or false
    max = errors.field(fname, "config.automatic_function_calling.maximum_remote_calls",
      request.get(afc, "maximumRemoteCalls", "maximum_remote_calls"), "number", true) or max
  end
  if disable or max < 1 then return nil end
  local handlers = require("gemini.tools").handlers(tools)
  if not handlers or next(handlers) == nil then return nil end
  return handlers, math.floor(max)
end

-- A deep copy of decoded JSON. For a handler (`user_copy`, `integers` set),
-- integral floats become integers
-- (lua-cjson decodes every number as a float on 5.3+, and a handler doing
-- `("%d"):format(n)` or `t[n]` expects what the model meant). JSON markers
-- (empty object/array) and null are kept.
local tointeger = math.tointeger
local function deep_copy(v, integers)
  local t = type(v)
  if t == "number" and integers then
    return tointeger and tointeger(v) or v
  end
  if t ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deep_copy(x, integers) end
  local mt = getmetatable(v)
  if mt == json.object_mt or mt == json.array_mt then setmetatable(c, mt) end
  return c
end
local function user_copy(v) return deep_copy(v, true) end
M.user_copy = user_copy

--- A deep copy of decoded JSON (contents, parts), keeping the JSON markers
-- and every value as it is; used so that a history is not changed by a
-- caller who edits a response or a returned list.
function M.copy(v) return deep_copy(v, false) end

local function message_of(e)
  if type(e) == "string" then return e end
  local ok, s = pcall(tostring, e)
  return ok and s or "error"
end

-- The `response` object of one call.
local function run_one(handlers, fc)
  local name = fc.name
  local h = type(name) == "string" and handlers[name] or nil
  if not h then
    return { error = "no handler for function '" .. tostring(name) .. "'" }
  end
  local args = type(fc.args) == "table" and user_copy(fc.args) or {}
  local ok, value, err = pcall(h, args, { name = name, args = args, id = fc.id })
  if not ok then return { error = message_of(value) } end
  if value == nil and err ~= nil then return { error = message_of(err) } end
  if value == nil then value = json.null end
  local resp = { result = value }
  -- A result that JSON cannot carry (a function, a cycle) is reported to
  -- the model as that function's failure rather than raised at the caller.
  local enc_ok, msg = pcall(json.encode_verbatim, resp)
  if not enc_ok then
    return { error = "the result of function '" .. name .. "' cannot be sent as JSON: "
      .. message_of(msg) }
  end
  return resp
end

--- Runs the function calls of candidate 0 of `res`: the `user` content
-- with the `functionResponse` parts, in the order of the calls, or nil
-- when candidate 0 has no function call.
-- @tparam table res a response
-- @tparam table handlers name -> function
function M.respond(res, handlers)
  local parts = response.parts(res)
  if not parts then return nil end
  local out
  for i = 1, #parts do
    local fc = type(parts[i]) == "table" and parts[i].functionCall
    if type(fc) == "table" then
      local fr = { name = type(fc.name) == "string" and fc.name or tostring(fc.name),
                   response = run_one(handlers, fc), id = fc.id }
      out = out or {}
      out[#out + 1] = { functionResponse = fr }
    end
  end
  return out and { role = "user", parts = out } or nil
end

local function concat(a, b)
  local c = {}
  for i = 1, #a do c[i] = a[i] end
  for i = 1, #b do c[#c + 1] = b[i] end
  return c
end

--- The blocking loop.
-- @tparam function send `send(contents)` makes one request: response, or nil, err
-- @tparam table contents the normalised contents of the first request (not modified)
-- @tparam table handlers name -> function
-- @tparam number max the maximum number of requests
-- @return the last response (with `automatic_function_calling_history`) and
-- the list of contents the loop added (pairs of model call content and user
-- response content); or nil, err when a request failed
function M.loop(send, contents, handlers, max)
  local added, requests = {}, 0
  while true do
    local res, err = send(concat(contents, added))
    if not res then return nil, err end
    requests = requests + 1
    local reply = requests < max and M.respond(res, handlers) or nil
    if not reply then
      response.set_afc_history(res, #added > 0 and concat(contents, added) or {})
      return res, added
    end
    added[#added + 1] = res.candidates[1].content
    added[#added + 1] = reply
  end
end

--- `loop` over `models:_generate_once`: `r` is the request built by
-- `Models:build_generate`; each round sends `r` with new contents.
-- @return as `loop`: the last response and the added contents, or nil, err
function M.generate_loop(models, r, handlers, max)
  return M.loop(function(contents)
    r.body.contents = contents
    return models:_generate_once(r)
  end, r.body.contents, handlers, max)
end

--- AFC for `models:generate_content` (see `generate_loop`).
-- @return the last response, or nil, err
function M.generate(models, r, handlers, max)
  local res, err = M.generate_loop(models, r, handlers, max)
  if not res then return nil, err end
  return res
end

-- ---- streaming ----------------------------------------------------------

--- `stream` over `models:_stream`, for a request built by
-- `Models:build_generate`; `on_done` as for `stream`.
function M.generate_stream(models, r, handlers, max, on_done)
  return M.stream(function(contents)
    r.body.contents = contents
    return models:_stream(r)
  end, r.body.contents, handlers, max, on_done)
end

--- A stream over several requests: each request's chunks are handed over
-- as they arrive; when one ends with function calls, the handlers run and
-- the next request is opened, in the same iteration. It has the interface
-- of `gemini.stream` (callable, `next`, `close`, `response`).
-- @type Chain
local Chain = {}
Chain.__index = Chain

--- Makes a chained stream (not yet opened).
-- @tparam function open `open(contents)` -> a `gemini.stream` for one request
-- @tparam table contents the contents of the first request (not modified)
-- @tparam table handlers name -> function
-- @tparam number max the maximum number of requests
-- @tparam[opt] function on_done `on_done(response, added)` when the last
-- request ends well; `added` as in `loop`
function M.stream(open, contents, handlers, max, on_done)
  local self = setmetatable({ open = open, contents = contents, handlers = handlers,
    max = max, on_done = on_done, added = {}, requests = 0 }, Chain)
  self.inner = open(contents)
  return self
end

--- The next chunk of whichever request is under way; nil at the end of
-- the last; nil, err on failure (the whole chain then fails).
function Chain:next()
  if self.err then return nil, self.err end
  if self.finished then return nil end
  while true do
    local chunk, err = self.inner:next()
    if chunk then return chunk end
    if err then
      self.err = err
      return nil, err
    end
    local res = self.inner.response
    self.requests = self.requests + 1
    local reply = self.requests < self.max and M.respond(res, self.handlers) or nil
    if not reply then
      local added = self.added
      response.set_afc_history(res, #added > 0 and concat(self.contents, added) or {})
      self.finished = true
      self.response = res
      if self.on_done then self.on_done(res, added) end
      return nil
    end
    self.added[#self.added + 1] = res.candidates[1].content
    self.added[#self.added + 1] = reply
    self.inner = self.open(concat(self.contents, self.added))
  end
end

--- Ends the transfer under way at once; later calls of `next` return nil.
function Chain:close()
  if self.inner then self.inner:close() end
  if not self.finished and not self.err then self.finished = true end
end

--- Drives a generic `for`; raises the `gemini.Error` on failure.
function Chain:__call()
  local chunk, err = self:next()
  if err then error(err, 0) end
  return chunk
end

Chain.__close = Chain.close
Chain.__gc = Chain.close

function Chain:__tostring()
  return "gemini.Stream (" .. (self.finished and "ended" or self.err and "failed" or "open")
    .. ", function calling)"
end

M.Chain = Chain

return M
