-- Credential sources of Vertex AI mode (lua/gemini/auth/credentials.lua,
-- lua/gemini/auth/jwt.lua, src/sign.c) against the mock's token endpoint
-- and metadata server (spec/mock/auth_routes.py), through the real HTTP
-- stack: each source's token request goes out through a client's
-- transport (libcurl), and the mock checks the JWT's RS256 signature and
-- claims for real.
local gemini = require("gemini")
local core = require("gemini.core")
local credentials = require("gemini.auth.credentials")
local jwt = require("gemini.auth.jwt")
local mock = require("support.mock")
local creds = require("support.credentials")

-- A fake environment for `credentials.load`.
local function env_of(t)
  return function(name) return t[name] end
end

-- An environment where nothing is found: no file, no metadata host set.
local NOWHERE = { HOME = "/nonexistent-home" }

describe("credentials", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each }
  local client
  local messages     -- every message the sources produced, for the secrets check

  setup(function()
    client = gemini.Client{ api_key = false, base_url = m.url }
  end)
  teardown(function()
    client:close()
    creds.cleanup()
  end)
  before_each(function() messages = {} end)

  -- The token of `src`, minted by the mock: token, expires_in | nil, message.
  local function mint(src)
    local res, kind, msg = creds.send(client, src:token_request())
    if not res then
      local text = src:describe_failure(msg)
      messages[#messages + 1] = text
      return nil, text, kind
    end
    local token, ttl = src:parse_token(res)
    if not token then messages[#messages + 1] = ttl end
    return token, ttl
  end

  -- A service-account table (not registered with the mock) with fields
  -- replaced (false: removed).
  local function sa(over)
    local info = creds.service_account(m, { register = false })
    for k, v in pairs(over) do
      if v == false then info[k] = nil else info[k] = v end
    end
    return info
  end

  -- Whether the mock takes `token` as a bearer token (token_registry).
  local function valid_tokens()
    return mock.popen_read("curl -s " .. mock.shell_quote(m.url .. "/_mock/access_tokens")):match('"valid":%s*(%d+)')
  end

  describe("service account", function()
    it("from a path: the mock verifies the RS256 JWT and issues a token", function()
      local _, path = creds.service_account(m)
      local src = credentials.load(path)
      local token, ttl = mint(src)
      assert.is_string(token)
      assert.matches("^ya29%.mock%-", token)
      assert.equal(3600, ttl)
      assert.equal("1", valid_tokens())
      local counts = creds.counts(m)
      assert.equal(1, counts.jwt_bearer)
      assert.equal(1, counts.issued)
      assert.equal(0, counts.refused)
    end)

    it("from a table: kind, id, project, secrets", function()
      local info = creds.service_account(m, { project_id = "sa-project" })
      local src = credentials.load(info)
      assert.equal("service_account", src.kind)
      assert.equal("service_account:vertex-spec@mock-project.iam.gserviceaccount.com@"
        .. m.url .. "/oauth2/token", src.id)
      assert.equal("sa-project", src.project_id)
      assert.is_nil(src.quota_project_id)
      assert.same({ info.private_key }, src.secrets)
      assert.is_string((mint(src)))
    end)

    it("signs with a PKCS#1 key (BEGIN RSA PRIVATE KEY) too", function()
      local info = creds.service_account(m, { pkcs1 = true })
      assert.truthy(info.private_key:find("BEGIN RSA PRIVATE KEY", 1, true))
      assert.is_string((mint(credentials.load(info))))
    end)

    it("sends the jwt-bearer grant, form-encoded, with the claims of google-auth", function()
      local info = creds.service_account(m)
      local req = credentials.load(info):token_request()
      assert.equal("POST", req.method)
      assert.equal(info.token_uri, req.url)
      assert.equal("application/x-www-form-urlencoded", req.content_type)
      local grant, assertion = req.body:match("^grant_type=([^&]*)&assertion=([^&]*)$")
      assert.equal("urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer", grant)
      local header, claims = jwt.decode_unverified(assertion)
      assert.same({ alg = "RS256", typ = "JWT", kid = "mock-key-1" }, header)
      assert.equal(info.client_email, claims.iss)
      assert.equal("https://www.googleapis.com/auth/cloud-platform", claims.scope)
      assert.equal(info.token_uri, claims.aud)
      assert.is_true(math.abs(claims.iat - os.time()) <= 2)
      assert.equal(claims.iat + 3600, claims.exp)
    end)

    it("a key the server does not know: a clear refusal, no key in it", function()
      local info = creds.service_account(m, { key = creds.rsa_key("other"), register = false })
      creds.service_account(m)   -- the same email registered with the default key
      local token, msg = mint(credentials.load(info))
      assert.is_nil(token)
      assert.equal("token request to " .. info.token_uri
        .. ": HTTP 400: invalid_grant: Invalid JWT Signature.", msg)
      assert.equal(1, creds.counts(m).refused)
    end)

    it("the mock refuses a JWT with another audience, a stale iat, a long life or no scope", function()
      local info = creds.service_account(m)
      local now = os.time()
      local function claims(over)
        local c = { iss = info.client_email, scope = credentials.SCOPE, aud = info.token_uri,
                    iat = now, exp = now + 3600 }
        for k, v in pairs(over) do c[k] = v end
        return c
      end
      local cases = {
        { claims{ aud = "https://oauth2.googleapis.com/token" }, "invalid_grant: Invalid JWT: Failed audience check." },
        { claims{ iat = now - 600, exp = now + 3000 }, "invalid_grant: Invalid JWT: Token must be a short-lived token" },
        { claims{ exp = now + 7200 }, "invalid_grant: Invalid JWT: Token must be a short-lived token" },
        { claims{ scope = "https://www.googleapis.com/auth/drive" }, "invalid_scope: Invalid OAuth scope" },
        { claims{}, nil },
      }
      local src = credentials.load(info)
      for _, case in ipairs(cases) do
        local assertion = assert(jwt.sign(case[1], info.private_key, info.private_key_id))
        local res = creds.send(client, { method = "POST", url = info.token_uri,
          content_type = "application/x-www-form-urlencoded",
          body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" .. assertion })
        local token, msg = src:parse_token(res)
        if case[2] then
          local want = "token request to " .. info.token_uri .. ": HTTP 400: " .. case[2]
          assert.is_nil(token)
          assert.equal(want, msg:sub(1, #want))   -- the description's start
        else
          assert.is_string(token, msg)
        end
      end
    end)

    it("short expiries on demand: the lifetime the server gives", function()
      creds.settings(m, { expires_in = 2 })
      local _, path = creds.service_account(m)
      local token, ttl = mint(credentials.load(path))
      assert.is_string(token)
      assert.equal(2, ttl)
    end)
  end)

  describe("authorized_user", function()
    it("exchanges the refresh token at the file's token_uri", function()
      local info, path = creds.authorized_user(m, { quota_project_id = "billing-project" })
      local src = credentials.load(path)
      assert.equal("authorized_user", src.kind)
      assert.is_nil(src.project_id)   -- quota_project_id is not the project
      assert.equal("billing-project", src.quota_project_id)
      local req = src:token_request()
      assert.equal("POST", req.method)
      assert.equal(info.token_uri, req.url)
      assert.equal("grant_type=refresh_token&client_id=mock-client.apps.googleusercontent.com"
        .. "&client_secret=mock-client-secret-0123456789&refresh_token=1%2F%2Fmock-refresh-token-abcdefghijklmnop",
        req.body)
      local token, ttl = mint(src)
      assert.matches("^ya29%.mock%-", token)
      assert.equal(3600, ttl)
      assert.equal(1, creds.counts(m).refresh_token)
    end)

    it("Google's token endpoint when the file names none", function()
      local info = creds.authorized_user(m, { token_uri = false, register = false })
      assert.equal("https://oauth2.googleapis.com/token", credentials.load(info):token_request().url)
    end)

    it("its id tells users of one client apart, without their secrets", function()
      local a = credentials.load((creds.authorized_user(m, { register = false })))
      local b = credentials.load((creds.authorized_user(m, { register = false,
        refresh_token = "1//another-refresh-token-xyz" })))
      assert.not_equal(a.id, b.id)
      assert.matches("^authorized_user:mock%-client%.apps%.googleusercontent%.com:%x+@", a.id)
      assert.is_nil(a.id:find("mock-refresh-token", 1, true))
      assert.is_nil(a.id:find("mock-client-secret", 1, true))
    end)

    it("a revoked refresh token: invalid_grant, clearly", function()
      creds.authorized_user(m)   -- registered with its usual token
      local info = creds.authorized_user(m, { register = false, refresh_token = "1//revoked-refresh-token-000" })
      local token, msg = mint(credentials.load(info))
      assert.is_nil(token)
      assert.equal("token request to " .. info.token_uri
        .. ": HTTP 400: invalid_grant: Token has been expired or revoked.", msg)
    end)

    it("a wrong client secret: invalid_client", function()
      creds.authorized_user(m)
      local info = creds.authorized_user(m, { register = false, client_secret = "wrong-client-secret-0000" })
      local token, msg = mint(credentials.load(info))
      assert.is_nil(token)
      assert.equal("token request to " .. info.token_uri .. ": HTTP 401: invalid_client: Unauthorized", msg)
    end)
  end)

  describe("Application Default Credentials", function()
    -- A gcloud configuration directory holding an ADC file of `info`.
    local function gcloud_dir(info)
      local dir = creds.dir()
      creds.write_json(info, dir .. "/application_default_credentials.json")
      return dir
    end

    it("GOOGLE_APPLICATION_CREDENTIALS wins over gcloud's file", function()
      local _, sa_path = creds.service_account(m)
      local dir = gcloud_dir((creds.authorized_user(m)))
      local src = credentials.load(nil, env_of{ GOOGLE_APPLICATION_CREDENTIALS = sa_path,
        CLOUDSDK_CONFIG = dir, HOME = "/nonexistent-home" })
      assert.equal("service_account", src.kind)
      assert.is_string((mint(src)))
    end)

    it("then gcloud's file in CLOUDSDK_CONFIG, which wins over HOME", function()
      local dir = gcloud_dir((creds.authorized_user(m)))
      local home = creds.dir()
      mock.popen_read("mkdir -p " .. mock.shell_quote(home .. "/.config/gcloud"))
      creds.write_json(sa({}), home .. "/.config/gcloud/application_default_credentials.json")
      local src = credentials.load(nil, env_of{ CLOUDSDK_CONFIG = dir, HOME = home })
      assert.equal("authorized_user", src.kind)
      assert.is_string((mint(src)))
    end)

    it("then gcloud's file in HOME/.config/gcloud", function()
      local home = creds.dir()
      mock.popen_read("mkdir -p " .. mock.shell_quote(home .. "/.config/gcloud"))
      creds.write_json(creds.service_account(m), home .. "/.config/gcloud/application_default_credentials.json")
      local src = credentials.load(nil, env_of{ HOME = home, GCE_METADATA_HOST = "127.0.0.1:9" })
      assert.equal("service_account", src.kind)
      assert.is_string((mint(src)))
    end)

    it("GOOGLE_APPLICATION_CREDENTIALS naming no file is an error, not a fallback", function()
      assert.has_error(function()
        credentials.load(nil, env_of{ GOOGLE_APPLICATION_CREDENTIALS = "/nonexistent/sa.json" })
      end, "credentials file '/nonexistent/sa.json' (GOOGLE_APPLICATION_CREDENTIALS): cannot be read"
        .. " (No such file or directory)")
    end)

    it("then the metadata server, at GCE_METADATA_HOST, with Metadata-Flavor: Google", function()
      local env = { HOME = "/nonexistent-home", GCE_METADATA_HOST = "127.0.0.1:" .. m.port }
      local src = credentials.load(nil, env_of(env))
      assert.equal("metadata", src.kind)
      assert.equal("metadata:127.0.0.1:" .. m.port, src.id)
      assert.same({}, src.secrets)
      local token, ttl = mint(src)
      assert.matches("^ya29%.mock%-", token)
      assert.equal(3600, ttl)
      local entry = m:last()
      assert.equal("/computeMetadata/v1/instance/service-accounts/default/token", entry.path)
      assert.equal("https://www.googleapis.com/auth/cloud-platform", entry.query.scopes)
      assert.equal("Google", entry.headers["metadata-flavor"])
      assert.equal(1, creds.counts(m).metadata_token)
      -- and the machine's project
      creds.settings(m, { project_id = "gce-project" })
      local res = creds.send(client, src:project_request())
      assert.equal("gce-project", (src:parse_project(res)))
      assert.equal("Google", m:last().headers["metadata-flavor"])
    end)

    it("GCE_METADATA_ROOT when GCE_METADATA_HOST is not set; else metadata.google.internal", function()
      local src = credentials.load(nil, env_of{ GCE_METADATA_ROOT = "127.0.0.1:" .. m.port })
      assert.is_string((mint(src)))
      local default = credentials.load(nil, env_of(NOWHERE))
      assert.equal("metadata:metadata.google.internal", default.id)
      assert.equal("http://metadata.google.internal/computeMetadata/v1/project/project-id",
        default:project_request().url)
    end)

    it("the metadata server refuses a request without Metadata-Flavor", function()
      local src = credentials.load(nil, env_of{ HOME = "/nonexistent-home", GCE_METADATA_HOST = "127.0.0.1:" .. m.port })
      local req = src:token_request()
      req.headers = {}
      local res = creds.send(client, req)
      local token, msg = src:parse_token(res)
      assert.is_nil(token)
      assert.equal("metadata server http://127.0.0.1:" .. m.port
        .. "/computeMetadata/v1/: HTTP 403: Missing Metadata-Flavor:Google header.", msg)
    end)

    it("nothing found and no metadata server: says so, and where it looked", function()
      -- a port nothing listens on: the mock's, once stopped
      local gone = mock.start{}
      local port = gone.port
      gone:stop()
      local src = credentials.load(nil, env_of{ HOME = "/nonexistent-home", GCE_METADATA_HOST = "127.0.0.1:" .. port })
      local token, msg = mint(src)
      assert.is_nil(token)
      assert.matches("^no Google Cloud credentials found: GOOGLE_APPLICATION_CREDENTIALS is not set; "
        .. "/nonexistent%-home/%.config/gcloud/application_default_credentials%.json does not exist; "
        .. "and the metadata server at http://127%.0%.0%.1:" .. port .. "/computeMetadata/v1/ could not "
        .. "be reached %(.+%)%. Pass credentials = a service%-account file, or set "
        .. "GOOGLE_APPLICATION_CREDENTIALS$", msg)
    end)
  end)

  describe("a function", function()
    it("is the source itself: kind, fn and an id of its own", function()
      local function f() return "tok", 60 end
      local function g() return "tok", 60 end
      local src = credentials.load(f)
      assert.equal("function", src.kind)
      assert.equal(f, src.fn)
      assert.equal(src.id, credentials.load(f).id)
      assert.not_equal(src.id, credentials.load(g).id)
      assert.is_nil(src.token_request)
    end)
  end)

  describe("malformed credentials", function()
    it("a file that is not JSON, or not an object", function()
      local path = creds.write("{ \"type\": \"service_account\", ")
      assert.has_error(function() credentials.load(path) end,
        "credentials file '" .. path .. "': not valid JSON (unexpected end of input at byte 30)")
      local list = creds.write("[1, 2]")
      assert.has_error(function() credentials.load(list) end,
        "credentials file '" .. list .. "': not a JSON object")
      local empty = creds.write("[]")
      assert.has_error(function() credentials.load(empty) end,
        "credentials file '" .. empty .. "': not a JSON object")
      assert.has_error(function() credentials.load({}) end,
        "credentials table: field 'type' is missing")
      assert.has_error(function() credentials.load({ "service_account" }) end,
        "credentials table: not a JSON object")
    end)

    it("a file that does not exist", function()
      assert.has_error(function() credentials.load("/nonexistent/key.json") end,
        "credentials file '/nonexistent/key.json': cannot be read (No such file or directory)")
    end)

    it("a missing field, named, in a file and in a table", function()
      for _, name in ipairs({ "client_email", "private_key", "token_uri", "type" }) do
        local info = sa({ [name] = false })
        local path = creds.write_json(info)
        assert.has_error(function() credentials.load(path) end,
          "credentials file '" .. path .. "': field '" .. name .. "' is missing")
        assert.has_error(function() credentials.load(info) end,
          "credentials table: field '" .. name .. "' is missing")
      end
      local user = creds.authorized_user(m, { register = false })
      user.refresh_token = nil
      assert.has_error(function() credentials.load(user) end,
        "credentials table: field 'refresh_token' is missing")
    end)

    it("a field of the wrong type", function()
      assert.has_error(function() credentials.load(sa({ client_email = 42 })) end,
        "credentials table: field 'client_email' must be a string (got number)")
      assert.has_error(function() credentials.load(sa({ project_id = { "p" } })) end,
        "credentials table: field 'project_id' must be a string (got an object or array)")
      assert.has_error(function() credentials.load(sa({ token_uri = "" })) end,
        "credentials table: field 'token_uri' is empty")
    end)

    it("an unknown type", function()
      assert.has_error(function() credentials.load(sa({ type = "external_account" })) end,
        "credentials table: field 'type' is \"external_account\" (\"service_account\" or"
        .. " \"authorized_user\" expected)")
    end)

    it("a private key that is not a key, or not an RSA key", function()
      local path = creds.write_json(sa({ private_key = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n" }))
      assert.has_error(function() credentials.load(path) end,
        "credentials file '" .. path .. "': field 'private_key' is not a usable RSA private key"
        .. " (not a PEM private key, or one protected by a passphrase)")
      local ec = mock.popen_read("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null")
      assert.truthy(ec:find("BEGIN PRIVATE KEY", 1, true))
      assert.has_error(function() credentials.load(sa({ private_key = ec })) end,
        "credentials table: field 'private_key' is not a usable RSA private key"
        .. " (the private key is not an RSA key)")
    end)

    it("a spec or env of the wrong type", function()
      assert.has_error(function() credentials.load(42) end,
        "bad field 'credentials' to 'Client' (a file path, a table or a function expected, got number)")
      assert.has_error(function() credentials.load(nil, "HOME") end,
        "bad argument #2 to 'credentials.load' (function expected, got string)")
    end)
  end)

  describe("secrets", function()
    it("no private key, refresh token or client secret in any message", function()
      local sa_info = creds.service_account(m, { key = creds.rsa_key("other"), register = false })
      local user = creds.authorized_user(m, { register = false })
      local raised = {}
      local function catch(fn)
        local ok, err = pcall(fn)
        assert.is_false(ok)
        raised[#raised + 1] = tostring(err)
      end
      -- refusals by the token endpoint
      mint(credentials.load(sa_info))
      mint(credentials.load(user))
      -- a server that echoes the refresh token and the secret back
      m:faults{ { type = "status", code = 400, message = "bad request " .. user.refresh_token
        .. " with " .. user.client_secret } }
      local token, echoed = mint(credentials.load(user))
      assert.is_nil(token)
      assert.equal("token request to " .. user.token_uri .. ": HTTP 400: bad request [REDACTED] with [REDACTED]", echoed)
      -- a transfer that fails
      local dead = creds.service_account(m, { token_uri = "http://127.0.0.1:9/oauth2/token", register = false })
      mint(credentials.load(dead))
      -- files and tables that are wrong elsewhere
      catch(function() credentials.load(sa({ client_email = 1 })) end)
      catch(function()
        local bad = {}
        for k, v in pairs(user) do bad[k] = v end
        bad.client_id = nil
        credentials.load(bad)
      end)
      local half = sa({})
      half.private_key = half.private_key:sub(1, 300)
      catch(function() credentials.load(half) end)
      catch(function() credentials.load(creds.write(sa_info.private_key)) end)
      assert.is_true(#messages >= 4)
      for _, text in ipairs(messages) do raised[#raised + 1] = text end
      local sources = { credentials.load(sa_info), credentials.load(user) }
      for _, src in ipairs(sources) do raised[#raised + 1] = src.id end
      local key_body = sa_info.private_key:match("KEY%-%-%-%-%-\n(.-)\n")
      for _, text in ipairs(raised) do
        assert.is_nil(text:find(key_body, 1, true), text)
        assert.is_nil(text:find(user.refresh_token, 1, true), text)
        assert.is_nil(text:find(user.client_secret, 1, true), text)
      end
      assert.same({ sa_info.private_key }, sources[1].secrets)
      assert.same({ user.client_secret, user.refresh_token }, sources[2].secrets)
    end)
  end)
end)

describe("core.rs256_sign", function()
  teardown(function() creds.cleanup() end)

  it("makes the RSASSA-PKCS1-v1_5 SHA-256 signature openssl verifies, PKCS#8 and PKCS#1", function()
    local key = creds.rsa_key("default")
    local pub = creds.write(mock.popen_read("openssl pkey -pubout -in " .. mock.shell_quote(creds.write(key.pem)) .. " 2>/dev/null"))
    local data = creds.write("header.claims")
    for _, pem in ipairs({ key.pem, creds.rsa_key("default", true).pem }) do
      local sig = assert(core.rs256_sign(pem, "header.claims"))
      assert.equal(256, #sig)
      local sigfile = creds.write(sig)
      assert.equal("Verified OK", mock.popen_read("openssl dgst -sha256 -verify " .. mock.shell_quote(pub)
        .. " -signature " .. mock.shell_quote(sigfile) .. " " .. mock.shell_quote(data) .. " 2>&1"):match("^%s*(.-)%s*$"))
    end
  end)

  it("refuses what cannot sign, without prompting or quoting the key", function()
    assert.same({ nil, "rs256_sign: not a PEM private key, or one protected by a passphrase" },
      { core.rs256_sign("secret-looking-garbage", "x") })
    local enc = mock.popen_read("openssl genrsa -aes128 -passout pass:pw 1024 2>/dev/null")
    assert.truthy(enc:find("ENCRYPTED", 1, true))
    assert.same({ nil, "rs256_sign: not a PEM private key, or one protected by a passphrase" },
      { core.rs256_sign(enc, "x") })
    assert.has_error(function() core.rs256_sign(nil, "x") end,
      "bad argument #1 to 'rs256_sign' (string expected, got nil)")
  end)

  it("core.sha256 is SHA-256", function()
    local digest = core.sha256("abc"):gsub(".", function(c) return string.format("%02x", c:byte()) end)
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", digest)
  end)
end)
