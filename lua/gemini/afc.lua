--- Automatic function calling (the SDK's AFC): when the model answers with
-- `functionCall` parts and the config's tools carry Lua handlers (built
-- with `gemini.tools.functions`), the handlers are called and their results
-- sent back, until the model answers without calls or the limit is reached.
--
-- What is sent back, per round: candidate 0's content as received (every
-- part, `thought` parts and `thoughtSignature`s included: Gemini 3 rejects
-- a conversation without them; only what JSON cannot carry is repaired or
-- dropped, with a log line, see `sendable`), then one `user` content
-- holding one `functionResponse` part per call, in the order of the
-- calls, each with the call's `id` when it had one.
--
-- A handler is called as `handler(args, call)`: `args` is a copy of the
-- call's arguments (integral numbers as Lua integers on 5.3+, as Python
-- does; `{}` when the call has none), `call` is `{name=, args=, id=}`. Its
-- first return value is sent as `{result = value}`; a handler that raises,
-- or returns `nil, err`, is answered with `{error = <message>}` and the
-- loop goes on (the model sees the failure and may recover). A call naming
-- a function without a handler is answered with `{error = "no handler for
-- function 'x'"}`, and a call whose arguments are not a JSON object (a
-- string, a number, a list) with `{error = "the arguments of function 'x'
-- are not a JSON object (got a string)"}`, without running the handler.
--
-- The limit, `config.automatic_function_calling.maximum_remote_calls`
-- (default 10), counts requests to the model, as in the SDK. Unlike the
-- SDK, the calls of the last response are not run when no further request
-- may carry their results: that response is returned with its calls
-- pending in `res.function_calls`, just as with `disable = true`, so the
-- caller can answer them (in a chat, by sending the `functionResponse`
-- parts as the next message).
-- @module gemini.afc
local defaults = require("gemini.defaults")
local errors = require("gemini.errors")
local json = require("gemini.json")
local request = require("gemini.request")
local response = require("gemini.response")

local M = {}

--- The SDK's default for `maximum_remote_calls` (gemini.defaults').
M.DEFAULT_MAXIMUM_REMOTE_CALLS = defaults.maximum_remote_calls

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

-- A deep copy of decoded JSON, `leaf` applied to every key and every
-- value that is not a table. JSON markers (empty object/array) and null
-- are kept.
local function deep_copy(v, leaf)
  if type(v) ~= "table" then
    if leaf then return leaf(v) end
    return v
  end
  local c = {}
  for k, x in pairs(v) do
    if leaf then k = leaf(k) end
    c[k] = deep_copy(x, leaf)
  end
  local mt = getmetatable(v)
  if mt == json.object_mt or mt == json.array_mt then setmetatable(c, mt) end
  return c
end

-- For a handler, integral floats become integers (lua-cjson decodes every
-- number as a float on 5.3+, and a handler doing `("%d"):format(n)` or
-- `t[n]` expects what the model meant). A decoder that returns integers
-- for JSON integers makes this a no-op.
local tointeger = math.tointeger
local function integral(x)
  if tointeger and type(x) == "number" then return tointeger(x) or x end
  return x
end
local function user_copy(v) return deep_copy(v, integral) end
M.user_copy = user_copy

--- A deep copy of decoded JSON (contents, parts), keeping the JSON markers
-- and every value as it is; used so that a history is not changed by a
-- caller who edits a response or a returned list.
local function copy(v) return deep_copy(v, nil) end
M.copy = copy

-- ---- model contents sent back --------------------------------------------

-- Whether decoded JSON `v` is an object / a list. lua-cjson gives `{}` for
-- both `{}` and `[]`: an empty table passes for either unless a marker says.
local function is_object(v)
  if type(v) ~= "table" or getmetatable(v) == json.array_mt then return false end
  local k = next(v)
  return k == nil or type(k) == "string"
end
local function is_list(v)
  if type(v) ~= "table" or getmetatable(v) == json.object_mt then return false end
  return next(v) == nil or v[1] ~= nil
end

local function json_type(v)
  if v == json.null then return "null" end
  if type(v) == "table" then return is_list(v) and "a list" or "an object" end
  return "a " .. type(v)
end

-- The length of the valid UTF-8 sequence at byte i of s (as the encoder
-- checks it: no overlong forms, no surrogates, nothing past U+10FFFF), or nil.
local byte = string.byte
local function utf8_seq(s, i)
  local b = byte(s, i)
  if b < 0x80 then return 1 end
  local n, lo, hi
  if b >= 0xC2 and b <= 0xDF then n, lo, hi = 2, 0x80, 0xBF
  elseif b == 0xE0 then n, lo, hi = 3, 0xA0, 0xBF
  elseif b == 0xED then n, lo, hi = 3, 0x80, 0x9F
  elseif b >= 0xE1 and b <= 0xEF then n, lo, hi = 3, 0x80, 0xBF
  elseif b == 0xF0 then n, lo, hi = 4, 0x90, 0xBF
  elseif b >= 0xF1 and b <= 0xF3 then n, lo, hi = 4, 0x80, 0xBF
  elseif b == 0xF4 then n, lo, hi = 4, 0x80, 0x8F
  else return nil end
  local c = byte(s, i + 1)
  if not c or c < lo or c > hi then return nil end
  for j = i + 2, i + n - 1 do
    c = byte(s, j)
    if not c or c < 0x80 or c > 0xBF then return nil end
  end
  return n
end

-- `x` with each byte of a string that is not valid UTF-8 replaced by U+FFFD.
local function utf8_repaired(x)
  if type(x) ~= "string" or not x:find("[\128-\255]") then return x end
  local out, i, n = {}, 1, #x
  while i <= n do
    local len = utf8_seq(x, i)
    out[#out + 1] = len and x:sub(i, i + len - 1) or "\239\191\189"
    i = i + (len or 1)
  end
  return table.concat(out)
end

local function encodes(v)
  local ok, msg = pcall(json.encode, v, { root = "part" })
  return ok, not ok and utf8_repaired(tostring(msg)) or nil
end

-- One part, sendable: the part (repaired if needed), or nil and why not.
local function sendable_part(p, i, log)
  if not is_object(p) then
    log("gemini: model content: part %d is not an object (%s): dropped", i, json_type(p))
    return nil
  end
  local ok, why = encodes(p)
  if ok then return p end
  local fixed = deep_copy(p, utf8_repaired)
  if encodes(fixed) then
    log("gemini: model content: part %d: %s: repaired (each invalid UTF-8 byte is now U+FFFD)", i, why)
    return fixed
  end
  log("gemini: model content: part %d: %s: dropped", i, why)
  return nil
end

--- A model content made fit to be sent back, once, when it is recorded (a
-- chat's history, the contents of automatic function calling): a copy of
-- `content`, every part kept as received, unknown kinds of part and unknown
-- keys included, except what the request encoder cannot send. A part that
-- is not an object is dropped; strings that are not valid UTF-8 are
-- repaired (U+FFFD for each bad byte); a part that still cannot be encoded
-- is dropped. Each change is logged through `log(fmt, ...)`, so a broken
-- or newer answer costs a part, never the conversation.
-- @param content the `content` of a candidate, as decoded (any value)
-- @tparam function log `log(fmt, ...)` (`client:_log`)
-- @treturn table `{role = "model", parts = {...}}` and the other fields of `content`
function M.sendable(content, log)
  if content ~= nil and not is_object(content) then
    log("gemini: model content is not an object (%s): dropped", json_type(content))
  end
  local c = is_object(content) and copy(content) or {}
  c.role = "model"
  local parts = c.parts
  if parts ~= nil and not is_list(parts) then
    log("gemini: model content: parts is not a list (%s): dropped", json_type(parts))
  end
  parts = is_list(parts) and parts or {}
  c.parts = parts
  -- The usual answer encodes as it is: one check, nothing more.
  local clean = true
  for i = 1, #parts do
    if not is_object(parts[i]) then clean = false break end
  end
  if clean and encodes(c) then return c end
  local kept = {}
  for i = 1, #parts do kept[#kept + 1] = sendable_part(parts[i], i, log) end
  c.parts = kept
  if not encodes(c) then
    log("gemini: model content: fields other than its parts cannot be encoded: dropped")
    c = { role = "model", parts = kept }
  end
  return c
end

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
  -- Arguments that are not an object are the model's mistake: it is told,
  -- rather than a handler called with something it did not declare.
  local args = fc.args
  if args == nil or args == json.null then
    args = {}
  elseif is_object(args) then
    args = user_copy(args)
  else
    return { error = "the arguments of function '" .. name .. "' are not a JSON object (got "
      .. json_type(args) .. ")" }
  end
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

--- Runs the function calls of a content: the `user` content with the
-- `functionResponse` parts, in the order of the calls, or nil when it has
-- no function call.
-- @tparam table content a model content made by `sendable`
-- @tparam table handlers name -> function
function M.respond(content, handlers)
  local parts = content.parts
  local out
  for i = 1, #parts do
    local fc = parts[i].functionCall
    if type(fc) == "table" then
      local fr = { name = type(fc.name) == "string" and fc.name or tostring(fc.name),
                   response = run_one(handlers, fc), id = fc.id }
      out = out or {}
      out[#out + 1] = { functionResponse = fr }
    end
  end
  return out and { role = "user", parts = out } or nil
end

local function has_call(parts)
  for i = 1, #parts do
    local p = parts[i]
    if type(p) == "table" and type(p.functionCall) == "table" then return true end
  end
  return false
end

--- One round of function calling on candidate 0 of `res`: its content
-- made sendable (see `sendable`) and the `user` content answering its
-- calls; nil when there is no call to run.
-- @tparam table res a response
-- @tparam table handlers name -> function
-- @tparam function log `log(fmt, ...)`
function M.round(res, handlers, log)
  local parts = response.parts(res)
  if not parts or not has_call(parts) then return nil end
  local content = M.sendable(res.candidates[1].content, log)
  local reply = M.respond(content, handlers)
  if not reply then return nil end
  return content, reply
end

--- `client:_log` as a plain `log(fmt, ...)` function.
function M.logger(client)
  return function(...) client:_log(...) end
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
-- @tparam function log `log(fmt, ...)`, for what `sendable` changes
-- @return the last response (with `automatic_function_calling_history`) and
-- the list of contents the loop added (pairs of model call content and user
-- response content); or nil, err when a request failed
function M.loop(send, contents, handlers, max, log)
  local added, requests = {}, 0
  while true do
    local res, err = send(concat(contents, added))
    if not res then return nil, err end
    requests = requests + 1
    local call, reply
    if requests < max then call, reply = M.round(res, handlers, log) end
    if not reply then
      response.set_afc_history(res, #added > 0 and concat(contents, added) or {})
      return res, added
    end
    added[#added + 1] = call
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
  end, r.body.contents, handlers, max, M.logger(models.client))
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
  end, r.body.contents, handlers, max, M.logger(models.client), on_done)
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
-- @tparam function log `log(fmt, ...)`, for what `sendable` changes
-- @tparam[opt] function on_done `on_done(response, added)` when the last
-- request ends well; `added` as in `loop`
function M.stream(open, contents, handlers, max, log, on_done)
  local self = setmetatable({ open = open, contents = contents, handlers = handlers,
    max = max, log = log, on_done = on_done, added = {}, requests = 0 }, Chain)
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
    local call, reply
    if self.requests < self.max then call, reply = M.round(res, self.handlers, self.log) end
    if not reply then
      local added = self.added
      response.set_afc_history(res, #added > 0 and concat(self.contents, added) or {})
      self.finished = true
      self.response = res
      if self.on_done then self.on_done(res, added) end
      return nil
    end
    self.added[#self.added + 1] = call
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
  if err then errors.raise(err) end
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
