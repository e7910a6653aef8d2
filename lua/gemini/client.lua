--- The client: options, URLs, headers, retries, and the services.
-- @module gemini.client
local core = require("gemini.core")
local defaults = require("gemini.defaults")
local errors = require("gemini.errors")
local json = require("gemini.json")
local request = require("gemini.request")
local retry = require("gemini.retry")
local vertex = require("gemini.vertex")

local Client = {}
Client.__index = Client

local VERSION = "0.1.0"

-- ---- option checks: programmer errors raise, naming the option ------------

-- What a bad value was, for a message: the number itself, else its type.
local function shown(v)
  if type(v) == "number" then return tostring(v) end
  return errors.typename(v)
end

local function bad(field, fname, expected, v)
  errors.misuse(string.format("bad field '%s' to '%s' (%s expected, got %s)", field, fname, expected,
    shown(v)))
end

-- Seconds for a timeout: positive and finite. NaN, 0 or -1 would mean "no
-- timeout" to libcurl, math.huge would overflow the conversion to ms.
local function check_seconds(v, field, fname)
  if v ~= nil and not (type(v) == "number" and v > 0 and v < math.huge) then
    bad(field, fname, "a positive finite number of seconds", v)
  end
end

-- The longest timeout passed on (about 24.8 days; longer is as good as
-- none): libcurl and libuv take milliseconds in a C int or long. The C
-- core cuts its own there too.
local MAX_SECONDS = core.MAX_SECONDS

local function capped(seconds)
  return seconds and math.min(seconds, MAX_SECONDS)
end

-- A count (a size in bytes, a number of attempts): a positive integer.
local function check_count(v, field, fname)
  if v ~= nil and not (type(v) == "number" and v >= 1 and v < 2 ^ 53 and v == math.floor(v)) then
    bad(field, fname, "a positive integer", v)
  end
end

-- The retry fields, each of its type; an unknown one raises (a misspelt
-- field would silently leave the default in place).
local RETRY_FIELDS = {
  attempts = "count", initial_delay = "delay", max_delay = "delay", jitter = "delay",
  exp_base = "base", http_status_codes = "codes",
}
local function check_retry(r, field, fname)
  if r == nil or type(r) == "boolean" then return end
  if type(r) ~= "table" then bad(field, fname, "a table or false", r) end
  for k, v in pairs(r) do
    local what, name = RETRY_FIELDS[k], field .. "." .. tostring(k)
    if what == "count" then
      check_count(v, name, fname)
    elseif what == "delay" then
      if not (type(v) == "number" and v >= 0 and v < math.huge) then
        bad(name, fname, "a finite number of seconds >= 0", v)
      end
    elseif what == "base" then
      if not (type(v) == "number" and v >= 1 and v < math.huge) then
        bad(name, fname, "a finite number >= 1", v)
      end
    elseif what == "codes" then
      local ok = type(v) == "table"
      for _, c in ipairs(ok and v or {}) do
        ok = ok and type(c) == "number" and c == math.floor(c) and c >= 100 and c <= 599
      end
      if not ok then bad(name, fname, "a list of HTTP status codes", v) end
    else
      errors.misuse(string.format("bad field '%s' to '%s' (unknown field; known: attempts, initial_delay,"
        .. " max_delay, exp_base, jitter, http_status_codes)", name, fname))
    end
  end
end

-- Whether a header's text would end the header line (CR, LF) or be cut
-- short by libcurl (NUL): either would let text reach the wire as another
-- header.
local function breaks_header(s)
  return s:find("[\r\n]") ~= nil or s:find("\0", 1, true) ~= nil
end

-- `where` names the option ("bad field 'headers' to 'Client'"). A name
-- must be an HTTP token (RFC 9110); a value must not break the line.
local function check_header_value(name, v, where)
  if type(name) ~= "string" or not name:find("^[%w!#%$%%&'%*%+%-%.%^_`|~]+$") then
    errors.misuse(string.format("%s (header name %q: a token without ':' or spaces expected)", where,
      tostring(name)))
  end
  if type(v) ~= "string" or breaks_header(v) then
    errors.misuse(string.format("%s (header '%s': a string without line breaks or NUL expected)", where,
      name))
  end
end

-- The per-call options of `http_options` (seconds, like the client's).
local HTTP_OPTIONS = { timeout = true, stall_timeout = true, headers = true, retry = true }

--- The `http_options` of a flat config (either spelling), checked: raises
-- for a field of the wrong type or an unknown one, naming it.
-- @tparam[opt] table config
-- @tparam string fname the call, for the message
-- @return the table, or nil
-- @local
function Client:_http_options(config, fname)
  if config == nil then return nil end
  local ho = config.httpOptions
  if ho == nil then ho = config.http_options end
  return self:_check_http_options(ho, fname)
end

--- Checks an `http_options` table (see `_http_options`); returns it.
-- @local
function Client:_check_http_options(ho, fname)
  fname = fname or "?"
  if ho == nil then return nil end
  if type(ho) ~= "table" then bad("http_options", fname, "a table", ho) end
  for k in pairs(ho) do
    if not HTTP_OPTIONS[k] then
      errors.misuse(string.format("bad field 'http_options.%s' to '%s' (unknown field; known: timeout,"
        .. " stall_timeout, headers, retry)", tostring(k), fname))
    end
  end
  check_seconds(ho.timeout, "http_options.timeout", fname)
  check_seconds(ho.stall_timeout, "http_options.stall_timeout", fname)
  if ho.headers ~= nil and type(ho.headers) ~= "table" then
    bad("http_options.headers", fname, "a table", ho.headers)
  end
  for name, v in pairs(ho.headers or {}) do
    check_header_value(name, v, "bad field 'http_options.headers' to '" .. fname .. "'")
  end
  check_retry(ho.retry, "http_options.retry", fname)
  return ho
end

-- The base URL: http(s), a host, no query or fragment (the API path is
-- appended to it), nothing that is not a URL character.
local function check_base_url(base)
  if not base:find("^https?://[^/]") or base:find("[%c%s]") then
    errors.misuse("bad field 'base_url' to 'Client' (an http:// or https:// URL expected)")
  end
  if base:find("[?#]") then
    errors.misuse("bad field 'base_url' to 'Client' (a URL without query or fragment expected)")
  end
end

local ENV_KEYS = { "GOOGLE_API_KEY", "GEMINI_API_KEY" }

-- The credentials source of a Vertex AI client (gemini.auth.tokens),
-- loaded only in that mode: a Gemini API client never needs it.
local function load_credentials(spec)
  return require("gemini.auth.tokens").source(spec)
end

-- The options of Client{} (API.md), as an unknown one is told them.
local CLIENT_OPTIONS = {
  "api_key", "base_url", "api_version", "auth", "headers", "timeout", "connect_timeout",
  "stall_timeout", "retry", "proxy", "ca_file", "verify", "transport", "loop", "check_thinking",
  "max_response_size", "max_event_size", "log", "debug", "fast_callbacks", "trace",
}
for _, k in ipairs(vertex.OPTIONS) do CLIENT_OPTIONS[#CLIENT_OPTIONS + 1] = k end

-- Gives `client` its services, each bound to it; returns it.
local function add_services(client)
  client.models = require("gemini.models").new(client)
  client.caches = require("gemini.caches").new(client)
  if client._vertex then
    -- What Vertex AI has not: an error naming the mode at first use.
    client.files = vertex.files(client)   -- (only a generated video's download)
    client.file_search_stores = vertex.unsupported("client.file_search_stores")
    client.batches = require("gemini.vertex_batches").new(client)
    client.auth_tokens = vertex.unsupported("client.auth_tokens (ephemeral tokens)")
  else
    client.files = require("gemini.files").new(client)
    client.batches = require("gemini.batches").new(client)
    client.file_search_stores = require("gemini.file_search_stores").new(client)
  end
  client.chats = require("gemini.chats").new(client)
  client.operations = require("gemini.operations").new(client)
  if not client._vertex then client.auth_tokens = require("gemini.auth_tokens").new(client) end
  client.live = require("gemini.live").new(client)
  return client
end

--- Creates a client. See docs/API.md for every option.
-- Options: `api_key`, `base_url`, `api_version`, `auth` ("header" |
-- "bearer"), `headers`, `timeout`, `connect_timeout`, `stall_timeout`,
-- `retry`, `proxy`, `ca_file`, `verify`, `transport`, `loop`,
-- `check_thinking`, `max_response_size`, `max_event_size`, `log`, `debug`,
-- `fast_callbacks`, `trace`; and for Vertex AI mode `vertexai` (or
-- `enterprise`), `project`, `location`, `credentials`.
--
-- `trace` is a function given one record per attempt of a request, once
-- it has ended: `{method =, url =, status =, error =, bytes_sent =,
-- bytes_received =, duration =, attempt =}` (`url` with secrets redacted;
-- `status` nil when no answer came; `error` the kind of failure, nil on
-- success; `duration` in seconds; `attempt` from 1). A trace function that
-- raises does not break the call.
--
-- `credentials` (Vertex AI) is the path of a JSON credentials file
-- (service account or authorized user), its decoded table, or a function
-- returning `access_token, expires_in`; without it, Application Default
-- Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's file, the
-- metadata server).
--
-- Every option is checked here and a bad one raises, naming it: timeouts
-- are positive finite seconds, sizes positive integers, `retry` fields of
-- their types, `api_key` and `headers` free of CR, LF and NUL (which would
-- inject header lines), `base_url` an http(s) URL without query or
-- fragment. `timeout` bounds a whole call, retries and backoff waits
-- included.
-- @tparam[opt] table opts the options above (`api_key`, `base_url`, `timeout`, `retry`, `loop`, ...)
-- @return a client with `models`, `chats`, `files`, `caches`, `batches`, `operations`,
--   `file_search_stores`, `auth_tokens`, `live`
function Client.new(opts)
  errors.arg("Client", 1, opts, "table", true)
  opts = opts or {}
  -- Every option is checked before the key is looked for, so that a
  -- mistake is reported whatever the environment holds.
  errors.known_fields("Client", opts, CLIENT_OPTIONS)
  local F = function(k, t) return errors.field("Client", k, opts[k], t, true) end
  F("api_key", "string|boolean"); F("base_url", "string"); F("api_version", "string")
  F("auth", "string"); F("headers", "table"); F("timeout", "number")
  F("connect_timeout", "number"); F("stall_timeout", "number"); F("retry", "table|boolean")
  F("proxy", "string"); F("ca_file", "string"); F("verify", "boolean")
  F("max_response_size", "number"); F("max_event_size", "number"); F("log", "function")
  F("fast_callbacks", "boolean"); F("debug", "boolean"); F("check_thinking", "boolean")
  F("trace", "function")
  F("vertexai", "boolean"); F("enterprise", "boolean"); F("project", "string")
  F("location", "string"); F("credentials", "string|table|function")
  for _, k in ipairs({ "timeout", "connect_timeout", "stall_timeout" }) do
    check_seconds(opts[k], k, "Client")
  end
  check_count(opts.max_response_size, "max_response_size", "Client")
  check_count(opts.max_event_size, "max_event_size", "Client")
  check_retry(opts.retry, "retry", "Client")
  if opts.api_version ~= nil and not opts.api_version:find("^[%w%.%-_]*$") then
    errors.misuse("bad field 'api_version' to 'Client' (a version such as \"v1beta\" expected)")
  end
  if opts.loop ~= nil and not ((type(opts.loop) == "table" or type(opts.loop) == "userdata")
                               and opts.loop.new_timer) then
    errors.misuse("bad field 'loop' to 'Client' (the luv module or vim.loop expected)")
  end
  if opts.api_key == true then
    errors.misuse("bad field 'api_key' to 'Client' (a string expected, or false to send none)")
  end
  local auth = opts.auth or defaults.auth
  if auth ~= "header" and auth ~= "bearer" then
    errors.misuse("bad field 'auth' to 'Client' (\"header\" or \"bearer\" expected)")
  end
  local t = opts.transport
  if not (t == nil or t == "curl" or t == "resty" or type(t) == "table") then
    errors.misuse("bad field 'transport' to 'Client' (a transport table, \"curl\" or \"resty\" expected)")
  end
  local headers = {}
  for k, v in pairs(opts.headers or {}) do
    check_header_value(k, v, "bad field 'headers' to 'Client'")
    headers[#headers + 1] = k .. ": " .. v
  end
  local env_key
  for _, name in ipairs(ENV_KEYS) do
    local v = os.getenv(name)
    if v and v ~= "" then env_key = v break end
  end
  -- Vertex AI mode (gemini.vertex): its host, project and credentials.
  local vx = vertex.resolve(opts, env_key, load_credentials)
  local base = vx and vx.base_url or opts.base_url or os.getenv("GEMINI_BASE_URL")
  if base == nil or base == "" then base = defaults.base_url end
  check_base_url(base)

  local key = opts.api_key
  if vx then
    key = vx.api_key or false
  elseif key == nil then
    key = env_key
  end
  if key == nil then
    errors.misuse("gemini.Client: no API key: pass api_key, or set GOOGLE_API_KEY or GEMINI_API_KEY"
      .. " (api_key = false sends none)")
  end
  if key then
    key = key:match("^%s*(.-)%s*$")
    -- The key goes into a header line: a line break or a NUL in it would
    -- put the rest on the wire as a header of its own. (The message does
    -- not show the key.)
    if key == "" or breaks_header(key) then
      errors.misuse("bad field 'api_key' to 'Client' (a non-empty key without line breaks or NUL"
        .. " expected" .. (opts.api_key == nil and ", in GOOGLE_API_KEY / GEMINI_API_KEY" or "")
        .. ")")
    end
  end

  local self = setmetatable({
    api_version = opts.api_version or (vx and "v1beta1") or defaults.api_version,
    base_url = base:gsub("/+$", ""),
    timeout = opts.timeout or defaults.timeout,
    connect_timeout = opts.connect_timeout or defaults.connect_timeout,
    stall_timeout = opts.stall_timeout or defaults.stall_timeout,
    max_response_size = opts.max_response_size or defaults.max_response_size,
    max_event_size = opts.max_event_size or defaults.max_event_size,
    retry = retry.policy(opts.retry),   -- true: the defaults
    proxy = opts.proxy, ca_file = opts.ca_file,
    verify = opts.verify ~= false,
    check_thinking = opts.check_thinking ~= false,
    loop = opts.loop,
    fast_callbacks = opts.fast_callbacks == true,   -- Neovim: callbacks unscheduled (gemini.async.deliver)
    log = opts.log or (opts.debug and function(line) io.stderr:write(line, "\n") end) or nil,
    trace = opts.trace,
  }, Client)
  -- The key lives in a closure-free private field read only by _headers;
  -- it is never put in a URL, an error or a log line.
  self._key = key or nil
  self._auth = auth
  -- What errors and log lines must never show (see gemini.errors).
  self._secrets = errors.secrets(key, base, opts.proxy)
  self._vertex = vx
  if vx and vx.source then
    -- Bearer tokens of the credentials (gemini.auth.tokens); neither they
    -- nor the credentials' own secrets show in an error or a log line.
    local tokens = require("gemini.auth.tokens")
    self._tokens = tokens.cache(vx.source)
    -- The project, when the metadata server is to say it.
    if vx.project_later then self._project = tokens.cache(vx.source, "project") end
    self._bearer_seen = {}
    for _, secret in ipairs(vx.source.secrets or {}) do self._secrets[#self._secrets + 1] = secret end
  end
  if key and #key < errors.MIN_SECRET then
    self:_log("gemini: the API key has fewer than %d characters: too short to be searched for"
      .. " and redacted in messages (credential headers still are)", errors.MIN_SECRET)
  end

  self._extra_headers = headers

  -- Inside nginx's Lua module libcurl would block the worker: cosockets.
  if t == nil and type(ngx) == "table" and type(ngx.get_phase) == "function" then t = "resty" end
  if t == nil or t == "curl" then
    self.transport = require("gemini.transport.curl").new()
  elseif t == "resty" then
    self.transport = require("gemini.transport.resty").new()
  else
    self.transport = t
  end

  return add_services(self)
end

--- The same client (configuration, key, log: read from this one) over
-- another transport, with services of its own, so that a service reaching
-- another one (a chat calls `client.models`) stays on it. The callback API
-- runs its calls on such a twin over the event loop (gemini.async).
-- @param transport a blocking transport (see `gemini.transport`)
-- @local
function Client:_over(transport)
  return add_services(setmetatable({ transport = transport }, { __index = self }))
end

Client.VERSION = VERSION

--- Ends every transfer (Live sessions still open too: each ends with a
-- "canceled" error) and frees the connection pools (and, with a loop,
-- the loop handles of the callback API). The client is unusable afterwards.
function Client:close()
  if rawget(self, "_live_sessions") then require("gemini.live").cancel_all(self) end
  if self._luv then self._luv:close() end
  if self.transport and self.transport.close then self.transport:close() end
end

--- The full URL of an API path (without the version when `raw` is set).
-- @local
function Client:url(path, query, raw)
  local url
  if raw or self.api_version == "" then
    url = self.base_url .. "/" .. path:gsub("^/+", "")
  else
    url = self.base_url .. "/" .. self.api_version .. "/" .. path:gsub("^/+", "")
  end
  if query then
    local names, parts = {}, {}
    for k in pairs(query) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do
      local v = query[k]
      -- (a list: the parameter repeated, in order)
      for _, one in ipairs(type(v) == "table" and v or { v }) do
        parts[#parts + 1] = k .. "=" .. tostring(one):gsub("[^%w%-%._~]", function(c)
          return string.format("%%%02X", c:byte())
        end)
      end
    end
    if #parts > 0 then
      url = url .. (url:find("?", 1, true) and "&" or "?") .. table.concat(parts, "&")
    end
  end
  return url
end

local USER_AGENT = "gemini-lua/" .. VERSION .. " " .. _VERSION:gsub(" ", "/")
  .. (jit and (" " .. jit.version:gsub(" ", "/")) or "")

-- Headers whose value is a credential: logged as [REDACTED] whatever they
-- hold (the key, or a token the caller put there), and never sent to
-- another origin.
local SECRET_HEADERS = { ["x-goog-api-key"] = true, authorization = true,
                         ["proxy-authorization"] = true }

local function is_credential(name)
  return SECRET_HEADERS[name:lower()] == true
end

--- Request headers: content type, auth, user agent, extras. `anonymous`:
-- no credential at all, neither the client's nor one in the extra headers
-- (a request to another origin: an upload session URL or a download's
-- signed URL authorises itself).
-- @local
function Client:_headers(extra, content_type, anonymous)
  local h = {
    "Content-Type: " .. (content_type or "application/json"),
    "User-Agent: " .. USER_AGENT,
    "x-goog-api-client: " .. USER_AGENT,
  }
  if self._key and not anonymous then
    if self._auth == "bearer" then
      h[#h + 1] = "Authorization: Bearer " .. self._key
    else
      h[#h + 1] = "x-goog-api-key: " .. self._key
    end
  end
  for _, line in ipairs(self._extra_headers) do
    if not (anonymous and is_credential(line:match("^[^:]*"))) then h[#h + 1] = line end
  end
  if extra then
    for k, v in pairs(extra) do
      check_header_value(k, v, "bad field 'http_options.headers'")
      if not (anonymous and is_credential(k)) then h[#h + 1] = k .. ": " .. v end
    end
  end
  return h
end

-- scheme://host:port of a URL, lower case, for the same-origin check.
local function origin(url)
  local scheme, host = url:match("^(%a[%w+.-]*)://([^/?#]+)")
  if not scheme then return nil end
  scheme, host = scheme:lower(), host:lower():gsub("^.*@", "")
  if not host:find(":%d+$") then host = host .. (scheme == "https" and ":443" or ":80") end
  return scheme .. "://" .. host
end

--- Whether `url` is on the configured server's origin (scheme, host and
-- port of `base_url`): the only one that gets the credentials.
-- @local
function Client:_own_origin(url)
  return origin(url) ~= nil and origin(url) == origin(self.base_url)
end

--- A model's name in a request path: "models/x" (Gemini API), or as
-- python-genai's t_model gives it on Vertex AI ("publishers/google/models/x").
-- Raises for a missing or bad name, naming `fname`.
-- @local
function Client:_model(name, fname)
  local model = request.model(name, fname)
  if not self._vertex then return model end
  return vertex.model(name)
end

--- An error with the client's secrets redacted from it.
-- @local
function Client:error(kind, message, fields)
  return errors.new(kind, message, fields, self._secrets)
end

--- The error for a failed transfer, from what a transport returned:
-- kind, message and `final` (true when trying again cannot help).
-- @local
function Client:transport_error(kind, msg, final)
  return self:error(kind, msg, final and { final = true } or nil)
end

function Client:_log(fmt, ...)
  if self.log then
    local ok, line = pcall(string.format, fmt, ...)
    self.log(errors.redact(ok and line or fmt, self._secrets))
  end
end

--- A URL as logs and traces show it: secrets redacted, and the query of a
-- URL on another origin hidden, since there it is what authorises the
-- request (a download's signed URL, an upload session).
-- @local
function Client:_shown_url(url)
  if not self:_own_origin(url) then url = url:gsub("%?.*$", "?[REDACTED]") end
  return errors.redact(url, self._secrets)
end

--- Logs a request about to go out: method, URL (see `_shown_url`),
-- `note`, then one line per header with credentials redacted (debug =
-- true / log = function).
-- @local
function Client:_log_request(spec, note)
  if not self.log then return end
  self:_log("gemini: %s %s (%s)", spec.method, self:_shown_url(spec.url), note)
  for _, h in ipairs(spec.headers or {}) do
    local name = h:match("^([^:]*):")
    if name and is_credential(name) then
      local scheme = h:match("^[^:]*:%s*(%a+) ") or ""
      h = name .. ": " .. (scheme ~= "" and scheme .. " " or "") .. "[REDACTED]"
    end
    self:_log("gemini:   %s", h)
  end
end

--- The transfer spec of one call.
-- @tparam table call `{method, path, query, body (string), raw_path,
--  url, headers (name -> value, over those of http_options), anonymous
--  (no credentials: see `_headers`), stream, http_options}`
-- @local
function Client:_spec(call)
  local ho = self:_check_http_options(call.http_options) or {}
  local extra = ho.headers
  if call.headers then
    extra = {}
    for k, v in pairs(ho.headers or {}) do extra[k] = v end
    for k, v in pairs(call.headers) do extra[k] = v end
  end
  local method = call.method or "POST"
  local vx = self._vertex
  local url = call.url
  if not url and not (vx and not call.raw_path and vertex.needs_project(vx, call.path, method)) then
    url = self:url(vx and not call.raw_path and vertex.path(vx, call.path, method) or call.path,
      call.query, call.raw_path)
  end
  return {
    method = method,
    -- (nil until the project is known: see `authorized`)
    url = url, unplaced = not url and { path = call.path, query = call.query } or nil,
    headers = self:_headers(extra, call.content_type, call.anonymous),
    body = call.body,
    body_file = call.body_file, body_offset = call.body_offset, body_length = call.body_length,
    on_progress = call.on_progress,
    timeout = capped(ho.timeout or self.timeout),
    connect_timeout = capped(self.connect_timeout),
    stall_timeout = call.stream and capped(ho.stall_timeout or self.stall_timeout) or nil,
    proxy = self.proxy, ca_file = self.ca_file, verify = self.verify,
    max_body = self.max_response_size,
  }
end

--- Turns a finished HTTP answer into the decoded body or an error.
-- @local
function Client:_answer(res)
  if res.status < 200 or res.status > 299 then
    return nil, errors.from_http(res.status, res.body, res.headers, json.decode, self._secrets)
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

-- ---- the request path ---------------------------------------------------------

--- The retry engine of a call: its `http_options.retry` over the client's
-- policy, and `timeout` seconds for the whole of it from now (nil: no
-- deadline).
-- @tparam[opt] table http_options
-- @tparam[opt] number timeout
-- @local
function Client:_retries(http_options, timeout)
  local policy = self.retry
  if http_options and http_options.retry ~= nil then
    policy = retry.policy(http_options.retry, self.retry or nil)
  end
  return retry.new(self, policy, timeout)
end

--- The transfer spec of `call` and its retry engine, whose deadline (the
-- call's `timeout`) starts now.
-- @local
function Client:_prepare(call)
  local spec = self:_spec(call)
  return spec, self:_retries(call.http_options, spec.timeout)
end

-- What a transport returned for one attempt: the answer (or body reader),
-- or nil and the gemini.Error of the failed transfer, `final` kept (logged).
local function transferred(self, res, kind, msg, final)
  if res then return res end
  local err = self:transport_error(kind, msg, final)
  self:_log("gemini: -> %s", tostring(err))
  return nil, err
end

-- ---- tracing: one record per attempt, for the `trace` option ---------------

local function ok_status(status)
  return status >= 200 and status <= 299
end

--- Hands the `trace` option the record of one attempt that ended:
-- `{method, url (as `_shown_url` shows it), status (nil without an answer),
-- error (the kind of failure: "transport", "timeout", "api" for a status
-- outside 2xx, "stream"/"decode" for a stream that failed, "canceled" for
-- one closed early; nil on success), bytes_sent (the request body's
-- length), bytes_received (the response body's bytes), duration (seconds
-- since the attempt started), attempt (from 1)}`. A trace function that
-- raises does not break the call: its error is logged.
-- @tparam table spec the attempt's transfer spec
-- @tparam[opt] number attempt
-- @tparam number started `core.now()` when it started
-- @tparam[opt] number status
-- @tparam[opt] string kind
-- @tparam[opt] number received
-- @local
function Client:_trace(spec, attempt, started, status, kind, received)
  if not self.trace then return end
  local ok, why = pcall(self.trace, {
    method = spec.method, url = self:_shown_url(spec.url), status = status, error = kind,
    bytes_sent = spec.body and #spec.body or spec.body_length or 0,
    bytes_received = received or 0, duration = core.now() - started, attempt = attempt or 1,
  })
  if not ok then self:_log("gemini: the trace function failed: %s", tostring(why)) end
end

-- ---- attempts ------------------------------------------------------------------

--- One attempt of a request as it is, the only way a whole request goes
-- out: the HTTP answer (`{status, headers, body}`, any status), or nil, err
-- when the transfer failed. Request and answer are logged (credentials
-- redacted), and traced (see `_trace`).
-- @tparam table spec a transfer spec (see `_spec`)
-- @tparam string note what the attempt is, for the log
-- @tparam[opt] number attempt its number (from 1), for the trace
-- @local
function Client:_transfer(spec, note, attempt)
  self:_log_request(spec, note)
  local started = core.now()
  local res, err = transferred(self, self.transport:request(spec))
  if res then
    self:_log("gemini: -> HTTP %d, %d bytes", res.status, #res.body)
    self:_trace(spec, attempt, started, res.status, not ok_status(res.status) and "api" or nil,
      #res.body)
  else
    self:_trace(spec, attempt, started, nil, err.kind)
  end
  return res, err
end

--- The Vertex AI project: the one given, or the metadata server's, asked
-- once for all the calls of the client (gemini.auth.tokens); or nil, err
-- (kind "auth").
-- @local
function Client:_vertex_project()
  local vx = self._vertex
  if vx.project or not self._project then return vx.project end
  local project, err = self._project:get(self)
  if not project then return nil, err end
  vx.project = project
  return project
end

-- Runs `attempt(self, spec)` with the bearer token of the client's
-- credentials when it has some (Vertex AI; a 401 is retried once with a
-- fresh token, see gemini.auth.tokens); a spec made before the project
-- was known gets its URL once it is (after the token: a metadata server
-- that does not answer is told as no credentials found).
local function authorized(self, spec, attempt)
  if not self._tokens then return attempt(self, spec) end
  return self._tokens:authorized(self, spec, function(c, s)
    if s.unplaced then
      local _, err = c:_vertex_project()
      if err then return nil, err end
      s.url = c:url(vertex.path(c._vertex, s.unplaced.path, s.method), s.unplaced.query)
      s.unplaced = nil
    end
    return attempt(c, s)
  end)
end

--- One attempt of a request of the API (see `_transfer`), authorized.
-- @tparam table spec a transfer spec (see `_spec`)
-- @tparam string note what the attempt is, for the log
-- @tparam[opt] number attempt its number (from 1), for the trace
-- @local
function Client:_send(spec, note, attempt)
  return authorized(self, spec, function(c, s) return c:_transfer(s, note, attempt) end)
end

--- One call with retries: the decoded JSON answer, or nil, err.
-- With `call.raw`, the HTTP answer itself (`{status, headers, body}`).
-- `timeout` bounds the whole call (see `gemini.retry`).
-- @local
function Client:_call(call)
  local spec, retries = self:_prepare(call)
  while true do
    spec.timeout = retries:time_left()
    local res, err = self:_send(spec, "attempt " .. retries:attempt(), retries:attempt())
    if res then
      if call.raw and res.status >= 200 and res.status <= 299 then return res end
      local value
      value, err = self:_answer(res)
      if value then return value end
    end
    if not retries:wait(err) then return nil, err end
  end
end

--- Opens a streaming call once: a body reader for a 2xx answer, or nil,
-- err (the whole error body is read for the error). Retrying is the
-- stream's business: it also covers failures after the headers and before
-- the first chunk. With a `trace` option, a reader comes with a third
-- value, `ended(kind, received)`, for the stream to call once at the
-- body's end (see `_trace`); a failed opening is traced here.
-- @tparam table spec
-- @tparam[opt] number attempt its number (from 1), for the trace
-- @local
function Client:_open_once(spec, attempt)
  local started
  local reader, err = authorized(self, spec, function(c, s)
    c:_log_request(s, "stream")
    started = core.now()
    local r, e = transferred(c, c.transport:open(s))
    if not r then
      c:_trace(s, attempt, started, nil, e.kind)
      return nil, e
    end
    c:_log("gemini: -> HTTP %d (stream)", r.status)
    return r
  end)
  if not reader then return nil, err end
  if ok_status(reader.status) then
    return reader, nil, self.trace and function(kind, received)
      self:_trace(spec, attempt, started, reader.status, kind, received)
    end
  end
  local parts = {}
  while true do
    local piece = reader:read()
    if not piece then break end
    parts[#parts + 1] = piece
  end
  reader:close()
  local body = table.concat(parts)
  self:_trace(spec, attempt, started, reader.status, "api", #body)
  local _
  _, err = self:_answer({ status = reader.status, headers = reader.headers, body = body })
  return nil, err
end

-- A body reader that traces its attempt once the body has ended, failed or
-- been closed (see `Client:_open_body`).
local Traced = {}
Traced.__index = Traced

function Traced:_ended(kind)
  if self.traced then return end
  self.traced = true
  if kind == "canceled" and not ok_status(self.status) then kind = nil end
  if kind == nil and self.status >= 400 then kind = "api" end
  self.client:_trace(self.spec, self.attempt, self.started, self.status, kind, self.received)
end

function Traced:read()
  local piece, kind, msg, final = self.reader:read()
  if piece then
    self.received = self.received + #piece
  else
    self:_ended(kind)
  end
  return piece, kind, msg, final
end

function Traced:close()
  self:_ended("canceled")
  self.reader:close()
end

--- Opens a request whose body the caller reads piece by piece (a
-- download, a redirect it follows itself): the transport's reader (any
-- status), or nil, kind, msg, final as the transport says. Traced (see
-- `_trace`) once the body has ended or is closed: a 2xx body closed before
-- its end as "canceled", a 4xx/5xx one as "api".
-- @tparam table spec
-- @tparam[opt] number attempt its number (from 1), for the trace
-- @local
function Client:_open_body(spec, attempt)
  local started = core.now()
  local reader, kind, msg, final = self.transport:open(spec)
  if not reader then
    self:_trace(spec, attempt, started, nil, kind)
    return nil, kind, msg, final
  end
  if not self.trace then return reader end
  return setmetatable({ reader = reader, status = reader.status, headers = reader.headers,
    client = self, spec = spec, attempt = attempt, started = started, received = 0 }, Traced)
end

-- The options of a list call (those of a list inside a parent, the parent's
-- own having been read by then).
local PAGED = { "page_size", "page_token" }
local PAGED_IN_PARENT = { "parent", "page_size", "page_token" }

--- An iterator over every item of a paged list call, in order. Raises the
-- `gemini.Error` when a page fails (a for loop has no other way to say it).
-- @tparam string path e.g. "models"
-- @tparam string key the list's field in each page, e.g. "models"
-- @tparam[opt] table opts `{page_size=, page_token=}`
-- @tparam[opt] function wrap applied to each item
-- @tparam[opt] table extra query fields of every page (a filter)
-- @local
function Client:_pages(path, key, opts, wrap, extra)
  opts = opts or {}
  errors.known_fields("list", opts, opts.parent ~= nil and PAGED_IN_PARENT or PAGED, nil, true)
  local function page(size, token)
    local q = { pageSize = size, pageToken = token }
    for k, v in pairs(extra or {}) do q[k] = v end
    return q
  end
  local query = page(opts.page_size or opts.pageSize, opts.page_token or opts.pageToken)
  local items, i, done = {}, 0, false
  return function()
    while true do
      i = i + 1
      local item = items[i]
      if item ~= nil then return wrap and wrap(item) or item end
      if done then return nil end
      local res, err = self:_call{ method = "GET", path = path, query = query }
      if not res then errors.raise(err) end
      items, i = type(res[key]) == "table" and res[key] or {}, 0
      local token = res.nextPageToken
      if token == nil or token == "" then
        done = true
      else
        query = page(query.pageSize, token)
      end
    end
  end
end

return Client
