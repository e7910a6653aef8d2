--- The client: options, URLs, headers, retries, and the services.
-- @module gemini.client
local core = require("gemini.core")
local errors = require("gemini.errors")
local json = require("gemini.json")

local Client = {}
Client.__index = Client

local VERSION = "0.1.0"
local DEFAULT_BASE = "https://generativelanguage.googleapis.com"

local DEFAULT_RETRY = {
  attempts = 5, initial_delay = 1, max_delay = 60, exp_base = 2, jitter = 1,
  http_status_codes = { 408, 429, 500, 502, 503, 504 },
}

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- The retry policy: the defaults, overridden field by field; false = off.
local function retry_policy(r, base)
  if r == false then return false end
  local p = copy(base or DEFAULT_RETRY)
  if type(r) == "table" then
    for k, v in pairs(r) do p[k] = v end
  end
  local codes = {}
  for _, c in ipairs(p.http_status_codes) do codes[c] = true end
  p.codes = codes
  return p
end

-- `where` names the option ("bad field 'headers' to 'Client'"). A name or
-- value with a line break would smuggle in another header.
local function check_header_value(name, v, where)
  if type(name) ~= "string" or not name:find("^[^%s:]+$") then
    error(string.format("%s (header name %q: a token without ':' or spaces expected)", where,
      tostring(name)), 4)
  end
  if type(v) ~= "string" or v:find("[\r\n]") then
    error(string.format("%s (header '%s': a string without line breaks expected)", where, name), 4)
  end
end

local ENV_KEYS = { "GOOGLE_API_KEY", "GEMINI_API_KEY" }

--- Creates a client. See API.md for every option.
-- Options: `api_key`, `base_url`, `api_version`, `auth` ("header" |
-- "bearer"), `headers`, `timeout`, `connect_timeout`, `stall_timeout`,
-- `retry`, `proxy`, `ca_file`, `verify`, `transport`, `loop`,
-- `check_thinking`, `max_response_size`, `max_event_size`, `log`, `debug`.
-- @tparam[opt] table opts
-- @return a client with `models`, `chats`, `files`, `caches`
function Client.new(opts)
  local A = errors.arg
  A("Client", 1, opts, "table", true)
  opts = opts or {}
  local F = function(k, t) return errors.field("Client", k, opts[k], t, true) end
  F("api_key", "string|boolean"); F("base_url", "string"); F("api_version", "string")
  F("auth", "string"); F("headers", "table"); F("timeout", "number")
  F("connect_timeout", "number"); F("stall_timeout", "number"); F("retry", "table|boolean")
  F("proxy", "string"); F("ca_file", "string"); F("verify", "boolean")
  F("max_response_size", "number"); F("max_event_size", "number"); F("log", "function")
  F("fast_callbacks", "boolean")
  if opts.loop ~= nil and not ((type(opts.loop) == "table" or type(opts.loop) == "userdata")
                               and opts.loop.new_timer) then
    error("bad field 'loop' to 'Client' (the luv module or vim.loop expected)", 2)
  end

  local key = opts.api_key
  if key == nil then
    for _, name in ipairs(ENV_KEYS) do
      local v = os.getenv(name)
      if v and v ~= "" then key = v break end
    end
  end
  if key == nil then
    error("gemini.Client: no API key: pass api_key, or set GOOGLE_API_KEY or GEMINI_API_KEY"
      .. " (api_key = false sends none)", 2)
  end
  if key then key = key:match("^%s*(.-)%s*$") end
  local auth = opts.auth or "header"
  if auth ~= "header" and auth ~= "bearer" then
    error("bad field 'auth' to 'Client' (\"header\" or \"bearer\" expected)", 2)
  end
  local base = opts.base_url or os.getenv("GEMINI_BASE_URL")
  if base == nil or base == "" then base = DEFAULT_BASE end
  if not base:match("^https?://[^/]") then
    error("bad field 'base_url' to 'Client' (an http:// or https:// URL expected)", 2)
  end
  if opts.retry == true then opts.retry = nil end

  local self = setmetatable({
    api_version = opts.api_version or "v1beta",
    base_url = base:gsub("/+$", ""),
    timeout = opts.timeout or 600,
    connect_timeout = opts.connect_timeout or 30,
    stall_timeout = opts.stall_timeout or 300,
    max_response_size = opts.max_response_size or 256 * 1024 * 1024,
    max_event_size = opts.max_event_size or 16 * 1024 * 1024,
    retry = retry_policy(opts.retry),
    proxy = opts.proxy, ca_file = opts.ca_file,
    verify = opts.verify ~= false,
    check_thinking = opts.check_thinking ~= false,
    loop = opts.loop,
    fast_callbacks = opts.fast_callbacks == true,   -- Neovim: callbacks unscheduled (gemini.async)
    log = opts.log or (opts.debug and function(line) io.stderr:write(line, "\n") end) or nil,
  }, Client)
  -- The key lives in a closure-free private field read only by _headers;
  -- it is never put in a URL, an error or a log line.
  self._key = key or nil
  self._auth = auth

  local headers = {}
  for k, v in pairs(opts.headers or {}) do
    check_header_value(k, v, "bad field 'headers' to 'Client'")
    headers[#headers + 1] = k .. ": " .. v
  end
  self._extra_headers = headers

  local t = opts.transport
  -- Inside nginx's Lua module libcurl would block the worker: cosockets.
  if t == nil and type(ngx) == "table" and type(ngx.get_phase) == "function" then t = "resty" end
  if t == nil or t == "curl" then
    self.transport = require("gemini.transport.curl").new()
  elseif t == "resty" then
    self.transport = require("gemini.transport.resty").new()
  elseif type(t) == "table" then
    self.transport = t
  else
    error("bad field 'transport' to 'Client' (a transport table, \"curl\" or \"resty\" expected)", 2)
  end

  self.models = require("gemini.models").new(self)
  self.files = require("gemini.files").new(self)
  self.caches = require("gemini.caches").new(self)
  self.chats = require("gemini.chats").new(self)
  -- With a loop, the other services take trailing callbacks too.
  if self.loop then require("gemini.async").wrap_services(self) end
  return self
end

Client.VERSION = VERSION

--- Ends every transfer and frees the connection pools (and, with a loop,
-- the loop handles of the callback API). The client is unusable afterwards.
function Client:close()
  if self._luv then self._luv:close() end
  if self.transport and self.transport.close then self.transport:close() end
end

--- The full URL of an API path (without the version when `raw` is set).
function Client:url(path, query, raw)
  local url
  if raw or self.api_version == "" then
    url = self.base_url .. "/" .. path:gsub("^/+", "")
  else
    url = self.base_url .. "/" .. self.api_version .. "/" .. path:gsub("^/+", "")
  end
  if query then
    local parts = {}
    for k, v in pairs(query) do
      parts[#parts + 1] = k .. "=" .. tostring(v):gsub("[^%w%-%._~]", function(c)
        return string.format("%%%02X", c:byte())
      end)
    end
    if #parts > 0 then
      table.sort(parts)
      url = url .. (url:find("?", 1, true) and "&" or "?") .. table.concat(parts, "&")
    end
  end
  return url
end

local USER_AGENT = "gemini-lua/" .. VERSION .. " " .. _VERSION:gsub(" ", "/")
  .. (jit and (" " .. jit.version:gsub(" ", "/")) or "")

--- Request headers: content type, auth, user agent, extras.
function Client:_headers(extra, content_type)
  local h = {
    "Content-Type: " .. (content_type or "application/json"),
    "User-Agent: " .. USER_AGENT,
    "x-goog-api-client: " .. USER_AGENT,
  }
  if self._key then
    if self._auth == "bearer" then
      h[#h + 1] = "Authorization: Bearer " .. self._key
    else
      h[#h + 1] = "x-goog-api-key: " .. self._key
    end
  end
  for _, line in ipairs(self._extra_headers) do h[#h + 1] = line end
  if extra then
    for k, v in pairs(extra) do
      check_header_value(k, v, "bad field 'http_options.headers'")
      h[#h + 1] = k .. ": " .. v
    end
  end
  return h
end

--- An error with the key redacted from its message.
function Client:error(kind, message, fields)
  return errors.new(kind, message, fields, self._key)
end

--- The error for a failed transfer, from what a transport returned:
-- kind, message and `final` (true when trying again cannot help).
function Client:transport_error(kind, msg, final)
  return self:error(kind, msg, final and { final = true } or nil)
end

function Client:_log(fmt, ...)
  if self.log then
    local ok, line = pcall(string.format, fmt, ...)
    self.log(errors.redact(ok and line or fmt, self._key))
  end
end

-- Headers whose value is a credential: logged as [REDACTED] whatever they
-- hold (the key, or a token the caller put there).
local SECRET_HEADERS = { ["x-goog-api-key"] = true, authorization = true,
                         ["proxy-authorization"] = true }

--- Logs a request about to go out: method, URL, `note`, then one line per
-- header with credentials redacted (debug = true / log = function).
function Client:_log_request(spec, note)
  if not self.log then return end
  self:_log("gemini: %s %s (%s)", spec.method, spec.url, note)
  for _, h in ipairs(spec.headers or {}) do
    local name = h:match("^([^:]*):")
    if name and SECRET_HEADERS[name:lower()] then
      local scheme = h:match("^[^:]*:%s*(%a+) ") or ""
      h = name .. ": " .. (scheme ~= "" and scheme .. " " or "") .. "[REDACTED]"
    end
    self:_log("gemini:   %s", h)
  end
end

--- The transfer spec of one call.
-- @tparam table call `{method, path, query, body (string), raw_path,
--  url, headers, stream, http_options}`
function Client:_spec(call)
  local ho = call.http_options or {}
  local timeout = ho.timeout or self.timeout
  local extra = ho.headers
  return {
    method = call.method or "POST",
    url = call.url or self:url(call.path, call.query, call.raw_path),
    headers = self:_headers(extra, call.content_type),
    body = call.body,
    body_file = call.body_file, body_offset = call.body_offset, body_length = call.body_length,
    on_progress = call.on_progress,
    timeout = timeout,
    connect_timeout = self.connect_timeout,
    stall_timeout = call.stream and (ho.stall_timeout or self.stall_timeout) or nil,
    proxy = self.proxy, ca_file = self.ca_file, verify = self.verify,
    max_body = self.max_response_size,
  }
end

--- Whether `err` may be retried under `policy`.
local function retryable(policy, err)
  if err.final then return false end
  if err.kind == "transport" or err.kind == "timeout" or err.kind == "stream" then return true end
  return err.kind == "api" and policy.codes[err.code] == true
end

--- How long to wait before attempt `n + 1`, or nil to give up.
-- The server's RetryInfo / Retry-After wins over the computed backoff; a
-- server delay longer than max_delay ends the retries (the error carries
-- retry_after for the caller).
function Client:_backoff(policy, n, err)
  if not policy or n >= policy.attempts or not retryable(policy, err) then return nil end
  if err.retry_after then
    if err.retry_after > policy.max_delay then return nil end
    return err.retry_after
  end
  local d = policy.initial_delay * policy.exp_base ^ (n - 1) + math.random() * policy.jitter
  return math.min(policy.max_delay, d)
end

function Client:_policy(call)
  local ho = call.http_options
  if ho and ho.retry ~= nil then return retry_policy(ho.retry, self.retry or nil) end
  return self.retry
end

--- Turns a finished HTTP answer into the decoded body or an error.
function Client:_answer(res)
  if res.status < 200 or res.status > 299 then
    return nil, errors.from_http(res.status, res.body, res.headers, json.decode, self._key)
  end
  if res.body == "" then return {} end
  local v, msg = json.decode(res.body)
  if v == nil then
    return nil, self:error("decode", "invalid JSON in response: " .. tostring(msg),
      { code = res.status })
  end
  if not json.is_object(v) then
    return nil, self:error("decode", "expected a JSON object in response", { code = res.status })
  end
  return v
end

--- One call with retries: the decoded JSON answer, or nil, err.
-- With `call.raw`, the HTTP answer itself (`{status, headers, body}`).
function Client:_call(call)
  local spec = self:_spec(call)
  local policy = self:_policy(call)
  local n = 0
  while true do
    n = n + 1
    self:_log_request(spec, "attempt " .. n)
    local res, kind, msg, final = self.transport:request(spec)
    local value, err
    if res then
      self:_log("gemini: -> HTTP %d, %d bytes", res.status, #res.body)
      if call.raw and res.status >= 200 and res.status <= 299 then return res end
      value, err = self:_answer(res)
    else
      err = self:transport_error(kind, msg, final)
      self:_log("gemini: -> %s", tostring(err))
    end
    if value then return value end
    local wait = self:_backoff(policy, n, err)
    if not wait then return nil, err end
    self:_log("gemini: retrying in %.3fs", wait)
    self.transport:sleep(wait)
  end
end

--- Opens a streaming call once: a body reader for a 2xx answer, or nil,
-- err (the whole error body is read for the error). Retrying is the
-- stream's business: it also covers failures after the headers and before
-- the first chunk.
function Client:_open_once(spec)
  self:_log_request(spec, "stream")
  local reader, kind, msg, final = self.transport:open(spec)
  if not reader then return nil, self:transport_error(kind, msg, final) end
  self:_log("gemini: -> HTTP %d (stream)", reader.status)
  if reader.status >= 200 and reader.status <= 299 then return reader end
  local parts = {}
  while true do
    local piece = reader:read()
    if not piece then break end
    parts[#parts + 1] = piece
  end
  reader:close()
  local _, err = self:_answer({ status = reader.status, headers = reader.headers,
                                body = table.concat(parts) })
  return nil, err
end

--- An iterator over every item of a paged list call, in order. Raises the
-- `gemini.Error` when a page fails (a for loop has no other way to say it).
-- @tparam string path e.g. "models"
-- @tparam string key the list's field in each page, e.g. "models"
-- @tparam[opt] table opts `{page_size=, page_token=}`
-- @tparam[opt] function wrap applied to each item
function Client:_pages(path, key, opts, wrap)
  opts = opts or {}
  local query = { pageSize = opts.page_size or opts.pageSize,
                  pageToken = opts.page_token or opts.pageToken }
  local items, i, done = {}, 0, false
  return function()
    while true do
      i = i + 1
      local item = items[i]
      if item ~= nil then return wrap and wrap(item) or item end
      if done then return nil end
      local res, err = self:_call{ method = "GET", path = path, query = query }
      if not res then error(err, 0) end
      items, i = type(res[key]) == "table" and res[key] or {}, 0
      local token = res.nextPageToken
      if token == nil or token == "" then
        done = true
      else
        query = { pageSize = query.pageSize, pageToken = token }
      end
    end
  end
end

return Client
