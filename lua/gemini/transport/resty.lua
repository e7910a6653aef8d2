--- The transport inside nginx's Lua module (OpenResty): cosockets instead
-- of libcurl, so a call that looks blocking only yields the current
-- request's coroutine and never blocks the nginx worker.
--
-- Chosen by itself when `ngx.get_phase` exists (or with `transport =
-- "resty"`). HTTP goes through lua-resty-http when it is installed, else
-- through the project's own small client (`gemini.transport.resty_http`);
-- either way connections are pooled with `setkeepalive` and TLS is verified
-- by `sslhandshake` against nginx's `lua_ssl_trusted_certificate` (the
-- client's `ca_file` cannot be set per cosocket; `verify = false` turns the
-- check off). Streams use the same C SSE framer as everywhere (the stream
-- object is shared), retries wait with `ngx.sleep`.
--
-- It is a blocking transport of the `gemini.transport` contract (its
-- errors, and the small client's, come as nil, kind, msg). Cosockets
-- exist only in some phases; elsewhere a call raises an error that names
-- the phases that work.
-- @module gemini.transport.resty
local builtin = require("gemini.transport.resty_http")
local defaults = require("gemini.defaults")

local Transport = { resty = true }
Transport.__index = Transport

local PHASES = {
  rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true, preread = true,
}

-- Raises (a programmer error: the code runs in the wrong place) unless the
-- current phase has cosockets.
local function check_phase()
  local phase = ngx.get_phase()
  if not PHASES[phase] then
    error("gemini: nginx's '" .. tostring(phase) .. "' phase has no cosockets, so no HTTP:"
      .. " call the API from rewrite_by_lua*, access_by_lua*, content_by_lua*,"
      .. " ssl_certificate_by_lua* or a timer (ngx.timer.at) -- not from init_by_lua*,"
      .. " init_worker_by_lua* (start a timer there), set_by_lua*, header_filter_by_lua*,"
      .. " body_filter_by_lua* or log_by_lua*", 0)
  end
end
Transport.check_phase = check_phase

--- A transport. `opts.http`: "builtin" forces the project's own client.
function Transport.new(opts)
  local self = setmetatable({}, Transport)
  if not (opts and opts.http == "builtin") then
    local ok, http = pcall(require, "resty.http")
    if ok and type(http) == "table" and http.new then self.resty_http = http end
  end
  return self
end

local kind_of = builtin.kind_of

-- lua-resty-http behind the interface of the builtin client.
local function via_resty_http(http, spec, ms)
  local u, uerr = builtin.parse_url(spec.url)
  if not u then return nil, "transport", uerr end
  local httpc = http.new()
  httpc:set_timeouts(math.floor((spec.connect_timeout or defaults.connect_timeout) * 1000), ms, ms)
  local ok, err = httpc:connect{ scheme = u.scheme, host = u.host, port = u.port,
                                 ssl_verify = spec.verify ~= false, ssl_server_name = u.host }
  if not ok then return nil, kind_of(err), "connect: " .. tostring(err) end
  local headers = {}
  for _, line in ipairs(spec.headers or {}) do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k and k:lower() ~= "expect" then headers[k] = v end
  end
  local res
  res, err = httpc:request{ method = spec.method or "GET", path = u.path, headers = headers,
                            body = spec.body }
  if not res then
    httpc:close()
    return nil, kind_of(err), tostring(err)
  end
  local lower = {}
  for k, v in pairs(res.headers or {}) do
    lower[k:lower()] = type(v) == "table" and table.concat(v, ", ") or v
  end
  local reader = res.body_reader
  return {
    status = res.status, headers = lower,
    read = function(self)
      if self.done then return nil end
      if not reader then self.done = true; httpc:set_keepalive() return nil end
      local piece, rerr = reader(defaults.read_size)
      if rerr then self.done = true; httpc:close() return nil, kind_of(rerr), rerr end
      if not piece then self.done = true; httpc:set_keepalive() return nil end
      return piece
    end,
    close = function(self)
      if not self.done then self.done = true; httpc:close() end
    end,
    settimeout = function(_, t) httpc:set_timeout(t) end,
  }
end

-- The body of a file-backed spec (uploads): the slice, read at once.
local function file_body(spec)
  local f, err = io.open(spec.body_file, "rb")
  if not f then return nil, err end
  f:seek("set", spec.body_offset or 0)
  local data = f:read(spec.body_length or "*a") or ""
  f:close()
  return data
end

-- Sends the request and reads the headers: a response or nil, kind, msg.
function Transport:_start(spec, read_timeout)
  check_phase()
  if spec.proxy then
    return nil, "transport", "the cosocket transport does not support 'proxy'"
  end
  if spec.body_file then
    local body, err = file_body(spec)
    if not body then return nil, "transport", "cannot read body_file: " .. tostring(err) end
    local copy = {}
    for k, v in pairs(spec) do copy[k] = v end
    copy.body, copy.body_file = body, nil
    spec = copy
  end
  local ms = math.max(1, math.floor(read_timeout * 1000))
  if self.resty_http then return via_resty_http(self.resty_http, spec, ms) end
  return builtin.request{ method = spec.method, url = spec.url, headers = spec.headers,
                          body = spec.body, connect_timeout = spec.connect_timeout,
                          timeout = read_timeout, verify = spec.verify }
end

--- Whole request: `{status=, headers=, body=}` or nil, kind, message,
-- final.
function Transport:request(spec)
  local timeout = spec.timeout or defaults.timeout
  local deadline = ngx.now() + timeout
  local res, kind, msg = self:_start(spec, timeout)
  if not res then return nil, kind, msg end
  local parts, size = {}, 0
  while true do
    local left = deadline - ngx.now()
    if left <= 0 then
      res:close()
      return nil, "timeout", string.format("no complete answer within %gs (timeout)", timeout)
    end
    res:settimeout(math.max(1, math.floor(left * 1000)))
    local piece, rkind, rmsg = res:read()
    if rkind then
      return nil, rkind, rkind == "timeout"
        and string.format("no complete answer within %gs (timeout)", timeout) or rmsg
    end
    if not piece then break end
    size = size + #piece
    if spec.max_body and spec.max_body > 0 and size > spec.max_body then
      res:close()
      -- final: trying again cannot help (as gemini.transport.curl says).
      return nil, "transport", string.format("response larger than %d bytes (max_response_size)",
        spec.max_body), true
    end
    parts[#parts + 1] = piece
  end
  return { status = res.status, headers = res.headers, body = table.concat(parts) }
end

local Reader = {}
Reader.__index = Reader

--- Next piece of the body: a string, nil at the end, or nil, kind, message.
function Reader:read()
  local left = self.deadline - ngx.now()
  if left <= 0 then
    self:close()
    return nil, "timeout", string.format("the call took longer than %gs (timeout)", self.timeout)
  end
  local wait = left
  if self.stall and self.stall < wait then wait = self.stall end
  self.res:settimeout(math.max(1, math.floor(wait * 1000)))
  local piece, kind, msg = self.res:read()
  if kind then
    if kind == "timeout" then
      if self.stall and wait == self.stall then
        return nil, "timeout", string.format("no data received for %g s (stall_timeout)", self.stall)
      end
      return nil, "timeout", string.format("the call took longer than %gs (timeout)", self.timeout)
    end
    return nil, kind, msg
  end
  return piece
end

--- Ends the transfer (the connection is closed unless the body had ended).
function Reader:close()
  self.res:close()
end

--- Starts a request and waits for its headers: a reader with `status` and
-- `headers`, or nil, kind, message.
function Transport:open(spec)
  local timeout = spec.timeout or defaults.timeout
  local stall = spec.stall_timeout
  local first = stall and math.min(stall, timeout) or timeout
  local res, kind, msg = self:_start(spec, first)
  if not res then return nil, kind, msg end
  return setmetatable({ res = res, status = res.status, headers = res.headers, stall = stall,
                        timeout = timeout, deadline = ngx.now() + timeout }, Reader)
end

--- Waits with `ngx.sleep`: only this request's coroutine waits.
function Transport:sleep(seconds)
  check_phase()
  ngx.sleep(seconds)
end

function Transport:close() end

return Transport
