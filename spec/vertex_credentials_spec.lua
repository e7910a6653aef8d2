-- Vertex AI mode with real credentials, end to end: gemini.Client{
-- vertexai = true, credentials = ... } with a service-account file (path
-- or table), an authorized_user file and Application Default Credentials,
-- its token minted by the mock's token endpoint or metadata server
-- (spec/mock/auth_routes.py, which verifies the RS256 JWT and the refresh
-- grant) and sent to the mock's Vertex routes (spec/mock/vertex_routes.py),
-- all through the real HTTP stack: blocking, on a luv loop, in nginx.
local cjson = require("cjson")
local gemini = require("gemini")
local mock = require("support.mock")
local creds = require("support.credentials")
local nginx = require("support.nginx")

local MODEL = "gemini-2.5-flash"
local PROJECT, LOCATION = "proj-e2e", "us-central1"
local SCOPE = "/v1beta1/projects/" .. PROJECT .. "/locations/" .. LOCATION .. "/"
local MODEL_PATH = SCOPE .. "publishers/google/models/" .. MODEL

-- A closed port: a request through this proxy goes nowhere (its URL is
-- read from the log line written before it is sent).
local NO_PROXY_THERE = "http://127.0.0.1:1"

local function lit(s) return (s:gsub("%p", "%%%0")) end

-- Runs `code` in a fresh Lua with nothing of Google Cloud in its
-- environment but `env` (prepended, "NAME=value ..."); its output.
local function run(env, code)
  local lua = arg and arg[-1] or "lua5.4"
  local p = io.popen("env -u GOOGLE_API_KEY -u GEMINI_API_KEY -u GOOGLE_CLOUD_PROJECT"
    .. " -u GOOGLE_CLOUD_LOCATION -u GOOGLE_GENAI_USE_VERTEXAI -u GOOGLE_GENAI_USE_ENTERPRISE"
    .. " -u GOOGLE_VERTEX_BASE_URL -u GEMINI_BASE_URL -u GOOGLE_APPLICATION_CREDENTIALS"
    .. " -u CLOUDSDK_CONFIG -u GCE_METADATA_HOST -u GCE_METADATA_ROOT -u http_proxy -u https_proxy"
    .. " -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u all_proxy -u no_proxy -u NO_PROXY "
    .. env .. " " .. lua .. " -e " .. mock.shell_quote(code) .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

-- In a fresh Lua under `env`: a Vertex client with `opts` (Lua source of
-- a table's fields) and one generate_content. Its output: "TEXT <text>",
-- "ERROR <kind>: <message>", or "RAISED <message>" (at Client{}); with
-- `show_urls`, first each URL a POST went to ("URL <url>\n").
local function child_call(env, opts, show_urls)
  return run(env, [[
    local gemini = require("gemini")
    local ok, c = pcall(gemini.Client, { vertexai = true, retry = false, ]] .. opts .. [[,
      log = function(l)
        local url = ]] .. tostring(show_urls == true) .. [[ and l:match("^gemini: POST (%S+)")
        if url then io.write("URL ", url, "\n") end
      end })
    if not ok then io.write("RAISED ", tostring(c)) return end
    local res, err = c.models:generate_content{ model = "gemini-2.5-flash", contents = "adc" }
    if res then io.write("TEXT ", res.text) else io.write("ERROR ", err.kind, ": ", err.message) end
  ]])
end

-- Every 40-character piece of `s`.
local function slices(s, n)
  n = n or 40
  local list = {}
  for i = 1, #s - n + 1 do list[#list + 1] = s:sub(i, i + n - 1) end
  return list
end

describe("Vertex AI mode with real credentials", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each,
                        key = "vertex-e2e-key" }
  teardown(function() creds.cleanup() end)

  -- Each test its own identity: a token cached by an earlier test's
  -- client (the cache is per identity, see gemini.auth.tokens) is not
  -- taken from one that the mock has since forgotten. `make(m, opts)` of
  -- support.credentials, with `field` made unique from `format`.
  local serial = 0
  local function unique(make, field, format)
    return function(opts)
      serial = serial + 1
      local o = { [field] = format:format(serial) }
      for k, v in pairs(opts or {}) do o[k] = v end
      return make(m, o)
    end
  end
  local sa_file = unique(creds.service_account, "email", "e2e-%d@mock-project.iam.gserviceaccount.com")
  local user_file = unique(creds.authorized_user, "refresh_token", "1//e2e-refresh-token-%d-abcdefghijk")

  local function vclient(credentials, opts)
    local o = { vertexai = true, project = PROJECT, location = LOCATION, base_url = m.url,
                retry = false, credentials = credentials }
    for k, v in pairs(opts or {}) do o[k] = v end
    return gemini.Client(o)
  end

  -- The mock's log entries for the Vertex model routes.
  local function model_calls()
    local list = {}
    for _, e in ipairs(m:log()) do
      if e.path:find("/publishers/google/models/", 1, true) then list[#list + 1] = e end
    end
    return list
  end

  -- How many token requests the mock received (refused ones and those a
  -- fault answered included).
  local function token_requests()
    local n = 0
    for _, e in ipairs(m:log()) do
      if e.path == "/oauth2/token" then n = n + 1 end
    end
    return n
  end

  -- A generate_content and a stream; both answered.
  local function generate_and_stream(c, tag)
    local res, err = c.models:generate_content{ model = MODEL, contents = "gen " .. tag }
    assert.is_nil(err)
    assert.matches('You asked: "gen ' .. tag .. '"', res.text, 1, true)
    local s = c.models:generate_content_stream{ model = MODEL, contents = "stream " .. tag }
    for _ in s do end
    assert.is_nil(s.err)
    assert.matches('You asked: "stream ' .. tag .. '"', s.response.text, 1, true)
  end

  describe("blocking calls", function()
    for _, case in ipairs({
      { "a service-account file path", function() return (select(2, sa_file())) end, "jwt_bearer" },
      { "the same service account as a table", function() return (sa_file()) end, "jwt_bearer" },
      { "an authorized_user file (its quota project as x-goog-user-project)", function()
        return (select(2, user_file{ quota_project_id = "billing-proj" }))
      end, "refresh_token", "billing-proj" },
    }) do
      local name, credentials, grant, quota_project = case[1], case[2], case[3], case[4]
      it(name .. ": one token for several calls and streams", function()
        local c = vclient(credentials())
        generate_and_stream(c, "1")
        generate_and_stream(c, "2")
        local counts = creds.counts(m)
        assert.equal(1, counts[grant])
        assert.equal(1, counts.jwt_bearer + counts.refresh_token)
        assert.equal(0, counts.refused)
        local calls = model_calls()
        assert.equal(4, #calls)
        assert.equal(MODEL_PATH .. ":generateContent", calls[1].path)
        assert.equal(MODEL_PATH .. ":streamGenerateContent", calls[2].path)
        for _, e in ipairs(calls) do
          assert.equal(200, e.status)
          assert.matches("^Bearer ya29%.mock%-", e.headers.authorization)
          assert.equal(calls[1].headers.authorization, e.headers.authorization)
          assert.is_nil(e.headers["x-goog-api-key"])
          assert.equal(quota_project, e.headers["x-goog-user-project"])
        end
      end)
    end

    it("refreshes a short-lived token ahead of its expiry (no 401 first)", function()
      creds.settings(m, { expires_in = 2 })   -- renewed after 1.5 s (three quarters)
      local c = vclient((select(2, sa_file())))
      generate_and_stream(c, "a")
      assert.equal(1, creds.counts(m).jwt_bearer)
      mock.sleep(1.7)
      generate_and_stream(c, "b")
      assert.equal(2, creds.counts(m).jwt_bearer)
      local calls = model_calls()
      assert.equal(4, #calls)
      for _, e in ipairs(calls) do assert.equal(200, e.status) end
      assert.are_not.equal(calls[1].headers.authorization, calls[3].headers.authorization)
    end)

    it("a revoked token: one refresh and one retry, for a call and for a stream", function()
      for _, make in ipairs({ sa_file, user_file }) do
        m:reset()
        local c = vclient((select(2, make())))
        generate_and_stream(c, "before")
        m:revoke_tokens()
        local res, err = c.models:generate_content{ model = MODEL, contents = "after" }
        assert.is_nil(err)
        assert.matches('You asked: "after"', res.text, 1, true)
        m:revoke_tokens()
        local s = c.models:generate_content_stream{ model = MODEL, contents = "streamed" }
        for _ in s do end
        assert.matches('You asked: "streamed"', s.response.text, 1, true)
        local counts = creds.counts(m)
        assert.equal(3, counts.jwt_bearer + counts.refresh_token)
        local calls = model_calls()
        assert.equal(6, #calls)
        assert.same({ 200, 200, 401, 200, 401, 200 }, { calls[1].status, calls[2].status,
          calls[3].status, calls[4].status, calls[5].status, calls[6].status })
        assert.equal("revoked", calls[3].auth)
        assert.equal("revoked", calls[5].auth)
      end
    end)

    it("says which token endpoint could not be reached or refused", function()
      local dead = sa_file{ token_uri = "http://127.0.0.1:9/oauth2/token", register = false }
      local res, err = vclient(dead).models:generate_content{ model = MODEL, contents = "x" }
      assert.is_nil(res)
      assert.equal("auth", err.kind)
      assert.matches("^no access token from the service_account credentials: token request to"
        .. " http://127%.0%.0%.1:9/oauth2/token: .+", err.message)
      local unknown = sa_file{ register = false }
      res, err = vclient(unknown).models:generate_content{ model = MODEL, contents = "x" }
      assert.is_nil(res)
      assert.equal("no access token from the service_account credentials: token request to "
        .. m.url .. "/oauth2/token: HTTP 400: invalid_grant: Invalid JWT Signature.", err.message)
      assert.equal(0, #model_calls())
    end)

    it("retries a token request that failed for a while, as the client retries its calls", function()
      -- google-auth retries a token request on 500, 503, 504, 408, 429
      -- (google/oauth2/_client.py _can_retry); here the client's policy.
      local RETRY = { attempts = 3, initial_delay = 0.01, jitter = 0 }
      local _, path = sa_file()
      local c = vclient(path, { retry = RETRY })
      m:faults{ { type = "status", code = 503, message = "token endpoint down", match = "/oauth2/token" } }
      local res, err = c.models:generate_content{ model = MODEL, contents = "after a 503" }
      assert.is_nil(err)
      assert.matches('You asked: "after a 503"', res.text, 1, true)
      m:revoke_tokens()
      m:faults{ { type = "close", match = "/oauth2/token" } }
      local s = c.models:generate_content_stream{ model = MODEL, contents = "after a cut" }
      for _ in s do end
      assert.matches('You asked: "after a cut"', s.response.text, 1, true)
      assert.equal(2, creds.counts(m).issued)
      -- What trying again cannot mend is not tried again: a refused grant,
      -- a policy of no retries.
      local unknown = sa_file{ register = false }
      res, err = vclient(unknown, { retry = RETRY }).models:generate_content{ model = MODEL, contents = "x" }
      assert.equal("auth", err.kind)
      m:faults{ { type = "status", code = 503, match = "/oauth2/token" } }
      res, err = vclient((select(2, sa_file()))).models:generate_content{ model = MODEL, contents = "x" }
      assert.is_nil(res)
      assert.equal("auth", err.kind)
      assert.equal(2 + 2 + 1 + 1, token_requests())
    end)

    it("retries a token request refused with 400 server_error or temporarily_unavailable", function()
      -- google-auth tries these OAuth errors again whatever the status
      -- (google/oauth2/_client.py _can_retry); 400 is not in the policy.
      local RETRY = { attempts = 3, initial_delay = 0.01, jitter = 0 }
      creds.settings(m, { oauth_errors = { "server_error", "temporarily_unavailable" } })
      local c = vclient((select(2, sa_file())), { retry = RETRY })
      local res, err = c.models:generate_content{ model = MODEL, contents = "after two refusals" }
      assert.is_nil(err)
      assert.matches('You asked: "after two refusals"', res.text, 1, true)
      assert.equal(3, token_requests())
      -- Another OAuth error is final.
      creds.settings(m, { oauth_errors = { "invalid_grant" } })
      res, err = vclient((select(2, sa_file())), { retry = RETRY }).models:generate_content{
        model = MODEL, contents = "x" }
      assert.is_nil(res)
      assert.equal("auth", err.kind)
      assert.matches(": HTTP 400: invalid_grant: mock: invalid_grant$", err.message)
      assert.equal(4, token_requests())
    end)

    it("takes the project from the service-account file when none is given", function()
      -- The googleapis.com host (only a base_url of one's own drops the
      -- project): its URL is in the log, the token comes from the mock.
      local _, path = sa_file{ project_id = "sa-file-project" }
      local out = child_call("no_proxy=127.0.0.1", "credentials = " .. string.format("%q", path)
        .. ", proxy = '" .. NO_PROXY_THERE .. "'", true)
      assert.matches("\nURL https://aiplatform%.googleapis%.com/v1beta1/projects/sa%-file%-project/"
        .. "locations/global/publishers/google/models/gemini%-2%.5%-flash:generateContent\n", "\n" .. out)
      assert.matches("\nERROR transport: ", out)
      assert.equal(1, creds.counts(m).jwt_bearer)
    end)

    it("raises at Client{} for a malformed credentials file, naming the file and the field", function()
      local info, path = sa_file()
      info.client_email = nil
      creds.write_json(info, path)
      assert.has_error(function() vclient(path) end,
        "credentials file '" .. path .. "': field 'client_email' is missing")
      info.client_email = 42
      creds.write_json(info, path)
      assert.has_error(function() vclient(path) end,
        "credentials file '" .. path .. "': field 'client_email' must be a string (got number)")
      local _, upath = user_file()
      creds.write('{"type": "authorized_user", "client_id": "x", "client_secret": ""}', upath)
      assert.has_error(function() vclient(upath) end,
        "credentials file '" .. upath .. "': field 'client_secret' is empty")
      local bad_key = sa_file()
      bad_key.private_key = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"
      local ok, err = pcall(vclient, bad_key)
      assert.is_false(ok)
      assert.matches("^credentials table: field 'private_key' is not a usable RSA private key %(.+%)$",
        err)
      assert.has_error(function() vclient("/nonexistent/sa.json") end,
        "credentials file '/nonexistent/sa.json': cannot be read (No such file or directory)")
      assert.equal(0, #m:log())   -- nothing was sent
    end)
  end)

  describe("Application Default Credentials (a child process, a fake environment)", function()
    local OPTS
    before_each(function()
      OPTS = "project = '" .. PROJECT .. "', location = '" .. LOCATION .. "', base_url = '"
        .. m.url .. "'"
    end)

    it("GOOGLE_APPLICATION_CREDENTIALS: a service-account file", function()
      local _, path = sa_file()
      local out = child_call("HOME=/nonexistent-home GOOGLE_APPLICATION_CREDENTIALS="
        .. mock.shell_quote(path), OPTS)
      assert.matches('^TEXT [^\n]*You asked: "adc"', out)
      assert.equal(1, creds.counts(m).jwt_bearer)
      assert.equal(MODEL_PATH .. ":generateContent", m:last().path)
      -- A file that is not there is an error, not a fallback (as google-auth's).
      out = child_call("HOME=/nonexistent-home GOOGLE_APPLICATION_CREDENTIALS=/nonexistent/sa.json", OPTS)
      assert.equal("RAISED credentials file '/nonexistent/sa.json' (GOOGLE_APPLICATION_CREDENTIALS):"
        .. " cannot be read (No such file or directory)", out)
    end)

    it("then gcloud's file under CLOUDSDK_CONFIG (an authorized user)", function()
      local info = user_file{ quota_project_id = "gcloud-billing" }
      local dir = creds.dir()
      creds.write_json(info, dir .. "/application_default_credentials.json")
      local out = child_call("HOME=/nonexistent-home CLOUDSDK_CONFIG=" .. mock.shell_quote(dir), OPTS)
      assert.matches('^TEXT [^\n]*You asked: "adc"', out)
      assert.equal(1, creds.counts(m).refresh_token)
      assert.equal("gcloud-billing", m:last().headers["x-goog-user-project"])
      -- A malformed one raises at Client{}, naming it and how it was found.
      creds.write('{"type": "authorized_user", "client_id": "x"}',
        dir .. "/application_default_credentials.json")
      out = child_call("HOME=/nonexistent-home CLOUDSDK_CONFIG=" .. mock.shell_quote(dir), OPTS)
      assert.equal("RAISED credentials file '" .. dir .. "/application_default_credentials.json'"
        .. " (gcloud's application default credentials): field 'client_secret' is missing", out)
    end)

    it("then the metadata server (GCE_METADATA_HOST), the project from GOOGLE_CLOUD_PROJECT", function()
      local host = "127.0.0.1:" .. m.port
      local env = "HOME=/nonexistent-home GCE_METADATA_HOST=" .. host .. " GOOGLE_CLOUD_PROJECT=meta-proj"
      local out = child_call(env, "base_url = '" .. m.url .. "'")
      assert.matches('^TEXT [^\n]*You asked: "adc"', out)
      local counts = creds.counts(m)
      assert.equal(1, counts.metadata_token)
      assert.equal(0, counts.refused)   -- Metadata-Flavor: Google was sent
      assert.matches("^Bearer ya29%.mock%-", m:last().headers.authorization)
      -- On Google's host the project is the environment's.
      out = child_call(env .. " no_proxy=127.0.0.1", "proxy = '" .. NO_PROXY_THERE .. "'", true)
      assert.matches("\nURL https://aiplatform%.googleapis%.com/v1beta1/projects/meta%-proj/"
        .. "locations/global/publishers/google/models/gemini%-2%.5%-flash:generateContent\n", "\n" .. out)
    end)

    -- In a fresh Lua under `env` (the metadata server the mock, no
    -- GOOGLE_CLOUD_PROJECT): a Vertex client on Google's host (its requests
    -- go to a proxy that is not there; the URLs are read from the log) and,
    -- with `uv`, three calls at once on a luv loop, then one blocking call.
    -- Its output: "URL <url>" per POST, "DONE <error kind>: <message>" per call.
    local function metadata_child(env, uv)
      return run(env .. " no_proxy=127.0.0.1", [[
        local gemini = require("gemini")
        local uv = ]] .. (uv and 'require("luv")' or "nil") .. [[
        local c = gemini.Client{ vertexai = true, retry = false, proxy = "]] .. NO_PROXY_THERE .. [[",
          loop = uv, log = function(l)
            local url = l:match("^gemini: POST (%S+)")
            if url then io.write("URL ", url, "\n") end
          end }
        local function done(err) io.write("DONE ", err.kind, ": ", err.message, "\n") end
        if uv then
          for i = 1, 3 do
            c.models:generate_content({ model = "gemini-2.5-flash", contents = "x" }, done)
          end
          uv.run()
        end
        done(select(2, c.models:generate_content{ model = "gemini-2.5-flash", contents = "y" }))
      ]])
    end

    it("the metadata server's project when none is given: asked once for the calls in flight", function()
      local ok_uv = pcall(require, "luv")
      creds.settings(m, { project_id = "metadata-proj", latency = 0.2 })   -- the calls overlap
      local out = metadata_child("HOME=/nonexistent-home GCE_METADATA_HOST=127.0.0.1:" .. m.port, ok_uv)
      local urls = 0
      for url in out:gmatch("URL (%S+)") do
        urls = urls + 1
        assert.equal("https://aiplatform.googleapis.com/v1beta1/projects/metadata-proj/locations/global"
          .. "/publishers/google/models/gemini-2.5-flash:generateContent", url)
      end
      assert.equal(ok_uv and 4 or 1, urls)
      assert.equal(urls, select(2, out:gsub("DONE transport: ", "")))
      local counts = creds.counts(m)
      assert.equal(1, counts.metadata_project)
      assert.equal(1, counts.metadata_token)
    end)

    it("the metadata server's project cannot be had: an error of kind auth that says so", function()
      m:faults{ { type = "status", code = 404, message = "no project", match = "project-id" } }
      local out = metadata_child("HOME=/nonexistent-home GCE_METADATA_HOST=127.0.0.1:" .. m.port)
      assert.matches("^DONE auth: no project id from the metadata credentials: metadata server "
        .. lit("http://127.0.0.1:" .. m.port) .. "/computeMetadata/v1/ %(project%-id%): HTTP 404: no"
        .. " project %(pass project, or set GOOGLE_CLOUD_PROJECT%)\n$", out)
      local asked = 0
      for _, e in ipairs(m:log()) do
        if e.path:find("/project/project-id", 1, true) then asked = asked + 1 end
      end
      assert.equal(1, asked)   -- (answered by the fault, before the route counts it)
    end)

    it("raises at Client{} when no project can be had (a service-account file without one)", function()
      local info = sa_file()
      info.project_id = nil
      local out = child_call("", "credentials = " .. string.format("%q", creds.write_json(info)))
      assert.equal("RAISED gemini.Client: Vertex AI mode needs a project (pass project, set"
        .. " GOOGLE_CLOUD_PROJECT, or use credentials that name one) or an API key (express mode)", out)
    end)

    it("nothing anywhere: an error of kind auth that says where it looked", function()
      local gone = mock.start{}
      local port = gone.port
      gone:stop()
      local out = child_call("HOME=/nonexistent-home GCE_METADATA_HOST=127.0.0.1:" .. port, OPTS)
      assert.matches("^ERROR auth: no Google Cloud credentials found: GOOGLE_APPLICATION_CREDENTIALS"
        .. " is not set; /nonexistent%-home/%.config/gcloud/application_default_credentials%.json does"
        .. " not exist; and the metadata server at " .. lit("http://127.0.0.1:" .. port)
        .. "/computeMetadata/v1/ could not be reached %([^\n]+%)%. Pass credentials = a"
        .. " service%-account file, or set GOOGLE_APPLICATION_CREDENTIALS$", out)
      assert.equal(0, #m:log())
    end)
  end)

  describe("secrets", function()
    it("no key, refresh token, client secret, access token or assertion in a log line or error", function()
      local lines, errs = {}, {}
      local function log(l) lines[#lines + 1] = l end
      local function record(res, err)
        if err then
          errs[#errs + 1] = tostring(err) .. " " .. cjson.encode(err.details or {})
        end
        return res, err
      end
      local info, path = sa_file()
      local user = user_file{ quota_project_id = "billing-proj" }
      for _, spec in ipairs({ path, user }) do
        local c = vclient(spec, { log = log, trace = function(t) log(t.url) end })
        record(c.models:generate_content{ model = MODEL, contents = "ok" })
        m:revoke_tokens()
        local s = c.models:generate_content_stream{ model = MODEL, contents = "s" }
        for _ in s do end
        -- A model error echoing the token back.
        local token = m:last().headers.authorization:match("^Bearer (.+)$")
        m:faults{ { type = "status", code = 400, message = "bad token " .. token } }
        record(c.models:generate_content{ model = MODEL, contents = "x" })
      end
      -- Refused grants, a token endpoint echoing the secrets, no endpoint at all.
      local unknown = sa_file{ register = false, key = creds.rsa_key("other") }
      record(vclient(unknown, { log = log }).models:generate_content{ model = MODEL, contents = "x" })
      local wrong = user_file{ register = false, client_secret = "wrong-secret-0123456789abcdef" }
      record(vclient(wrong, { log = log }).models:generate_content{ model = MODEL, contents = "x" })
      local echoed = user_file{ refresh_token = user.refresh_token .. "-2",
        client_secret = user.client_secret }
      m:faults{ { type = "status", code = 400, message = "echo " .. echoed.refresh_token .. " "
        .. echoed.client_secret } }
      record(vclient(echoed, { log = log }).models:generate_content{ model = MODEL, contents = "x" })
      local dead = sa_file{ token_uri = "http://127.0.0.1:9/oauth2/token", register = false }
      record(vclient(dead, { log = log }).models:generate_content{ model = MODEL, contents = "x" })
      -- Malformed files and tables raise without a secret.
      for _, bad in ipairs({
        { over = { client_email = false } }, { over = { token_uri = 7 } },
        { over = { private_key = info.private_key:sub(1, 400) } },
      }) do
        local t = {}
        for k, v in pairs(info) do t[k] = v end
        for k, v in pairs(bad.over) do t[k] = v or nil end
        local ok, err = pcall(vclient, t)
        assert.is_false(ok)
        errs[#errs + 1] = tostring(err)
        ok, err = pcall(vclient, creds.write_json(t))
        assert.is_false(ok)
        errs[#errs + 1] = tostring(err)
      end
      local ok, err = pcall(vclient, creds.write(info.private_key))
      assert.is_false(ok)
      errs[#errs + 1] = tostring(err)

      -- What must show nowhere: taken from what the mock received.
      local secret = { user.refresh_token, user.client_secret, echoed.refresh_token,
                       wrong.client_secret }
      for _, s in ipairs(slices(info.private_key)) do secret[#secret + 1] = s end
      for _, s in ipairs(slices(creds.rsa_key("other").pem)) do secret[#secret + 1] = s end
      local assertions = 0
      for _, e in ipairs(m:log()) do
        local bearer = (e.headers.authorization or ""):match("^Bearer (.+)$")
        if bearer then secret[#secret + 1] = bearer end
        local assertion = type(e.body) == "string" and e.body:match("assertion=([^&]+)")
        if assertion then
          assertions = assertions + 1
          for _, part in ipairs({ assertion:match("^([^.]+)%.([^.]+)%.([^.]+)$") }) do
            secret[#secret + 1] = part
          end
        end
      end
      assert.is_true(assertions >= 3)
      assert.is_true(#lines > 20)
      assert.is_true(#errs >= 12)
      for _, text in ipairs(lines) do
        assert.is_nil(text:find("assertion=", 1, true), text)
        assert.is_nil(text:find("refresh_token=", 1, true), text)
      end
      for _, list in ipairs({ lines, errs }) do
        for _, text in ipairs(list) do
          for _, s in ipairs(secret) do assert.is_nil(text:find(s, 1, true), text) end
        end
      end
    end)
  end)

  local ok_uv, uv = pcall(require, "luv")
  local describe_uv = ok_uv and describe or pending
  describe_uv("on a luv loop", function()
    local loop = require("support.loop")
    local c
    loop.hygiene(uv, { teardown = teardown, after_each = after_each }, function() return c end)
    after_each(function() if c then c:close() end c = nil; uv.run() end)

    -- `n` generate_content calls with callbacks, all in flight at once;
    -- `got.done` counts the answers, `got.errs` lists what went wrong.
    local function start_calls(n)
      local got = { done = 0, errs = {} }
      for i = 1, n do
        c.models:generate_content({ model = MODEL, contents = "cb " .. i }, function(err, res)
          got.done = got.done + 1
          if err or not res.text then got.errs[#got.errs + 1] = tostring(err) end
        end)
      end
      return got
    end

    it("many calls in flight share one JWT exchange", function()
      creds.settings(m, { latency = 0.2 })   -- the calls all ask while it is under way
      c = vclient((select(2, sa_file())), { loop = uv })
      local n = 10
      local got = start_calls(n)
      local streamed
      c.models:generate_content_stream({ model = MODEL, contents = "cb stream" }, {
        on_done = function(err, res) streamed = err or res.text end })
      loop.run(uv, 10)
      assert.equal(n, got.done)
      assert.same({}, got.errs)
      assert.matches('You asked: "cb stream"', streamed, 1, true)
      assert.equal(1, creds.counts(m).jwt_bearer)
      assert.equal(n + 1, #model_calls())
    end)

    it("a token endpoint down for a moment: the calls waiting for it retry, one fetch again", function()
      creds.settings(m, { latency = 0.1 })
      m:faults{ { type = "status", code = 503, match = "/oauth2/token" } }
      c = vclient((select(2, sa_file())), { loop = uv, retry = { attempts = 3, initial_delay = 0.05 } })
      local got = start_calls(6)
      loop.run(uv, 10)
      assert.equal(6, got.done)
      assert.same({}, got.errs)
      assert.equal(2, token_requests())   -- the one that got the 503, then one for every retry
      assert.equal(1, creds.counts(m).issued)
    end)
  end)

  local describe_ngx = nginx.available and describe or pending
  describe_ngx("in nginx (cosockets)", function()
    -- %s: the service-account file, the mock's URL (twice), the port.
    local HTTP = [[
      init_worker_by_lua_block {
        package.loaded.vertex_client = require("gemini").Client{ vertexai = true,
          project = "p", location = "us-central1", base_url = "%s", retry = false,
          credentials = "%s" }
      }
      server {
        listen 127.0.0.1:%d;
        location /ping { return 204; }
]] .. nginx.VERTEX_THREADS .. [[
      }
    ]]
    local n
    after_each(function() if n then n:stop() end n = nil end)

    it("the light threads of a request and later requests share one token fetch", function()
      creds.settings(m, { latency = 0.2 })
      local _, path = sa_file()
      n = nginx.new()
      n:start(string.format(HTTP, m.url, path, n.port))
      local body = n:get("/threads")
      for i = 1, 6 do assert.matches(i .. ' [^\n]*You asked: "t' .. i .. '"', body) end
      body = n:get("/threads")
      for i = 1, 6 do assert.matches(i .. ' [^\n]*You asked: "t' .. i .. '"', body) end
      assert.equal(1, creds.counts(m).jwt_bearer)
      local bearer = {}
      for _, e in ipairs(model_calls()) do bearer[e.headers.authorization] = true end
      assert.equal(1, #(function() local l = {} for k in pairs(bearer) do l[#l + 1] = k end return l end)())
      assert.equal(12, #model_calls())
    end)

    it("the metadata server's project, asked once for the light threads over cosockets", function()
      creds.settings(m, { project_id = "ngx-metadata-proj", latency = 0.2 })
      n = nginx.new()
      -- A base_url ending in .googleapis.com keeps the project in the path
      -- (as Google's own hosts), while the mock serves it under that prefix.
      n:start(string.format([[
        init_worker_by_lua_block {
          package.loaded.vertex_client = require("gemini").Client{ vertexai = true,
            location = "us-central1", base_url = "%s/aiplatform.googleapis.com", retry = false }
        }
        server {
          listen 127.0.0.1:%d;
          location /ping { return 204; }
]] .. nginx.VERTEX_THREADS .. [[
        }
      ]], m.url, n.port), "env HOME=/nonexistent-home; env GCE_METADATA_HOST=127.0.0.1:" .. m.port .. ";")
      local body = n:get("/threads")
      for i = 1, 6 do assert.matches(i .. ' [^\n]*You asked: "t' .. i .. '"', body) end
      local counts = creds.counts(m)
      assert.equal(1, counts.metadata_project)
      assert.equal(1, counts.metadata_token)
      for _, e in ipairs(model_calls()) do
        assert.equal("/aiplatform.googleapis.com/v1beta1/projects/ngx-metadata-proj/locations/us-central1"
          .. "/publishers/google/models/" .. MODEL .. ":generateContent", e.path)
      end
      assert.equal(6, #model_calls())
    end)
  end)
end)
