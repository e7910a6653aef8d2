--- Where Vertex AI access tokens come from: the credential sources that
-- the token cache (`gemini.auth.tokens`) asks for a token.
--
--   local src = credentials.load(spec [, env])
--
-- `spec` is nil (Application Default Credentials), the path of a JSON
-- credentials file, the parsed JSON of one (a table), or a function
-- returning `access_token, expires_in`; `env(name)` reads the environment
-- (default `os.getenv`). A malformed or unreadable file or table raises
-- (a programmer error), naming the file (its path, or "credentials table")
-- and the field, never a key, secret or token.
--
-- A source has:
--
--   src.kind              "service_account" | "authorized_user" | "metadata" | "function"
--   src.id                names the identity (no secret in it): one cached
--                         token per id may serve every client of a Lua state
--   src.project_id        the service account file's "project_id", or nil
--   src.quota_project_id  the file's "quota_project_id" (x-goog-user-project), or nil
--   src.secrets           strings to redact wherever they might show
--   src:token_request()   the HTTP call that mints a token: { method =, url =,
--                         headers = { name = value }, body =, content_type = }
--                         (content_type: the body's type, not in headers)
--   src:parse_token(res)  res = { status =, headers =, body = } ->
--                         access_token, expires_in (seconds) | nil, message,
--                         transient (the OAuth error says: try again later)
--   src:describe_failure(msg)  the message for a token request whose transfer
--                         failed (`msg`: the transport's): for "metadata", why
--                         no credentials were found and where they were looked for
--   src.fn                kind "function" only (no token_request/parse_token)
--   src:project_request(), src:parse_project(res) -> id | nil, message
--                         kind "metadata" only: the project of the machine
--
-- The token request's body holds a signed assertion or a refresh token:
-- log it never (the token cache logs the URL only).
--
-- Behaviour as google-auth-library-python's (repo googleapis/google-auth-library-python):
-- google/auth/_default.py (`default`: GOOGLE_APPLICATION_CREDENTIALS, then
-- gcloud's file, then the metadata server; `load_credentials_from_file`),
-- google/auth/_cloud_sdk.py (CLOUDSDK_CONFIG or ~/.config/gcloud,
-- application_default_credentials.json), google/oauth2/service_account.py
-- (the assertion, lifetime 3600 s), google/oauth2/_client.py (`jwt_grant`,
-- `refresh_grant`, form-encoded; `_handle_error_response`: "error:
-- error_description"), google/oauth2/credentials.py (authorized_user
-- fields), google/auth/compute_engine/_metadata.py (GCE_METADATA_HOST,
-- then GCE_METADATA_ROOT, default metadata.google.internal; header
-- Metadata-Flavor: Google; instance/service-accounts/default/token?scopes=,
-- project/project-id). See docs/wire-format-credentials.md.
-- @module gemini.auth.credentials
local core = require("gemini.core")
local json = require("gemini.json")
local errors = require("gemini.errors")
local jwt = require("gemini.auth.jwt")

local M = {}

--- The scope Vertex AI needs (python-genai's _api_client.py asks ADC for it).
M.SCOPE = "https://www.googleapis.com/auth/cloud-platform"
--- Google's token endpoint, the default `token_uri`.
M.TOKEN_URI = "https://oauth2.googleapis.com/token"
--- The metadata server's default host.
M.METADATA_HOST = "metadata.google.internal"
--- The lifetime of a service account's assertion, seconds.
M.ASSERTION_LIFETIME = 3600

local JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
local FORM = "application/x-www-form-urlencoded"
local ADC_FILE = "application_default_credentials.json"

-- ---- helpers ----------------------------------------------------------------

-- application/x-www-form-urlencoded (RFC 3986 unreserved kept).
local function form_escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function form(fields)
  local out = {}
  for _, kv in ipairs(fields) do out[#out + 1] = kv[1] .. "=" .. form_escape(kv[2]) end
  return table.concat(out, "&")
end

local function hex(bytes)
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- Raises "<where>: <problem>" at the caller outside the library.
local function malformed(where, fmt, ...)
  errors.misuse(where .. ": " .. string.format(fmt, ...))
end

-- info[name] as a non-empty string; raises when absent or of another type
-- (optional: nil when absent).
local function field(info, where, name, optional)
  local v = info[name]
  if v == nil or v == json.null then
    if optional then return nil end
    malformed(where, "field '%s' is missing", name)
  end
  if type(v) ~= "string" then
    malformed(where, "field '%s' must be a string (got %s)", name, type(v) == "table" and "an object or array" or type(v))
  end
  if v == "" and not optional then malformed(where, "field '%s' is empty", name) end
  if v == "" then return nil end
  return v
end

-- A body from a token endpoint or metadata server, decoded, or nil.
local function decode_object(body)
  local v = json.decode(body or "")
  if json.is_object(v) then return v end
end

-- Seconds of `expires_in` (a number or, from some servers, a numeric string).
local function seconds(v)
  local n = tonumber(v)
  if n and n == n and n > 0 and n < math.huge then return n end
end

-- The access token and lifetime of a 200 answer, or nil, message.
local function token_of(src, res, who)
  local body = decode_object(res.body)
  if not body then
    return nil, who .. ": the token answer is not a JSON object"
  end
  local token = body.access_token
  if type(token) ~= "string" or token == "" or token:find("[%c ]") then
    return nil, who .. ": no access token in the answer"
  end
  if body.expires_in == nil then return token, M.ASSERTION_LIFETIME end
  local ttl = seconds(body.expires_in)
  if not ttl then return nil, who .. ": the token answer's expires_in is not a number of seconds" end
  return token, ttl
end

-- The message of a refused token request: the OAuth error and its
-- description (RFC 6749 5.2) as _client.py's _handle_error_response
-- shows them, else the body's start; redacted, cut short.
local function refusal(src, res, who)
  local body = decode_object(res.body)
  local detail
  if body and type(body.error) == "string" then
    detail = body.error
    if type(body.error_description) == "string" then
      detail = detail .. ": " .. body.error_description
    end
  elseif body and type(body.error) == "table" and type(body.error.message) == "string" then
    detail = body.error.message   -- a Google API error envelope
  else
    detail = tostring(res.body or ""):gsub("<[^>]*>", " "):gsub("%s+", " "):match("^%s*(.-)%s*$")
  end
  detail = errors.snippet(detail, 300, src.secrets)
  return who .. ": HTTP " .. tostring(res.status) .. (detail ~= "" and (": " .. detail) or "")
end

-- OAuth errors of a refused token request that may pass later: google-auth
-- tries those again whatever the status (google/oauth2/_client.py
-- _can_retry, after RFC 6749 4.1.2.1: a redirect cannot carry a 5xx).
local TRANSIENT = { internal_failure = true, server_error = true, temporarily_unavailable = true }

-- Whether the refusal `res` names one of them, as its error or description.
local function transient(res)
  local body = decode_object(res.body)
  return body ~= nil and (TRANSIENT[body.error] or TRANSIENT[body.error_description]) == true
end

local Source = {}
Source.__index = Source

--- The access token and its lifetime from the token answer `res`
-- (`{status, headers, body}`), or nil, a message without secrets, and
-- whether the refusal says the server failed for a while.
function Source:parse_token(res)
  local who = self:_who()
  if res.status ~= 200 then return nil, refusal(self, res, who), transient(res) end
  return token_of(self, res, who)
end

--- The message for a token request whose transfer failed (worded as the
-- token cache words a refusal: "no access token from the <kind>
-- credentials: <who>: <why>").
-- @tparam string msg the transport's message
function Source:describe_failure(msg)
  return errors.redact("no access token from the " .. self.kind .. " credentials: " .. self:_who()
    .. ": " .. tostring(msg), self.secrets)
end

-- A grant at the token endpoint: the form-encoded POST of `fields`, a list
-- of {name, value} (google/oauth2/_client.py `_token_endpoint_request`).
function Source:_grant(fields)
  return { method = "POST", url = self._token_uri, headers = {}, body = form(fields), content_type = FORM }
end

-- Who answered, for messages: the token endpoint's URL.
function Source:_who()
  return "token request to " .. self._token_uri
end

-- ---- service accounts -----------------------------------------------------------

local ServiceAccount = setmetatable({}, { __index = Source })
ServiceAccount.__index = ServiceAccount

--- The JWT-bearer grant (RFC 7523 2.1): a fresh assertion signed now.
function ServiceAccount:token_request()
  local now = os.time()
  local assertion, err = jwt.sign({
    iss = self._email, scope = M.SCOPE, aud = self._token_uri,
    iat = now, exp = now + M.ASSERTION_LIFETIME,
  }, self._private_key, self._key_id)
  -- The key signed at load; failing now means libcrypto ran out of memory.
  if not assertion then error(self:_who() .. ": " .. err, 0) end
  return self:_grant({ { "grant_type", JWT_GRANT }, { "assertion", assertion } })
end

local function service_account(info, where)
  local email = field(info, where, "client_email")
  local key = field(info, where, "private_key")
  local token_uri = field(info, where, "token_uri")
  local key_id = field(info, where, "private_key_id", true)
  -- A key that cannot sign is found now, not at the first request.
  local ok, err = core.rs256_sign(key, "")
  if not ok then
    malformed(where, "field 'private_key' is not a usable RSA private key (%s)", (err:gsub("^rs256_sign: ", "")))
  end
  return setmetatable({
    kind = "service_account",
    id = "service_account:" .. email .. "@" .. token_uri,
    project_id = field(info, where, "project_id", true),
    quota_project_id = field(info, where, "quota_project_id", true),
    secrets = { key },
    _email = email, _private_key = key, _key_id = key_id, _token_uri = token_uri,
  }, ServiceAccount)
end

-- ---- authorized users (gcloud auth application-default login) ------------------

local AuthorizedUser = setmetatable({}, { __index = Source })
AuthorizedUser.__index = AuthorizedUser

--- The refresh-token grant (RFC 6749 6).
function AuthorizedUser:token_request()
  return self:_grant({ { "grant_type", "refresh_token" }, { "client_id", self._client_id },
                       { "client_secret", self._client_secret }, { "refresh_token", self._refresh_token } })
end

local function authorized_user(info, where)
  local client_id = field(info, where, "client_id")
  local secret = field(info, where, "client_secret")
  local refresh = field(info, where, "refresh_token")
  -- google-auth always uses Google's endpoint here; a token_uri in the file
  -- is honoured (a test server, a private endpoint).
  local token_uri = field(info, where, "token_uri", true) or M.TOKEN_URI
  return setmetatable({
    kind = "authorized_user",
    -- gcloud's client_id is shared by all its users: a digest of the refresh
    -- token tells them apart without showing it.
    id = "authorized_user:" .. client_id .. ":" .. hex(core.sha256(refresh)):sub(1, 16) .. "@" .. token_uri,
    project_id = nil,   -- a user file's quota_project_id is a billing project, not a project
    quota_project_id = field(info, where, "quota_project_id", true),
    secrets = { secret, refresh },
    _client_id = client_id, _client_secret = secret, _refresh_token = refresh, _token_uri = token_uri,
  }, AuthorizedUser)
end

-- ---- files and tables ---------------------------------------------------------

local KINDS = { service_account = service_account, authorized_user = authorized_user }

-- A JSON object, or a Lua table that may be one (an empty table has no
-- object marker unless decoded; an empty decoded array has the array's).
local function object_like(v)
  if type(v) ~= "table" then return false end
  if next(v) == nil then return getmetatable(v) ~= json.array_mt end
  return json.is_object(v)
end

local function from_info(info, where)
  if not object_like(info) then
    malformed(where, "not a JSON object")
  end
  local kind = field(info, where, "type")
  local make = KINDS[kind]
  if not make then
    malformed(where, "field 'type' is %q (\"service_account\" or \"authorized_user\" expected)",
      errors.snippet(kind, 60))
  end
  return make(info, where)
end

-- Reads and decodes a credentials file; `via` says how it was named.
local function from_file(path, via)
  local where = "credentials file '" .. path .. "'" .. (via and (" (" .. via .. ")") or "")
  local f, err = io.open(path, "rb")
  if not f then
    malformed(where, "cannot be read (%s)", (tostring(err):gsub("^.-: ", "")))
  end
  local text, rerr = f:read("*a")
  f:close()
  if not text then malformed(where, "cannot be read (%s)", tostring(rerr)) end
  local info, derr = json.decode(text)
  if info == nil then malformed(where, "not valid JSON (%s)", derr) end
  return from_info(info, where)
end

-- ---- the metadata server (Compute Engine, Cloud Run, GKE...) ------------------------

local Metadata = setmetatable({}, { __index = Source })
Metadata.__index = Metadata

local FLAVOR = { ["Metadata-Flavor"] = "Google" }

function Metadata:_who()
  return "metadata server " .. self._root
end

--- GET instance/service-accounts/default/token, scoped for Vertex AI.
function Metadata:token_request()
  return { method = "GET", headers = FLAVOR,
           url = self._root .. "instance/service-accounts/default/token?scopes=" .. form_escape(M.SCOPE) }
end

--- GET project/project-id: the project of the machine.
function Metadata:project_request()
  return { method = "GET", headers = FLAVOR, url = self._root .. "project/project-id" }
end

--- The project id from `project_request`'s answer (plain text), or nil, message.
function Metadata:parse_project(res)
  if res.status ~= 200 then return nil, refusal(self, res, self:_who() .. " (project-id)") end
  local id = tostring(res.body or ""):match("^%s*([%w%-%.:]+)%s*$")
  if not id then return nil, self:_who() .. ": the project-id answer is not a project id" end
  return id
end

--- A transfer that failed: no credentials anywhere, and where they were sought.
function Metadata:describe_failure(msg)
  return "no Google Cloud credentials found: " .. table.concat(self._searched, "; ")
    .. "; and the metadata server at " .. self._root .. " could not be reached (" .. tostring(msg)
    .. "). Pass credentials = a service-account file, or set GOOGLE_APPLICATION_CREDENTIALS"
end

local function metadata(env, searched)
  local host = env("GCE_METADATA_HOST")
  if not host or host == "" then host = env("GCE_METADATA_ROOT") end
  if not host or host == "" then host = M.METADATA_HOST end
  local root = "http://" .. host .. "/computeMetadata/v1/"
  return setmetatable({
    kind = "metadata", id = "metadata:" .. host, secrets = {},
    _root = root, _searched = searched,
  }, Metadata)
end

-- ---- Application Default Credentials --------------------------------------------

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- google/auth/_default.py `default`, the part that needs no network:
-- the explicit file, gcloud's file, else the metadata server.
local function adc(env)
  local explicit = env("GOOGLE_APPLICATION_CREDENTIALS")
  if explicit and explicit ~= "" then
    return from_file(explicit, "GOOGLE_APPLICATION_CREDENTIALS")
  end
  local searched = { "GOOGLE_APPLICATION_CREDENTIALS is not set" }
  local dir = env("CLOUDSDK_CONFIG")
  if not dir or dir == "" then
    local home = env("HOME")
    dir = home and home ~= "" and (home .. "/.config/gcloud") or nil
  end
  if dir then
    local path = dir .. "/" .. ADC_FILE
    if exists(path) then return from_file(path, "gcloud's application default credentials") end
    searched[#searched + 1] = path .. " does not exist"
  else
    searched[#searched + 1] = "neither CLOUDSDK_CONFIG nor HOME is set"
  end
  return metadata(env, searched)
end

-- ---- functions -----------------------------------------------------------------

local function from_function(fn)
  return { kind = "function", id = "function:" .. tostring(fn):gsub("^function:%s*", ""),
           fn = fn, secrets = {},
           describe_failure = function(_, msg) return "credentials function: " .. tostring(msg) end }
end

--- The credential source of `spec` (see the module's description).
-- @param[opt] spec nil, a path, a table or a function
-- @tparam[opt] function env `env(name)` -> value (default `os.getenv`)
function M.load(spec, env)
  errors.arg("credentials.load", 2, env, "function", true)
  env = env or os.getenv
  local t = type(spec)
  if spec == nil then return adc(env) end
  if t == "string" then return from_file(spec) end
  if t == "table" then return from_info(spec, "credentials table") end
  if t == "function" then return from_function(spec) end
  errors.misuse("bad field 'credentials' to 'Client' (a file path, a table or a function expected, got "
    .. t .. ")")
end

return M
