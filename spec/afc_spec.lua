-- Automatic function calling through the real HTTP stack against the mock,
-- with scripted model answers: what is sent back after each round, the
-- limit, disabling, failing handlers, and the same in chats (blocking and
-- streamed).
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "afc-key-90b3"
local MODEL = "gemini-2.5-flash"
local SIG = "EjQKMgF/thought+sig/AbCdEf0123456789=="

-- A model answer whose candidate 0 calls functions: calls is a list of
-- {name, args, id, sig}.
local function calls_answer(calls)
  local parts = {}
  for i, c in ipairs(calls) do
    parts[i] = { functionCall = { name = c[1], args = c[2], id = c[3] }, thoughtSignature = c[4] }
  end
  return { body = { candidates = { { content = { role = "model", parts = parts }, index = 0,
    finishReason = "STOP" } } } }
end

local function text_answer(text)
  return { body = { candidates = { { content = { role = "model", parts = { { text = text } } },
    finishReason = "STOP", index = 0 } } } }
end

-- The same, as a stream of chunks.
local function calls_chunks(calls)
  local a = calls_answer(calls).body
  local thought = { text = "Checking the weather", thought = true }
  return { chunks = { { candidates = { { content = { role = "model", parts = { thought } }, index = 0 } } }, a } }
end

local function text_chunks(...)
  local chunks = {}
  for i, t in ipairs({ ... }) do
    chunks[i] = { candidates = { { content = { role = "model", parts = { { text = t } } }, index = 0 } } }
  end
  chunks[#chunks].candidates[1].finishReason = "STOP"
  return { chunks = chunks }
end

local function generate_requests(log)
  local n = 0
  for _, e in ipairs(log) do
    if e.path:find(":generateContent", 1, true) or e.path:find(":streamGenerateContent", 1, true) then
      n = n + 1
    end
  end
  return n
end

describe("automatic function calling", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client, T, seen

  before_each(function()
    client = m:client{ retry = { attempts = 2, initial_delay = 0.01, max_delay = 0.05, jitter = 0 } }
    seen = {}
    T = gemini.tools.functions{
      { name = "get_weather", description = "Weather of a city",
        parameters = { type = "OBJECT", properties = { city = { type = "STRING" } }, required = { "city" } },
        handler = function(args, call)
          seen[#seen + 1] = { name = call.name, args = args, id = call.id }
          return { city = args.city, temp_c = 21 }
        end },
      { name = "get_time", description = "Local time of a city",
        handler = function(args, call)
          seen[#seen + 1] = { name = call.name, args = args, id = call.id }
          return "12:00"
        end },
      { name = "explode", description = "Always fails",
        handler = function() error("the sensor is offline", 0) end },
      { name = "refuse", description = "Fails the Lua way",
        handler = function() return nil, "not allowed today" end },
      { name = "unsendable", description = "Returns a function",
        handler = function() return { f = print } end },
    }
  end)

  it("answers parallel calls in one content, in order, and sends the call content unchanged", function()
    m:script{
      calls_answer{ { "get_weather", { city = "Paris" }, "call-1", SIG },
                    { "get_time", { city = "Zürich" }, "call-2" } },
      text_answer("Paris: 21 C at noon."),
    }
    local res = assert(client.models:generate_content{ model = MODEL, contents = "Weather and time?",
      config = { tools = { T } } })
    assert.equal("Paris: 21 C at noon.", res.text)

    local log = m:log()
    assert.equal(2, generate_requests(log))
    -- The declarations went out without the handlers.
    assert.same({ "get_weather", "get_time", "explode", "refuse", "unsendable" }, (function()
      local names = {}
      for i, d in ipairs(log[1].json.tools[1].functionDeclarations) do names[i] = d.name end
      return names
    end)())
    assert.equal(1, #log[1].json.contents)

    local c = log[2].json.contents
    assert.equal(3, #c)
    assert.same(log[1].json.contents[1], c[1])
    assert.same({ role = "model", parts = {
      { functionCall = { name = "get_weather", args = { city = "Paris" }, id = "call-1" }, thoughtSignature = SIG },
      { functionCall = { name = "get_time", args = { city = "Zürich" }, id = "call-2" } },
    } }, c[2])
    assert.truthy(log[2].body:find('"thoughtSignature":"' .. SIG .. '"', 1, true))
    assert.same({ role = "user", parts = {
      { functionResponse = { name = "get_weather", id = "call-1",
        response = { result = { city = "Paris", temp_c = 21 } } } },
      { functionResponse = { name = "get_time", id = "call-2", response = { result = "12:00" } } },
    } }, c[3])

    assert.equal(2, #seen)
    assert.equal("get_weather", seen[1].name)
    assert.equal("call-1", seen[1].id)
    assert.equal("get_time", seen[2].name)

    local h = res.automatic_function_calling_history
    assert.equal(3, #h)
    assert.equal("model", h[2].role)
    assert.equal("user", h[3].role)
    assert.equal("get_time", h[3].parts[2].functionResponse.name)
  end)

  it("passes integral numbers as integers and leaves no id when the call had none", function()
    m:script{
      calls_answer{ { "get_weather", { city = "Oslo", days = 3, ratio = 0.5, list = { 1, 2 } } } },
      text_answer("done"),
    }
    assert(client.models:generate_content{ model = MODEL, contents = "x", config = { tools = { T } } })
    local a = seen[1].args
    assert.equal(3, a.days)
    assert.equal(0.5, a.ratio)
    if math.type then
      assert.equal("integer", math.type(a.days))
      assert.equal("integer", math.type(a.list[2]))
      assert.equal("float", math.type(a.ratio))
    end
    assert.is_nil(seen[1].id)
    local fr = m:last().json.contents[3].parts[1].functionResponse
    assert.is_nil(fr.id)
    assert.equal("get_weather", fr.name)
  end)

  it("answers a raising handler, a nil-err handler and an unknown function with errors, and goes on", function()
    m:script{
      calls_answer{ { "explode", {} }, { "refuse", {} }, { "nope", { x = 1 } }, { "unsendable", {} } },
      text_answer("I could not get it."),
    }
    local res = assert(client.models:generate_content{ model = MODEL, contents = "x",
      config = { tools = { T } } })
    assert.equal("I could not get it.", res.text)
    local parts = m:last().json.contents[3].parts
    assert.equal(4, #parts)
    assert.same({ name = "explode", response = { error = "the sensor is offline" } }, parts[1].functionResponse)
    assert.same({ name = "refuse", response = { error = "not allowed today" } }, parts[2].functionResponse)
    assert.same({ name = "nope", response = { error = "no handler for function 'nope'" } },
      parts[3].functionResponse)
    assert.equal("unsendable", parts[4].functionResponse.name)
    assert.matches("cannot be sent as JSON", parts[4].functionResponse.response.error)
  end)

  it("keeps the position of a raising handler's error message", function()
    local tool = gemini.tools.functions{ { name = "f", description = "d",
      handler = function() error("plain failure") end } }
    m:script{ calls_answer{ { "f", {} } }, text_answer("ok") }
    assert(client.models:generate_content{ model = MODEL, contents = "x", config = { tools = { tool } } })
    local msg = m:last().json.contents[3].parts[1].functionResponse.response.error
    assert.matches("afc_spec.lua:%d+: plain failure$", msg)
  end)

  it("stops at maximum_remote_calls and returns the last response with its calls", function()
    local answers = {}
    for i = 1, 6 do answers[i] = calls_answer{ { "get_time", { city = "C" .. i }, "id" .. i } } end
    m:script(answers)
    local res = assert(client.models:generate_content{ model = MODEL, contents = "loop",
      config = { tools = { T }, automatic_function_calling = { maximum_remote_calls = 3 } } })
    assert.equal(3, generate_requests(m:log()))
    -- The calls of the third answer are returned, not run: no request could carry their result.
    assert.same({ { name = "get_time", args = { city = "C3" }, id = "id3" } }, res.function_calls)
    assert.equal(2, #seen)
    assert.equal("C2", seen[2].args.city)
    local h = res.automatic_function_calling_history
    assert.equal(5, #h)
    assert.equal(5, #m:last().json.contents)
  end)

  it("makes at most 10 requests by default", function()
    local answers = {}
    for i = 1, 12 do answers[i] = calls_answer{ { "get_time", { city = "C" .. i } } } end
    m:script(answers)
    local res = assert(client.models:generate_content{ model = MODEL, contents = "loop",
      config = { tools = { T } } })
    assert.equal(10, generate_requests(m:log()))
    assert.equal("C10", res.function_calls[1].args.city)
    assert.equal(9, #seen)
  end)

  it("returns the calls without running them when disabled", function()
    m:script{ calls_answer{ { "get_weather", { city = "Rome" }, "c1" } }, text_answer("unused") }
    local res = assert(client.models:generate_content{ model = MODEL, contents = "x",
      config = { tools = { T }, automatic_function_calling = { disable = true } } })
    assert.equal(1, generate_requests(m:log()))
    assert.equal(0, #seen)
    assert.same({ { name = "get_weather", args = { city = "Rome" }, id = "c1" } }, res.function_calls)
    assert.is_nil(res.automatic_function_calling_history)
    -- The local-only field never reaches the wire.
    assert.is_nil(m:last().json.automaticFunctionCalling)
    assert.is_nil((m:last().json.generationConfig or {}).automaticFunctionCalling)

    m:reset()
    m:script{ calls_answer{ { "get_weather", { city = "Rome" } } } }
    assert(client.models:generate_content{ model = MODEL, contents = "x",
      config = { tools = { T }, automatic_function_calling = { maximum_remote_calls = 0 } } })
    assert.equal(1, generate_requests(m:log()))
    assert.equal(0, #seen)
  end)

  it("is a single call without handlers, and an empty history when there were no calls", function()
    local plain = { functionDeclarations = { { name = "get_weather", description = "w" } } }
    m:script{ calls_answer{ { "get_weather", { city = "Rome" } } } }
    local res = assert(client.models:generate_content{ model = MODEL, contents = "x",
      config = { tools = { plain } } })
    assert.equal(1, generate_requests(m:log()))
    assert.is_nil(res.automatic_function_calling_history)

    m:script{ text_answer("no calls needed") }
    res = assert(client.models:generate_content{ model = MODEL, contents = "x",
      config = { tools = { T } } })
    assert.equal("no calls needed", res.text)
    assert.same({}, res.automatic_function_calling_history)
  end)

  it("runs with a copy of the tool: shallow, field by field, or snake_case", function()
    local copies = {
      { functionDeclarations = T.functionDeclarations },
      { function_declarations = T.functionDeclarations },
      (function()
        local c = {}
        for k, v in pairs(T) do c[k] = v end
        return c
      end)(),
    }
    for i, tool in ipairs(copies) do
      m:reset()
      seen = {}
      m:script{ calls_answer{ { "get_time", { city = "Lima" }, "t" .. i } }, text_answer("noon") }
      local res = assert(client.models:generate_content{ model = MODEL, contents = "x",
        config = { tools = { tool } } })
      assert.equal("noon", res.text)
      assert.equal(2, generate_requests(m:log()))
      assert.same({ { name = "get_time", args = { city = "Lima" }, id = "t" .. i } }, seen)
      assert.equal(3, #res.automatic_function_calling_history)
    end
  end)

  it("runs the handler of a hand-written declaration", function()
    local tool = { function_declarations = { { name = "double", handler = function(args) return args.n * 2 end } } }
    m:script{ calls_answer{ { "double", { n = 21 } } }, text_answer("42") }
    local res = assert(client.models:generate_content{ model = MODEL, contents = "x",
      config = { tools = { tool } } })
    assert.equal("42", res.text)
    local log = m:log()
    assert.same({ { name = "double" } }, log[1].json.tools[1].functionDeclarations)
    assert.same({ result = 42 }, log[2].json.contents[3].parts[1].functionResponse.response)
  end)

  it("returns the error of a failed round", function()
    m:script{ calls_answer{ { "get_time", {} } },
      { status = 400, body = { error = { code = 400, message = "bad turn", status = "INVALID_ARGUMENT" } } } }
    local res, err = client.models:generate_content{ model = MODEL, contents = "x", config = { tools = { T } } }
    assert.is_nil(res)
    assert.equal(400, err.code)
    assert.equal("bad turn", err.message)
  end)

  it("raises on a malformed automatic_function_calling", function()
    assert.has_error(function()
      client.models:generate_content{ model = MODEL, contents = "x",
        config = { tools = { T }, automatic_function_calling = true } }
    end, "bad field 'config.automatic_function_calling' to 'generate_content' (table expected, got boolean)")
    assert.has_error(function()
      client.models:generate_content{ model = MODEL, contents = "x",
        config = { tools = { T }, automatic_function_calling = { maximum_remote_calls = "3" } } }
    end, "bad field 'config.automatic_function_calling.maximum_remote_calls' to 'generate_content'"
      .. " (number expected, got string)")
    assert.equal(0, #m:log())
  end)

  it("runs in models:generate_content_stream, every request's chunks in one stream", function()
    m:script{
      calls_chunks{ { "get_time", { city = "Lima" }, "t1", SIG } },
      text_chunks("Noon ", "in Lima."),
    }
    local s = client.models:generate_content_stream{ model = MODEL, contents = "Time in Lima?",
      config = { tools = { T } } }
    local texts = {}
    for chunk in s do texts[#texts + 1] = chunk.text or "" end
    assert.equal("Noon in Lima.", table.concat(texts))
    assert.equal("Noon in Lima.", s.response.text)
    local log = m:log()
    assert.equal(2, generate_requests(log))
    local c = log[2].json.contents
    assert.equal(3, #c)
    assert.equal("Checking the weather", c[2].parts[1].text)
    assert.equal(SIG, c[2].parts[2].thoughtSignature)
    assert.same({ name = "get_time", id = "t1", response = { result = "12:00" } }, c[3].parts[1].functionResponse)
    assert.equal(3, #s.response.automatic_function_calling_history)

    -- Disabled: one stream, the calls left to the caller.
    m:reset()
    m:script{ calls_chunks{ { "get_time", { city = "Lima" } } } }
    s = client.models:generate_content_stream{ model = MODEL, contents = "Time in Lima?",
      config = { tools = { T }, automatic_function_calling = { disable = true } } }
    for _ in s do end
    assert.equal(1, generate_requests(m:log()))
    assert.equal("get_time", s.response.function_calls[1].name)
  end)

  it("runs through the callback API on a libuv loop", function()
    local ok_uv, uv = pcall(require, "luv")
    if not ok_uv then return pending("lua-luv is not installed") end
    local c = gemini.Client{ api_key = KEY, base_url = m.url, loop = uv, retry = false }
    m:script{
      calls_answer{ { "get_weather", { city = "Oslo" }, "w1", SIG } },
      text_answer("Oslo: 21 C."),
      calls_chunks{ { "get_time", { city = "Oslo" } } },
      text_chunks("Noon."),
    }
    local got, chunks, streamed = nil, {}, nil
    c.models:generate_content({ model = MODEL, contents = "x", config = { tools = { T } } }, function(err, res)
      got = { err = err, res = res }
      c.models:generate_content_stream({ model = MODEL, contents = "y", config = { tools = { T } } }, {
        on_chunk = function(ch) chunks[#chunks + 1] = ch.text or "" end,
        on_done = function(err2, r) streamed = { err = err2, res = r } end,
      })
    end)
    local dog = uv.new_timer()
    dog:start(10000, 0, function() uv.stop() end)
    dog:unref()
    uv.run()
    dog:close()
    c:close()
    uv.run("nowait")
    assert.is_nil(got.err)
    assert.equal("Oslo: 21 C.", got.res.text)
    assert.equal(3, #got.res.automatic_function_calling_history)
    assert.is_nil(streamed.err)
    assert.equal("Noon.", streamed.res.text)
    assert.equal("Noon.", table.concat(chunks))
    local log = m:log()
    assert.equal(4, generate_requests(log))
    assert.equal(SIG, log[2].json.contents[2].parts[1].thoughtSignature)
    assert.same({ result = "12:00" }, log[4].json.contents[3].parts[1].functionResponse.response)
  end)

  -- A broken or hostile answer costs a part, never the loop: the call is
  -- made sendable before it runs and goes back.
  describe("with a call it cannot send back as received", function()
    local CALL = '{"candidates": [{"content": {"role": "model", "parts": [5, {"functionCall":'
      .. ' {"name": "get_weather", "args": {"city": "Z\255rich"}, "id": "z1"}, "thoughtSignature": "'
      .. SIG .. '"}]}, "finishReason": "STOP", "index": 0}]}'
    local SENT_CALL = { role = "model", parts = { { functionCall = { name = "get_weather",
      args = { city = "Z\239\191\189rich" }, id = "z1" }, thoughtSignature = SIG } } }

    it("repairs and cleans it before running it (generate_content)", function()
      local log, logged = mock.log_lines()
      local c = gemini.Client{ api_key = KEY, base_url = m.url, retry = false, log = log }
      m:script("[{\"raw\": " .. mock.json_verbatim(CALL) .. "}, " .. require("cjson").encode(text_answer("ok")) .. "]")
      local res = assert(c.models:generate_content{ model = MODEL, contents = "Weather?", config = { tools = { T } } })
      assert.equal("ok", res.text)
      assert.equal("Z\239\191\189rich", seen[1].args.city)
      local sent = m:last()
      assert.same(SENT_CALL, sent.json.contents[2])
      assert.truthy(sent.body:find('"thoughtSignature":"' .. SIG .. '"', 1, true))
      assert.equal("z1", sent.json.contents[3].parts[1].functionResponse.id)
      assert.matches("part 1 is not an object %(a number%): dropped", logged("part 1"))
      assert.matches("part 2: cannot encode part%.functionCall%.args%.city: invalid UTF%-8 string: repaired",
        logged("part 2"))
    end)

    it("repairs and cleans it before running it (generate_content_stream)", function()
      local log, logged = mock.log_lines()
      local c = gemini.Client{ api_key = KEY, base_url = m.url, retry = false, log = log }
      -- (without the number part: merging a stream takes object parts only)
      local call = CALL:gsub("%[5, ", "[")
      m:script("[{\"chunks\": [" .. mock.json_verbatim("data: " .. call .. "\r\n\r\n") .. "]}, "
        .. require("cjson").encode(text_chunks("o", "k")) .. "]")
      local s = c.models:generate_content_stream{ model = MODEL, contents = "Weather?", config = { tools = { T } } }
      for _ in s do end
      assert.equal("ok", s.response.text)
      assert.equal("Z\239\191\189rich", seen[1].args.city)
      assert.same(SENT_CALL, m:last().json.contents[2])
      assert.truthy(logged("part 1: .*: repaired"))
    end)

    it("records it cleaned in a chat, which goes on", function()
      local log, logged = mock.log_lines()
      local c = gemini.Client{ api_key = KEY, base_url = m.url, retry = false, log = log }
      m:script("[{\"raw\": " .. mock.json_verbatim(CALL) .. "}, " .. require("cjson").encode(text_answer("ok"))
        .. ", " .. require("cjson").encode(text_answer("bye")) .. "]")
      local chat = c.chats:create{ model = MODEL, config = { tools = { T } } }
      assert(chat:send_message("Weather?"))
      assert(chat:send_message("Thanks"))
      local sent = m:last().json.contents
      assert.equal(5, #sent)
      assert.same(SENT_CALL, sent[2])
      assert.equal("z1", sent[3].parts[1].functionResponse.id)
    end)

    it("answers arguments that are not an object with an error, without running the handler", function()
      m:script{
        calls_answer{ { "get_weather", "city=Paris", "a" }, { "get_weather", { "Paris" }, "b" },
                      { "get_weather", 5, "c" }, { "get_time", nil, "d" } },
        text_answer("Sorry."),
      }
      assert(client.models:generate_content{ model = MODEL, contents = "x", config = { tools = { T } } })
      local parts = m:last().json.contents[3].parts
      assert.same({ name = "get_weather", id = "a", response = {
        error = "the arguments of function 'get_weather' are not a JSON object (got a string)" } },
        parts[1].functionResponse)
      assert.equal("the arguments of function 'get_weather' are not a JSON object (got a list)",
        parts[2].functionResponse.response.error)
      assert.equal("the arguments of function 'get_weather' are not a JSON object (got a number)",
        parts[3].functionResponse.response.error)
      -- No arguments at all: the handler gets an empty table.
      assert.same({ result = "12:00" }, parts[4].functionResponse.response)
      assert.equal(1, #seen)
      assert.same({}, seen[1].args)
    end)
  end)

  describe("in chats", function()
    it("records input, each call/response pair and the final answer", function()
      m:script{
        calls_answer{ { "get_weather", { city = "Paris" }, "c1", SIG } },
        calls_answer{ { "get_time", { city = "Paris" }, "c2" } },
        text_answer("21 C, noon."),
        text_answer("You're welcome."),
      }
      local chat = client.chats:create{ model = MODEL, config = { tools = { T } } }
      local res = assert(chat:send_message("Weather and time in Paris?"))
      assert.equal("21 C, noon.", res.text)
      local h = chat:get_history()
      local roles = {}
      for i, c in ipairs(h) do roles[i] = c.role end
      assert.same({ "user", "model", "user", "model", "user", "model" }, roles)
      assert.equal(SIG, h[2].parts[1].thoughtSignature)
      assert.equal("get_weather", h[3].parts[1].functionResponse.name)
      assert.equal("get_time", h[4].parts[1].functionCall.name)
      assert.equal("21 C, noon.", h[6].parts[1].text)

      assert(chat:send_message("Thanks"))
      local sent = m:last()
      assert.equal(7, #sent.json.contents)
      assert.same(h[2], sent.json.contents[2])
      assert.truthy(sent.body:find('"thoughtSignature":"' .. SIG .. '"', 1, true))
    end)

    it("at the limit, records the pending call content once, and the caller may answer it", function()
      m:script{
        calls_answer{ { "get_time", { city = "A" }, "a" } },
        calls_answer{ { "get_time", { city = "B" }, "b" } },
        text_answer("Thanks for answering."),
      }
      local chat = client.chats:create{ model = MODEL,
        config = { tools = { T }, automatic_function_calling = { maximum_remote_calls = 2 } } }
      local res = assert(chat:send_message("go"))
      assert.equal("b", res.function_calls[1].id)
      local h = chat:get_history()
      assert.equal(4, #h)
      assert.equal("b", h[4].parts[1].functionCall.id)

      assert(chat:send_message({ { function_response = { name = "get_time", id = "b",
        response = { result = "13:00" } } } }))
      local c = m:last().json.contents
      assert.equal(5, #c)
      assert.same({ name = "get_time", id = "b", response = { result = "13:00" } }, c[5].parts[1].functionResponse)
    end)

    it("leaves the history as it was when a round fails", function()
      m:script{ calls_answer{ { "get_time", {} } },
        { status = 400, body = { error = { code = 400, message = "bad", status = "INVALID_ARGUMENT" } } } }
      local chat = client.chats:create{ model = MODEL, config = { tools = { T } } }
      local res, err = chat:send_message("x")
      assert.is_nil(res)
      assert.equal(400, err.code)
      assert.same({}, chat:get_history())
    end)

    it("streams every request's chunks in one stream and records the turn", function()
      m:script{
        calls_chunks{ { "get_weather", { city = "Paris" }, "c1", SIG } },
        text_chunks("It is ", "21 C."),
      }
      local chat = client.chats:create{ model = MODEL, config = { tools = { T } } }
      local s = chat:send_message_stream("Weather?")
      local n, texts = 0, {}
      for chunk in s do
        n = n + 1
        texts[#texts + 1] = chunk.text or ""
      end
      assert.equal(4, n)
      assert.equal("It is 21 C.", table.concat(texts))
      assert.equal("It is 21 C.", s.response.text)
      assert.equal(1, #seen)
      local log = m:log()
      assert.equal(2, generate_requests(log))
      assert.equal("sse", log[2].query.alt)
      local c = log[2].json.contents
      assert.equal(3, #c)
      assert.equal(SIG, c[2].parts[#c[2].parts].thoughtSignature)
      assert.equal("c1", c[3].parts[1].functionResponse.id)
      assert.equal(3, #s.response.automatic_function_calling_history)

      local h = chat:get_history()
      assert.equal(4, #h)
      assert.same(c[2], h[2])
      assert.same(c[3], h[3])
      assert.equal("It is 21 C.", h[4].parts[1].text)
    end)

    it("fails the whole stream, history unchanged, when a later request fails", function()
      m:script{
        calls_chunks{ { "get_weather", { city = "Paris" } } },
        { status = 400, body = { error = { code = 400, message = "nope", status = "INVALID_ARGUMENT" } } },
      }
      local chat = client.chats:create{ model = MODEL, config = { tools = { T } } }
      local s = chat:send_message_stream("Weather?")
      local ok, err = pcall(function() for _ in s do end end)
      assert.is_false(ok)
      assert.equal(400, err.code)
      assert.same({}, chat:get_history())
      local chunk, again = s:next()
      assert.is_nil(chunk)
      assert.equal(err, again)
    end)

    it("closing the stream between requests leaves the history unchanged", function()
      m:script{ calls_chunks{ { "get_weather", { city = "Paris" } } }, text_chunks("a", "b") }
      local chat = client.chats:create{ model = MODEL, config = { tools = { T } } }
      local s = chat:send_message_stream("Weather?")
      assert(s:next())
      assert(s:next())
      assert(s:next())      -- the first chunk of the second request
      s:close()
      assert.is_nil(s:next())
      assert.same({}, chat:get_history())
    end)
  end)
end)
