-- spec/support/credentials.lua: throwaway Google Cloud credentials for specs
-- against the mock's token endpoint and metadata server
-- (spec/mock/auth_routes.py). No private key is ever committed: keys are
-- made at test time with the openssl command line, once per kind and run.
--
--   local creds = require("support.credentials")
--   local info, path = creds.service_account(m, { email =, project_id =, pkcs1 =,
--       key = creds.rsa_key("other"), register = false, token_uri = })
--       -- the parsed JSON of a service-account file whose token_uri is the
--       -- mock's /oauth2/token, and the path of that file; its public key
--       -- is registered with the mock (unless register = false)
--   local info, path = creds.authorized_user(m, { client_id =, client_secret =,
--       refresh_token =, quota_project_id =, token_uri = (false: none), register = false })
--   creds.rsa_key(name [, pkcs1]) -> { pem =, modulus = hex, exponent = 65537 }
--   creds.write_json(value [, path]) -> path;  creds.write(text [, path]) -> path
--   creds.dir() -> the path of a new empty directory
--   creds.settings(m, { expires_in =, latency =, project_id =, oauth_errors = { E, ... } })
--   creds.counts(m) -> { jwt_bearer =, refresh_token =, metadata_token =, issued =, ... }
--   creds.send(client, req) -> res | nil, kind, msg
--       -- a credential source's token_request() (or project_request()) sent
--       -- through client.transport, with timeouts
--   creds.cleanup()   removes every file and directory made here
--
-- The mock forgets registrations on /_mock/reset (mock.suite resets before
-- each test): make the credentials inside the test.
local cjson = require("cjson")
local mock = require("support.mock")

local M = {}

local made = {}      -- files and directories to remove
local keys = {}      -- name .. form -> key

local function q(s) return mock.shell_quote(s) end

local function tmp()
  local path = os.tmpname()
  made[#made + 1] = path
  return path
end

--- A new empty directory.
function M.dir()
  local path = tmp()
  os.remove(path)
  assert(mock.popen_read("mkdir -p " .. q(path) .. " && echo ok"):find("ok"), "mkdir " .. path)
  return path
end

--- Writes `text` to a new temporary file; returns its path.
function M.write(text, path)
  if path then made[#made + 1] = path else path = tmp() end
  mock.write_file(path, text)
  return path
end

--- Writes `value` as JSON to a new temporary file (or `path`); returns the path.
function M.write_json(value, path)
  return M.write(cjson.encode(value), path)
end

--- A throwaway RSA key (2048 bits) named `name`, the same for one name
-- during a run: `{ pem =, modulus = "<hex>", exponent = 65537 }`, its PEM
-- PKCS#8 ("BEGIN PRIVATE KEY", as in Google's files) or, with `pkcs1`,
-- PKCS#1 ("BEGIN RSA PRIVATE KEY").
function M.rsa_key(name, pkcs1)
  name = name or "default"
  local id = name .. (pkcs1 and ":pkcs1" or ":pkcs8")
  if keys[id] then return keys[id] end
  local base = keys[name .. ":raw"]
  if not base then
    base = tmp()
    local out = mock.popen_read("openssl genrsa -out " .. q(base) .. " 2048 2>&1 && echo ok")
    assert(out:find("ok%s*$"), "openssl genrsa failed: " .. out)
    keys[name .. ":raw"] = base
  end
  local conv = pkcs1
    and ("(openssl rsa -in " .. q(base) .. " -traditional 2>/dev/null || openssl rsa -in " .. q(base) .. " 2>/dev/null)")
    or ("openssl pkcs8 -topk8 -nocrypt -in " .. q(base) .. " 2>/dev/null")
  local pem = mock.popen_read(conv)
  local want = pkcs1 and "BEGIN RSA PRIVATE KEY" or "BEGIN PRIVATE KEY"
  assert(pem:find(want, 1, true), "openssl gave no " .. want)
  local modulus = mock.popen_read("openssl rsa -in " .. q(base) .. " -noout -modulus 2>/dev/null"):match("Modulus=(%x+)")
  assert(modulus, "openssl gave no modulus")
  keys[id] = { pem = pem, modulus = modulus, exponent = 65537 }
  return keys[id]
end

-- One control call of the mock through the curl command line.
local function control(m, method, path, body)
  local res = m:request{ method = method, path = path, body = body }
  local ok, v = pcall(cjson.decode, res.body)
  if res.status ~= 200 or not ok then
    error("mock control " .. method .. " " .. path .. ": HTTP " .. res.status .. " " .. res.body, 2)
  end
  return v
end

--- A service-account file for the mock: returns its parsed JSON and its path.
function M.service_account(m, opts)
  opts = opts or {}
  local key = opts.key or M.rsa_key("default", opts.pkcs1)
  local info = {
    type = "service_account",
    project_id = opts.project_id or "mock-project",
    private_key_id = opts.private_key_id or "mock-key-1",
    private_key = key.pem,
    client_email = opts.email or "vertex-spec@mock-project.iam.gserviceaccount.com",
    client_id = "100000000000000000001",
    auth_uri = "https://accounts.google.com/o/oauth2/auth",
    token_uri = opts.token_uri or (m.url .. "/oauth2/token"),
  }
  if opts.register ~= false then
    control(m, "POST", "/_mock/auth/service_accounts", { client_email = info.client_email,
      modulus = key.modulus, exponent = key.exponent, private_key_id = info.private_key_id })
  end
  return info, M.write_json(info)
end

--- An authorized_user file (gcloud auth application-default login) for
-- the mock: returns its parsed JSON and its path.
function M.authorized_user(m, opts)
  opts = opts or {}
  local info = {
    type = "authorized_user",
    client_id = opts.client_id or "mock-client.apps.googleusercontent.com",
    client_secret = opts.client_secret or "mock-client-secret-0123456789",
    refresh_token = opts.refresh_token or "1//mock-refresh-token-abcdefghijklmnop",
    quota_project_id = opts.quota_project_id,
    token_uri = opts.token_uri == nil and (m.url .. "/oauth2/token") or opts.token_uri or nil,
  }
  if opts.register ~= false then
    control(m, "POST", "/_mock/auth/users", { client_id = info.client_id,
      client_secret = info.client_secret, refresh_token = info.refresh_token })
  end
  return info, M.write_json(info)
end

--- Sets the mock's auth settings (expires_in, latency, project_id, oauth_errors).
function M.settings(m, t)
  return control(m, "POST", "/_mock/auth/settings", t).settings
end

--- The mock's counts of token requests by kind.
function M.counts(m)
  return control(m, "GET", "/_mock/auth/counts")
end

--- Sends a credential source's request (`src:token_request()`) through a
-- client's transport: the answer `{status, headers, body}`, or nil, kind, msg.
function M.send(client, req)
  local headers = {}
  for k, v in pairs(req.headers or {}) do headers[#headers + 1] = k .. ": " .. v end
  if req.content_type then headers[#headers + 1] = "Content-Type: " .. req.content_type end
  return client.transport:request{ method = req.method, url = req.url, headers = headers,
    body = req.body, timeout = 10, connect_timeout = 5 }
end

--- Removes every file and directory made by this module.
function M.cleanup()
  for i = #made, 1, -1 do
    mock.popen_read("rm -rf " .. q(made[i]) .. " 2>/dev/null")
    made[i] = nil
  end
  keys = {}
end

return M
