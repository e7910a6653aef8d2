-- The client through the real HTTP stack against the mock server:
-- options, auth, URLs, the request body on the wire, errors, retries, and
-- every non-streaming call of client.models.
local gemini = require("gemini")
local mock = require("support.mock")
local cjson = require("cjson")

local KEY = "test-key-5f3a9c"

describe("client", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  before_each(function()
    client = m:client{ retry = { initial_delay = 0.01, max_delay = 1, jitter = 0.01 } }
  end)

  local function last_json()
    return m:last().json
  end

  describe("options", function()
    it("needs a key, from api_key or the environment", function()
      local lua = arg and arg[-1] or "lua5.4"
      local function run(env, code)
        local p = io.popen(env .. " " .. lua .. " -e '" .. code .. "' 2>&1")
        local out = p:read("*a")
        p:close()
        return out
      end
      -- The key a client made with no api_key sends, as the mock saw it.
      local function key_sent(env)
        m:reset()
        run(env .. " GEMINI_BASE_URL=" .. m.url, 'require("gemini").Client{}.models:get("gemini-2.5-flash")')
        local e = m:last()
        return e and e.headers["x-goog-api-key"]
      end
      assert.equal("g-key", key_sent("GOOGLE_API_KEY=g-key GEMINI_API_KEY=m-key"))
      assert.equal("m-key", key_sent("GOOGLE_API_KEY= GEMINI_API_KEY=m-key"))
      assert.matches("no API key", run("env -u GOOGLE_API_KEY -u GEMINI_API_KEY", 'require("gemini").Client{}'))
      local base = 'io.write(require("gemini").Client{api_key="k"}:url("models/x:generateContent"))'
      assert.equal("http://h:1/p/v1beta/models/x:generateContent",
        run("GEMINI_BASE_URL=http://h:1/p/", base))
    end)

    it("rejects options of the wrong type, naming them", function()
      assert.has_error(function() gemini.Client{ api_key = KEY, timeout = "x" } end,
        "bad field 'timeout' to 'Client' (number expected, got string)")
      assert.has_error(function() gemini.Client("k") end,
        "bad argument #1 to 'Client' (table expected, got string)")
      assert.has_error(function() gemini.Client{ api_key = KEY, auth = "query" } end,
        "bad field 'auth' to 'Client' (\"header\" or \"bearer\" expected)")
      assert.has_error(function() gemini.Client{ api_key = KEY, base_url = "ftp://x" } end,
        "bad field 'base_url' to 'Client' (an http:// or https:// URL expected)")
      assert.has_error(function() gemini.Client{ api_key = KEY, headers = { ["X-A"] = "a\r\nB: c" } } end,
        "bad field 'headers' to 'Client' (header 'X-A': a string without line breaks or NUL expected)")
    end)

    it("leaves the caller's options table as it was", function()
      local function deep_copy(v)
        if type(v) ~= "table" then return v end
        local c = {}
        for k, x in pairs(v) do c[k] = deep_copy(x) end
        return c
      end
      for _, retry in ipairs({ true, false, { attempts = 2, http_status_codes = { 503 } } }) do
        local opts = { api_key = "  " .. KEY .. " ", base_url = m.url .. "/", retry = retry,
                       headers = { ["X-Extra"] = "1" }, timeout = 5, debug = false,
                       api_version = "v1beta" }
        local before = deep_copy(opts)
        local c = gemini.Client(opts)
        assert.same(before, opts)
        assert.truthy(c.models:generate_content{ model = "gemini-2.5-flash", contents = "Hi" })
        assert.same(before, opts)
      end
    end)

    it("takes every default from gemini.defaults, which holds API.md's values", function()
      local defaults = require("gemini.defaults")
      assert.same({ 600, 30, 300 }, { defaults.timeout, defaults.connect_timeout, defaults.stall_timeout })
      assert.same({ attempts = 5, initial_delay = 1, max_delay = 60, exp_base = 2, jitter = 1,
                    http_status_codes = { 408, 429, 500, 502, 503, 504 } }, defaults.retry)
      assert.equal(10, defaults.maximum_remote_calls)
      -- a client made without the option uses the table's value
      local saved = defaults.timeout
      defaults.timeout = 0.3
      local ok, c = pcall(m.client, m, { retry = false })
      defaults.timeout = saved
      assert(ok, c)
      m:script{ { latency = 3 } }
      local t0 = gemini.core.now()
      local res, err = c.models:generate_content{ model = "gemini-2.5-flash", contents = "Hi" }
      assert.is_nil(res)
      assert.equal("timeout", err.kind)
      assert.is_true(gemini.core.now() - t0 < 2)
    end)

    it("sends the key in x-goog-api-key by default, never in the URL", function()
      assert.truthy(client.models:generate_content{ model = "gemini-2.5-flash", contents = "Hi" })
      local e = m:last()
      assert.equal(KEY, e.headers["x-goog-api-key"])
      assert.is_nil(e.headers["authorization"])
      assert.is_nil(e.path:find(KEY, 1, true))
      assert.is_nil(next(e.query))
      assert.equal("application/json", e.headers["content-type"])
      assert.matches("^gemini%-lua/", e.headers["user-agent"])
    end)

    it("sends only Authorization: Bearer with auth = 'bearer'", function()
      local c = gemini.Client{ api_key = KEY, base_url = m.url, auth = "bearer" }
      assert.truthy(c.models:generate_content{ model = "gemini-2.5-flash", contents = "Hi" })
      local e = m:last()
      assert.equal("Bearer " .. KEY, e.headers["authorization"])
      assert.is_nil(e.headers["x-goog-api-key"])
    end)

    it("keeps a base URL's path prefix and adds extra headers", function()
      local c = gemini.Client{ api_key = KEY, base_url = m.url .. "/proxy/", headers = { ["X-Team"] = "lua" } }
      assert.truthy(c.models:generate_content{ model = "gemini-2.5-flash", contents = "Hi" })
      local e = m:last()
      assert.equal("/proxy/v1beta/models/gemini-2.5-flash:generateContent", e.path)
      assert.equal("lua", e.headers["x-team"])
    end)

    it("normalises model names", function()
      client.models:generate_content{ model = "models/gemini-2.5-pro", contents = "a" }
      assert.equal("/v1beta/models/gemini-2.5-pro:generateContent", m:last().path)
      client.models:generate_content{ model = "tunedModels/my-model", contents = "a" }
      assert.equal("/v1beta/tunedModels/my-model:generateContent", m:last().path)
      assert.has_error(function() client.models:generate_content{ model = "../x", contents = "a" } end,
        "bad field 'model' to 'generate_content' (invalid model name \"../x\")")
      assert.has_error(function() client.models:generate_content{ contents = "a" } end,
        "bad field 'model' to 'generate_content' (string expected, got nil)")
    end)

    it("reuses one connection for sequential calls", function()
      for _ = 1, 3 do
        assert.truthy(client.models:generate_content{ model = "gemini-2.5-flash", contents = "Hi" })
      end
      local log = m:log()
      assert.equal(3, #log)
      assert.equal(log[1].peer, log[2].peer)
      assert.equal(log[2].peer, log[3].peer)
    end)
  end)

  describe("request body", function()
    it("splits the flat config into top-level fields and generationConfig", function()
      local res = assert(client.models:generate_content{
        model = "gemini-2.5-flash",
        contents = "List 3 planets.",
        config = {
          system_instruction = "Answer tersely.",
          temperature = 0.25, top_k = 40, max_output_tokens = 1024, stop_sequences = { "END" },
          safety_settings = { { category = "HARM_CATEGORY_HARASSMENT", threshold = "BLOCK_ONLY_HIGH" } },
          tools = { { google_search = {} } },
          tool_config = { function_calling_config = { mode = "AUTO" } },
          cached_content = "abc",
          thinking_config = { thinking_budget = 512, include_thoughts = true },
          http_options = { timeout = 30 },
          automatic_function_calling = { disable = true },
        },
      })
      assert.truthy(res.text)
      local b = last_json()
      assert.same({ { role = "user", parts = { { text = "List 3 planets." } } } }, b.contents)
      assert.same({ parts = { { text = "Answer tersely." } } }, b.systemInstruction)
      assert.same({ { category = "HARM_CATEGORY_HARASSMENT", threshold = "BLOCK_ONLY_HIGH" } }, b.safetySettings)
      assert.same({ functionCallingConfig = { mode = "AUTO" } }, b.toolConfig)
      assert.equal("cachedContents/abc", b.cachedContent)
      local g = b.generationConfig
      assert.equal(0.25, g.temperature)
      assert.equal(40, g.topK)
      assert.equal(1024, g.maxOutputTokens)
      assert.same({ "END" }, g.stopSequences)
      assert.same({ thinkingBudget = 512, includeThoughts = true }, g.thinkingConfig)
      assert.is_nil(b.httpOptions)
      assert.is_nil(g.httpOptions)
      assert.is_nil(g.automaticFunctionCalling)
    end)

    it("writes an empty object as {} and an empty list as [] on the wire", function()
      client.models:generate_content{
        model = "gemini-2.5-flash", contents = "x",
        config = { tools = { { google_search = {} }, { code_execution = gemini.object() } },
                   stop_sequences = gemini.array(), tool_config = {} },
      }
      local raw = m:last().body
      assert.truthy(raw:find('{"googleSearch":{}}', 1, true))
      assert.truthy(raw:find('{"codeExecution":{}}', 1, true))
      assert.truthy(raw:find('"stopSequences":[]', 1, true))
      assert.truthy(raw:find('"toolConfig":{}', 1, true))
    end)

    it("keeps user data keys as written", function()
      client.models:generate_content{
        model = "gemini-2.5-flash",
        contents = {
          { role = "user", parts = { { text = "weather?" } } },
          { role = "model", parts = { { function_call = { name = "get_weather", args = { city_name = "Paris" } } } } },
          { role = "user", parts = { { function_response = { name = "get_weather",
              response = { temp_c = 21, feels_like = { max_c = 23 } } } } } },
        },
        config = { response_mime_type = "application/json",
                   response_json_schema = { type = "object", properties = { first_name = { type = "string" } },
                                            additionalProperties = false, min_properties = 1 } },
      }
      local b = last_json()
      assert.same({ city_name = "Paris" }, b.contents[2].parts[1].functionCall.args)
      assert.same({ temp_c = 21, feels_like = { max_c = 23 } }, b.contents[3].parts[1].functionResponse.response)
      assert.same({ type = "object", properties = { first_name = { type = "string" } },
                    additionalProperties = false, min_properties = 1 }, b.generationConfig.responseJsonSchema)
    end)

    it("normalises every form of contents", function()
      local function sent(contents)
        client.models:generate_content{ model = "gemini-2.5-flash", contents = contents }
        return last_json().contents
      end
      assert.same({ { role = "user", parts = { { text = "a" }, { text = "b" } } } }, sent({ "a", "b" }))
      assert.same({ { role = "user", parts = { { text = "a" } } } }, sent({ text = "a" }))
      assert.same({ { role = "user", parts = { { text = "a" } } } }, sent({ role = "user", parts = { { text = "a" } } }))
      assert.same({ { role = "user", parts = { { text = "q" } } },
                    { role = "model", parts = { { text = "r" } } },
                    { role = "user", parts = { { text = "s" } } } },
        sent({ { role = "user", parts = { "q" } }, { role = "model", parts = { { text = "r" } } }, "s" }))
      assert.same({ { role = "model", parts = { { functionCall = { name = "f", args = {} } } } } },
        sent({ { function_call = { name = "f", args = gemini.object() } } }))
      assert.has_error(function() sent({}) end,
        "bad field 'contents' to 'generate_content' (empty)")
      assert.has_error(function() sent(42) end,
        "bad field 'contents' to 'generate_content' (string or table expected, got number)")
    end)

    it("raises with the path of a value that cannot be encoded", function()
      local ok, msg = pcall(client.models.generate_content, client.models,
        { model = "gemini-2.5-flash", contents = { { role = "user", parts = { { text = 0 / 0 } } } } })
      assert.is_false(ok)
      assert.matches("contents%[1%]%.parts%[1%]%.text", msg)
      assert.equal(0, #m:log())
    end)
  end)

  describe("responses", function()
    it("has text, thoughts, function_calls and inline_data helpers", function()
      m:script{ { body = {
        candidates = { { content = { role = "model", parts = {
          { text = "thinking...", thought = true },
          { text = "Hello" }, { text = ", world", thoughtSignature = "c2ln" },
          { functionCall = { name = "f", args = { a = 1 }, id = "c1" } },
          { inlineData = { mimeType = "image/png", data = "iVBORw0KGgo=" } },
        } }, finishReason = "STOP" } },
        usageMetadata = { thoughtsTokenCount = 7, totalTokenCount = 20 },
      } } }
      local res = assert(client.models:generate_content{ model = "gemini-2.5-flash", contents = "x" })
      assert.equal("Hello, world", res.text)
      assert.equal("thinking...", res.thoughts)
      assert.same({ { name = "f", args = { a = 1 }, id = "c1" } }, res.function_calls)
      assert.equal("image/png", res.inline_data[1].mime_type)
      assert.equal("\137PNG\r\n\26\n", res.inline_data[1].data)
      assert.equal(7, res.usageMetadata.thoughtsTokenCount)
      assert.equal("STOP", res.candidates[1].finishReason)
    end)

    it("gives a blocked prompt as a response, not an error", function()
      m:script{ { body = { promptFeedback = { blockReason = "SAFETY" } } } }
      local res, err = client.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.is_nil(err)
      assert.is_nil(res.text)
      assert.equal("SAFETY", res.promptFeedback.blockReason)
    end)

    it("decodes JSON-mode answers in parsed, and says clearly when they are not JSON", function()
      m:script{ { body = { candidates = { { content = { parts = { { text = '{"a":[1,2]}' } } } } } } },
                { body = { candidates = { { content = { parts = { { text = "not json" } } } } } } } }
      local cfg = { response_mime_type = "application/json" }
      local res = client.models:generate_content{ model = "gemini-2.5-flash", contents = "x", config = cfg }
      assert.same({ a = { 1, 2 } }, res.parsed)
      res = client.models:generate_content{ model = "gemini-2.5-flash", contents = "x", config = cfg }
      local ok, err = pcall(function() return res.parsed end)
      assert.is_false(ok)
      assert.is_true(gemini.is_error(err))
      assert.equal("decode", err.kind)
      local plain = client.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.is_nil(plain.parsed)
    end)
  end)

  describe("errors", function()
    it("turns an API error into a gemini.Error with every field", function()
      m:faults{ { type = "status", code = 400, message = "Bad thing" } }
      local res, err = client.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.is_nil(res)
      assert.is_true(gemini.is_error(err))
      assert.equal("api", err.kind)
      assert.equal(400, err.code)
      assert.equal("INVALID_ARGUMENT", err.status)
      assert.equal("Bad thing", err.message)
      assert.equal("gemini: api error 400 INVALID_ARGUMENT: Bad thing", tostring(err))
      assert.equal(1, #m:log())
    end)

    it("gives 404 for an unknown model", function()
      local _, err = client.models:generate_content{ model = "nonexistent", contents = "x" }
      assert.equal(404, err.code)
      assert.equal("NOT_FOUND", err.status)
      local m2, err2 = client.models:get("nonexistent")
      assert.is_nil(m2)
      assert.equal(404, err2.code)
    end)

    it("reads an HTML error page from a proxy", function()
      m:faults{ { type = "html", code = 502, times = 10 } }
      local c = gemini.Client{ api_key = KEY, base_url = m.url, retry = false }
      local _, err = c.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.equal("api", err.kind)
      assert.equal(502, err.code)
      assert.matches("502 Bad Gateway", err.message)
      assert.is_nil(err.message:find("<", 1, true))
    end)

    it("never shows the key, even when the server echoes it", function()
      m:script{ { status = 400, body = { error = { code = 400, status = "INVALID_ARGUMENT",
        message = "API key " .. KEY .. " is not valid" } } } }
      local _, err = client.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.is_nil(tostring(err):find(KEY, 1, true))
      assert.is_nil(err.message:find(KEY, 1, true))
      assert.matches("REDACTED", err.message)
      local bad = gemini.Client{ api_key = "wrong-" .. KEY, base_url = m.url }
      local _, err2 = bad.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.equal(400, err2.code)
      assert.is_nil(tostring(err2):find(KEY, 1, true))
    end)

    it("reports a refused connection as a transport error", function()
      local c = gemini.Client{ api_key = KEY, base_url = "http://127.0.0.1:1", retry = false }
      local _, err = c.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.equal("transport", err.kind)
      assert.is_nil(tostring(err):find(KEY, 1, true))
    end)

    it("times out a server that does not answer", function()
      m:faults{ { type = "stall", seconds = 3 } }
      local c = gemini.Client{ api_key = KEY, base_url = m.url, timeout = 0.5, retry = false }
      local _, err = c.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.equal("timeout", err.kind)
    end)

    it("reports a body that is not JSON as a decode error", function()
      m:script{ { status = 200, raw = "not json at all" } }
      local _, err = client.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.equal("decode", err.kind)
    end)

    -- A raised error (a `for` over a stream, a page of `list`, `res.parsed`)
    -- is the gemini.Error itself and reads as its line in a concatenation.
    it("raises the gemini.Error, which concatenates as its text", function()
      local c = gemini.Client{ api_key = KEY, base_url = m.url, retry = false }
      m:faults{ { type = "status", code = 500, message = "stream broke" } }
      local ok, err = pcall(function()
        for _ in c.models:generate_content_stream{ model = "gemini-2.5-flash", contents = "x" } do end
      end)
      assert.is_false(ok)
      assert.is_true(gemini.is_error(err))
      assert.equal("failed: gemini: api error 500 INTERNAL: stream broke", "failed: " .. err)
      assert.equal("gemini: api error 500 INTERNAL: stream broke (then gave up)", err .. " (then gave up)")

      m:faults{ { type = "status", code = 403, message = "no listing" } }
      ok, err = pcall(function() for _ in c.models:list() do end end)
      assert.is_false(ok)
      assert.equal("gemini: api error 403 PERMISSION_DENIED: no listing", "" .. err)

      m:script{ { body = { candidates = { { content = { role = "model", parts = { { text = "{oops" } } },
        index = 0 } } } } }
      local res = assert(c.models:generate_content{ model = "gemini-2.5-flash", contents = "x",
        config = { response_mime_type = "application/json" } })
      ok, err = pcall(function() return res.parsed end)
      assert.is_false(ok)
      assert.equal("decode", err.kind)
      assert.matches("^parsed: gemini: decode error: the JSON%-mode answer is not valid JSON", "parsed: " .. err)
    end)
  end)

  describe("retries", function()
    it("retries 429 and 503 and succeeds", function()
      m:faults{ { type = "status", code = 429, times = 2, retry_delay = "0.01s" },
                { type = "status", code = 503, times = 1 } }
      local res, err = client.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.is_nil(err)
      assert.truthy(res.text)
      assert.equal(4, #m:log())
    end)

    it("honours RetryInfo.retryDelay over the computed backoff", function()
      m:faults{ { type = "status", code = 429, times = 1, retry_delay = "0.3s" } }
      local t0 = gemini.core.now()
      assert.truthy(client.models:generate_content{ model = "gemini-2.5-flash", contents = "x" })
      assert.is_true(gemini.core.now() - t0 >= 0.3)
    end)

    it("honours Retry-After", function()
      m:faults{ { type = "status", code = 503, times = 1, retry_after = "1" } }
      local c = gemini.Client{ api_key = KEY, base_url = m.url,
                               retry = { initial_delay = 0.01, max_delay = 5, jitter = 0 } }
      local t0 = gemini.core.now()
      assert.truthy(c.models:generate_content{ model = "gemini-2.5-flash", contents = "x" })
      assert.is_true(gemini.core.now() - t0 >= 0.9)
    end)

    it("gives up after the attempts, returning the last error with retry_after", function()
      m:faults{ { type = "status", code = 429, times = 10, retry_delay = "0.01s" } }
      local c = gemini.Client{ api_key = KEY, base_url = m.url, retry = { attempts = 3, initial_delay = 0.01 } }
      local _, err = c.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.equal(429, err.code)
      assert.equal("RESOURCE_EXHAUSTED", err.status)
      assert.equal(0.01, err.retry_after)
      assert.equal(3, #m:log())
      local found
      for _, d in ipairs(err.details) do
        if d["@type"]:find("RetryInfo") then found = d end
      end
      assert.equal("0.01s", found.retryDelay)
    end)

    it("does not wait out a server delay longer than max_delay", function()
      m:faults{ { type = "status", code = 429, times = 1, retry_delay = "30s" } }
      local _, err = client.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.equal(30, err.retry_after)
      assert.equal(1, #m:log())
    end)

    it("does not retry other errors, nor when retry = false", function()
      m:faults{ { type = "status", code = 400 } }
      client.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.equal(1, #m:log())
      m:reset()
      m:faults{ { type = "status", code = 503, times = 2 } }
      local c = gemini.Client{ api_key = KEY, base_url = m.url, retry = false }
      local _, err = c.models:generate_content{ model = "gemini-2.5-flash", contents = "x" }
      assert.equal(503, err.code)
      assert.equal(1, #m:log())
    end)

    it("retries a dropped connection, and per call through http_options", function()
      m:faults{ { type = "close", times = 1 } }
      assert.truthy(client.models:generate_content{ model = "gemini-2.5-flash", contents = "x" })
      m:reset()
      m:faults{ { type = "status", code = 503, times = 1 } }
      local c = gemini.Client{ api_key = KEY, base_url = m.url, retry = false }
      assert.truthy(c.models:generate_content{ model = "gemini-2.5-flash", contents = "x",
        config = { http_options = { retry = { attempts = 2, initial_delay = 0.01 } } } })
    end)
  end)

  describe("models", function()
    it("counts tokens", function()
      local res = assert(client.models:count_tokens{ model = "gemini-2.5-flash", contents = "one two three" })
      assert.equal(3, res.totalTokens)
      assert.same({ contents = { { role = "user", parts = { { text = "one two three" } } } } }, last_json())
      res = assert(client.models:count_tokens{ model = "gemini-2.5-flash", contents = "a b",
                                               config = { system_instruction = "be brief" } })
      local b = last_json()
      assert.equal("models/gemini-2.5-flash", b.generateContentRequest.model)
      assert.same({ parts = { { text = "be brief" } } }, b.generateContentRequest.systemInstruction)
    end)

    it("embeds one text and several", function()
      local one = assert(client.models:embed_content{ model = "gemini-embedding-001", contents = "hello",
                                                      config = { task_type = "RETRIEVAL_DOCUMENT", output_dimensionality = 4 } })
      assert.equal(1, #one.embeddings)
      assert.equal(4, #one.embeddings[1].values)
      assert.matches(":embedContent$", m:last().path)
      assert.equal("RETRIEVAL_DOCUMENT", last_json().taskType)
      local many = assert(client.models:embed_content{ model = "gemini-embedding-001", contents = { "a", "b", "c" } })
      assert.equal(3, #many.embeddings)
      local b = last_json()
      assert.matches(":batchEmbedContents$", m:last().path)
      assert.equal(3, #b.requests)
      assert.equal("models/gemini-embedding-001", b.requests[2].model)
      assert.same({ role = "user", parts = { { text = "b" } } }, b.requests[2].content)
    end)

    it("gets a model and lists every page", function()
      local info = assert(client.models:get("gemini-2.5-flash"))
      assert.equal("models/gemini-2.5-flash", info.name)
      local names = {}
      for model in client.models:list{ page_size = 2 } do names[#names + 1] = model.name end
      assert.is_true(#names >= 7)
      assert.equal("models/gemini-2.5-flash", names[1])
      local log = m:log()
      assert.equal("2", log[2].query.pageSize)
      assert.is_nil(log[2].query.pageToken)
      assert.truthy(log[3].query.pageToken)
    end)

    it("raises the gemini.Error when a page fails", function()
      m:faults{ { type = "status", code = 403, match = "/models" } }
      local ok, err = pcall(function()
        for _ in client.models:list() do end
      end)
      assert.is_false(ok)
      assert.is_true(gemini.is_error(err))
      assert.equal(403, err.code)
    end)

    it("checks its arguments", function()
      assert.has_error(function() client.models:generate_content("hi") end,
        "bad argument #1 to 'generate_content' (table expected, got string)")
      assert.has_error(function() client.models.generate_content({}, {}) end,
        "bad self to 'generate_content' (call it as client.models:generate_content{...})")
      assert.has_error(function() client.models:get(42) end,
        "bad argument #1 to 'get' (string expected, got number)")
    end)
  end)
end)

describe("gemini", function()
  it("shares null with cjson and marks objects and arrays", function()
    assert.equal(cjson.null, gemini.null)
    assert.equal("{}", gemini.core.json_encode(gemini.object()))
    assert.equal("[]", gemini.core.json_encode(gemini.array()))
  end)
end)
