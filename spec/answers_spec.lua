-- Answers as the server writes them, through the real HTTP stack against
-- the mock: numbers and empty tables as JSON wrote them (and back), bodies
-- and stream chunks of any JSON shape, candidates merged by index.
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "answers-key-3d7a"
local MODEL = "gemini-2.5-flash"
local REQ = { model = MODEL, contents = "x" }
local has_integers = math.type ~= nil

-- One SSE event with this JSON text, written verbatim by the mock.
local function ev(json_text) return "data: " .. json_text .. "\r\n\r\n" end

local function text_chunk(text, extra)
  return ev('{"candidates":[{"content":{"role":"model","parts":[{"text":"' .. text .. '"}]}'
    .. (extra or "") .. "}]}")
end

-- Every helper of a response, read: none may raise.
local HELPERS = { "text", "thoughts", "function_calls", "parsed", "inline_data", "executable_code",
  "code_execution_result", "grounding_metadata", "web_search_queries", "sources", "cited_text",
  "automatic_function_calling_history" }
local function read_helpers(res)
  for _, h in ipairs(HELPERS) do
    local _ = res[h]
  end
end

describe("answers", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  before_each(function()
    client = m:client{ retry = false }
  end)

  describe("numbers and empty tables", function()
    local ANSWER = '{"candidates":[{"content":{"role":"model","parts":[{"functionCall":'
      .. '{"name":"plan","args":{"n":3,"ratio":0.5,"list":[],"opts":{}}}}]},"finishReason":"STOP","index":0}],'
      .. '"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":29,"totalTokenCount":38}}'

    it("gives JSON integers as integers", function()
      m:script{ { raw = ANSWER } }
      local res = assert(client.models:generate_content(REQ))
      assert.equal("38", tostring(res.usageMetadata.totalTokenCount))
      local args = res.function_calls[1].args
      assert.equal("3", tostring(args.n))
      assert.equal(0.5, args.ratio)
      if has_integers then
        assert.equal("integer", math.type(args.n))
        assert.equal("float", math.type(args.ratio))
      end
    end)

    it("gives integers in a streamed chunk and in the merged response", function()
      m:script{ { chunks = { text_chunk("a"),
        ev('{"candidates":[{"content":{"role":"model","parts":[{"text":"b"}]},"index":0}],'
          .. '"usageMetadata":{"totalTokenCount":38}}') } } }
      local s = client.models:generate_content_stream(REQ)
      local chunk = assert(s:next())
      assert.equal("a", chunk.text)
      chunk = assert(s:next())
      assert.equal("38", tostring(chunk.usageMetadata.totalTokenCount))
      assert.is_nil(s:next())
      assert.equal("38", tostring(s.response.usageMetadata.totalTokenCount))
      assert.equal("0", tostring(s.response.candidates[1].index))
    end)

    it("gives S.integer() fields of a JSON-mode answer as integers", function()
      local S = gemini.schema
      m:script{ { body = { candidates = { { content = { role = "model",
        parts = { { text = '{"name":"Ada","age":36,"height":1.7}' } } }, finishReason = "STOP" } } } } }
      local res = assert(client.models:generate_content{ model = MODEL, contents = "x", config = {
        response_mime_type = "application/json",
        response_schema = S.object({ { "name", S.string() }, { "age", S.integer() }, { "height", S.number() } }) } })
      assert.equal("36", tostring(res.parsed.age))
      if has_integers then assert.equal("integer", math.type(res.parsed.age)) end
      assert.equal(1.7, res.parsed.height)
    end)

    it("sends a model turn back as it came: 3 as 3, [] as [], {} as {}", function()
      m:script{ { raw = ANSWER }, { raw = ANSWER:gsub('"functionCall".*%]}', '"text":"ok"}]}', 1) } }
      local chat = client.chats:create{ model = MODEL }
      assert(chat:send_message("plan it"))
      assert(chat:send_message("and now?"))
      local body = m:last().body
      local args = body:match('"args":(%b{})')
      assert.truthy(args, body)
      assert.truthy(args:find('"n":3[,}]'), args)
      assert.truthy(args:find('"ratio":0.5[,}]'), args)
      assert.truthy(args:find('"list":[]', 1, true), args)
      assert.truthy(args:find('"opts":{}', 1, true), args)
    end)
  end)

  describe("in-stream errors", function()
    it("carry an integer code", function()
      m:faults{ { type = "stream_error", after = 1, code = 503 } }
      local s = client.models:generate_content_stream(REQ)
      assert.truthy(s:next())
      local chunk, err = s:next()
      assert.is_nil(chunk)
      assert.equal(503, err.code)
      assert.equal("503", tostring(err.code))
      assert.matches("^gemini: api error 503 UNAVAILABLE: ", tostring(err))
    end)

    it("carry an integer code however the JSON wrote it", function()
      for _, code in ipairs({ "503.0", '"503"' }) do
        m:script{ { chunks = { text_chunk("a"),
          ev('{"error":{"code":' .. code .. ',"message":"overloaded","status":"UNAVAILABLE"}}') } } }
        local s = client.models:generate_content_stream(REQ)
        assert.truthy(s:next())
        local _, err = s:next()
        assert.equal("gemini: api error 503 UNAVAILABLE: overloaded", tostring(err))
      end
    end)
  end)

  describe("a body that is JSON but not an object", function()
    it("is a decode error for an answer", function()
      for _, raw in ipairs({ "[]", "[1,2]", '[{"candidates":[]}]', "5", '"text"', "null" }) do
        m:script{ { raw = raw } }
        local res, err = client.models:generate_content(REQ)
        assert.is_nil(res, raw)
        assert.equal("decode", err.kind)
        assert.equal("expected a JSON object in response", err.message)
      end
    end)

    it("is a decode error for a stream event, and the error sticks", function()
      for _, raw in ipairs({ "[]", "[1,2]", "[null]", "5", "null" }) do
        m:script{ { chunks = { text_chunk("a"), ev(raw), text_chunk("b") } } }
        local s = client.models:generate_content_stream(REQ)
        assert.equal("a", assert(s:next()).text)
        local chunk, err = s:next()
        assert.is_nil(chunk, raw)
        assert.equal("decode", err.kind)
        assert.equal("stream event is not a JSON object: " .. raw, err.message)
        for _ = 1, 3 do
          local again, err2 = s:next()
          assert.is_nil(again)
          assert.equal(err, err2)
        end
        assert.is_nil(s.response)
      end
    end)
  end)

  describe("chunks of any JSON shape", function()
    local SHAPES = {
      '{"candidates":[1]}',
      '{"candidates":[null,"x",true,[]]}',
      '{"candidates":{"a":1}}',
      '{"candidates":"x"}',
      '{"candidates":null}',
      '{"candidates":[{"content":{"parts":[5]}}]}',
      '{"candidates":[{"content":{"parts":[null,"x",[1],{"text":5},{"text":"ok","thought":"yes"}]}}]}',
      '{"candidates":[{"content":"x"}]}',
      '{"candidates":[{"content":{"parts":{"text":"x"}}}]}',
      '{"candidates":[{"content":{"parts":null}}]}',
      '{"candidates":[{"index":"x","content":{"parts":[{"text":"s"}]}}]}',
      '{"candidates":[{"index":1.5},{"index":-1},{"index":1e300},{"index":null},{"index":{}}]}',
      '{"candidates":[{"content":{"role":5,"parts":[{"functionCall":5},{"inlineData":5},'
        .. '{"inlineData":{"data":5}},{"functionCall":{"name":1,"args":5}},{"executableCode":[]},'
        .. '{"codeExecutionResult":null}]}}]}',
      '{"candidates":[{"content":{"parts":[{"text":"hello world"}]},"groundingMetadata":{'
        .. '"webSearchQueries":5,"groundingSupports":[1,{"segment":5},{"segment":{"endIndex":2.5,'
        .. '"partIndex":"x"},"groundingChunkIndices":[0.5,0,"x",null,1,2,3]},{"segment":{"endIndex":1e300},'
        .. '"groundingChunkIndices":[0]},{"segment":{"endIndex":-1e300},"groundingChunkIndices":{}}],'
        .. '"groundingChunks":[{"web":{"uri":{},"title":5}},5,{"web":5},{"web":{"uri":1}}]}}]}',
      '{"candidates":[{"content":{"parts":[{"text":"x"}]},"groundingMetadata":5}]}',
      '{"candidates":[{"content":{"parts":[{"text":"x"}]},"groundingMetadata":{"groundingSupports":5,"groundingChunks":[5]}}]}',
      '{"error":5}',
      '{"usageMetadata":null,"candidates":[]}',
      "{}",
    }

    it("never make next() raise, nor a helper of the chunk or of the merged response", function()
      for _, shape in ipairs(SHAPES) do
        m:script{ { chunks = { text_chunk("a"), ev(shape), text_chunk("b", ',"finishReason":"STOP"') } } }
        local s = client.models:generate_content_stream(REQ)
        local n = 0
        while true do
          local ok, chunk, err = pcall(s.next, s)
          assert.is_true(ok, shape .. ": " .. tostring(chunk))
          assert.is_nil(err, shape)
          if not chunk then break end
          n = n + 1
          local okh, herr = pcall(read_helpers, chunk)
          assert.is_true(okh, shape .. ": " .. tostring(herr))
        end
        assert.equal(3, n, shape)
        local okh, herr = pcall(read_helpers, s.response)
        assert.is_true(okh, shape .. ": " .. tostring(herr))
        local stops = 0
        for _, c in ipairs(s.response.candidates) do
          if c.finishReason == "STOP" then stops = stops + 1 end
        end
        assert.equal(1, stops, shape)
      end
    end)

    it("never make a helper of a whole answer raise", function()
      for _, shape in ipairs(SHAPES) do
        m:script{ { raw = shape } }
        local res = assert(client.models:generate_content(REQ))
        local okh, herr = pcall(read_helpers, res)
        assert.is_true(okh, shape .. ": " .. tostring(herr))
      end
    end)

    it("keep what is not a part in the merged parts, as sent", function()
      m:script{ { chunks = { text_chunk("a"), ev('{"candidates":[{"content":{"parts":[5,{"text":"b"}]}}]}'),
        text_chunk("c") } } }
      local s = client.models:generate_content_stream(REQ)
      while s:next() do end
      local parts = s.response.candidates[1].content.parts
      assert.equal(3, #parts)
      assert.equal("a", parts[1].text)
      assert.equal(5, parts[2])
      assert.equal("bc", parts[3].text)
      assert.equal("abc", s.response.text)
    end)

    it("cite only sources that exist, at whole offsets", function()
      m:script{ { raw = '{"candidates":[{"content":{"parts":[{"text":"hello world"}]},"groundingMetadata":{'
        .. '"groundingSupports":[{"segment":{"endIndex":5.5},"groundingChunkIndices":[0,0.5,7]}],'
        .. '"groundingChunks":[{"web":{"uri":"https://a.example","title":"A"}}]}}]}' } }
      local res = assert(client.models:generate_content(REQ))
      assert.equal("hello[1](https://a.example) world", res.cited_text)
    end)
  end)

  describe("the merged candidates of a stream", function()
    local function cand(index, text, extra)
      return '{"content":{"role":"model","parts":[{"text":"' .. text .. '"}]}'
        .. (index and (',"index":' .. index) or "") .. (extra or "") .. "}"
    end
    local function merged(chunks)
      local events = {}
      for i, c in ipairs(chunks) do events[i] = ev('{"candidates":[' .. table.concat(c, ",") .. "]}") end
      m:script{ { chunks = events } }
      local s = client.models:generate_content_stream(REQ)
      while true do
        local chunk, err = s:next()
        assert.is_nil(err)
        if not chunk then return s.response end
      end
    end

    it("keep a stream's only candidate when its index is 1", function()
      local res = merged{ { cand(1, "a") }, { cand(1, "b", ',"finishReason":"STOP"') } }
      assert.equal(1, #res.candidates)
      assert.equal("1", tostring(res.candidates[1].index))
      assert.equal("ab", res.text)
      assert.equal("STOP", res.candidates[1].finishReason)
    end)

    it("are a dense list ordered by index, however sparse and late the indexes come", function()
      local res = merged{
        { cand(5, "five-"), cand(2, "two-") },
        { cand(9, "nine") },
        { cand(2, "b"), cand(5, "f") },
        { cand(0, "zero") },
      }
      assert.equal(4, #res.candidates)
      local got = {}
      for i, c in ipairs(res.candidates) do
        got[i] = tostring(c.index) .. "=" .. c.content.parts[1].text
        assert.equal(1, #c.content.parts)
      end
      assert.same({ "0=zero", "2=two-b", "5=five-f", "9=nine" }, got)
      assert.equal("zero", res.text)
    end)

    it("take a missing index as the candidate's place in its chunk", function()
      local res = merged{ { cand(nil, "a"), cand(nil, "x") }, { cand(0, "b"), cand(1, "y") } }
      assert.equal(2, #res.candidates)
      assert.equal("ab", res.candidates[1].content.parts[1].text)
      assert.equal("xy", res.candidates[2].content.parts[1].text)
    end)
  end)

  describe("a response's helpers", function()
    -- A copy of a response: its fields one by one, and its metatable.
    local function copy_of(res)
      local c = {}
      for k, v in pairs(res) do c[k] = v end
      return setmetatable(c, getmetatable(res))
    end
    local function keys(t)
      local out = {}
      for k in pairs(t) do out[#out + 1] = k end
      table.sort(out)
      return out
    end

    it("follow a copy that keeps the metatable: parsed of a JSON-mode answer", function()
      m:script{ { raw = '{"candidates":[{"content":{"role":"model","parts":[{"text":"{\\"a\\":1}"}]}}],'
        .. '"modelVersion":"m"}' } }
      local res = assert(client.models:generate_content{ model = MODEL, contents = "x",
        config = { response_mime_type = "application/json" } })
      assert.same({ "candidates", "modelVersion" }, keys(res))
      assert.same({ a = 1 }, res.parsed)
      assert.same({ a = 1 }, copy_of(res).parsed)
      -- the plain answer's metatable is not JSON mode
      m:script{ { raw = '{"candidates":[{"content":{"role":"model","parts":[{"text":"{}"}]}}]}' } }
      local plain = assert(client.models:generate_content(REQ))
      assert.is_nil(copy_of(plain).parsed)
      assert.same({ a = 1 }, copy_of(res).parsed)
    end)

    it("follow a copy that keeps the metatable: the automatic function calling history", function()
      local tool = gemini.tools.functions{ { name = "f", handler = function() return 1 end } }
      m:script{
        { raw = '{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f"}}]}}]}' },
        { raw = '{"candidates":[{"content":{"role":"model","parts":[{"text":"done"}]}}],"usageMetadata":{}}' },
      }
      local res = assert(client.models:generate_content{ model = MODEL, contents = "x",
        config = { tools = { tool } } })
      assert.same({ "candidates", "usageMetadata" }, keys(res))
      local h = res.automatic_function_calling_history
      assert.equal(3, #h)
      assert.equal(h, copy_of(res).automatic_function_calling_history)
      assert.equal("done", copy_of(res).text)
    end)
  end)
end)
