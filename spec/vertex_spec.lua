-- Vertex AI (enterprise) mode through the real HTTP stack against the mock
-- (spec/mock/vertex_routes.py): hosts, paths and env rules as python-genai's
-- _api_client.py, bearer tokens cached / refreshed / minted once / retried
-- after a 401, every service Vertex has, and the errors of those it lacks.
local gemini = require("gemini")
local mock = require("support.mock")
local token_source = require("support.token_source")

local KEY = "vertex-key-5d1e"
local MODEL = "gemini-2.5-flash"
local PROJECT, LOCATION = "proj-1", "us-central1"
local SCOPE = "/v1beta1/projects/" .. PROJECT .. "/locations/" .. LOCATION .. "/"
local MODEL_PATH = SCOPE .. "publishers/google/models/" .. MODEL

-- A closed port: a request to a googleapis.com host goes nowhere (its URL
-- is read from the log line written before it is sent).
local NO_PROXY_THERE = "http://127.0.0.1:1"

-- Runs `code` in a fresh Lua with `env` prepended; its output.
local function run(env, code)
  local lua = arg and arg[-1] or "lua5.4"
  local p = io.popen("env -u GOOGLE_API_KEY -u GEMINI_API_KEY -u GOOGLE_CLOUD_PROJECT"
    .. " -u GOOGLE_CLOUD_LOCATION -u GOOGLE_GENAI_USE_VERTEXAI -u GOOGLE_GENAI_USE_ENTERPRISE"
    .. " -u GOOGLE_VERTEX_BASE_URL -u GEMINI_BASE_URL " .. env .. " " .. lua .. " -e "
    .. mock.shell_quote(code) .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

-- The URL of the first request a client with `opts` (Lua source of a
-- table's fields) sends, in a fresh Lua under `env`.
local function url_of(env, opts)
  return run(env, [[
    -- Application Default Credentials stand-in (gemini.auth.credentials is
    -- another branch's): a token from a function, no project.
    package.loaded["gemini.auth.credentials"] = { load = function()
      return { kind = "function", id = "adc-stub", secrets = {},
               fn = function() return "ya29.adc-stub-token", 3600 end }
    end }
    local gemini = require("gemini")
    local ok, c = pcall(gemini.Client, { ]] .. opts .. [[, proxy = "]] .. NO_PROXY_THERE .. [[",
      retry = false, log = function(l)
        local url = l:match("^gemini: POST (%S+)")
        if url then io.write(url) end
      end })
    if not ok then io.write("ERROR ", tostring(c)) return end
    c.models:generate_content{ model = "gemini-2.5-flash", contents = "hi" }
  ]])
end

describe("Vertex AI mode", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }

  -- Function credentials that mint a mock token of `lifetime` seconds;
  -- `calls.n` counts the calls.
  local function minting(lifetime)
    local calls = { n = 0 }
    return function()
      calls.n = calls.n + 1
      return m:access_token(lifetime or 3600)
    end, calls
  end

  local function vclient(opts)
    local o = { vertexai = true, project = PROJECT, location = LOCATION, base_url = m.url,
                retry = false }
    for k, v in pairs(opts or {}) do o[k] = v end
    if o.credentials == nil and o.api_key == nil then o.credentials = minting() end
    return gemini.Client(o)
  end

  describe("hosts and paths", function()
    it("sends a bearer token (no key) to projects/{p}/locations/{l}/publishers/google/models/{m}", function()
      local c = vclient()
      local res, err = c.models:generate_content{ model = MODEL, contents = "hello vertex" }
      assert.is_nil(err)
      assert.matches('You asked: "hello vertex"', res.text, 1, true)
      local e = m:last()
      assert.equal(MODEL_PATH .. ":generateContent", e.path)
      assert.matches("^Bearer ya29%.mock%-", e.headers.authorization)
      assert.is_nil(e.headers["x-goog-api-key"])
      assert.is_nil(e.headers["x-goog-user-project"])
    end)

    it("picks the host by location as python-genai does", function()
      local function first_url(opts)
        local log, logged = mock.log_lines()
        local o = { vertexai = true, proxy = NO_PROXY_THERE, retry = false, log = log }
        for k, v in pairs(opts) do o[k] = v end
        if not o.api_key then o.credentials = function() return "ya29.not-sent-anywhere", 3600 end end
        local c = gemini.Client(o)
        local res, err = c.models:generate_content{ model = MODEL, contents = "hi" }
        assert.is_nil(res)
        assert.equal("transport", err.kind)
        return logged("^gemini: POST "):match("^gemini: POST (%S+)")
      end
      assert.equal("https://us-central1-aiplatform.googleapis.com/v1beta1/projects/p/locations/"
        .. "us-central1/publishers/google/models/gemini-2.5-flash:generateContent",
        first_url{ project = "p", location = "us-central1" })
      assert.equal("https://aiplatform.googleapis.com/v1beta1/projects/p/locations/global/"
        .. "publishers/google/models/gemini-2.5-flash:generateContent",
        first_url{ project = "p" })
      assert.equal("https://aiplatform.us.rep.googleapis.com/v1beta1/projects/p/locations/us/"
        .. "publishers/google/models/gemini-2.5-flash:generateContent",
        first_url{ project = "p", location = "us" })
      assert.equal("https://aiplatform.eu.rep.googleapis.com/v1beta1/projects/p/locations/eu/"
        .. "publishers/google/models/gemini-2.5-flash:generateContent",
        first_url{ project = "p", location = "eu" })
      assert.equal("https://aiplatform.googleapis.com/v1beta1/publishers/google/models/"
        .. "gemini-2.5-flash:generateContent",
        first_url{ api_key = "express-key-123" })
      assert.equal("https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/"
        .. "us-central1/publishers/google/models/gemini-2.5-flash:generateContent",
        first_url{ project = "p", location = "us-central1", api_version = "v1" })
    end)

    it("express mode: publishers/google/models/{m} with x-goog-api-key", function()
      local c = gemini.Client{ vertexai = true, api_key = KEY, base_url = m.url, retry = false }
      local res, err = c.models:generate_content{ model = MODEL, contents = "express" }
      assert.is_nil(err)
      assert.truthy(res.text)
      local e = m:last()
      assert.equal("/v1beta1/publishers/google/models/gemini-2.5-flash:generateContent", e.path)
      assert.equal(KEY, e.headers["x-goog-api-key"])
      assert.is_nil(e.headers.authorization)
    end)

    it("keeps base_url's path prefix", function()
      local c = vclient{ base_url = m.url .. "/gateway/" }
      assert.truthy(c.models:count_tokens{ model = MODEL, contents = "a b" })
      assert.equal("/gateway" .. MODEL_PATH .. ":countTokens", m:last().path)
    end)

    it("normalises model names as t_model does on Vertex", function()
      local c = vclient()
      local function path_for(model)
        c.models:generate_content{ model = model, contents = "hi" }
        return m:last().path
      end
      assert.equal(MODEL_PATH .. ":generateContent", path_for(MODEL))
      assert.equal(SCOPE .. "publishers/anthropic/models/claude-x:generateContent",
        path_for("anthropic/claude-x"))
      assert.equal(SCOPE .. "models/123456:generateContent", path_for("models/123456"))
      assert.equal(MODEL_PATH .. ":generateContent",
        path_for("projects/" .. PROJECT .. "/locations/" .. LOCATION .. "/publishers/google/models/" .. MODEL))
      assert.equal(MODEL_PATH .. ":generateContent", path_for("publishers/google/models/" .. MODEL))
    end)
  end)

  describe("options and environment", function()
    local FN = 'credentials = function() return "ya29.env-test-token", 3600 end'

    it("reads GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION", function()
      assert.equal("https://europe-west4-aiplatform.googleapis.com/v1beta1/projects/envp/locations/"
        .. "europe-west4/publishers/google/models/gemini-2.5-flash:generateContent",
        url_of("GOOGLE_GENAI_USE_VERTEXAI=true GOOGLE_CLOUD_PROJECT=envp GOOGLE_CLOUD_LOCATION=europe-west4", FN))
    end)

    it("lets an env project/location beat an env API key, and an env key alone be express mode", function()
      assert.equal("https://aiplatform.googleapis.com/v1beta1/projects/envp/locations/global/"
        .. "publishers/google/models/gemini-2.5-flash:generateContent",
        url_of("GOOGLE_GENAI_USE_VERTEXAI=1 GOOGLE_CLOUD_PROJECT=envp GOOGLE_API_KEY=env-key-12345",
          'vertexai = true'))
      assert.equal("https://aiplatform.googleapis.com/v1beta1/publishers/google/models/"
        .. "gemini-2.5-flash:generateContent",
        url_of("GOOGLE_GENAI_USE_VERTEXAI=true GOOGLE_API_KEY=env-key-12345", 'vertexai = true'))
    end)

    it("lets explicit options beat the environment", function()
      -- An explicit key beats an env project: express mode.
      assert.equal("https://aiplatform.googleapis.com/v1beta1/publishers/google/models/"
        .. "gemini-2.5-flash:generateContent",
        url_of("GOOGLE_CLOUD_PROJECT=envp", 'vertexai = true, api_key = "explicit-key-123"'))
      -- An explicit project beats an env key: bearer mode.
      assert.equal("https://aiplatform.googleapis.com/v1beta1/projects/mine/locations/global/"
        .. "publishers/google/models/gemini-2.5-flash:generateContent",
        url_of("GOOGLE_API_KEY=env-key-12345", 'vertexai = true, project = "mine", ' .. FN))
      -- vertexai = false beats GOOGLE_GENAI_USE_VERTEXAI.
      assert.equal("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:"
        .. "generateContent",
        url_of("GOOGLE_GENAI_USE_VERTEXAI=true GOOGLE_API_KEY=env-key-12345", "vertexai = false"))
    end)

    it("lets GOOGLE_GENAI_USE_ENTERPRISE win over GOOGLE_GENAI_USE_VERTEXAI", function()
      assert.equal("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:"
        .. "generateContent",
        url_of("GOOGLE_GENAI_USE_ENTERPRISE=false GOOGLE_GENAI_USE_VERTEXAI=true"
          .. " GOOGLE_API_KEY=env-key-12345", "headers = {}"))
      assert.equal("https://aiplatform.googleapis.com/v1beta1/projects/envp/locations/global/"
        .. "publishers/google/models/gemini-2.5-flash:generateContent",
        url_of("GOOGLE_GENAI_USE_ENTERPRISE=TRUE GOOGLE_GENAI_USE_VERTEXAI=false"
          .. " GOOGLE_CLOUD_PROJECT=envp", FN))
    end)

    it("takes GOOGLE_VERTEX_BASE_URL as base_url", function()
      assert.equal("http://gw.example:8080/p/v1beta1/projects/envp/locations/us-east1/publishers/"
        .. "google/models/gemini-2.5-flash:generateContent",
        url_of("GOOGLE_VERTEX_BASE_URL=http://gw.example:8080/p GOOGLE_CLOUD_PROJECT=envp",
          'vertexai = true, location = "us-east1", project = "envp", ' .. FN))
    end)

    it("says what is missing without a project or key", function()
      assert.matches("gemini.Client: Vertex AI mode needs a project (pass project, set"
        .. " GOOGLE_CLOUD_PROJECT, or use credentials that name one) or an API key (express mode)",
        url_of("", "vertexai = true, " .. FN), 1, true)
    end)

    it("checks the new options like the others", function()
      assert.has_error(function() gemini.Client{ vertexai = "yes" } end,
        "bad field 'vertexai' to 'Client' (boolean expected, got string)")
      assert.has_error(function() gemini.Client{ vertexai = true, project = 7 } end,
        "bad field 'project' to 'Client' (string expected, got number)")
      assert.has_error(function() gemini.Client{ vertexai = true, credentials = 1 } end,
        "bad field 'credentials' to 'Client' (string or table or function expected, got number)")
      assert.has_error(function() gemini.Client{ api_key = KEY, vertexai = false, project = "p" } end,
        "bad field 'project' to 'Client' (only in Vertex AI mode: pass vertexai = true; the Gemini"
        .. " API does not support project, location or credentials)")
      assert.has_error(function()
        gemini.Client{ vertexai = true, api_key = KEY, credentials = function() end }
      end, "bad field 'credentials' to 'Client' (credentials and api_key are mutually exclusive)")
      assert.has_error(function()
        gemini.Client{ vertexai = true, project = "a/b", credentials = function() end }
      end, "bad field 'project' to 'Client' (a Google Cloud project id expected)")
      local ok, msg = pcall(gemini.Client, { vertexai = true, projet = "p" })
      assert.is_false(ok)
      assert.matches("bad field 'projet' to 'Client' (unknown field; known: api_key, ", msg, 1, true)
      assert.matches("vertexai, enterprise, project, location, credentials)", msg, 1, true)
    end)
  end)

  describe("access tokens", function()
    it("fetches one token and reuses it across calls", function()
      local creds, calls = minting()
      local c = vclient{ credentials = creds }
      for _ = 1, 3 do assert.truthy(c.models:generate_content{ model = MODEL, contents = "hi" }) end
      assert.equal(1, calls.n)
      assert.equal(1, m:access_tokens().issued)
      local log = m:log()
      assert.equal(log[1].headers.authorization, log[3].headers.authorization)
    end)

    it("shares the token of the same credentials between clients", function()
      local creds, calls = minting()
      local a, b = vclient{ credentials = creds }, vclient{ credentials = creds }
      assert.truthy(a.models:generate_content{ model = MODEL, contents = "hi" })
      assert.truthy(b.models:generate_content{ model = MODEL, contents = "hi" })
      assert.equal(1, calls.n)
    end)

    it("refreshes a token ahead of its expiry", function()
      local creds, calls = minting(2)       -- a 2 s token is renewed after 1.5 s
      local c = vclient{ credentials = creds }
      assert.truthy(c.models:generate_content{ model = MODEL, contents = "hi" })
      mock.sleep(0.5)
      assert.truthy(c.models:generate_content{ model = MODEL, contents = "hi" })
      assert.equal(1, calls.n)
      mock.sleep(1.2)
      local res, err = c.models:generate_content{ model = MODEL, contents = "hi" }
      assert.is_nil(err)
      assert.truthy(res)
      assert.equal(2, calls.n)
      local log = m:log()
      assert.are_not.equal(log[1].headers.authorization, log[3].headers.authorization)
      for _, e in ipairs(log) do assert.equal(200, e.status) end   -- never sent expired
    end)

    it("answers a 401 for a revoked token with one refresh and one retry", function()
      local creds, calls = minting()
      local log, _, lines = mock.log_lines()
      local c = vclient{ credentials = creds, log = log }
      assert.truthy(c.models:generate_content{ model = MODEL, contents = "hi" })
      assert.equal(1, m:revoke_tokens())
      local res, err = c.models:generate_content{ model = MODEL, contents = "again" }
      assert.is_nil(err)
      assert.matches('You asked: "again"', res.text, 1, true)
      assert.equal(2, calls.n)
      local entries = m:log()
      assert.equal(3, #entries)
      assert.equal(401, entries[2].status)
      assert.equal("revoked", entries[2].auth)
      assert.equal(200, entries[3].status)
      -- A stream too: its 401 comes before any chunk.
      m:revoke_tokens()
      local s = c.models:generate_content_stream{ model = MODEL, contents = "streamed" }
      for _ in s do end
      assert.matches('You asked: "streamed"', s.response.text, 1, true)
      assert.equal(3, calls.n)
      for _, l in ipairs(lines) do assert.is_nil(l:find("ya29.mock-", 1, true), l) end
    end)

    it("gives the 401 after one retry when the fresh token is refused too", function()
      local c = vclient{ credentials = function() return "ya29.never-valid-token", 3600 end }
      local res, err = c.models:generate_content{ model = MODEL, contents = "hi" }
      assert.is_nil(res)
      assert.equal("api", err.kind)
      assert.equal(401, err.code)
      assert.equal("UNAUTHENTICATED", err.status)
      assert.equal(2, #m:log())
      assert.is_nil(tostring(err):find("never-valid", 1, true))
    end)

    it("gives a clear error of kind auth for failing or bad credentials", function()
      local function fails(creds)
        local c = vclient{ credentials = creds }
        local res, err = c.models:generate_content{ model = MODEL, contents = "hi" }
        assert.is_nil(res)
        assert.equal("auth", err.kind)
        assert.equal(0, #m:log())          -- nothing sent without a token
        return err.message
      end
      assert.matches("^the credentials function failed: .*no metadata server here$",
        fails(function() error("no metadata server here") end))
      assert.equal("the credentials function returned no access token (a non-empty string without"
        .. " spaces expected as its first value, got number)", fails(function() return 42 end))
      assert.equal("the credentials function returned no access token (a non-empty string without"
        .. " spaces expected as its first value, got no value)", fails(function() end))
      assert.equal("the credentials function returned no access token (a non-empty string without"
        .. " spaces expected as its first value, got string)", fails(function() return "a\r\nX: y" end))
      assert.equal("an access token's lifetime must be a positive number of seconds",
        fails(function() return "ya29.token-ok", -5 end))
      assert.equal("an access token's lifetime must be a positive number of seconds",
        fails(function() return "ya29.token-ok", "soon" end))
    end)

    it("never shows a token in a log line or an error", function()
      local token = m:access_token(3600)
      local log, logged, lines = mock.log_lines()
      local c = vclient{ credentials = function() return token, 3600 end, log = log }
      m:faults{ { type = "status", code = 400, message = "bad request with " .. token } }
      local res, err = c.models:generate_content{ model = MODEL, contents = "hi" }
      assert.is_nil(res)
      assert.is_nil(tostring(err):find(token, 1, true))
      assert.matches("[REDACTED]", err.message, 1, true)
      assert.truthy(logged("^gemini:   Authorization: Bearer %[REDACTED%]$"))
      for _, l in ipairs(lines) do assert.is_nil(l:find(token, 1, true), l) end
    end)
  end)

  describe("a credentials source that fetches its token over HTTP", function()
    local restore
    before_each(function() restore = token_source.install(m) end)
    after_each(function() restore() end)
    local sa = token_source.account

    it("sends x-goog-user-project for the credentials' quota project", function()
      local c = gemini.Client{ vertexai = true, project = PROJECT, location = LOCATION,
                               base_url = m.url, credentials = sa("billing-proj"), retry = false }
      assert.truthy(c.models:generate_content{ model = MODEL, contents = "hi" })
      local e = m:last()
      assert.equal(MODEL_PATH .. ":generateContent", e.path)
      assert.equal("billing-proj", e.headers["x-goog-user-project"])
      assert.matches("^Bearer ya29%.mock%-", e.headers.authorization)
      assert.equal(1, m:access_tokens().issued)
    end)

    it("takes the project from the credentials", function()
      local log, logged = mock.log_lines()
      local creds = sa()
      local c = gemini.Client{ vertexai = true, location = LOCATION, credentials = creds,
                               proxy = NO_PROXY_THERE, retry = false, log = log }
      -- The token comes through the proxy too (refused): the model's URL
      -- is in no log line, but the error names the credentials.
      local res, err = c.models:generate_content{ model = MODEL, contents = "hi" }
      assert.is_nil(res)
      assert.equal("auth", err.kind)
      assert.truthy(logged("^gemini: POST " .. m.url:gsub("%p", "%%%0") .. "/_mock/access_tokens"))
      assert.has_error(function()
        gemini.Client{ vertexai = true, location = LOCATION, credentials = { client_email = "x@y",
          private_key = "k" } }
      end, "gemini.Client: Vertex AI mode needs a project (pass project, set"
        .. " GOOGLE_CLOUD_PROJECT, or use credentials that name one) or an API key (express mode)")
      assert.truthy(gemini.Client{ vertexai = true, location = LOCATION, credentials = sa() })
    end)

    it("mints one token for many blocking requests at once (generate_content_all)", function()
      local c = gemini.Client{ vertexai = true, location = LOCATION, base_url = m.url,
                               credentials = sa(), retry = false }
      local reqs = {}
      for i = 1, 8 do reqs[i] = { model = MODEL, contents = "n" .. i } end
      local res, errs = c.models:generate_content_all(reqs, { concurrency = 8 })
      for i = 1, 8 do assert.is_nil(errs[i]); assert.truthy(res[i].text) end
      assert.equal(1, m:access_tokens().issued)
    end)

    it("says which credentials gave no token", function()
      local creds = sa()
      creds.token_path = "/no-token-endpoint-here"
      local c = gemini.Client{ vertexai = true, location = LOCATION, base_url = m.url,
                               credentials = creds, retry = false }
      local res, err = c.models:generate_content{ model = MODEL, contents = "hi" }
      assert.is_nil(res)
      assert.equal("auth", err.kind)
      assert.equal("no access token from the service_account credentials: HTTP 401", err.message)
      assert.equal("/no-token-endpoint-here", m:last().path)   -- the model was never asked
      assert.is_nil(m:last().headers.authorization)
    end)

    it("turns a raise of the credentials' methods into an error of kind auth", function()
      local function fails(field)
        local creds = sa()
        creds[field] = true
        local c = gemini.Client{ vertexai = true, project = PROJECT, location = LOCATION,
                                 base_url = m.url, credentials = creds, retry = false }
        local res, err = c.models:generate_content{ model = MODEL, contents = "hi" }
        assert.is_nil(res)
        assert.equal("auth", err.kind)
        return err.message
      end
      assert.matches("^no access token from the service_account credentials: .*parse_token raised$",
        fails("parse_raises"))
      assert.matches("^cannot make the access token request of the service_account credentials: .*"
        .. "token_request raised$", fails("request_raises"))
    end)
  end)

  describe("services", function()
    it("streams, counts tokens and embeds (predict or embedContent, as the SDK)", function()
      local c = vclient()
      local s = c.models:generate_content_stream{ model = MODEL, contents = "stream me" }
      for _ in s do end
      assert.matches('You asked: "stream me"', s.response.text, 1, true)
      assert.equal(MODEL_PATH .. ":streamGenerateContent", m:last().path)
      assert.equal("sse", m:last().query.alt)

      local n = c.models:count_tokens{ model = MODEL, contents = "one two three",
                                       config = { system_instruction = "be brief" } }
      assert.truthy(n.totalTokens)
      local body = m:last().json
      assert.equal("be brief", body.systemInstruction.parts[1].text)
      assert.is_nil(body.generateContentRequest)

      local e = c.models:embed_content{ model = "text-embedding-005", contents = { "a b", "c" },
                                        config = { output_dimensionality = 4, task_type = "RETRIEVAL_QUERY" } }
      assert.equal(2, #e.embeddings)
      assert.equal(4, #e.embeddings[1].values)
      local last = m:last()
      assert.equal(SCOPE .. "publishers/google/models/text-embedding-005:predict", last.path)
      assert.same({ { content = "a b", task_type = "RETRIEVAL_QUERY" },
                    { content = "c", task_type = "RETRIEVAL_QUERY" } }, last.json.instances)
      assert.same({ outputDimensionality = 4 }, last.json.parameters)

      e = c.models:embed_content{ model = "gemini-embedding-2", contents = "x",
                                  config = { output_dimensionality = 5 } }
      assert.equal(5, #e.embeddings[1].values)
      last = m:last()
      assert.equal(SCOPE .. "publishers/google/models/gemini-embedding-2:embedContent", last.path)
      assert.same({ outputDimensionality = 5 }, last.json.embedContentConfig)
      assert.has_error(function()
        c.models:embed_content{ model = "gemini-embedding-2", contents = { "a", "b" } }
      end, "bad field 'contents' to 'embed_content' (on Vertex AI the embedContent API of this"
        .. " model takes one content at a time)")
    end)

    it("makes, reads, updates, lists and deletes caches under the project", function()
      local c = vclient()
      local cache, err = c.caches:create{ model = MODEL, config = { contents = "a long document",
                                                                  ttl = 300 } }
      assert.is_nil(err)
      local full = "projects/" .. PROJECT .. "/locations/" .. LOCATION .. "/"
      assert.equal(SCOPE .. "cachedContents", m:last().path)
      assert.equal(full .. "publishers/google/models/" .. MODEL, m:last().json.model)
      assert.matches("^" .. full:gsub("%-", "%%-") .. "cachedContents/", cache.name)
      assert.equal(cache.name, c.caches:get(cache.name).name)
      assert.equal("/v1beta1/" .. cache.name, m:last().path)
      assert.truthy(c.caches:update{ name = cache.name, config = { ttl = 600 } })
      local n = 0
      for item in c.caches:list() do
        n = n + 1
        assert.equal(cache.name, item.name)
      end
      assert.equal(1, n)
      assert.equal(SCOPE .. "cachedContents", m:last().path)
      local res = c.models:generate_content{ model = MODEL, contents = "q",
                                             config = { cached_content = cache.name } }
      assert.truthy(res.text)
      assert.is_true(c.caches:delete(cache.name))
      assert.equal("DELETE", m:last().method)
    end)

    it("runs batches as batchPredictionJobs", function()
      local c = vclient()
      local job, err = c.batches:create{ model = MODEL, src = "gs://bucket/in.jsonl",
                                         config = { display_name = "nightly" } }
      assert.is_nil(err)
      local e = m:last()
      assert.equal(SCOPE .. "batchPredictionJobs", e.path)
      assert.same({ displayName = "nightly", model = "publishers/google/models/" .. MODEL,
                    inputConfig = { instancesFormat = "jsonl", gcsSource = { uris = { "gs://bucket/in.jsonl" } } },
                    outputConfig = { predictionsFormat = "jsonl",
                                     gcsDestination = { outputUriPrefix = "gs://bucket/in/dest" } } },
        e.json)
      assert.equal("JOB_STATE_PENDING", job.state)
      assert.is_false(job.done)
      local done = c.batches:wait(job, { interval = 0.01 })
      assert.equal("JOB_STATE_SUCCEEDED", done.state)
      assert.equal("gs://bucket/in/dest", done.dest.gcs_uri)
      local id = job.name:match("(%d+)$")
      assert.equal(job.name, c.batches:get(id).name)

      local bq = c.batches:create{ model = MODEL, src = "bq://p.d.requests",
                                   config = { dest = "bq://p.d.answers" } }
      assert.same({ instancesFormat = "bigquery", bigquerySource = { inputUri = "bq://p.d.requests" } },
        m:last().json.inputConfig)
      assert.same({ predictionsFormat = "bigquery", bigqueryDestination = { outputUri = "bq://p.d.answers" } },
        m:last().json.outputConfig)
      assert.is_true(c.batches:cancel(bq))
      assert.equal("JOB_STATE_CANCELLED", c.batches:get(bq.name).state)
      local names = {}
      for j in c.batches:list() do names[#names + 1] = j.name end
      assert.same({ job.name, bq.name }, names)
      assert.is_true(c.batches:delete(bq.name))
      local gone, gerr = c.batches:get(bq.name)
      assert.is_nil(gone)
      assert.equal(404, gerr.code)
    end)

    it("refuses the Gemini API's batch sources and a source without a destination", function()
      local c = vclient()
      assert.has_error(function()
        c.batches:create{ model = MODEL, src = { { contents = "inline" } } }
      end, "bad field 'src' to 'create' (inlined requests and files are the Gemini API's; Vertex AI"
        .. " batch jobs read a gs:// or bq:// source)")
      assert.has_error(function()
        c.batches:create{ model = MODEL, src = "files/abc" }
      end, "bad field 'src' to 'create' (a gs:// or bq:// URI expected on Vertex AI)")
      assert.has_error(function()
        c.batches:create{ model = MODEL, src = "gs://bucket/requests.json" }
      end, "bad field 'config.dest' to 'create' (a gs:// or bq:// destination expected (none can be"
        .. " made from this src))")
      assert.equal(0, #m:log())
    end)

    it("generates videos: predictLongRunning, polled with fetchPredictOperation, bytes inline", function()
      local c = vclient()
      local VEO = "veo-3.0-generate-001"
      local op, err = c.models:generate_videos{ model = VEO, prompt = "a cat on vertex",
        config = { number_of_videos = 2, generate_audio = true, seed = 7, labels = { team = "lua" } } }
      assert.is_nil(err)
      local e = m:last()
      assert.equal(SCOPE .. "publishers/google/models/" .. VEO .. ":predictLongRunning", e.path)
      assert.same({ { prompt = "a cat on vertex" } }, e.json.instances)
      assert.same({ sampleCount = 2, generateAudio = true, seed = 7 }, e.json.parameters)
      assert.same({ team = "lua" }, e.json.labels)
      assert.matches("^projects/proj%-1/locations/us%-central1/publishers/google/models/veo%-3%.0%-generate%-001"
        .. "/operations/[%w]+$", op.name)
      -- get: POST {model}:fetchPredictOperation {"operationName": name}.
      local now = c.operations:get(op)
      assert.is_not_true(now.done)
      e = m:last()
      assert.equal(SCOPE .. "publishers/google/models/" .. VEO .. ":fetchPredictOperation", e.path)
      assert.equal("POST", e.method)
      assert.same({ operationName = op.name }, e.json)
      local done = assert(c.operations:wait(op, { interval = 0.01 }))
      assert.is_true(done.done)
      local videos = done.response.generated_videos
      assert.equal(2, #videos)
      local video = videos[1].video
      assert.equal("video/mp4", video.mime_type)
      assert.equal("ftyp", video.video_bytes:sub(5, 8))
      -- The download: the bytes that came inline, returned or written.
      assert.equal(video.video_bytes, c.files:download{ file = videos[1] })
      local path = os.tmpname()
      assert.equal(#video.video_bytes, c.files:download{ file = video, path = path })
      local f = assert(io.open(path, "rb"))
      assert.equal(video.video_bytes, f:read("*a"))
      f:close()
      os.remove(path)
    end)

    it("videos in Cloud Storage: gs:// URIs in and out, a download that says it cannot fetch them", function()
      local c = vclient()
      local op = assert(c.models:generate_videos{ model = "veo-3.0-generate-001",
        image = { gcs_uri = "gs://in/cat.png", mime_type = "image/png" },
        config = { output_gcs_uri = "gs://bucket/out" } })
      local e = m:last()
      assert.same({ image = { gcsUri = "gs://in/cat.png", mimeType = "image/png" } }, e.json.instances[1])
      assert.same({ storageUri = "gs://bucket/out" }, e.json.parameters)
      op = assert(c.operations:wait(op, { interval = 0.01 }))
      local video = op.response.generated_videos[1].video
      assert.matches("^gs://bucket/out/[%w]+/sample_0%.mp4$", video.uri)
      assert.is_nil(video.video_bytes)
      assert.has_error(function() c.files:download{ file = video, path = "never.mp4" } end,
        "bad field 'file' to 'download' (the video is in Cloud Storage, " .. video.uri .. ": this"
        .. " library does not fetch gs:// URIs; copy it with `gcloud storage cp` or the Cloud"
        .. " Storage API, or leave out config.output_gcs_uri to have its bytes inline)")
      -- A generated video as the input of the next (video extension): its gcsUri.
      assert(c.models:generate_videos{ model = "veo-3.0-generate-001", prompt = "more",
        video = op.response.generated_videos[1] })
      assert.same({ gcsUri = video.uri, mimeType = "video/mp4" }, m:last().json.instances[1].video)
      -- The Gemini API's webhook is not Vertex's; the files API's other calls are not either.
      assert.has_error(function()
        c.models:generate_videos{ model = "veo-3.0-generate-001", prompt = "x",
          config = { webhook_config = { uris = { "https://hook" } } } }
      end, "bad field 'config.webhook_config' to 'generate_videos' (only in the Gemini API, not in"
        .. " Vertex AI mode)")
      assert.has_error(function() c.files:list() end, "gemini: client.files (the files API) is not"
        .. " available in Vertex AI mode (use it with an API key of the Gemini API; called: list)")
    end)

    it("gets and lists models as the SDK: base models under publishers/google, tuned ones filtered", function()
      local c = vclient()
      -- A base model: GET publishers/google/models/{m}, without the project.
      local model, err = c.models:get(MODEL)
      assert.is_nil(err)
      assert.equal("publishers/google/models/" .. MODEL, model.name)
      assert.equal("/v1beta1/publishers/google/models/" .. MODEL, m:last().path)
      local _, missing = c.models:get("no-such-model")
      assert.equal(404, missing.code)
      assert.matches("Publisher Model `publishers/google/models/no%-such%-model` not found", missing.message)
      -- The list: base models (publisherModels), page after page.
      local names = {}
      for item in c.models:list{ page_size = 3 } do names[#names + 1] = item.name end
      assert.equal("publishers/google/models/" .. MODEL, names[1])
      assert.is_true(#names > 3)
      assert.equal("/v1beta1/publishers/google/models", m:last().path)
      assert.equal("3", m:last().query.pageSize)
      -- query_base = false: the project's tuned models (labels.tune-type:*
      -- after the caller's filter, the parameter repeated as the SDK sends it).
      local tuned = {}
      for item in c.models:list{ query_base = false, filter = "displayName=my-tuned-model" } do
        tuned[#tuned + 1] = item.name
      end
      assert.same({ SCOPE:sub(10) .. "models/1234567890" }, tuned)
      assert.equal(SCOPE .. "models", m:last().path)
      assert.same({ "displayName=my-tuned-model", "labels.tune-type:*" }, m:last().filters)
      for _ in c.models:list{ query_base = false } do end
      assert.same({ "labels.tune-type:*" }, m:last().filters)
      assert.has_error(function() c.models:list{ query_base = "no" } end,
        "bad field 'query_base' to 'list' (boolean expected, got string)")
    end)

    it("says the files API, file search stores and ephemeral tokens are not in this mode", function()
      local c = vclient()
      assert.has_error(function() c.files:upload{ path = "x.txt" } end,
        "gemini: client.files (the files API) is not available in Vertex AI mode (use it with an"
        .. " API key of the Gemini API; called: upload)")
      assert.has_error(function() c.file_search_stores:create{} end,
        "gemini: client.file_search_stores is not available in Vertex AI mode (use it with an API"
        .. " key of the Gemini API; called: create)")
      assert.has_error(function() c.batches:results({ name = "x" }) end,
        "gemini: client.batches:results is not available in Vertex AI mode (a Vertex job's answers"
        .. " are in its dest: job.dest.gcs_uri or job.dest.bigquery_uri)")
      assert.has_error(function() c.batches:create_embeddings{ model = "m", src = {} } end,
        "gemini: client.batches:create_embeddings is not available in Vertex AI mode (use it with"
        .. " an API key of the Gemini API, or create a job of an embedding model with a gs:// or"
        .. " bq:// src)")
      assert.has_error(function() c.auth_tokens:create{} end,
        "gemini: client.auth_tokens (ephemeral tokens) is not available in Vertex AI mode (use it"
        .. " with an API key of the Gemini API; called: create)")
    end)

    it("assembles function calls streamed in pieces (partialArgs / willContinue)", function()
      local c = vclient()
      local function chunk(fc, finish)
        return { candidates = { { content = { role = "model", parts = { { functionCall = fc } } },
                                  finishReason = finish } } }
      end
      m:script{ { chunks = {
        chunk{ name = "get_weather", willContinue = true },
        chunk{ partialArgs = { { jsonPath = "$.location", stringValue = "Par", willContinue = true } },
               willContinue = true },
        chunk{ partialArgs = { { jsonPath = "$.location", stringValue = "is" },
                               { jsonPath = "$.days", numberValue = 3 } }, willContinue = true },
        chunk{ partialArgs = { { jsonPath = "$.opts.metric", boolValue = true },
                               { jsonPath = "$.opts.hours[0]", numberValue = 6 } }, willContinue = true },
        chunk({}, "STOP"),
      } } }
      local s = c.models:generate_content_stream{ model = MODEL, contents = "weather?",
        config = { tool_config = { function_calling_config = { stream_function_call_arguments = true } } } }
      local seen = 0
      for ch in s do
        seen = seen + 1
        assert.truthy(ch.candidates[1].content.parts[1].functionCall)   -- each chunk as sent
      end
      assert.equal(5, seen)
      assert.same({ { name = "get_weather",
                      args = { location = "Paris", days = 3, opts = { metric = true, hours = { 6 } } } } },
        s.response.function_calls)
      assert.equal(1, #s.response.candidates[1].content.parts)
      assert.is_true(m:last().json.toolConfig.functionCallingConfig.streamFunctionCallArguments)
    end)
  end)
end)
