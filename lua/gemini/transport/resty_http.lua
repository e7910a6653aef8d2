--- A minimal HTTP/1.1 client on nginx cosockets, for when lua-resty-http
-- is not installed: one request per call, keep-alive through the cosocket
-- pool (`setkeepalive`), TLS through `sslhandshake` with verification,
-- Content-Length, chunked and read-until-close bodies, read piece by piece
-- as they arrive (a stream's events are not held back).
--
--   local res, kind, msg = http.request{ method=, url=, headers = {"Name: value", ...},
--                                        body=, connect_timeout=, timeout=, verify= }
--   res.status, res.headers (lower-case names)
--   res:read() -> piece | nil (end) | nil, kind, msg
--   res:close()          -- drops the connection unless the body was read to its end
-- Errors come as `gemini.transport` says: (nil, kind, msg), kind "timeout"
-- or "transport".
-- @module gemini.transport.resty_http
local defaults = require("gemini.defaults")

local M = {}

local PIECE = defaults.read_size

local function parse_url(url)
  local scheme, authority, path = url:match("^(https?)://([^/?#]+)(.*)$")
  if not scheme then return nil, "bad url" end
  local host, port = authority:match("^%[(.+)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]+):?(%d*)$") end
  if not host then return nil, "bad url" end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if path == "" then path = "/" end
  return { scheme = scheme, host = host, port = port, path = path, authority = authority }
end
M.parse_url = parse_url

local function kind_of(err)
  return (err == "timeout") and "timeout" or "transport"
end
M.kind_of = kind_of

local Response = {}
Response.__index = Response

-- Ends the body: a clean, fully read body may go back to the pool.
function Response:_finish(clean)
  local sock = self.sock
  if not sock then return end
  self.sock = nil
  self.done = true
  if clean and self.keepalive then
    sock:setkeepalive(defaults.keepalive_timeout * 1000, defaults.pool_size)
  else
    sock:close()
  end
end

-- One piece of the raw stream: up to n bytes as soon as any arrive.
local function some(sock, n)
  if sock.receiveany then return sock:receiveany(n) end
  return sock:receive(n)   -- old lua-nginx-module: waits for all n bytes
end

--- The next piece of the body; nil at its end; nil, kind, msg on failure.
function Response:read()
  if self.done then return nil end
  local sock = self.sock
  if self.mode == "length" then
    if self.left <= 0 then self:_finish(true) return nil end
    local data, err = some(sock, math.min(self.left, PIECE))
    if not data then self:_finish(false) return nil, kind_of(err), err end
    self.left = self.left - #data
    return data
  elseif self.mode == "chunked" then
    if self.chunk_left == 0 then
      local line, err = sock:receive("*l")
      if not line then self:_finish(false) return nil, kind_of(err), err end
      local size = tonumber(line:match("^%s*(%x+)"), 16)
      if not size then self:_finish(false) return nil, "transport", "bad chunk size line" end
      if size == 0 then
        -- Trailers, then the empty line that ends the message.
        repeat
          line, err = sock:receive("*l")
          if not line then self:_finish(false) return nil, kind_of(err), err end
        until line == ""
        self:_finish(true)
        return nil
      end
      self.chunk_left = size
    end
    local data, err = some(sock, math.min(self.chunk_left, PIECE))
    if not data then self:_finish(false) return nil, kind_of(err), err end
    self.chunk_left = self.chunk_left - #data
    if self.chunk_left == 0 then
      local crlf
      crlf, err = sock:receive(2)
      if crlf ~= "\r\n" then self:_finish(false) return nil, kind_of(err), err or "bad chunk end" end
    end
    return data
  end
  -- No length: the body ends when the server closes.
  local data, err = some(sock, PIECE)
  if not data then
    if err == "closed" then self:_finish(false) return nil end
    self:_finish(false)
    return nil, kind_of(err), err
  end
  return data
end

--- Closes the response: the connection goes back to the pool only when
-- its body has been read to the end.
function Response:close()
  self:_finish(false)
end

--- Sets the read timeout of what is left (ms).
function Response:settimeout(ms)
  if self.sock then self.sock:settimeout(ms) end
end

-- Sends the request and reads the status line and headers.
local function exchange(sock, u, opts)
  local lines = { (opts.method or "GET") .. " " .. u.path .. " HTTP/1.1",
                  "Host: " .. u.authority }
  local has_len = false
  for _, h in ipairs(opts.headers or {}) do
    if not h:lower():find("^expect:") then lines[#lines + 1] = h end
    if h:lower():find("^content%-length:") then has_len = true end
  end
  local body = opts.body
  if body or opts.method == "POST" or opts.method == "PATCH" or opts.method == "PUT" then
    if not has_len then lines[#lines + 1] = "Content-Length: " .. #(body or "") end
  end
  lines[#lines + 1] = "Connection: keep-alive"
  lines[#lines + 1] = ""
  lines[#lines + 1] = body or ""
  local _, err = sock:send(table.concat(lines, "\r\n"))
  if err then return nil, err end
  local status_line
  repeat
    -- 1xx answers come before the final one.
    status_line, err = sock:receive("*l")
    if not status_line then return nil, err end
    local status = tonumber(status_line:match("^HTTP/%d%.?%d? (%d%d%d)"))
    if not status then return nil, "bad status line" end
    local headers = {}
    while true do
      local line
      line, err = sock:receive("*l")
      if not line then return nil, err end
      if line == "" then break end
      local k, v = line:match("^([^:]+):%s*(.-)%s*$")
      if k then
        k = k:lower()
        headers[k] = headers[k] and (headers[k] .. ", " .. v) or v
      end
    end
    if status >= 200 then return status, headers end
  until false
end

--- Starts a request: a response with `status` and `headers` whose body is
-- read with `read()`, or nil, kind, msg.
function M.request(opts)
  local u, uerr = parse_url(opts.url)
  if not u then return nil, "transport", uerr end
  local https = u.scheme == "https"
  local verify = opts.verify ~= false
  local pool = table.concat({ u.scheme, u.host, u.port, verify and "v" or "nv" }, ":")
  for attempt = 1, 2 do
    local sock = ngx.socket.tcp()
    local timeout_ms = math.floor((opts.timeout or defaults.timeout) * 1000)
    sock:settimeouts(math.floor((opts.connect_timeout or defaults.connect_timeout) * 1000),
      timeout_ms, timeout_ms)
    local ok, err = sock:connect(u.host, u.port, { pool = pool })
    if not ok then return nil, kind_of(err), "connect: " .. tostring(err) end
    local reused = sock:getreusedtimes() > 0
    if https and not reused then
      -- Verification uses nginx's lua_ssl_trusted_certificate.
      ok, err = sock:sslhandshake(nil, u.host, verify)
      if not ok then
        sock:close()
        return nil, kind_of(err), "TLS handshake: " .. tostring(err)
      end
    end
    local status, headers = exchange(sock, u, opts)
    if status then
      local res = setmetatable({ sock = sock, status = status, headers = headers }, Response)
      local te = headers["transfer-encoding"]
      local conn = (headers["connection"] or ""):lower()
      res.keepalive = not conn:find("close", 1, true)
      if opts.method == "HEAD" or status == 204 or status == 304 then
        res.mode, res.left = "length", 0
      elseif te and te:lower():find("chunked", 1, true) then
        res.mode, res.chunk_left = "chunked", 0
      elseif headers["content-length"] then
        res.mode, res.left = "length", tonumber(headers["content-length"]) or 0
      else
        res.mode, res.keepalive = "close", false
      end
      return res
    end
    err = headers
    sock:close()
    -- A pooled connection the server had closed: once more on a new one.
    if not (reused and attempt == 1 and (err == "closed" or err == "connection reset by peer")) then
      return nil, kind_of(err), tostring(err)
    end
  end
end

return M
