-- Specs of the mock Gemini server itself (spec/mock/gemini_mock.py), driven
-- only through spec/support/mock.lua and the curl command line: no code of the
-- client under test is involved.

local cjson = require("cjson")
local mock = require("support.mock")

local KEY = "test-key-123"
local MODEL = "/v1beta/models/gemini-2.5-flash"

local function body_for(text)
  return { contents = { { role = "user", parts = { { text = text } } } } }
end

-- Split a raw chunked body into its chunks; returns chunks, terminated.
local function dechunk(raw)
  local chunks, pos = {}, 1
  while true do
    local size_hex, after = raw:match("^(%x+)\r\n()", pos)
    if not size_hex then return chunks, false end
    local size = tonumber(size_hex, 16)
    if size == 0 then return chunks, raw:sub(after, after + 1) == "\r\n" end
    local data = raw:sub(after, after + size - 1)
    if #data < size or raw:sub(after + size, after + size + 1) ~= "\r\n" then
      chunks[#chunks + 1] = data
      return chunks, false
    end
    chunks[#chunks + 1] = data
    pos = after + size + 2
  end
end

-- The JSON payloads of the SSE events in a (de-chunked) body.
local function sse_events(body, sep)
  sep = sep or "\r\n\r\n"
  local events, pos = {}, 1
  while true do
    local s, e = body:find(sep, pos, true)
    if not s then break end
    local ev = body:sub(pos, s - 1)
    events[#events + 1] = ev
    pos = e + 1
  end
  return events, body:sub(pos)
end

local function decode_event(ev)
  local json = assert(ev:match("^data: (.*)$"), "not a data event: " .. ev)
  return cjson.decode(json)
end

local function text_of(resp)
  local c = resp.candidates and resp.candidates[1]
  local out = {}
  if c and c.content and c.content.parts then
    for _, p in ipairs(c.content.parts) do
      if type(p.text) == "string" then out[#out + 1] = p.text end
    end
  end
  return table.concat(out)
end

local function count(s, pattern)
  local _, n = s:gsub(pattern, "")
  return n
end

local function find_by_path(log, fragment)
  for i = #log, 1, -1 do
    if log[i].path:find(fragment, 1, true) then return log[i] end
  end
end

describe("mock gemini server", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }

  local function gen(opts)
    opts = opts or {}
    return m:request{
      path = (opts.prefix or "") .. (opts.model or MODEL) .. ":generateContent" .. (opts.query or ""),
      key = (not opts.nokey) and KEY or nil,
      headers = opts.headers,
      body = opts.body or body_for(opts.text or "Hello there, mock"),
      max_time = opts.max_time,
    }
  end

  local function stream(opts)
    opts = opts or {}
    local query = opts.query
    if query == nil then query = "?alt=sse" end
    return m:request{
      path = (opts.prefix or "") .. (opts.model or MODEL) .. ":streamGenerateContent" .. query,
      key = KEY,
      body = opts.body or body_for(opts.text or "Tell me a story please"),
      raw = opts.raw,
      max_time = opts.max_time or 20,
    }
  end


  describe("helper", function()
    it("exposes port, url and key", function()
      assert.is_number(m.port)
      assert.are.equal("http://127.0.0.1:" .. m.port, m.url)
      assert.are.equal(KEY, m.key)
    end)

    it("rejects unknown fault types on the control plane", function()
      assert.error_matches(function() m:faults{ { type = "nope" } } end,
        '^mock control POST /_mock/faults: unknown fault: {"type": "nope"} %(types: [%w_, ]-big, close, [%w_, ]+%)$')
    end)

    it("sleeps at least the time asked", function()
      local monotime = require("system").monotime   -- luasystem, busted's clock
      local t0 = monotime()
      mock.sleep(0.1)
      local slept = monotime() - t0
      assert.is_true(slept >= 0.1, "slept " .. slept .. " s")
    end)
  end)

  describe("auth", function()
    it("accepts x-goog-api-key", function()
      assert.are.equal(200, gen().status)
    end)

    it("accepts Authorization: Bearer", function()
      local r = m:request{ path = MODEL .. ":generateContent", body = body_for("hi"),
        headers = { Authorization = "Bearer " .. KEY } }
      assert.are.equal(200, r.status)
    end)

    it("rejects both credentials", function()
      local r = m:request{ path = MODEL .. ":generateContent", key = KEY, body = body_for("hi"),
        headers = { Authorization = "Bearer " .. KEY } }
      assert.are.equal(400, r.status)
      local e = cjson.decode(r.body).error
      assert.are.equal("INVALID_ARGUMENT", e.status)
      assert.matches("Multiple authentication credentials received", e.message, 1, true)
    end)

    it("answers 401 without credentials", function()
      local r = gen{ nokey = true }
      assert.are.equal(401, r.status)
      assert.are.equal("UNAUTHENTICATED", cjson.decode(r.body).error.status)
      assert.matches("^application/json", r.headers["content-type"])
    end)

    it("answers 400 API_KEY_INVALID for a wrong key, without echoing it", function()
      local r = m:request{ path = MODEL .. ":generateContent", key = "wrong-secret-xyz",
        body = body_for("hi") }
      assert.are.equal(400, r.status)
      local e = cjson.decode(r.body).error
      assert.are.equal(400, e.code)
      assert.are.equal("INVALID_ARGUMENT", e.status)
      assert.are.equal("API key not valid. Please pass a valid API key.", e.message)
      assert.are.equal("type.googleapis.com/google.rpc.ErrorInfo", e.details[1]["@type"])
      assert.are.equal("API_KEY_INVALID", e.details[1].reason)
      assert.is_nil(r.body:find("wrong-secret-xyz", 1, true))
      local bearer = m:request{ path = MODEL .. ":generateContent", body = body_for("hi"),
        headers = { Authorization = "Bearer nope" } }
      assert.are.equal(400, bearer.status)
    end)

    it("rejects a key in the URL", function()
      local r = gen{ query = "?key=" .. KEY }
      assert.are.equal(400, r.status)
      local e = cjson.decode(r.body).error
      assert.matches("URL", e.message, 1, true)
      assert.is_nil(r.body:find(KEY, 1, true))
    end)
  end)

  describe("routing", function()
    it("accepts any prefix before the version", function()
      local r = gen{ prefix = "/proxy" }
      assert.are.equal(200, r.status)
      local e = m:last()
      assert.are.equal("/proxy/v1beta/models/gemini-2.5-flash:generateContent", e.path)
      assert.are.equal(200, gen{ prefix = "/a/b/c", model = "/v1/models/mock-anything" }.status)
    end)

    it("accepts tunedModels", function()
      local r = m:request{ path = "/v1beta/tunedModels/my-tune-1:generateContent", key = KEY,
        body = body_for("hi") }
      assert.are.equal(200, r.status)
    end)

    it("answers 404 for unknown models and paths", function()
      local r = gen{ model = "/v1beta/models/nonexistent" }
      assert.are.equal(404, r.status)
      assert.are.equal("NOT_FOUND", cjson.decode(r.body).error.status)
      local r2 = m:request{ path = "/v1beta/nothing/here", key = KEY }
      assert.are.equal(404, r2.status)
    end)
  end)

  describe("generateContent", function()
    it("gives the deterministic default answer", function()
      local r = gen{ text = "What is the capital of France?" }
      assert.are.equal(200, r.status)
      assert.matches("^application/json", r.headers["content-type"])
      assert.truthy(r.headers["content-length"])
      local res = cjson.decode(r.body)
      local c = res.candidates[1]
      assert.are.equal("model", c.content.role)
      assert.are.equal("STOP", c.finishReason)
      assert.are.equal(0, c.index)
      local text = c.content.parts[1].text
      assert.are.equal("This answer comes from the local gemini mock server. You asked: "
        .. "\"What is the capital of France?\".", text)
      assert.are.equal(6, res.usageMetadata.promptTokenCount)
      assert.are.equal(count(text, "%S+"), res.usageMetadata.candidatesTokenCount)
      assert.are.equal(res.usageMetadata.promptTokenCount + res.usageMetadata.candidatesTokenCount,
        res.usageMetadata.totalTokenCount)
      assert.are.equal("gemini-2.5-flash", res.modelVersion)
      assert.is_string(res.responseId)
      assert.are.equal(r.body, gen{ text = "What is the capital of France?" }.body
        :gsub("mock%-%d+", res.responseId))
    end)

    it("quotes the last user text, truncated to 200 characters", function()
      local long = string.rep("abcdefghij", 30)
      local body = { contents = {
        { role = "user", parts = { { text = "first question" } } },
        { role = "model", parts = { { text = "first answer" } } },
        { role = "user", parts = { { text = long } } },
      } }
      local text = text_of(cjson.decode(gen{ body = body }.body))
      assert.truthy(text:find("\"" .. long:sub(1, 200) .. "\"", 1, true))
    end)

    it("rejects malformed JSON and unknown fields like Google", function()
      local r = gen{ body = "{not json" }
      assert.are.equal(400, r.status)
      assert.matches("^Invalid JSON payload received", cjson.decode(r.body).error.message)
      local r2 = gen{ body = { contents = body_for("x").contents, config = { temperature = 1 } } }
      assert.are.equal(400, r2.status)
      assert.matches('Unknown name "config"', cjson.decode(r2.body).error.message, 1, true)
      local r3 = gen{ body = { contents = body_for("x").contents,
        generationConfig = { temperature = 0.5, thinking_config = { thinking_budget = 0 } } } }
      assert.are.equal(200, r3.status)
      assert.are.equal(400, gen{ body = { contents = {} } }.status)
    end)

    it("reads chunked request bodies", function()
      local r = m:request{ path = MODEL .. ":generateContent", key = KEY,
        headers = { ["Transfer-Encoding"] = "chunked" }, body = body_for("chunked upload") }
      assert.are.equal(200, r.status)
      local e = m:last()
      assert.are.equal("chunked", e.headers["transfer-encoding"])
      assert.are.equal("chunked upload", e.json.contents[1].parts[1].text)
    end)
  end)

  describe("streamGenerateContent", function()
    it("streams SSE events, one HTTP chunk each, CRLF framed", function()
      local r = stream{ raw = true, text = "one two three" }
      assert.are.equal(200, r.status)
      assert.are.equal("chunked", r.headers["transfer-encoding"])
      assert.matches("^text/event%-stream", r.headers["content-type"])
      local chunks, terminated = dechunk(r.body)
      assert.is_true(terminated)
      assert.is_true(#chunks >= 5)
      local full = cjson.decode(gen{ text = "one two three" }.body)
      local text = {}
      for i, ch in ipairs(chunks) do
        assert.matches("^data: ", ch)
        assert.are.equal("\r\n\r\n", ch:sub(-4))
        local ev = decode_event(ch:sub(1, -5))
        text[#text + 1] = text_of(ev)
        assert.truthy(ev.usageMetadata)
        assert.are.equal(3, ev.usageMetadata.promptTokenCount)
        if i < #chunks then
          assert.is_nil(ev.candidates[1].finishReason)
        else
          assert.are.equal("STOP", ev.candidates[1].finishReason)
          assert.are.same(full.usageMetadata, ev.usageMetadata)
        end
      end
      assert.are.equal(text_of(full), table.concat(text))
      local e = find_by_path(m:log(), "streamGenerateContent")
      assert.are.equal(#chunks, e.events_sent)
      assert.are.equal(#chunks, e.events_total)
      assert.is_true(e.completed)
      assert.is_false(e.disconnected)
    end)

    it("sends one JSON array without alt=sse", function()
      local r = stream{ query = "" }
      assert.are.equal(200, r.status)
      local arr = cjson.decode(r.body)
      assert.is_true(#arr >= 3)
      assert.are.equal("STOP", arr[#arr].candidates[1].finishReason)
    end)

    it("honours the stream prefix routing", function()
      assert.are.equal(200, stream{ prefix = "/proxy" }.status)
    end)
  end)

  describe("countTokens", function()
    it("counts words, at least 1", function()
      local r = m:request{ path = MODEL .. ":countTokens", key = KEY,
        body = body_for("How many tokens are here?") }
      assert.are.equal(200, r.status)
      assert.are.equal(5, cjson.decode(r.body).totalTokens)
      local r2 = m:request{ path = MODEL .. ":countTokens", key = KEY, body = body_for("") }
      assert.are.equal(1, cjson.decode(r2.body).totalTokens)
    end)

    it("accepts the generateContentRequest form", function()
      local r = m:request{ path = MODEL .. ":countTokens", key = KEY, body = {
        generateContentRequest = { model = "models/gemini-2.5-flash",
          contents = body_for("a b c").contents,
          systemInstruction = { parts = { { text = "d e" } } } } } }
      assert.are.equal(200, r.status)
      assert.are.equal(5, cjson.decode(r.body).totalTokens)
    end)
  end)

  describe("embeddings", function()
    local EMB = "/v1beta/models/gemini-embedding-001"

    it("embedContent gives 8 deterministic values", function()
      local b = { content = { parts = { { text = "hello" } } } }
      local r = m:request{ path = EMB .. ":embedContent", key = KEY, body = b }
      assert.are.equal(200, r.status)
      local v = cjson.decode(r.body).embedding.values
      assert.are.equal(8, #v)
      for _, x in ipairs(v) do assert.is_number(x) end
      local again = m:request{ path = EMB .. ":embedContent", key = KEY, body = b }
      assert.are.same(v, cjson.decode(again.body).embedding.values)
    end)

    it("batchEmbedContents gives one embedding per request, honouring outputDimensionality", function()
      local reqs = {}
      for i, t in ipairs({ "alpha", "beta", "gamma" }) do
        reqs[i] = { model = "models/gemini-embedding-001", content = { parts = { { text = t } } },
          taskType = "RETRIEVAL_DOCUMENT", outputDimensionality = 16 }
      end
      local r = m:request{ path = EMB .. ":batchEmbedContents", key = KEY, body = { requests = reqs } }
      assert.are.equal(200, r.status)
      local embs = cjson.decode(r.body).embeddings
      assert.are.equal(3, #embs)
      assert.are.equal(16, #embs[1].values)
      assert.are_not.same(embs[1].values, embs[2].values)
      reqs[2].model = "models/other"
      local bad = m:request{ path = EMB .. ":batchEmbedContents", key = KEY, body = { requests = reqs } }
      assert.are.equal(400, bad.status)
    end)
  end)

  describe("models", function()
    it("gets a model", function()
      local r = m:request{ path = "/v1beta/models/gemini-2.5-pro", key = KEY }
      assert.are.equal(200, r.status)
      local mod = cjson.decode(r.body)
      assert.are.equal("models/gemini-2.5-pro", mod.name)
      assert.is_number(mod.inputTokenLimit)
      assert.is_table(mod.supportedGenerationMethods)
    end)

    it("answers 404 for an unknown model", function()
      local r = m:request{ path = "/v1beta/models/nonexistent", key = KEY }
      assert.are.equal(404, r.status)
      assert.are.equal("NOT_FOUND", cjson.decode(r.body).error.status)
    end)

    it("lists with paging", function()
      local names, token, pages = {}, nil, 0
      repeat
        local q = "?pageSize=3" .. (token and ("&pageToken=" .. token) or "")
        local r = m:request{ path = "/v1beta/models" .. q, key = KEY }
        assert.are.equal(200, r.status)
        local page = cjson.decode(r.body)
        assert.is_true(#page.models <= 3)
        for _, mod in ipairs(page.models) do names[#names + 1] = mod.name end
        token = page.nextPageToken
        pages = pages + 1
      until not token
      assert.is_true(#names >= 7)
      assert.is_true(pages >= 3)
      local all = cjson.decode(m:request{ path = "/v1beta/models", key = KEY }.body)
      assert.are.equal(#names, #all.models)
      assert.is_nil(all.nextPageToken)
      local seen = {}
      for _, n in ipairs(names) do seen[n] = true end
      for _, id in ipairs({ "gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite",
        "gemini-3-pro-preview", "gemini-3-flash-preview", "gemini-embedding-001",
        "gemini-2.5-flash-image" }) do
        assert.is_true(seen["models/" .. id], id)
      end
    end)
  end)

  describe("faults", function()
    it("status: N times, then normal", function()
      m:faults{ { type = "status", code = 503, times = 2 } }
      local r1, r2, r3 = gen(), gen(), gen()
      assert.are.equal(503, r1.status)
      assert.are.equal("UNAVAILABLE", cjson.decode(r1.body).error.status)
      assert.are.equal(503, r2.status)
      assert.are.equal(200, r3.status)
      for code, name in pairs({ [400] = "INVALID_ARGUMENT", [404] = "NOT_FOUND",
        [500] = "INTERNAL", [504] = "DEADLINE_EXCEEDED", [403] = "PERMISSION_DENIED" }) do
        m:faults{ { type = "status", code = code, message = "boom " .. code } }
        local r = gen()
        assert.are.equal(code, r.status)
        local e = cjson.decode(r.body).error
        assert.are.equal(name, e.status)
        assert.are.equal(code, e.code)
        assert.are.equal("boom " .. code, e.message)
      end
    end)

    it("status 429 with RetryInfo detail and Retry-After header", function()
      m:faults{ { type = "status", code = 429, retry_delay = "0.05s", retry_after = "1" } }
      local r = gen()
      assert.are.equal(429, r.status)
      assert.are.equal("1", r.headers["retry-after"])
      local e = cjson.decode(r.body).error
      assert.are.equal("RESOURCE_EXHAUSTED", e.status)
      local found
      for _, d in ipairs(e.details) do
        if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" then found = d.retryDelay end
      end
      assert.are.equal("0.05s", found)
    end)

    it("applies only to matching paths, and to any route", function()
      m:faults{ { type = "status", code = 500, match = "countTokens" } }
      assert.are.equal(200, gen().status)
      local r = m:request{ path = MODEL .. ":countTokens", key = KEY, body = body_for("x") }
      assert.are.equal(500, r.status)
      m:faults{ { type = "status", code = 503 } }
      assert.are.equal(503, m:request{ path = "/v1beta/models", key = KEY }.status)
    end)

    it("stream-only faults wait for a stream request that passed auth", function()
      m:faults{ { type = "lf" } }
      assert.are.equal(200, gen().status)
      local denied = m:request{ path = MODEL .. ":streamGenerateContent?alt=sse", key = "bad",
        body = body_for("x") }
      assert.are.equal(400, denied.status)
      local r = stream()
      assert.is_nil(r.body:find("\r\n\r\n", 1, true))
      assert.are.equal("lf", m:last().fault)
    end)

    it("html", function()
      m:faults{ { type = "html", code = 502 } }
      local r = gen()
      assert.are.equal(502, r.status)
      assert.matches("^text/html", r.headers["content-type"])
      assert.are.equal("<html><body><h1>502 Bad Gateway</h1></body></html>", r.body)
    end)

    it("close: no response at all", function()
      m:faults{ { type = "close" } }
      local r = gen{ max_time = 5 }
      assert.are.equal(0, r.status)
      assert.are.equal(52, r.exit) -- curl: empty reply from server
      assert.are.equal(200, gen().status)
    end)

    it("cut: K events, half an event, no terminating chunk", function()
      m:faults{ { type = "cut", events = 2 } }
      local r = stream{ raw = true }
      assert.are.equal(18, r.exit) -- curl: partial file
      local chunks, terminated = dechunk(r.body)
      assert.is_false(terminated)
      assert.are.equal(3, #chunks)
      decode_event(chunks[1]:sub(1, -5))
      decode_event(chunks[2]:sub(1, -5))
      assert.matches('^data: {"candidates":%[{"cont', chunks[3])
      assert.is_nil(chunks[3]:find("\r\n\r\n", 1, true))
      local e = m:last()
      assert.is_false(e.completed)
      assert.are.equal(2, e.events_sent)
    end)

    it("not_json", function()
      m:faults{ { type = "not_json", after = 2 } }
      local events, rest = sse_events(stream().body)
      assert.are.equal(3, #events)
      assert.are.equal("", rest)
      decode_event(events[2])
      assert.are.equal("data: this is not json", events[3])
    end)

    it("stream_error as a data event", function()
      m:faults{ { type = "stream_error", after = 1, code = 500 } }
      local events = sse_events(stream().body)
      assert.are.equal(2, #events)
      local err = decode_event(events[2]).error
      assert.are.equal(500, err.code)
      assert.are.equal("INTERNAL", err.status)
    end)

    it("stream_error bare: pretty JSON without data:", function()
      m:faults{ { type = "stream_error", after = 1, code = 503, bare = true } }
      local r = stream{ raw = true }
      local chunks, terminated = dechunk(r.body)
      assert.is_true(terminated)
      assert.are.equal(2, #chunks)
      local bare = chunks[2]
      assert.matches("^{\n", bare)
      assert.is_nil(bare:find("data:", 1, true))
      assert.is_true(count(bare, "\n") > 3)
      assert.are.equal(503, cjson.decode(bare).error.code)
    end)

    it("many: 100000 events arrive whole and fast", function()
      m:faults{ { type = "many", events = 100000 } }
      local r = stream{ max_time = 30 }
      assert.are.equal(200, r.status)
      assert.are.equal(0, r.exit)
      assert.is_true(r.time < 5, "took " .. tostring(r.time))
      assert.are.equal(100000, count(r.body, "data: "))
      local events = sse_events(r.body)
      assert.are.equal(100000, #events)
      assert.are.equal("w1 ", text_of(decode_event(events[1])))
      local last = decode_event(events[#events])
      assert.are.equal("w100000 ", text_of(last))
      assert.are.equal("STOP", last.candidates[1].finishReason)
      local e = m:last()
      assert.are.equal(100000, e.events_sent)
      assert.is_true(e.completed)
    end)

    it("lf: events separated by \\n\\n", function()
      m:faults{ { type = "lf" } }
      local body = stream().body
      assert.is_nil(body:find("\r", 1, true))
      local events, rest = sse_events(body, "\n\n")
      assert.is_true(#events >= 3)
      assert.are.equal("", rest)
      assert.are.equal("STOP", decode_event(events[#events]).candidates[1].finishReason)
    end)

    it("stall: nothing is sent; a client that gives up is noticed", function()
      m:faults{ { type = "stall", seconds = 3 } }
      local r = gen{ max_time = 0.5 }
      assert.are.equal(28, r.exit) -- curl: timeout
      assert.is_true(m:wait_for(function(log)
        return log[1] and log[1].disconnected and log[1].t_end ~= nil
      end, 2))
      local e = m:last()
      assert.is_true(e.t_end - e.t_start < 1.5)
    end)

    it("stall: closes after the given seconds", function()
      m:faults{ { type = "stall", seconds = 0.3 } }
      local r = gen{ max_time = 5 }
      assert.are.equal(52, r.exit)
      assert.is_true(r.time >= 0.25)
    end)

    it("stall_after: K events then silence", function()
      m:faults{ { type = "stall_after", events = 2, seconds = 3 } }
      local r = stream{ max_time = 0.7 }
      assert.are.equal(28, r.exit)
      assert.are.equal(2, #sse_events(r.body))
      assert.is_true(m:wait_for(function(log) return log[1] and log[1].disconnected end, 2))
    end)

    it("slow_stream: a client that leaves is noticed within one delay", function()
      m:faults{ { type = "slow_stream", delay = 0.3, events = 10 } }
      local r = stream{ max_time = 0.5 }
      assert.are.equal(28, r.exit)
      assert.is_true(m:wait_for(function(log)
        return log[1] and log[1].disconnected and log[1].t_end ~= nil
      end, 2))
      local e = m:last()
      assert.is_true(e.events_sent >= 1 and e.events_sent < 10)
      assert.are.equal(10, e.events_total)
      assert.is_false(e.completed)
      assert.is_true(e.t_end - e.t_start < 0.5 + 0.3 + 0.2)
    end)

    it("slow_stream: completes when the client waits", function()
      m:faults{ { type = "slow_stream", delay = 0.05, events = 4 } }
      local r = stream()
      local events = sse_events(r.body)
      assert.are.equal(4, #events)
      assert.is_true(r.time >= 0.15)
      local full = text_of(cjson.decode(gen{ text = "Tell me a story please" }.body))
      local text = {}
      for i, ev in ipairs(events) do text[i] = text_of(decode_event(ev)) end
      assert.are.equal(full, table.concat(text))
    end)

    it("big: a text part of N bytes", function()
      m:faults{ { type = "big", bytes = 300000 } }
      local r = gen()
      assert.are.equal(200, r.status)
      assert.are.equal(300000, #text_of(cjson.decode(r.body)))
    end)
  end)

  describe("scripts", function()
    it("scripted bodies are consumed in order", function()
      m:script{
        { body = { candidates = { { content = { role = "model", parts = { { text = "one" } } } } } } },
        { status = 400, body = { error = { code = 400, message = "scripted", status = "INVALID_ARGUMENT" } } },
      }
      assert.are.equal("one", text_of(cjson.decode(gen().body)))
      local r = gen()
      assert.are.equal(400, r.status)
      assert.are.equal("scripted", cjson.decode(r.body).error.message)
      assert.matches("^This answer comes", text_of(cjson.decode(gen().body)))
    end)

    it("scripted chunks stream one event each; raw strings go out verbatim", function()
      m:script{ { chunks = {
        { candidates = { { content = { role = "model", parts = { { text = "He" } } } } } },
        ": keep-alive comment\r\n\r\n",
        { candidates = { { content = { role = "model", parts = { { text = "llo" } } },
          finishReason = "STOP" } } },
      }, delay = 0.05 } }
      local r = stream{ raw = true }
      local chunks, terminated = dechunk(r.body)
      assert.is_true(terminated)
      assert.are.equal(3, #chunks)
      assert.are.equal(": keep-alive comment\r\n\r\n", chunks[2])
      assert.are.equal("llo", text_of(decode_event(chunks[3]:sub(1, -5))))
      assert.is_true(r.time >= 0.1)
    end)

    it("chunks given to a non-stream call are merged", function()
      m:script{ { chunks = {
        { candidates = { { content = { role = "model", parts = { { text = "He" } } } } } },
        { candidates = { { content = { role = "model", parts = { { text = "llo" } } },
          finishReason = "STOP" } } },
      } } }
      local res = cjson.decode(gen().body)
      assert.are.equal("Hello", text_of(res))
      assert.are.equal("STOP", res.candidates[1].finishReason)
    end)

    it("a JSON string keeps empty arrays", function()
      m:script('[{"body": {"candidates": [{"content": {"role": "model", "parts": []}}]}}]')
      local r = gen()
      assert.truthy(r.body:find('"parts":[]', 1, true))
      assert.are.equal(0, #cjson.decode(r.body).candidates[1].content.parts)
    end)
  end)

  describe("request log", function()
    it("records method, path, query, headers, body and json", function()
      stream{ prefix = "/proxy" }
      local e = m:last()
      assert.are.equal("POST", e.method)
      assert.are.equal("/proxy/v1beta/models/gemini-2.5-flash:streamGenerateContent", e.path)
      assert.are.equal("sse", e.query.alt)
      assert.are.equal(KEY, e.headers["x-goog-api-key"])
      assert.are.equal("application/json", e.headers["content-type"])
      assert.are.same(body_for("Tell me a story please"), cjson.decode(e.body))
      assert.are.equal("Tell me a story please", e.json.contents[1].parts[1].text)
      assert.are.equal(200, e.status)
      assert.matches("^127%.0%.0%.1:%d+$", e.peer)
      assert.is_number(e.id)
      assert.is_true(e.t_end >= e.t_start)
      gen{ body = "not json" }
      assert.is_nil(m:last().json)
    end)

    it("shows keep-alive reuse through the peer address", function()
      local url = m.url .. MODEL
      local cmd = "curl -s -o /dev/null -o /dev/null -H " .. mock.shell_quote("x-goog-api-key: " .. KEY)
        .. " " .. mock.shell_quote(url) .. " " .. mock.shell_quote(m.url .. "/v1beta/models/gemini-2.5-pro")
      local p = io.popen(cmd)
      p:read("*a")
      p:close()
      gen()
      local su = m.url .. MODEL .. ":streamGenerateContent?alt=sse"
      cmd = "curl -s -o /dev/null -o /dev/null -H " .. mock.shell_quote("x-goog-api-key: " .. KEY)
        .. " --data-binary " .. mock.shell_quote(cjson.encode(body_for("again")))
        .. " " .. mock.shell_quote(su) .. " " .. mock.shell_quote(su)
      p = io.popen(cmd)
      p:read("*a")
      p:close()
      local log = m:log()
      assert.are.equal(5, #log)
      assert.are.equal(log[1].peer, log[2].peer)
      assert.are_not.equal(log[2].peer, log[3].peer)
      assert.are.equal(log[4].peer, log[5].peer) -- chunked streams end cleanly
      assert.is_true(log[4].completed and log[5].completed)
    end)

    it("reset clears log, faults and scripts", function()
      m:faults{ { type = "status", code = 500 } }
      m:script{ { body = { candidates = {} } } }
      gen{ model = "/v1beta/models/gemini-2.5-pro" }
      assert.are.equal(1, #m:log())
      m:faults{ { type = "status", code = 500 } }
      m:script{ { body = { candidates = {} } } }
      m:reset()
      assert.are.equal(0, #m:log())
      local res = cjson.decode(gen().body)
      assert.matches("^This answer comes", text_of(res))
    end)

    it("finds entries by path", function()
      gen()
      m:request{ path = "/v1beta/models/gemini-2.5-pro", key = KEY }
      assert.are.equal("GET", find_by_path(m:log(), "gemini-2.5-pro").method)
    end)
  end)
end)
