--- `client.live`: the Live API, a bidirectional session over a WebSocket.
--
--    local session, err = client.live:connect{ model = "gemini-live-2.5-flash-preview",
--      config = { response_modalities = { "TEXT" } } }
--    session:send_client_content{ turns = "Hello" }
--    for msg in session:receive() do io.write(msg.text or "") end
--    session:close()
--
-- The wire protocol is the official SDKs' (python-genai google/genai/live.py
-- and `_live_converters.py`, js-genai src/live.ts): the URL
-- `{base}/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent`
-- with the key in `x-goog-api-key` (live.py takes the client's headers);
-- an ephemeral token (a key "auth_tokens/...") goes to
-- `...v1alpha.GenerativeService.BidiGenerateContentConstrained` as
-- `Authorization: Token auth_tokens/...` (live.py, "Token {api_key}").
-- The first message is `{"setup": {...}}` (LiveClientSetup: model,
-- generationConfig, systemInstruction, tools, sessionResumption,
-- input/outputAudioTranscription, realtimeInputConfig,
-- contextWindowCompression, proactivity...), answered by `setupComplete`;
-- then LiveClientMessage `clientContent` / `realtimeInput` / `toolResponse`
-- go out and LiveServerMessage `serverContent` / `toolCall` /
-- `toolCallCancellation` / `goAway` / `sessionResumptionUpdate` /
-- `usageMetadata` come in, one JSON object per WebSocket message (text or
-- binary frames: Google sends binary).
--
-- In Vertex AI mode the session goes to
-- `{base}/ws/google.cloud.aiplatform.{version}.LlmBidiService/BidiGenerateContent`
-- with the credentials' bearer token (the client's token cache: the same
-- single flight as its HTTP calls, a 401 upgrade retried once with a
-- fresh token) or the express-mode key, the model by its full name, the
-- setup by python-genai's Vertex rules (live.py `AsyncLive.connect`,
-- `_LiveConnectConfig_to_vertex`; docs/wire-format-2.md §20.5).
--
-- The setup follows the rules of generate's config (`request.live_setup`:
-- both spellings, a field given twice raises, Lua handlers kept out of the
-- tools), the Live-only fields going to the top of `setup` rather than
-- into `generationConfig` (`_live_converters.py`,
-- `_LiveConnectConfig_to_mldev`), as an ephemeral token's constraints are
-- built (`gemini.auth_tokens`).
--
-- Functions declared with a Lua `handler` (`gemini.tools.functions`) are
-- run when a `toolCall` names them, as in chats (`gemini.afc`): the calls
-- are answered with `send_tool_response` before the message is handed on
-- (its `tool_call` is still there, for the record).
--
-- A message (`session:receive()`, `on_message`) is the decoded
-- LiveServerMessage (camelCase keys, as sent) with read-only helpers:
-- `msg.text` (the text parts of its model turn, thoughts left out, joined;
-- nil when none), `msg.data` (the inline data of its model turn, base64
-- decoded and joined: the audio; nil when none), and `msg.server_content`,
-- `msg.tool_call`, `msg.tool_call_cancellation`, `msg.go_away`,
-- `msg.session_resumption_update`, `msg.usage_metadata`,
-- `msg.setup_complete` (the fields as sent, or nil).
--
-- The blocking form lives here; the callback form
-- (`connect(req, {on_open =, on_message =, on_close =})`, on the client's
-- `loop`) in `gemini.live.loop`, an internal module; inside nginx the
-- bytes go through a cosocket (`gemini.live.resty`, internal too), framed
-- by the same C framer.
-- @module gemini.live
local afc = require("gemini.afc")
local core = require("gemini.core")
local errors = require("gemini.errors")
local json = require("gemini.json")
local request = require("gemini.request")
local response = require("gemini.response")
local vertex = require("gemini.vertex")

local M = {}

-- The `client.live` service (its LDoc section is at `connect`).
local Live = {}
Live.__index = Live

--- One Live session.
-- @type Session
local Session = {}
Session.__index = Session
M.Session = Session

function M.new(client)
  return setmetatable({ client = client }, Live)
end

-- ---- the setup message ------------------------------------------------------

--- The `setup` message of a connect request: `request.live_setup` (the
-- config split as generate's, the Live-only fields at the top of the
-- setup), camelCase on the wire by the encoder.
-- @local
function M.setup(model, config, fname)
  return { setup = request.live_setup(model, config, fname) }
end

--- The setup of a Vertex AI session, from the Gemini API's (python-genai
-- `_LiveConnectConfig_to_vertex` and live.py `AsyncLive.connect`): the
-- model by t_model's Vertex name ("publishers/google/models/x"; its full
-- name once the project is known, see `place_model`); `explicit_vad_signal`
-- at the top of the setup (Vertex only); `translation_config` refused
-- (Gemini API only); and, but in express mode, `responseModalities`
-- ["AUDIO"] when the config names none.
-- @local
function M.vertex_setup(client, model, setup, fname)
  local s, gc = setup.setup, setup.setup.generationConfig or {}
  if request.get(gc, "translationConfig", "translation_config") ~= nil then
    errors.misuse(string.format("bad field 'config.translation_config' to '%s' (the Gemini API's"
      .. " only, not in Vertex AI mode)", fname))
  end
  s.model = vertex.model(model)
  s.explicitVadSignal = request.get(gc, "explicitVadSignal", "explicit_vad_signal")
  gc.explicitVadSignal, gc.explicit_vad_signal = nil, nil
  if not client._vertex.api_key and request.get(gc, "responseModalities", "response_modalities") == nil then
    gc.responseModalities = { "AUDIO" }
  end
  s.generationConfig = next(gc) ~= nil and gc or nil
  return setup
end

--- Puts the model's full name in a Vertex setup once the project is
-- known: "projects/{p}/locations/{l}/publishers/..." (live.py connect: a
-- "publishers/" name only, with both project and location).
-- @local
function M.place_model(client, setup)
  local vx, s = client._vertex, setup.setup
  if vx and s.model:find("^publishers/") then s.model = vertex.path(vx, s.model, "POST") end
end

-- ---- where to connect -------------------------------------------------------

local TOKEN_PREFIX = "auth_tokens/"

--- Where and how a client connects: `{url =, host =, target =, headers =,
-- secure =, hostname =, port =, bearer =}`. `url` is scheme://host:port
-- (what libcurl connects to), `target` the request target, `headers` the
-- header lines (credentials included: never logged but by
-- `client:_log_request`); `bearer` true when the credentials' access token
-- is still to be added (`open_authorized`).
-- @local
function M.endpoint(client)
  local scheme, authority, prefix = client.base_url:match("^(https?)://([^/]+)(.*)$")
  local hostname, port = authority:gsub("^.*@", ""):match("^(.-):?(%d*)$")
  local secure = scheme == "https"
  port = tonumber(port) or (secure and 443 or 80)
  local key = client._key
  local token = not client._vertex and type(key) == "string" and key:sub(1, #TOKEN_PREFIX) == TOKEN_PREFIX
  local headers = {}
  for _, h in ipairs(client:_headers(nil, nil, token)) do
    if not h:find("^Content%-Type:") then headers[#headers + 1] = h end
  end
  local target, bearer
  if client._vertex then
    target, bearer = M.vertex_target(client, prefix, headers)
  else
    local version = token and "v1alpha" or (client.api_version ~= "" and client.api_version or "v1beta")
    local method = token and "BidiGenerateContentConstrained" or "BidiGenerateContent"
    if token then headers[#headers + 1] = "Authorization: Token " .. key end
    target = prefix .. "/ws/google.ai.generativelanguage." .. version .. ".GenerativeService." .. method
  end
  return {
    url = scheme .. "://" .. hostname .. ":" .. port, host = authority:gsub("^.*@", ""),
    target = target, headers = headers, secure = secure, bearer = bearer,
    hostname = hostname:gsub("^%[(.*)%]$", "%1"), port = port,
  }
end

--- The request target of a Vertex AI session, and whether it wants the
-- credentials' bearer token (python-genai live.py `AsyncLive.connect`):
-- `{base}/ws/google.cloud.aiplatform.{version}.LlmBidiService/BidiGenerateContent`,
-- in express mode with the key header (already in `headers`), otherwise
-- with `Authorization: Bearer <token>` unless the client's own headers
-- carry an Authorization; a gateway of one's own (base_url without
-- project and location) gets its URL as it is and no credentials.
-- @local
function M.vertex_target(client, prefix, headers)
  local vx = client._vertex
  if not vx.api_key and not (vx.project and vx.location) and not vx.project_later then
    return prefix ~= "" and prefix or "/", false
  end
  local own = false
  for _, h in ipairs(headers) do own = own or h:lower():find("^authorization:") ~= nil end
  local version = client.api_version ~= "" and client.api_version or "v1beta1"
  return prefix .. "/ws/google.cloud.aiplatform." .. version .. ".LlmBidiService/BidiGenerateContent",
    not vx.api_key and not own
end

--- The gemini.Error of a failed connect, from the C side's answer: a
-- refusal (an HTTP status before the upgrade) reads as an API error.
-- @local
function M.connect_error(client, kind, msg, status, body)
  if status then
    return errors.from_http(status, body or "", {}, json.decode, client._secrets)
  end
  if kind == "handshake" then kind = "transport" end
  return client:error(kind, msg)
end

--- The options of `core.ws_connect` / `core.ws_open` for an endpoint:
-- the client's connection options, as for every call.
-- @local
function M.link_options(client, ep)
  return {
    url = ep.url, host = ep.host, target = ep.target, headers = ep.headers,
    timeout = client.connect_timeout, connect_timeout = client.connect_timeout,
    proxy = client.proxy, ca_file = client.ca_file, verify = client.verify,
    max_message_size = client.max_event_size,
  }
end

--- Logs the upgrade request of a session (credentials redacted).
-- @local
function M.log_connect(client, ep)
  client:_log_request({ method = "GET", url = client.base_url .. ep.target, headers = ep.headers },
    "live")
end

--- Opens the link of a session: libcurl's WebSocket (`core.ws_connect`), or
-- inside nginx a cosocket. Returns it, or nil, err.
-- @local
function M.open_link(client, ep)
  M.log_connect(client, ep)
  if type(ngx) == "table" and type(ngx.get_phase) == "function" then
    return require("gemini.live.resty").open(client, ep)
  end
  local link, kind, msg, status, body = core.ws_connect(M.link_options(client, ep))
  if not link then return nil, M.connect_error(client, kind, msg, status, body) end
  return link
end

--- Opens a session's link with `open(ep)` (blocking, or waiting in a task
-- of the client's loop); for an endpoint that wants a bearer token first
-- the token of the client's credentials, from the same cache and single
-- flight as its HTTP calls (gemini.auth.tokens: an upgrade refused with
-- 401 drops it and tries once more with a fresh one, as HTTP does), and
-- then the project when the metadata server is to say it. Returns the
-- link, or nil, err.
-- @local
function M.open_authorized(client, ep, open)
  if not ep.bearer then return open(ep) end
  local res, err = client._tokens:authorized(client, ep, function(c, spec)
    local _, perr = c:_vertex_project()
    if perr then return nil, perr end
    local link, oerr = open(spec)
    if link then return { link = link } end
    if oerr.code == 401 then return { status = 401, err = oerr } end   -- (refused: see authorized)
    return nil, oerr
  end)
  if not res then return nil, err end
  if res.err then return nil, res.err end
  return res.link
end

-- ---- messages ---------------------------------------------------------------

local getters = {}

local function model_parts(m)
  local sc = rawget(m, "serverContent")
  local turn = type(sc) == "table" and sc.modelTurn
  return type(turn) == "table" and type(turn.parts) == "table" and turn.parts or nil
end

--- The text parts of the message's model turn, joined (thoughts left
-- out); nil when it has none.
-- @local
function getters.text(m)
  return response.parts_text(model_parts(m), false)
end

--- The inline data (audio) of the message's model turn, decoded and
-- joined; nil when it has none.
-- @local
function getters.data(m)
  local out
  for _, p in ipairs(model_parts(m) or {}) do
    local d = type(p) == "table" and p.inlineData
    if type(d) == "table" and type(d.data) == "string" then
      local bytes = core.b64decode(d.data)
      if bytes then out = (out or "") .. bytes end
    end
  end
  return out
end

for name, field in pairs{ server_content = "serverContent", tool_call = "toolCall",
    tool_call_cancellation = "toolCallCancellation", go_away = "goAway",
    session_resumption_update = "sessionResumptionUpdate", usage_metadata = "usageMetadata",
    setup_complete = "setupComplete" } do
  getters[name] = function(m) return rawget(m, field) end
end

local Message = { __index = function(m, k)
  local g = getters[k]
  if g then return g(m) end
end }

--- A decoded server message with the helpers above.
-- @local
function M.message(t)
  return setmetatable(t, Message)
end

--- Turns one event of the link (kind, data, code) into a message, or nil
-- and the error that ends the session.
-- @local
function M.decode_event(client, kind, data, code)
  if kind == "close" then
    local reason = data ~= "" and data or "no reason given"
    return nil, client:error("stream", string.format("Live session closed by the server (%d): %s",
      code, reason), { code = code, reason = data })
  end
  local v, msg = json.decode(data)
  if not json.is_object(v) then
    return nil, client:error("decode", "invalid Live message: " .. (v == nil and tostring(msg)
      or "not a JSON object"))
  end
  if client._vertex then M.vertex_usage(v.usageMetadata) end
  return M.message(v)
end

--- Vertex AI counts the answer's tokens as `candidates*` where the Gemini
-- API says `response*` (python-genai `_UsageMetadata_from_vertex`): the
-- Gemini API's names are added, the ones sent kept.
-- @local
function M.vertex_usage(u)
  if type(u) ~= "table" then return end
  if u.responseTokenCount == nil then u.responseTokenCount = u.candidatesTokenCount end
  if u.responseTokensDetails == nil then u.responseTokensDetails = u.candidatesTokensDetails end
end

--- The error of a link failure (a dropped connection: code 1006).
-- @local
function M.link_error(client, kind, msg, code)
  if kind == "closed" then
    return client:error("stream", "Live session " .. msg:gsub("^WebSocket connection ", "connection "),
      { code = code or 1006, reason = msg })
  end
  return client:error(kind or "transport", msg, { code = code })
end

-- ---- the session ------------------------------------------------------------

-- The sessions of a client still open, for client:close() (weak: a
-- session dropped without close() is collected, its link saying 1001).
local function open_sessions(client)
  local set = rawget(client, "_live_sessions")
  if not set then
    set = setmetatable({}, { __mode = "k" })
    rawset(client, "_live_sessions", set)
  end
  return set
end

--- A session over an open link (nil in the callback form until it opens).
-- @local
function M.session(client, link, handlers)
  local s = setmetatable({ client = client, link = link, handlers = handlers, inbox = {},
                           n_in = 0, i_in = 1, outbox = {} }, Session)
  open_sessions(client)[s] = true
  return s
end

--- Ends the sessions of a client still open (client:close()): each ends
-- as a canceled call does, with a "canceled" error (the callback form's
-- on_close gets it, once; a blocking session returns it from then on).
-- @local
function M.cancel_all(client)
  local set = rawget(client, "_live_sessions")
  if not set then return end
  local list = {}
  for s in pairs(set) do list[#list + 1] = s end
  for _, s in ipairs(list) do
    s:_end(client:error("canceled", "the Live session was canceled (client:close)"))
  end
end

--- Writes one text frame on the link, blocking (a timeout error when the
-- socket takes nothing for the client's connect_timeout). The callback
-- form writes its own way (gemini.live.loop: queued, never waiting).
-- @local
function Session:_write(text)
  return self.link:send("text", text)
end

--- Sends one client message (a Lua table); true or nil, err.
-- @local
function Session:_send(msg)
  return self:_send_text(json.encode(msg))
end

--- Sends one client message already encoded (gemini.live.relay passes a
-- browser's messages on as they came); true or nil, err.
-- @local
function Session:_send_text(text)
  if self.err then return nil, self.err end
  if self.closed then return nil, self.client:error("stream", "Live session is closed") end
  if not self.link then   -- the callback form before setupComplete: queued
    self.outbox[#self.outbox + 1] = text
    return true
  end
  local ok, kind, emsg, code = self:_write(text)
  if ok then return true end
  if kind == "timeout" then emsg = emsg .. " (the client's connect_timeout)" end
  return nil, self:_fail(M.link_error(self.client, kind, emsg, code))
end

-- The session is over: its error, kept for every later call.
function Session:_fail(err)
  if not self.err then self.err = err end
  return self.err
end

local FNAME = {
  client = "session:send_client_content", realtime = "session:send_realtime_input",
  tool = "session:send_tool_response",
}

--- Sends turns (a `clientContent` message).
-- @tparam table args `{turns =, turn_complete =}`: `turns` in any form
--   `contents` takes (a string, parts, a content or a list of contents);
--   `turn_complete` defaults to true
-- @return true, or nil and the `gemini.Error` that ended the session
function Session:send_client_content(args)
  errors.arg(FNAME.client, 1, args, "table")
  errors.known_fields(FNAME.client, args, { "turns", "turn_complete" }, nil, true)
  local tc = request.get(args, "turnComplete", "turn_complete")
  errors.field(FNAME.client, "turn_complete", tc, "boolean", true)
  local turns = request.get(args, "turns")
  local cc = { turnComplete = tc ~= false }
  if turns ~= nil then cc.turns = request.contents(turns, FNAME.client, "turns") end
  return self:_send({ clientContent = cc })
end

-- A media chunk of realtime input: bytes in, base64 out.
local function blob(v, field)
  errors.field(FNAME.realtime, field, v, "table")
  errors.known_fields(FNAME.realtime, v, { "data", "mime_type" }, field, true)
  errors.field(FNAME.realtime, field .. ".data", v.data, "string")
  local mime = request.get(v, "mimeType", "mime_type")
  errors.field(FNAME.realtime, field .. ".mime_type", mime, "string")
  return { data = core.b64encode(v.data), mimeType = mime }
end

local REALTIME = { "audio", "video", "text", "audio_stream_end", "activity_start", "activity_end" }

--- Sends realtime input: exactly one of `audio = {data =, mime_type =}`,
-- `video = {...}`, `text = "..."`, `audio_stream_end = true`,
-- `activity_start = {}`, `activity_end = {}`.
-- @tparam table args the one input: media as raw bytes (`data`, sent in
--   base64) with their `mime_type`, e.g. "audio/pcm;rate=16000"
-- @return true, or nil and the `gemini.Error` that ended the session
function Session:send_realtime_input(args)
  errors.arg(FNAME.realtime, 1, args, "table")
  errors.known_fields(FNAME.realtime, args, REALTIME, nil, true)
  local found
  for k in pairs(args) do
    if found then
      errors.misuse("bad argument #1 to '" .. FNAME.realtime .. "' (one of " .. table.concat(REALTIME, ", ")
        .. " per call)")
    end
    found = k
  end
  if not found then
    errors.misuse("bad argument #1 to '" .. FNAME.realtime .. "' (one of " .. table.concat(REALTIME, ", ")
      .. " expected)")
  end
  local ck, v = request.camel(found), args[found]
  if ck == "audio" or ck == "video" then
    v = blob(v, found)
  elseif ck == "text" then
    errors.field(FNAME.realtime, found, v, "string")
  elseif ck == "audioStreamEnd" then
    if v ~= true then errors.misuse("bad field '" .. found .. "' to '" .. FNAME.realtime .. "' (true expected)") end
  else
    errors.field(FNAME.realtime, found, v, "table")
    v = setmetatable({}, json.object_mt)
  end
  return self:_send({ realtimeInput = { [ck] = v } })
end

--- Answers a tool call (calls to functions with a Lua `handler` are
-- answered for you).
-- @tparam table args `{function_responses = {{id =, name =, response =}, ...}}`
--   (`id`, the call's, is required but in Vertex AI mode; one response may
--   be given bare)
-- @return true, or nil and the `gemini.Error` that ended the session
function Session:send_tool_response(args)
  errors.arg(FNAME.tool, 1, args, "table")
  errors.known_fields(FNAME.tool, args, { "function_responses" }, nil, true)
  local list = request.get(args, "functionResponses", "function_responses")
  errors.field(FNAME.tool, "function_responses", list, "table")
  if list.id ~= nil or list.name ~= nil then list = { list } end
  for i, fr in ipairs(list) do
    local where = "function_responses[" .. i .. "]"
    errors.field(FNAME.tool, where, fr, "table")
    -- (the id is the Gemini API's; Vertex AI does without: live.py send_tool_response)
    errors.field(FNAME.tool, where .. ".id", fr.id, "string", self.client._vertex ~= nil)
    errors.field(FNAME.tool, where .. ".name", fr.name, "string", true)
  end
  return self:_send({ toolResponse = { functionResponses = list } })
end

-- Answers the calls of a toolCall message with the Lua handlers.
function Session:_run_handlers(msg)
  local calls = type(msg.tool_call) == "table" and msg.tool_call.functionCalls
  if not self.handlers or type(calls) ~= "table" or #calls == 0 then return true end
  local parts = {}
  for i, fc in ipairs(calls) do parts[i] = { functionCall = fc } end
  local reply = afc.respond({ parts = parts }, self.handlers)
  if not reply then return true end   -- no call is an object: nothing to answer (as chats)
  local frs = {}
  for i, p in ipairs(reply.parts) do frs[i] = p.functionResponse end
  return self:_send({ toolResponse = { functionResponses = frs } })
end

--- Takes in one event of the link: the message to hand on (after running
-- handlers), or nil, err.
-- @local
function Session:_take(kind, data, code)
  local msg, err = M.decode_event(self.client, kind, data, code)
  if not msg then return nil, self:_fail(err) end
  if msg.tool_call then
    local ok, serr = self:_run_handlers(msg)
    if not ok then return nil, serr end
  end
  return msg
end

-- The next message from the link, waiting up to the client's stall_timeout.
-- One recv may bring several events: they wait in the inbox (triples).
function Session:_pull()
  local q, i = self.inbox, self.i_in
  if i <= self.n_in then
    self.i_in = i + 3
    return self:_take(q[i], q[i + 1], q[i + 2])
  end
  local wait_ms = math.min(self.client.stall_timeout, core.MAX_SECONDS) * 1000
  q = {}
  local n, kind, msg, code = self.link:recv(q, wait_ms)
  if not n then return nil, self:_fail(M.link_error(self.client, kind, msg, code)) end
  if n == 0 then
    return nil, self:_fail(self.client:error("timeout", string.format(
      "no Live message for %g s (stall_timeout)", wait_ms / 1000)))
  end
  self.inbox, self.n_in, self.i_in = q, n * 3, 4
  return self:_take(q[1], q[2], q[3])
end

--- The next message of the current turn; nil once the turn has ended
-- (after the message with `turnComplete`), then the next turn begins; or
-- nil, err when the session ended (a server close, a dropped connection).
-- The blocking form's: on a session opened with callbacks it raises (its
-- messages go to `on_message`).
-- @return a message (see the module's description), nil, or nil and a `gemini.Error`
function Session:receive_next()
  self:_check_blocking("receive_next")
  if self.err then return nil, self.err end
  if self.closed then return nil, self.client:error("stream", "Live session is closed") end
  if self.turn_over then
    self.turn_over = false
    return nil
  end
  local msg, err = self:_pull()
  if not msg then return nil, err end
  local sc = msg.server_content
  if type(sc) == "table" and sc.turnComplete then self.turn_over = true end
  return msg
end

--- An iterator over the messages of one turn (see `receive_next`); a
-- session that ends raises its gemini.Error: a loop never ends silently.
function Session:receive()
  self:_check_blocking("receive")
  return function()
    local msg, err = self:receive_next()
    if err then errors.raise(err) end
    return msg
  end
end

--- Ends the session: a close frame (1000), then the socket. Harmless when
-- repeated. (A session dropped without it: the link's own __gc sends a
-- close 1001, "going away", if the socket takes it at once.)
function Session:close()
  return self:_end(nil)
end

-- Ends the session once: err (a "canceled" one from client:close) is
-- kept for the later calls, and the callback form's on_close gets it.
function Session:_end(err)
  if self.closed then return end
  self:_forget()
  if self._on_close then return self._on_close(err) end   -- the callback form's ending
  if err then self:_fail(err) end
  if self.link then self.link:close(1000) end
end

-- The session is closed, no longer one client:close() ends.
function Session:_forget()
  self.closed = true
  rawget(self.client, "_live_sessions")[self] = nil
end

-- The callback form hands its messages to on_message: a blocking read
-- there would steal them from the loop (and block it).
function Session:_check_blocking(method)
  if self._on_close then
    errors.misuse(string.format("bad call to 'session:%s' (a session opened with callbacks hands"
      .. " its messages to on_message)", method))
  end
end

function Session:__tostring()
  return "gemini.live.Session (" .. (self.closed and "closed" or self.err and "ended" or "open") .. ")"
end

-- ---- connect ------------------------------------------------------------------

local CONNECT_FIELDS = { "model", "config" }

--- The `client.live` service: `client.live:connect` opens a session.
-- @type Live

--- Opens a session. Blocking: returns once the server's setupComplete
-- has arrived, or nil, err. With callbacks (the client's `loop` needed):
-- returns the session at once; sends made before the setup completes are
-- queued.
-- @tparam table req `{model =, config =}`: `config` is generate's config
--   (`response_modalities`, `system_instruction`, `tools`, `speech_config`,
--   ...) with the Live fields (`session_resumption`,
--   `input_audio_transcription`, `output_audio_transcription`,
--   `realtime_input_config`, `context_window_compression`, ...)
-- @tparam[opt] table callbacks `{on_open = function(session),
--   on_message = function(msg), on_close = function(err)}`: `on_close`
--   is called exactly once, with nil after a normal close
-- @return the session, or nil, `gemini.Error`
function Live:connect(req, callbacks)
  local fname = "live:connect"
  errors.arg(fname, 1, req, "table")
  errors.known_fields(fname, req, CONNECT_FIELDS)
  errors.field(fname, "config", req.config, "table", true)
  local model = request.model(req.model, fname)
  local client = self.client
  local setup = M.setup(model, req.config, fname)
  if client._vertex then M.vertex_setup(client, req.model, setup, fname) end
  local handlers = afc.settings(req.config, fname)
  if callbacks ~= nil then
    return require("gemini.live.loop").connect(client, setup, handlers, callbacks)
  end
  local link, err = M.open_authorized(client, M.endpoint(client), function(ep)
    return M.open_link(client, ep)
  end)
  if not link then return nil, err end
  M.place_model(client, setup)
  local session = M.session(client, link, handlers)
  local ok
  ok, err = session:_send(setup)
  local first
  if ok then first, err = session:_pull() end
  if first and not first.setup_complete then
    err = client:error("decode", "Live session: the server's first message was not setupComplete")
  end
  if err then
    session:close()
    client:_log("gemini: -> %s", tostring(err))
    return nil, err
  end
  return session
end

return M
