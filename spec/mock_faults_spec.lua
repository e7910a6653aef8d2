-- The mock's faults chosen by model name (MODEL_FAULTS in
-- spec/mock/gemini_mock.py), as a plugin author meets them: through the
-- library, with no call to the mock's control API; and their list in
-- `gemini_mock.py --help`.
local mock = require("support.mock")

local PROMPT = "Why is the sky blue?"

describe("mock faults chosen by model name", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = "test-key" }

  -- A client that retries quickly (twice at most), for the error paths.
  local function client(opts)
    local o = { retry = { attempts = 2, initial_delay = 0.01, jitter = 0, max_delay = 1 } }
    for k, v in pairs(opts or {}) do o[k] = v end
    return m:client(o)
  end

  local function generate(model, opts)
    return client(opts).models:generate_content{ model = model, contents = PROMPT }
  end

  -- The chunks of a stream up to its end or failure: their texts, and the error.
  local function stream(model, opts)
    local s = client(opts).models:generate_content_stream{ model = model, contents = PROMPT }
    local texts = {}
    while true do
      local chunk, err = s:next()
      if not chunk then return texts, err end
      texts[#texts + 1] = chunk.text or ""
    end
  end

  for _, case in ipairs{ { "mock-fail-500", "500 INTERNAL" }, { "mock-fail-503", "503 UNAVAILABLE" } } do
    it(case[1] .. ": api error " .. case[2] .. ", after the retries", function()
      local res, err = generate(case[1])
      assert.is_nil(res)
      assert.matches("^gemini: api error " .. case[2] .. ": ", tostring(err))
      assert.equal(2, #m:log())
    end)
  end

  it("mock-fail-429: api error 429 with the server's delay (2 s), beyond max_delay: not waited out", function()
    local _, err = generate("mock-fail-429")
    assert.matches("^gemini: api error 429 RESOURCE_EXHAUSTED: .* %(retry after 2s%)$", tostring(err))
    assert.equal(2, err.retry_after)
    assert.equal(1, #m:log())
    assert.equal(429, m:log()[1].status)
  end)

  it("mock-fail-400: api error 400 INVALID_ARGUMENT, not retried", function()
    local _, err = generate("mock-fail-400")
    assert.matches("^gemini: api error 400 INVALID_ARGUMENT: ", tostring(err))
    assert.equal(1, #m:log())
  end)

  it("mock-html-502: api error 502 from an HTML page", function()
    local _, err = generate("mock-html-502", { retry = false })
    assert.equal("api", err.kind)
    assert.equal(502, err.code)
  end)

  it("mock-close: a transport error", function()
    local _, err = generate("mock-close", { retry = false })
    assert.matches("^gemini: transport error: ", tostring(err))
  end)

  it("mock-stall: a timeout", function()
    local _, err = generate("mock-stall", { retry = false, timeout = 0.3 })
    assert.equal("timeout", err.kind)
  end)

  it("mock-cut: a whole answer cut in half is an error; a stream fails after its 2 events", function()
    local res, err = generate("mock-cut", { retry = false })
    assert.is_nil(res)
    assert.equal("transport", err.kind)
    local texts, serr = stream("mock-cut", { retry = false })
    assert.equal(2, #texts)
    assert.matches("^gemini: transport error: ", tostring(serr))
  end)

  it("mock-slow: a stream whose events come 0.5 s apart", function()
    local now = require("gemini").core.now
    local s = client().models:generate_content_stream{ model = "mock-slow", contents = PROMPT }
    assert.truthy(s:next())
    local t0 = now()
    assert.truthy(s:next())
    local gap = now() - t0
    s:close()
    assert(gap > 0.4 and gap < 2, "events " .. gap .. " s apart")
  end)

  it("mock-stall-stream: one event, then silence (stall_timeout)", function()
    local texts, err = stream("mock-stall-stream", { retry = false, stall_timeout = 0.3 })
    assert.equal(1, #texts)
    assert.equal("timeout", err.kind)
  end)

  it("mock-not-json: a decode error after one event", function()
    local texts, err = stream("mock-not-json", { retry = false })
    assert.equal(1, #texts)
    assert.matches("not json", tostring(err))
  end)

  it("mock-stream-error: the error event of the stream, after one event", function()
    local texts, err = stream("mock-stream-error", { retry = false })
    assert.equal(1, #texts)
    assert.matches("^gemini: api error 500", tostring(err))
  end)

  it("a stream-shaped fault leaves a whole answer alone; another model answers as usual", function()
    local res = assert(generate("mock-slow"))
    assert.matches('You asked: "Why is the sky blue%?"%.$', res.text)
    assert.is_nil(res.text:find("GEMINI_API_KEY", 1, true))   -- run on purpose: no key hint
    assert.truthy(generate("gemini-2.5-flash"))
  end)

  -- Vertex AI paths (publishers/google/models/m, with or without
  -- projects/p/locations/l/) are served by the same routes: same faults.
  it("on Vertex AI paths too: express mode and a project's path", function()
    local _, err = generate("mock-fail-503", { vertexai = true })
    assert.matches("^gemini: api error 503 UNAVAILABLE: ", tostring(err))
    assert.equal("/v1beta1/publishers/google/models/mock-fail-503:generateContent", m:log()[1].path)
    local texts, serr = stream("mock-stream-error", { vertexai = true, retry = false })
    assert.equal(1, #texts)
    assert.matches("^gemini: api error 500", tostring(serr))
    local token = m:access_token()
    local project = m:client{ vertexai = true, api_key = false, project = "p", location = "us-central1",
      credentials = function() return token, 3600 end, retry = false }
    local _, perr = project.models:count_tokens{ model = "mock-fail-400", contents = PROMPT }
    assert.matches("^gemini: api error 400 INVALID_ARGUMENT: ", tostring(perr))
    assert.equal("/v1beta1/projects/p/locations/us-central1/publishers/google/models/mock-fail-400:countTokens",
      m:log()[#m:log()].path)
  end)

  it("a pending fault of the control API comes first", function()
    m:faults{ { type = "status", code = 404 } }
    local _, err = generate("mock-fail-500")
    assert.equal(404, err.code)
  end)
end)

describe("gemini_mock.py --help", function()
  it("lists every fault chosen by model name, with a curl line", function()
    local out = mock.command_output("python3 spec/mock/gemini_mock.py --help")
    for _, name in ipairs{ "mock-fail-500", "mock-fail-503", "mock-fail-429", "mock-fail-400",
                           "mock-html-502", "mock-close", "mock-stall", "mock-cut", "mock-slow",
                           "mock-stall-stream", "mock-not-json", "mock-stream-error" } do
      assert.matches("\n  " .. name:gsub("%-", "%%-") .. " +%S", out)
    end
    assert.matches("curl -s -H 'x-goog-api-key: test-key'", out, 1, true)
    assert.matches("/v1beta/models/mock-fail-429:generateContent", out, 1, true)
    assert.matches("--key-hint", out, 1, true)
  end)
end)
