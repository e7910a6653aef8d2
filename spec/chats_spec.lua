-- Chats through the real HTTP stack against the mock: the history sent on
-- each turn (model turns echoed exactly, thoughtSignatures byte for byte),
-- failed turns, streamed turns, and the curated/comprehensive histories.
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "chats-key-5c1e"
local MODEL = "gemini-2.5-flash"

-- A signature as Gemini sends them: base64 with '+', '/' and '=' (bytes an
-- encoder could be tempted to escape).
local SIG = "CiQBcHJvdG8+c2lnL25hdHVyZS8xMjM0NTY3ODkwYWJjZGVm/+Q=="

local function text_answer(text)
  return { body = { candidates = { { content = { role = "model", parts = { { text = text } } },
    finishReason = "STOP", index = 0 } } } }
end

describe("chats", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  before_each(function()
    client = m:client{ retry = { attempts = 2, initial_delay = 0.01, max_delay = 0.05, jitter = 0 } }
  end)

  it("is registered on the client", function()
    assert.is_table(client.chats)
    assert.is_function(client.chats.create)
  end)

  it("sends the history and keeps each model turn exactly, thoughtSignature included", function()
    -- The model's first answer: a thought part and an answer part carrying a
    -- signature, as raw JSON so the bytes are exactly those of the wire.
    m:script('[{"body": {"candidates": [{"content": {"role": "model", "parts": ['
      .. '{"text": "Thinking about names\\u2026", "thought": true},'
      .. '{"text": "Hello Ada! \\u00e7a va?", "thoughtSignature": "' .. SIG .. '"}]},'
      .. '"finishReason": "STOP", "index": 0}]}}]')
    local chat = client.chats:create{ model = MODEL, config = { temperature = 0.25 } }
    local res = assert(chat:send_message("Hi, I am Ada."))
    assert.equal("Hello Ada! ça va?", res.text)

    local e1 = m:last()
    assert.equal("/v1beta/models/gemini-2.5-flash:generateContent", e1.path)
    assert.same({ { role = "user", parts = { { text = "Hi, I am Ada." } } } }, e1.json.contents)
    assert.equal(0.25, e1.json.generationConfig.temperature)

    m:script{ text_answer("Your name is Ada.") }
    res = assert(chat:send_message("What is my name?"))
    assert.equal("Your name is Ada.", res.text)
    local e2 = m:last()
    assert.same({
      { role = "user", parts = { { text = "Hi, I am Ada." } } },
      { role = "model", parts = {
        { text = "Thinking about names…", thought = true },
        { text = "Hello Ada! ça va?", thoughtSignature = SIG } } },
      { role = "user", parts = { { text = "What is my name?" } } },
    }, e2.json.contents)
    -- Byte for byte on the wire, not merely equal after decoding.
    assert.truthy(e2.body:find('"thoughtSignature":"' .. SIG .. '"', 1, true))

    local h = chat:get_history()
    assert.equal(4, #h)
    assert.equal("model", h[4].role)
    assert.equal("Your name is Ada.", h[4].parts[1].text)
    assert.equal(SIG, h[2].parts[2].thoughtSignature)
  end)

  it("takes parts and a list of parts as the message", function()
    m:script{ text_answer("one"), text_answer("two") }
    local chat = client.chats:create{ model = MODEL }
    assert(chat:send_message({ text = "a part" }))
    assert(chat:send_message({ "first", { text = "second" } }))
    assert.same({ { text = "first" }, { text = "second" } }, m:last().json.contents[3].parts)
    assert.equal("user", m:last().json.contents[3].role)
    assert.equal(4, #chat:get_history())
  end)

  it("starts from a given history, and rejects a history with a bad role", function()
    m:script{ text_answer("ok") }
    local chat = client.chats:create{ model = MODEL, history = {
      { role = "user", parts = { { text = "Remember 7." } } },
      { role = "model", parts = { { text = "Noted." } } },
    } }
    assert(chat:send_message("Which number?"))
    local c = m:last().json.contents
    assert.equal(3, #c)
    assert.equal("Remember 7.", c[1].parts[1].text)
    assert.equal("Noted.", c[2].parts[1].text)
    assert.equal("Which number?", c[3].parts[1].text)

    assert.has_error(function()
      client.chats:create{ model = MODEL, history = { { role = "system", parts = { { text = "x" } } } } }
    end, "bad field 'history' to 'create' (history[1].role must be \"user\" or \"model\", got \"system\")")
  end)

  it("raises on programmer errors", function()
    assert.has_error(function() client.chats:create() end,
      "bad argument #1 to 'create' (table expected, got no value)")
    assert.has_error(function() client.chats:create{} end,
      "bad field 'model' to 'create' (string expected, got nil)")
    assert.has_error(function() client.chats.create{ model = MODEL } end,
      "bad self to 'create' (call it as client.chats:create{...})")
    local chat = client.chats:create{ model = MODEL }
    assert.has_error(function() chat:send_message() end,
      "bad argument #1 to 'send_message' (string or table expected, got no value)")
    assert.has_error(function() chat:send_message("x", "hot") end,
      "bad argument #2 to 'send_message' (table expected, got string)")
    assert.has_error(function() chat.send_message("x") end,
      "bad self to 'send_message' (call it as chat:send_message(...))")
    assert.equal(0, #m:log())
  end)

  it("leaves the history as it was when a turn fails", function()
    m:script{ text_answer("first answer") }
    local chat = client.chats:create{ model = MODEL }
    assert(chat:send_message("one"))
    local before = chat:get_history()

    m:script{ { status = 400, body = { error = { code = 400, message = "bad request here",
      status = "INVALID_ARGUMENT" } } } }
    local res, err = chat:send_message("this one fails")
    assert.is_nil(res)
    assert.equal("api", err.kind)
    assert.equal(400, err.code)
    assert.same(before, chat:get_history())

    m:script{ text_answer("second answer") }
    assert(chat:send_message("two"))
    local c = m:last().json.contents
    assert.equal(3, #c)
    assert.equal("two", c[3].parts[1].text)
  end)

  it("a per-turn config replaces the chat's config for that turn", function()
    m:script{ text_answer("a"), text_answer("b") }
    local chat = client.chats:create{ model = MODEL, config = { system_instruction = "Be brief." } }
    assert(chat:send_message("x", { temperature = 0.5 }))
    local j = m:last().json
    assert.is_nil(j.systemInstruction)
    assert.equal(0.5, j.generationConfig.temperature)
    assert(chat:send_message("y"))
    j = m:last().json
    assert.equal("Be brief.", j.systemInstruction.parts[1].text)
    assert.is_nil(j.generationConfig)
  end)

  it("get_history returns a copy", function()
    m:script{ text_answer("hello") }
    local chat = client.chats:create{ model = MODEL }
    assert(chat:send_message("hi"))
    local h = chat:get_history()
    h[1].parts[1].text = "changed"
    h[3] = { role = "user", parts = { { text = "injected" } } }
    local again = chat:get_history()
    assert.equal(2, #again)
    assert.equal("hi", again[1].parts[1].text)
    -- Editing a response does not reach the history either.
    m:script{ text_answer("there") }
    local res = assert(chat:send_message("more"))
    res.candidates[1].content.parts[1].text = "edited"
    assert.equal("there", chat:get_history()[4].parts[1].text)
  end)

  it("keeps an answer without content in the comprehensive history only", function()
    m:script{
      { body = { promptFeedback = { blockReason = "SAFETY" } } },
      text_answer("fine"),
    }
    local chat = client.chats:create{ model = MODEL }
    local res = assert(chat:send_message("something blocked"))
    assert.is_nil(res.text)
    local full = chat:get_history()
    assert.equal(2, #full)
    assert.same({ role = "model", parts = {} }, full[2])
    assert.same({}, chat:get_history(true))

    assert(chat:send_message("something else"))
    -- The blocked turn and its input are not sent again.
    assert.same({ { role = "user", parts = { { text = "something else" } } } }, m:last().json.contents)
    assert.equal(4, #chat:get_history())
    assert.equal(2, #chat:get_history(true))
  end)

  describe("send_message_stream", function()
    it("streams the answer and adds the merged answer to the history", function()
      m:script('[{"chunks": ['
        .. '{"candidates": [{"content": {"role": "model", "parts": [{"text": "Pondering", "thought": true}]}, "index": 0}]},'
        .. '{"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}]},'
        .. '{"candidates": [{"content": {"role": "model", "parts": [{"text": "lo!"}]}, "index": 0}]},'
        .. '{"candidates": [{"content": {"role": "model", "parts": [{"text": "", "thoughtSignature": "' .. SIG .. '"}]},'
        .. ' "finishReason": "STOP", "index": 0}], "usageMetadata": {"totalTokenCount": 9}}]}]')
      local chat = client.chats:create{ model = MODEL }
      local s = chat:send_message_stream("Say hello")
      local texts = {}
      for chunk in s do texts[#texts + 1] = chunk.text or "" end
      assert.equal("Hello!", table.concat(texts))
      assert.equal("sse", m:last().query.alt)
      assert.equal("Hello!", s.response.text)

      local h = chat:get_history()
      assert.equal(2, #h)
      assert.equal("Say hello", h[1].parts[1].text)
      -- One model content: the merged answer, thought and signature kept.
      assert.same(s.response.candidates[1].content, h[2])
      assert.equal("Pondering", h[2].parts[1].text)
      assert.is_true(h[2].parts[1].thought)
      local sig_seen = false
      for _, p in ipairs(h[2].parts) do
        if p.thoughtSignature == SIG then sig_seen = true end
      end
      assert.is_true(sig_seen)

      m:script{ text_answer("again") }
      assert(chat:send_message("next"))
      local sent = m:last()
      assert.same(h[2], sent.json.contents[2])
      assert.truthy(sent.body:find('"thoughtSignature":"' .. SIG .. '"', 1, true))
    end)

    it("leaves the history as it was when the stream fails midway", function()
      m:script{ text_answer("first") }
      local chat = client.chats:create{ model = MODEL }
      assert(chat:send_message("one"))
      m:faults{ { type = "stream_error", after = 1, code = 500, message = "broke" } }
      local s = chat:send_message_stream("two")
      local ok, err = pcall(function() for _ in s do end end)
      assert.is_false(ok)
      assert.equal("api", err.kind)
      assert.equal(2, #chat:get_history())
      assert.is_nil(s.response)
    end)

    it("leaves the history as it was when the stream is closed early", function()
      m:faults{ { type = "slow_stream", delay = 0.05, events = 6 } }
      local chat = client.chats:create{ model = MODEL }
      local s = chat:send_message_stream("go")
      assert(s:next())
      s:close()
      assert.is_nil(s:next())
      assert.same({}, chat:get_history())
    end)

    it("leaves the history as it was when the stream cannot open", function()
      m:script{ { status = 404, body = { error = { code = 404, message = "no such model",
        status = "NOT_FOUND" } } } }
      local chat = client.chats:create{ model = MODEL }
      local s = chat:send_message_stream("x")
      local chunk, err = s:next()
      assert.is_nil(chunk)
      assert.equal(404, err.code)
      assert.same({}, chat:get_history())
    end)
  end)

  -- Gemini 3 streams follow a functionCall or executableCode part with a
  -- part {"text": ""} without signature: the turn is valid all the same
  -- (only a completely empty part is not), so the next request carries the
  -- user turn and the model turn with its signature, byte for byte.
  describe("Gemini 3 streamed turns ending with an empty text part", function()
    local MODEL3 = "gemini-3-pro-preview"

    local function chunk(parts, finish)
      return { candidates = { { content = { role = "model", parts = parts }, index = 0,
        finishReason = finish } } }
    end
    local CALL_CHUNKS = { chunks = {
      chunk{ { functionCall = { name = "get_weather", args = { city = "Paris" }, id = "w1" },
               thoughtSignature = SIG } },
      chunk({ { text = "" } }, "STOP"),
    } }
    local CALL_CONTENT = { role = "model", parts = {
      { functionCall = { name = "get_weather", args = { city = "Paris" }, id = "w1" },
        thoughtSignature = SIG },
      { text = "" },
    } }

    local function roles(contents)
      local out = {}
      for i, c in ipairs(contents) do out[i] = c.role end
      return table.concat(out, " ")
    end

    -- Streams `first` to its end, then sends `second`: the ended stream and
    -- the request that second turn made.
    local function stream_then_send(chat, first, second)
      local s = chat:send_message_stream(first)
      for _ in s do end
      assert(chat:send_message(second))
      return s, m:last()
    end

    it("keeps a turn of automatic function calling in the history sent next", function()
      local tools = gemini.tools.functions{ { name = "get_weather", description = "Weather",
        parameters = { type = "OBJECT", properties = { city = { type = "STRING" } } },
        handler = function(args) return { city = args.city, sky = "sunny" } end } }
      m:script{ CALL_CHUNKS, { chunks = { chunk({ { text = "Sunny in Paris." } }, "STOP") } },
                text_answer("You're welcome.") }
      local chat = client.chats:create{ model = MODEL3, config = { tools = { tools } } }
      local s, sent = stream_then_send(chat, "Weather in Paris?", "Thanks")
      assert.equal("Sunny in Paris.", s.response.text)
      assert.equal("user model user model user", roles(sent.json.contents))
      assert.same({ { text = "Weather in Paris?" } }, sent.json.contents[1].parts)
      assert.same(CALL_CONTENT, sent.json.contents[2])
      assert.same({ name = "get_weather", id = "w1", response = { result = { city = "Paris", sky = "sunny" } } },
        sent.json.contents[3].parts[1].functionResponse)
      assert.truthy(sent.body:find('"thoughtSignature":"' .. SIG .. '"', 1, true))
      assert.equal(6, #chat:get_history(true))
    end)

    it("keeps a call the user answers by hand", function()
      m:script{ CALL_CHUNKS, text_answer("Thanks, sunny it is.") }
      local chat = client.chats:create{ model = MODEL3 }
      local s, sent = stream_then_send(chat, "Weather in Paris?", { { function_response = {
        name = "get_weather", id = "w1", response = { result = "sunny" } } } })
      assert.equal("get_weather", s.response.function_calls[1].name)
      assert.equal("user model user", roles(sent.json.contents))
      assert.same(CALL_CONTENT, sent.json.contents[2])
      assert.same({ name = "get_weather", id = "w1", response = { result = "sunny" } },
        sent.json.contents[3].parts[1].functionResponse)
      assert.truthy(sent.body:find('"thoughtSignature":"' .. SIG .. '"', 1, true))
    end)

    it("keeps a code execution turn", function()
      m:script{ { chunks = {
        chunk{ { executableCode = { language = "PYTHON", code = "print(6 * 7)" }, thoughtSignature = SIG } },
        chunk{ { text = "" } },
        chunk{ { codeExecutionResult = { outcome = "OUTCOME_OK", output = "42\n" } } },
        chunk({ { text = "It is 42." } }, "STOP"),
      } }, text_answer("84.") }
      local chat = client.chats:create{ model = MODEL3, config = { tools = { { code_execution = {} } } } }
      local s, sent = stream_then_send(chat, "What is 6 * 7?", "And doubled?")
      assert.equal("It is 42.", s.response.text)
      assert.equal("user model user", roles(sent.json.contents))
      assert.same({ role = "model", parts = {
        { executableCode = { language = "PYTHON", code = "print(6 * 7)" }, thoughtSignature = SIG },
        { text = "" },
        { codeExecutionResult = { outcome = "OUTCOME_OK", output = "42\n" } },
        { text = "It is 42." },
      } }, sent.json.contents[2])
      assert.truthy(sent.body:find('"thoughtSignature":"' .. SIG .. '"', 1, true))
    end)

    it("still leaves out a model turn with a completely empty part, with its input", function()
      m:script{ { body = { candidates = { { content = { role = "model", parts = { {} } },
        finishReason = "STOP", index = 0 } } } }, text_answer("fine") }
      local chat = client.chats:create{ model = MODEL3 }
      assert(chat:send_message("first"))
      assert.equal(2, #chat:get_history())
      assert.same({}, chat:get_history(true))
      assert(chat:send_message("second"))
      assert.equal("user", roles(m:last().json.contents))
    end)
  end)

  -- What the API adds later (a new kind of part), or what a broken or hostile
  -- server sends, must not make every later turn of the chat fail.
  describe("a model turn it cannot send back as received", function()
    -- A chat, whose client's log lines `logged(pattern)` finds, after a first
    -- turn ("Hi") answered with the parts `parts_json`, sent verbatim (0xFF
    -- bytes included).
    local function chat_after(parts_json)
      local log, logged = mock.log_lines()
      local c = gemini.Client{ api_key = KEY, base_url = m.url, retry = false, log = log }
      m:script("[{\"raw\": " .. mock.json_verbatim('{"candidates": [{"content": {"role": "model", "parts": '
        .. parts_json .. '}, "finishReason": "STOP", "index": 0}]}') .. "}]")
      local chat = c.chats:create{ model = MODEL }
      assert(chat:send_message("Hi"))
      return chat, logged
    end

    it("repairs text that is not valid UTF-8, logs it, and goes on", function()
      local chat, logged = chat_after('[{"text": "caf\255 au lait", "thoughtSignature": "' .. SIG .. '"}]')
      m:script{ text_answer("Sure."), text_answer("Again.") }
      assert(chat:send_message("Another?"))
      assert.same({ role = "model", parts = { { text = "caf\239\191\189 au lait", thoughtSignature = SIG } } },
        m:last().json.contents[2])
      assert.truthy(m:last().body:find('"thoughtSignature":"' .. SIG .. '"', 1, true))
      assert(chat:send_message("And one more?"))
      assert.equal(5, #m:last().json.contents)
      assert.matches("part 1: cannot encode part%.text: invalid UTF%-8 string: repaired", logged("part 1"))
      -- The history is what was sent: the repaired text.
      assert.equal("caf\239\191\189 au lait", chat:get_history()[2].parts[1].text)
    end)

    it("passes a part of a kind it does not know through as received", function()
      local future = { futurePart = { mode = "FAST", nested = { deep = { 1, 2 } }, flag = true } }
      m:script{ { body = { candidates = { { content = { role = "model", parts = {
        { text = "Here it is.", someNewField = "kept" }, future } }, finishReason = "STOP", index = 0 } } } },
        text_answer("ok") }
      local chat = client.chats:create{ model = MODEL }
      assert(chat:send_message("Show me"))
      assert(chat:send_message("Thanks"))
      assert.same({ role = "model", parts = { { text = "Here it is.", someNewField = "kept" }, future } },
        m:last().json.contents[2])
    end)

    it("drops the parts that are not objects, logs it, and keeps the rest of the turn", function()
      local chat, logged = chat_after('[5, "loose text", [1, 2], null, {"text": "kept", "thoughtSignature": "'
        .. SIG .. '"}]')
      m:script{ text_answer("ok") }
      assert(chat:send_message("Next"))
      assert.same({
        { role = "user", parts = { { text = "Hi" } } },
        { role = "model", parts = { { text = "kept", thoughtSignature = SIG } } },
        { role = "user", parts = { { text = "Next" } } },
      }, m:last().json.contents)
      assert.matches("part 1 is not an object %(a number%): dropped", logged("part 1"))
      assert.matches("part 2 is not an object %(a string%): dropped", logged("part 2"))
      assert.matches("part 3 is not an object %(a list%): dropped", logged("part 3"))
      assert.matches("part 4 is not an object %(null%): dropped", logged("part 4"))
    end)

    it("keeps a turn whose parts or content are not what they should be, without raising", function()
      m:script('[{"body": {"candidates": [{"content": {"role": "model", "parts": {"text": "not a list"}},'
        .. ' "index": 0}]}}, {"body": {"candidates": [{"content": "not an object", "index": 0}]}},'
        .. ' {"body": {"candidates": "nothing"}}]')
      local chat = client.chats:create{ model = MODEL }
      for _, msg in ipairs({ "one", "two", "three" }) do assert(chat:send_message(msg)) end
      m:script{ text_answer("ok") }
      assert(chat:send_message("four"))
      -- The three answers had no usable content: left out with their inputs.
      assert.same({ { role = "user", parts = { { text = "four" } } } }, m:last().json.contents)
      assert.equal(8, #chat:get_history())
    end)
  end)

  it("sends contents that JSON-decode to the history as recorded", function()
    -- Two turns, then the third request carries both, in order.
    m:script{ text_answer("A1"), text_answer("A2"), text_answer("A3") }
    local chat = client.chats:create{ model = MODEL }
    assert(chat:send_message("Q1"))
    assert(chat:send_message("Q2"))
    assert(chat:send_message("Q3"))
    local sent = m:last().json.contents
    local texts = {}
    for i, c in ipairs(sent) do texts[i] = c.role .. ":" .. c.parts[1].text end
    assert.equal("user:Q1 model:A1 user:Q2 model:A2 user:Q3", table.concat(texts, " "))
    assert.equal(6, #chat:get_history())
  end)
end)
