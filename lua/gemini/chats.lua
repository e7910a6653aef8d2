--- `client.chats`: multi-turn conversations that keep their history.
--
--    local chat = client.chats:create{ model = "gemini-2.5-flash" }
--    local res, err = chat:send_message("Hi, I'm Ada.")
--    for chunk in chat:send_message_stream("What's my name?") do io.write(chunk.text or "") end
--    for _, c in ipairs(chat:get_history()) do print(c.role, c.parts[1].text) end
--
-- Every model turn is kept exactly as it was received (every part, `thought`
-- parts and `thoughtSignature`s included, kinds of part this library does
-- not know too) and sent back as it came: Gemini 3 rejects a conversation
-- whose signatures are missing or altered. Only what cannot be sent back
-- at all (a part that is not an object, text that is not UTF-8) is dropped
-- or repaired when the turn is recorded, with a line in the log, so that
-- one bad answer never makes the later turns fail. A turn that
-- fails (an error, a stream that fails or is closed before its end) leaves
-- the history as it was, so the same message can simply be sent again.
--
-- With tools built by `gemini.tools.functions` carrying handlers, a turn runs
-- automatic function calling (see `gemini.afc`) and the history records the
-- user input, each (function-call content, function-response content) pair,
-- then the final model content (once: without the Python SDK's duplicate of
-- the last call content when the limit is hit).
--
-- With the client's `loop`, `send_message` also takes a trailing callback
-- `cb(err, res)` and `send_message_stream` trailing `{on_chunk=, on_done=}`;
-- both then return a handle at once (gemini.async).
-- @module gemini.chats
local afc = require("gemini.afc")
local async = require("gemini.async")
local errors = require("gemini.errors")
local json = require("gemini.json")
local request = require("gemini.request")

local M = {}

--- The `client.chats` service.
-- @type Chats
local Chats = {}
Chats.__index = Chats

-- One conversation (documented as the type Chat below, after the service).
local Chat = {}
Chat.__index = Chat

--- The service of a client (`client.chats`).
-- @local
function M.new(client)
  return setmetatable({ client = client }, Chats)
end

local copy = afc.copy

-- Whether a part carries nothing at all ({} or only nulls).
local function empty_part(p)
  for _, v in pairs(p) do
    if v ~= json.null then return false end
  end
  return true
end

-- The SDK's check of one model content: it has parts and none of them is
-- completely empty. An empty text is a valid part: Gemini 3 streams follow
-- a functionCall or executableCode part with {"text": ""} (the SDK dropped
-- its empty-text rule for that in January 2026).
local function valid_content(c)
  local parts = type(c) == "table" and c.parts
  if type(parts) ~= "table" or #parts == 0 then return false end
  for i = 1, #parts do
    local p = parts[i]
    if type(p) ~= "table" or empty_part(p) then return false end
  end
  return true
end

-- The curated history: the comprehensive one without the turns whose
-- model output is invalid (a blocked answer, an empty candidate), each
-- dropped with the user input that caused it, as the SDK does. This is what
-- is sent to the model.
local function curated(history)
  local out, i, n = {}, 1, #history
  while i <= n do
    if history[i].role ~= "model" then
      out[#out + 1] = history[i]
      i = i + 1
    else
      local run, ok = {}, true
      while i <= n and history[i].role == "model" do
        run[#run + 1] = history[i]
        ok = ok and valid_content(history[i])
        i = i + 1
      end
      if ok then
        for _, c in ipairs(run) do out[#out + 1] = c end
      elseif #out > 0 then
        out[#out] = nil
      end
    end
  end
  return out
end

-- The user's history argument, normalised and copied.
local function initial_history(h, fname)
  if h == nil or next(h) == nil then return {} end
  local list = request.contents(h, fname)
  local out = {}
  for i, c in ipairs(list) do
    local role = c.role
    if role ~= "user" and role ~= "model" then
      errors.misuse(string.format("bad field 'history' to '%s' (history[%d].role must be \"user\" or"
        .. " \"model\", got %s)", fname, i, role == nil and "no value" or string.format("%q", tostring(role))))
    end
    out[i] = copy(c)
  end
  return out
end

--- Starts a conversation.
-- @tparam table opts `{model=, config=, history=}`: `config` is the
-- flat `GenerateContentConfig` used by every turn (see
-- `models:generate_content`); `history` a list of contents
-- (`{role="user"|"model", parts=...}`) the conversation starts from.
-- @return a `Chat`
function Chats:create(opts)
  if getmetatable(self) ~= Chats then
    errors.misuse("bad self to 'create' (call it as client.chats:create{...})")
  end
  errors.arg("create", 1, opts, "table")
  request.check_keys(opts, "chat", "create")
  request.model(opts.model, "create")
  errors.field("create", "config", opts.config, "table", true)
  errors.field("create", "history", opts.history, "table", true)
  return setmetatable({
    client = self.client,
    model = opts.model,
    config = opts.config,
    history = initial_history(opts.history, "create"),
  }, Chat)
end

--- One conversation, made by `Chats:create`.
-- @type Chat

local function check_chat(self, fname)
  if getmetatable(self) ~= Chat then
    errors.misuse(string.format("bad self to '%s' (call it as chat:%s(...))", fname, fname))
  end
end

local function append(list, items)
  for i = 1, #items do list[#list + 1] = items[i] end
end

-- A turn ended well: the input, the function calling pairs (made sendable
-- by gemini.afc), then the final model content made sendable once, here
-- (see afc.sendable: a part the API cannot take back is repaired or
-- dropped, with a log line, so it never fails a later turn). A model
-- content without parts is recorded as one, which the curated history
-- leaves out with its input.
function Chat:_record(input, added, res)
  local c = res.candidates
  c = type(c) == "table" and c[1]
  local content = type(c) == "table" and c.content or nil
  local h = self.history
  append(h, input)
  append(h, copy(added or {}))
  h[#h + 1] = afc.sendable(content, afc.logger(self.client))
end

-- The request of one turn, built the way models:generate_content builds it
-- from the input; the history, normalised when it was recorded, goes in
-- front of it as it is (a model turn may hold parts the contents shorthand
-- does not know: the API's newer kinds).
function Chat:_build(input, config, fname)
  config = config or self.config
  local r = self.client.models:build_generate({ model = self.model, contents = input,
    config = config }, fname)
  local contents = curated(self.history)
  append(contents, r.body.contents)
  r.body.contents = contents
  return r, config
end

--- Sends a message and waits for the whole answer.
-- @param message a string, a part, a list of parts (or of strings), or a content
-- @tparam[opt] table config replaces the chat's config for this turn only
-- (as in the SDK, it is not merged)
-- @tparam[opt] function cb with the client's loop: `cb(err, res)`, and a handle is returned at once
-- @return the response, or nil, `gemini.Error` (the history is then unchanged)
function Chat:send_message(message, config, cb)
  check_chat(self, "send_message")
  if type(config) == "function" and cb == nil then config, cb = nil, config end
  if cb ~= nil then
    return async.call(self.client, "send_message", 3, cb,
      function(c) return self:_on(c):send_message(message, config) end)
  end
  return self:_turn("send_message", message, config, Chat._send)
end

--- Sends a message and streams the answer: returns a stream like
-- `models:generate_content_stream`'s (callable in a generic `for`, `next`,
-- `close`, `response`). When it has ended well, the input and the merged
-- answer (`stream.response`'s content, every part and `thoughtSignature`
-- kept) join the history; a stream that fails or is closed before its end
-- leaves the history unchanged.
--
-- With handlers (automatic function calling), when an answer ends with
-- function calls the handlers run and the next request is streamed in the
-- same iteration: the caller sees every chunk of every request, and
-- `stream.response` is the last answer.
-- @param message as for `send_message`
-- @tparam[opt] table config as for `send_message`
-- @tparam[opt] table handlers with the client's loop: `{on_chunk=, on_done=}`, and a handle
--   is returned at once
function Chat:send_message_stream(message, config, handlers)
  check_chat(self, "send_message_stream")
  if async.is_handlers(config) and handlers == nil then config, handlers = nil, config end
  if handlers ~= nil then
    return async.stream(self.client, "send_message_stream", 3, handlers,
      function(c) return self:_on(c):send_message_stream(message, config) end)
  end
  return self:_turn("send_message_stream", message, config, Chat._stream)
end

--- What both ways of sending share: checks the message and the config,
-- builds the turn's request and reads its automatic function calling
-- settings, then hands over to `run(self, input, r, handlers, max)`
-- (`_send` or `_stream`). Called in tail position, so that an argument
-- error names the caller's line.
-- @local
function Chat:_turn(fname, message, config, run)
  errors.arg(fname, 1, message, "string|table")
  -- The user turn (a list of contents), copied so that later edits of the
  -- caller's tables do not reach the history.
  local input = copy(request.contents(message, fname))
  errors.arg(fname, 2, config, "table", true)
  local r
  r, config = self:_build(input, config, fname)
  local handlers, max = afc.settings(config, fname)
  return run(self, input, r, handlers, max)
end

-- One turn, waited for; recorded when it ends well.
function Chat:_send(input, r, handlers, max)
  local models = self.client.models
  local res, added
  if handlers then
    res, added = afc.generate_loop(models, r, handlers, max)
  else
    res, added = models:_generate_once(r)
  end
  if not res then return nil, added end
  self:_record(input, handlers and added or nil, res)
  return res
end

-- One turn, streamed; recorded when the stream ends well. Returns the
-- stream as a generic `for`'s four values (the last, its closing value).
function Chat:_stream(input, r, handlers, max)
  local models = self.client.models
  local s
  if handlers then
    s = afc.generate_stream(models, r, handlers, max, function(res, added)
      self:_record(input, added, res)
    end)
  else
    s = models:_stream(r, function(res) self:_record(input, nil, res) end)
  end
  return s, nil, nil, s
end

--- The same conversation (one history) on another client: the callback
-- forms run a turn on the client's twin on its event loop (gemini.async).
-- @local
function Chat:_on(client)
  return setmetatable({ client = client, model = self.model, config = self.config,
                        history = self.history }, Chat)
end

--- The history: a list of contents (a copy; editing it changes nothing).
-- @tparam[opt] boolean curated_only false (default): every turn, as the SDK's
-- comprehensive history; true: only the valid turns, i.e. without the
-- model answers that had no usable content (a blocked answer, an empty
-- candidate) nor the user inputs that led to them — what the next
-- request sends.
function Chat:get_history(curated_only)
  check_chat(self, "get_history")
  return copy(curated_only and curated(self.history) or self.history)
end

function Chat:__tostring()
  return string.format("gemini.Chat (%s, %d contents)", tostring(self.model), #self.history)
end

M.Chats = Chats
M.Chat = Chat

return M
