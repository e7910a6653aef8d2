--- The link of a Live session inside nginx: an `ngx.socket.tcp` cosocket
-- (TLS by `sslhandshake`, verified against `lua_ssl_trusted_certificate`),
-- its bytes framed by the same C framer as libcurl's (`core.ws_framer`),
-- its frames built by `core.ws_frame`. It answers what `core.ws_connect`'s
-- connection answers (`send`, `recv`, `close`; no `fd`: nginx waits on
-- the socket itself), so `gemini.live`'s sessions run on it unchanged.
--
-- Not here: a proxy (cosockets connect directly, as the resty transport
-- does).
-- @module gemini.live.resty
local core = require("gemini.core")
local live = require("gemini.live")

local M = {}

local Link = {}
Link.__index = Link

local MAX_HEAD = 16 * 1024

--- A writer of a cosocket that several light threads write to (a relay:
-- one thread's reads answer pings while another sends): nginx refuses a
-- second send while one waits ("socket busy writing"), so a thread that
-- finds one under way queues its bytes for that one to write, in order.
-- `write(bytes)` -> true, or nil, err (the queue is dropped on a failure).
-- @local
function M.writer(sock)
  local queue, busy = {}, false
  return function(bytes)
    queue[#queue + 1] = bytes
    if busy then return true end
    busy = true
    local i, ok, err = 1, true, nil
    while queue[i] do
      ok, err = sock:send(queue[i])
      if not ok then break end
      i = i + 1
    end
    queue, busy = {}, false
    return ok, err
  end
end

-- The header block of an answer: status, lower-case name -> value.
local function parse_head(head)
  local status = tonumber(head:match("^HTTP/1%.[01] (%d%d%d)"))
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do
    headers[name:lower()] = value:gsub("[ \t]+$", "")
  end
  return status, headers
end

--- Whether a comma-separated header value (or a list of them, as
-- ngx.req.get_headers gives a repeated header) holds `token` (any case).
-- @local
function M.has_token(v, token)
  if type(v) == "table" then v = table.concat(v, ",") end
  for t in (v or ""):gmatch("[^,]+") do
    if t:match("^%s*(.-)%s*$"):lower() == token then return true end
  end
  return false
end
local has_token = M.has_token

-- The same checks, and messages, as src/ws_conn.c's bad_upgrade.
local function bad_upgrade(h, key)
  if not has_token(h.upgrade, "websocket") then
    return "WebSocket handshake failed: no \"Upgrade: websocket\" in the answer"
  end
  if not has_token(h.connection, "upgrade") then
    return "WebSocket handshake failed: no \"Connection: Upgrade\" in the answer"
  end
  if h["sec-websocket-accept"] ~= core.ws_accept(key) then
    return "WebSocket handshake failed: Sec-WebSocket-Accept does not match the key"
  end
  if h["sec-websocket-extensions"] then
    return "WebSocket handshake failed: the server chose an extension the client did not offer"
  end
end

--- Connects and upgrades: a link, or nil, err (a gemini.Error).
function M.open(client, ep)
  local sock = ngx.socket.tcp()
  local ms = math.floor(client.connect_timeout * 1000)
  sock:settimeouts(ms, ms, ms)
  local ok, err = sock:connect(ep.hostname, ep.port)
  if ok and ep.secure then ok, err = sock:sslhandshake(nil, ep.hostname, client.verify) end
  local function failed(kind, msg, status, body)
    sock:close()
    return nil, live.connect_error(client, kind, msg, status, body)
  end
  if not ok then return failed("transport", "WebSocket connection failed: " .. tostring(err)) end
  local key = core.ws_key()
  local lines = { "GET " .. ep.target .. " HTTP/1.1", "Host: " .. ep.host, "Upgrade: websocket",
                  "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: " .. key }
  for _, h in ipairs(ep.headers) do lines[#lines + 1] = h end
  ok, err = sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n")
  if not ok then return failed("transport", "WebSocket handshake failed: " .. tostring(err)) end
  local head
  head, err = sock:receiveuntil("\r\n\r\n")(MAX_HEAD)
  if not head then
    if err == "timeout" then return failed("timeout", "WebSocket handshake timed out") end
    return failed("transport", "WebSocket handshake failed: the server closed the connection")
  end
  local status, headers = parse_head(head)
  if not status then return failed("handshake", "WebSocket handshake failed: not an HTTP answer") end
  if status ~= 101 then
    local n = math.min(tonumber(headers["content-length"]) or 0, 64 * 1024)
    local body = n > 0 and sock:receive(n) or ""
    return failed("handshake", "WebSocket handshake refused: HTTP " .. status, status, body)
  end
  local why = bad_upgrade(headers, key)
  if why then return failed("handshake", why) end
  return setmetatable({ sock = sock, write = M.writer(sock), timeout_ms = ms,
                        framer = core.ws_framer{ max_message_size = client.max_event_size } }, Link)
end

--- One frame: true, or nil, kind, message [, close code].
function Link:send(kind, data, code)
  if self.failure then return nil, "stream", self.failure[1], self.failure[2] end
  if self.broken or self.close_sent then
    return nil, "closed", self.broken and "WebSocket connection is broken" or "WebSocket close already sent"
  end
  if kind == "close" then self.close_sent = true end
  local ok, err = self.write(core.ws_frame(kind, data, code))
  if ok then return true end
  self.broken = true
  return nil, err == "timeout" and "timeout" or "transport", "WebSocket send failed: " .. tostring(err)
end

-- The events of one feed: data messages and closes into out (triples),
-- pings answered; returns how many went to out, or nil, kind, msg, code.
function Link:_frame(bytes, out)
  local q = {}
  local n, msg, code = self.framer:feed(bytes, q)
  local count = 0
  for i = 1, #q, 3 do
    local kind = q[i]
    if kind == "ping" then
      self:send("pong", q[i + 1])
    elseif kind ~= "pong" then
      if kind == "close" then
        self.close_received = true
        if not self.close_sent then self:send("close", "", q[i + 2] ~= 1005 and q[i + 2] or nil) end
      end
      out[#out + 1], out[#out + 2], out[#out + 3] = kind, q[i + 1], q[i + 2]
      count = count + 1
    end
  end
  if not n then
    if not self.close_sent then self:send("close", "", code) end
    self.broken = true
    -- The events before the failure go first; the failure comes next.
    self.failure = { msg, code }
    if count == 0 then return nil, "stream", msg, code end
  end
  return count
end

--- Events into out (triples kind, data, code); 0 when none came within
-- timeout_ms; nil, kind, message, code when the link failed.
function Link:recv(out, timeout_ms)
  if self.failure then return nil, "stream", self.failure[1], self.failure[2] end
  if self.broken then return nil, "closed", "WebSocket connection is broken", 1006 end
  local deadline = ngx.now() * 1000 + (timeout_ms or 0)
  while not self.close_received do
    -- (the read timeout only: a send of another thread keeps its own)
    self.sock:settimeouts(self.timeout_ms, self.timeout_ms, math.max(1, math.floor(deadline - ngx.now() * 1000)))
    local bytes, err = self.sock:receiveany(65536)
    if not bytes then
      if err == "timeout" then return 0 end
      self.broken = true
      if err == "closed" then
        return nil, "closed", "WebSocket connection closed without a close frame", 1006
      end
      return nil, "closed", tostring(err), 1006
    end
    local n, kind, msg, code = self:_frame(bytes, out)
    if not n then return nil, kind, msg, code end
    if n > 0 then return n end
  end
  return 0
end

--- A close frame (unless one was sent), then the socket. Harmless when repeated.
function Link:close(code)
  if self.closed then return end
  self.closed = true
  if not self.close_sent and not self.broken then self:send("close", "", code or 1000) end
  self.sock:close()
end

return M
