--- A relay inside nginx between a browser's WebSocket and a Live session:
-- the browser talks to Live through nginx, which holds the API key and
-- fixes the model and config (the browser never chooses them, as an
-- ephemeral token's constraints would lock them).
--
--    location = /live {
--      content_by_lua_block {
--        local ok, err = require("gemini.live.relay").serve(client, {
--          model = "gemini-live-2.5-flash-preview", config = { response_modalities = { "TEXT" } } })
--        if not ok then ngx.log(ngx.INFO, "live relay: ", tostring(err)) end
--      }
--    }
--
-- The browser's side is a WebSocket server over the request's raw socket
-- (`ngx.req.socket(true)`), framed by the C framer in its server role
-- (`core.ws_framer{ role = "server" }`: a browser's frames must be masked,
-- RFC 6455 5.1, and are unmasked; ours are not); the Live side is a
-- session of `client.live:connect` on a cosocket (`gemini.live.resty`).
--
-- The handshake (RFC 6455 4.2.1, 4.2.2): a GET over HTTP/1.1 with
-- "Upgrade: websocket", "Connection" naming upgrade, a Sec-WebSocket-Key
-- of 16 base64 bytes (else 400) and Sec-WebSocket-Version 13 (else 426
-- naming 13). The Live session is opened before the browser is answered:
-- when it cannot be, the browser gets a 502 (the reason is returned, for
-- nginx's log; it never reaches the browser), else a 101 with the key's
-- Sec-WebSocket-Accept.
--
-- Then each direction runs in its own light thread:
--   browser -> Live: each text message must be one JSON client message,
--   an object with exactly one of `clientContent`, `realtimeInput`,
--   `toolResponse` (an object), passed on as it came; `setup` is the
--   server's (close 1008), an unknown or second key too (1008), text that
--   is not a JSON object 1007, a binary message 1003, a message above
--   max_message_size 1009, an unmasked frame 1002. Pings are answered.
--   Live -> browser: each message as a text frame (a binary one, as
--   Google sends, too when it is UTF-8, as JSON is).
-- Either side ending ends the other: the browser's close is answered
-- with its code and the Live session closed (1000); Live's close (e.g.
-- 1011 mid-turn) reaches the browser with its code and reason, a Live
-- connection that dropped as 1011 "Live connection lost: ...". The other
-- side is ended by its close handshake (its reader sees the answer), a
-- peer that does not answer within 2 s cut off; nothing polls. Tools with
-- Lua handlers are not run here: the browser answers tool calls.
-- @module gemini.live.relay
local core = require("gemini.core")
local json = require("gemini.json")
local resty = require("gemini.live.resty")

local M = {}

M.DEFAULT_MAX = 1024 * 1024     -- bytes of one browser message
-- A read waits this long before it looks again (nginx logs each read
-- timeout: a relay that polled would fill its error log); a side is ended
-- by its close handshake instead, which wakes its reader.
local IDLE_MS = 10 * 60 * 1000
local CLOSE_WAIT = 2            -- seconds a side gets to answer our close
local MESSAGES = { clientContent = true, realtimeInput = true, toolResponse = true }

local has_token = resty.has_token

--- Why the request is no WebSocket upgrade: nil, or an HTTP status and a
-- message (RFC 6455 4.2.1).
-- @local
function M.bad_upgrade(method, version, h)
  if method ~= "GET" or version ~= 1.1 then return 400, "a WebSocket upgrade is a GET over HTTP/1.1" end
  if not has_token(h.upgrade, "websocket") then return 400, "no \"Upgrade: websocket\"" end
  if not has_token(h.connection, "upgrade") then return 400, "no \"Connection: Upgrade\"" end
  local key = h["sec-websocket-key"]
  if type(key) ~= "string" or #key ~= 24 or not key:find("^[%w+/]+==$") then
    return 400, "Sec-WebSocket-Key is not 16 bytes in base64"
  end
  if h["sec-websocket-version"] ~= "13" then return 426, "Sec-WebSocket-Version 13 only" end
end

--- Why a browser's text message may not go to Live: nil, or a close code
-- and reason.
-- @local
function M.refusal(text)
  local v = json.decode(text)
  if not json.is_object(v) then return 1007, "a message must be a JSON object" end
  local key = next(v)
  if key == "setup" then return 1008, "the setup is the server's" end
  if key == nil or next(v, key) ~= nil or not MESSAGES[key] then
    return 1008, "one of clientContent, realtimeInput, toolResponse per message"
  end
  if not json.is_object(v[key]) then return 1008, key .. " must be an object" end
end

-- A close reason of at most 123 bytes (5.5: 125 with the code), whole
-- UTF-8 characters.
local function reason_of(s)
  s = tostring(s or ""):sub(1, 123)
  while not core.utf8_valid(s) do s = s:sub(1, -2) end
  return s
end

local Relay = {}
Relay.__index = Relay

-- A frame to the browser (a server's: unmasked).
function Relay:to_browser(kind, data, code)
  return self.write(self.framer:frame(kind, data, code))
end

-- browser -> Live, until the browser's side ends: how it ended ({by =,
-- code =, reason =, close_received =}).
function Relay:up()
  local sock, framer, session = self.sock, self.framer, self.session
  while true do
    sock:settimeouts(self.timeout_ms, self.timeout_ms, IDLE_MS)
    local bytes, err = sock:receiveany(65536)
    if not bytes then
      if err ~= "timeout" then return { by = "browser", reason = "the browser's connection: " .. tostring(err) } end
    else
      local q = {}
      local n, msg, code = framer:feed(bytes, q)
      for i = 1, #q, 3 do
        local kind, data = q[i], q[i + 1]
        if kind == "text" then
          local rcode, why = M.refusal(data)
          if rcode then return { by = "relay", code = rcode, reason = why } end
          local ok, serr = session:_send_text(data)
          if not ok then return { by = "live", code = 1011, reason = "Live session ended: " .. tostring(serr) } end
        elseif kind == "binary" then
          return { by = "relay", code = 1003, reason = "binary messages are not relayed: send JSON text" }
        elseif kind == "ping" then
          self:to_browser("pong", data)
        elseif kind == "close" then
          return { by = "browser", code = q[i + 2], reason = data, close_received = true }
        end
      end
      if not n then return { by = "relay", code = code, reason = msg } end
    end
  end
end

-- Live -> browser, until Live's side ends, as `up`.
function Relay:down()
  local link = self.session.link
  while true do
    local q = {}
    local n, kind, msg, code = link:recv(q, IDLE_MS)
    if not n then
      if kind == "closed" then msg = "Live connection lost: " .. tostring(msg) end
      return { by = "live", code = 1011, reason = msg }
    end
    for i = 1, #q, 3 do
      local k, data = q[i], q[i + 1]
      if k == "close" then return { by = "live", code = q[i + 2], reason = data } end
      local ok, err = self:to_browser(core.utf8_valid(data) and "text" or "binary", data)
      if not ok then return { by = "browser", reason = "the browser's connection: " .. tostring(err) } end
    end
  end
end

-- After our close, the browser's bytes until it closes the connection
-- (RFC 6455 7.1.1: the client closes first), at most DRAIN_MS: closing
-- with bytes unread would reset the connection, and the browser could
-- lose our close frame.
local DRAIN_MS = 1000
function Relay:drain()
  local deadline = ngx.now() * 1000 + DRAIN_MS
  repeat
    local left = math.floor(deadline - ngx.now() * 1000)
    if left < 1 then return end
    self.sock:settimeouts(self.timeout_ms, self.timeout_ms, left)
  until not self.sock:receiveany(65536)
end

-- The first ending closes the other side with a close frame (its
-- reader, the other thread, then sees the answer and ends): the browser's
-- close answered with its code, or ours with the ending's code and reason;
-- Live's session told 1000 unless Live ended it.
function Relay:close_sides(how)
  if how.by ~= "live" then self.session.link:send("close", "", 1000) end
  local code = how.code
  if code == 1005 or code == 1006 then code = nil end
  if how.close_received then
    self:to_browser("close", "", code)
  elseif how.by ~= "browser" then
    self:to_browser("close", reason_of(how.reason), code or 1000)   -- (Live's close without a code)
  end
end

-- One direction in its light thread; the first to end gives the relay's
-- ending. A thread that raised ends both sides as an internal error (1011).
local function run(r, direction)
  local ok, how = pcall(direction, r)
  if not ok then
    r.raised = r.raised or how
    how = { by = "relay", code = 1011, reason = "relay error" }
  end
  if not r.how then r.how, r.first = how, direction end
end

-- Waits for a light thread at most `seconds`, then kills it.
local function wait_at_most(thread, seconds)
  local timer = ngx.thread.spawn(function() ngx.sleep(seconds) end)
  ngx.thread.wait(thread, timer)
  ngx.thread.kill(thread)   -- (nil, "already waited or killed" when it ended)
  ngx.thread.kill(timer)
end

-- Answers the upgrade (101 with the accept value) and takes the raw socket.
local function accept(key)
  ngx.status = 101
  ngx.header["Upgrade"] = "websocket"
  ngx.header["Sec-WebSocket-Accept"] = core.ws_accept(key)
  local ok, err = ngx.send_headers()
  if ok then ok, err = ngx.flush(true) end
  if not ok then return nil, err end
  return ngx.req.socket(true)
end

-- The refusal of a request that cannot be relayed: the status, a JSON body.
local function refuse(status, message)
  ngx.status = status
  if status == 426 then ngx.header["Sec-WebSocket-Version"] = "13" end
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json.encode_verbatim({ error = message }))
  return nil, message
end

--- Serves the current request (content_by_lua): the upgrade, a Live
-- session for it, the relay until either side ends.
-- @param client a gemini.Client (its key stays in nginx)
-- @tparam table opts `{model =, config =, max_message_size =}`: the Live
--   session's model and config (client.live:connect's), and the bound of
--   one browser message (default 1 MiB)
-- @return true (the relay ran and ended), or nil and why not (a string,
--   or the gemini.Error of the connect), for nginx's log
function M.serve(client, opts)
  local max = opts.max_message_size or M.DEFAULT_MAX
  local framer = core.ws_framer{ role = "server", max_message_size = max }   -- (checks max)
  local h = ngx.req.get_headers()
  local status, why = M.bad_upgrade(ngx.req.get_method(), ngx.req.http_version(), h)
  if status then return refuse(status, why) end
  local session, err = client.live:connect{ model = opts.model, config = opts.config }
  if not session then
    refuse(502, "could not open a Live session")
    return nil, err
  end
  local sock
  sock, err = accept(h["sec-websocket-key"])
  if not sock then
    session:close()
    return nil, "the upgrade failed: " .. tostring(err)
  end
  local r = setmetatable({ sock = sock, write = resty.writer(sock), framer = framer, session = session,
                           timeout_ms = math.floor(client.connect_timeout * 1000) }, Relay)
  local up = ngx.thread.spawn(run, r, Relay.up)
  local down = ngx.thread.spawn(run, r, Relay.down)
  ngx.thread.wait(up, down)
  r:close_sides(r.how)
  wait_at_most(r.first == Relay.up and down or up, CLOSE_WAIT)
  session:close()
  if r.first == Relay.up and r.how.by ~= "browser" then r:drain() end
  if r.raised then return nil, "relay error: " .. tostring(r.raised) end
  return true
end

return M
