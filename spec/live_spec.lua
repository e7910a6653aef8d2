-- client.live: Live sessions through the real WebSocket stack (libcurl +
-- src/ws*.c) against the mock's Live endpoint (spec/mock/live_routes.py).
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "live-test-key"
local MODEL = "gemini-live-2.5-flash-preview"

-- The PCM bytes of one audio part of the mock (480 bytes).
local function mock_pcm()
  local t = {}
  for i = 0, 479 do t[#t + 1] = string.char((i * 7) % 256) end
  return table.concat(t)
end

describe("client.live (blocking)", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local c

  setup(function() c = m:client{ stall_timeout = 5 } end)

  local function live_faults(list) m:_control("POST", "/_mock/live/faults", { faults = list }) end

  local function connect(config)
    return assert(c.live:connect{ model = MODEL, config = config or { response_modalities = { "TEXT" } } })
  end

  -- Every message of one turn.
  local function turn(s)
    local msgs = {}
    for msg in s:receive() do msgs[#msgs + 1] = msg end
    return msgs
  end

  local function texts(msgs)
    local t = {}
    for _, msg in ipairs(msgs) do t[#t + 1] = msg.text end
    return table.concat(t)
  end

  local function entry() return m:last_completed() end

  it("sends the setup in the wire format and returns after setupComplete", function()
    local s = connect{ response_modalities = { "AUDIO" }, temperature = 0.5, system_instruction = "Be brief.",
                       session_resumption = { handle = nil }, input_audio_transcription = {},
                       output_audio_transcription = {}, speech_config = { voice_config = {
                         prebuilt_voice_config = { voice_name = "Kore" } } } }
    s:close()
    local e = entry()
    assert.are.equal("/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent", e.path)
    assert.are.equal(KEY, e.headers["x-goog-api-key"])
    assert.same({ setup = {
      model = "models/" .. MODEL,
      generationConfig = { responseModalities = { "AUDIO" }, temperature = 0.5,
                           speechConfig = { voiceConfig = { prebuiltVoiceConfig = { voiceName = "Kore" } } } },
      systemInstruction = { parts = { { text = "Be brief." } } },
      sessionResumption = {}, inputAudioTranscription = {}, outputAudioTranscription = {},
    } }, e.ws_messages[1])
    assert.same({ code = 1000, reason = "" }, e.ws_close)
  end)

  it("runs a text turn: receive() ends after turnComplete, with the helpers", function()
    local s = connect()
    assert.is_true(s:send_client_content{ turns = "Hello Live" })
    local msgs = turn(s)
    assert.are.equal("Live echo: Hello Live", texts(msgs))
    assert.is_true(msgs[#msgs].server_content.turnComplete)
    local usage
    for _, msg in ipairs(msgs) do usage = usage or msg.usage_metadata end
    assert.are.equal(12, usage.totalTokenCount)
    -- the next turn on the same session
    assert.is_true(s:send_client_content{ turns = { { role = "user", parts = { { text = "again" } } } } })
    assert.are.equal("Live echo: again", texts(turn(s)))
    s:close()
    assert.same({ clientContent = { turns = { { role = "user", parts = { { text = "Hello Live" } } } },
                                    turnComplete = true } }, entry().ws_messages[2])
  end)

  it("receive_next gives the messages, nil at the end of the turn", function()
    local s = connect()
    s:send_client_content{ turns = "x" }
    local n = 0
    while true do
      local msg, err = s:receive_next()
      assert.is_nil(err)
      if not msg then break end
      n = n + 1
    end
    assert.are.equal(5, n)
    s:close()
  end)

  it("sends turn_complete = false as given", function()
    local s = connect()
    assert.is_true(s:send_client_content{ turns = "part one", turn_complete = false })
    s:close()
    assert.is_false(entry().ws_messages[2].clientContent.turnComplete)
  end)

  it("runs an audio turn: realtime audio in (base64), decoded audio and transcriptions out", function()
    local s = connect{ response_modalities = { "AUDIO" }, input_audio_transcription = {},
                       output_audio_transcription = {} }
    local pcm = ("\1\2"):rep(800)
    assert.is_true(s:send_realtime_input{ audio = { data = pcm, mime_type = "audio/pcm;rate=16000" } })
    assert.is_true(s:send_realtime_input{ audio_stream_end = true })
    local audio, heard, spoken = {}, nil, {}
    for msg in s:receive() do
      audio[#audio + 1] = msg.data
      local sc = msg.server_content or {}
      if sc.inputTranscription then heard = sc.inputTranscription.text end
      if sc.outputTranscription then spoken[#spoken + 1] = sc.outputTranscription.text end
    end
    assert.are.equal(mock_pcm():rep(2), table.concat(audio))
    assert.are.equal("heard 1600 bytes", heard)
    assert.are.equal("Spoken answer.", table.concat(spoken))
    s:close()
    local sent = entry().ws_messages
    assert.same({ realtimeInput = { audio = { data = gemini.core.b64encode(pcm), mimeType = "audio/pcm;rate=16000" } } },
      sent[2])
    assert.same({ realtimeInput = { audioStreamEnd = true } }, sent[3])
  end)

  it("sends realtime text, activity signals and video", function()
    local s = connect()
    assert.is_true(s:send_realtime_input{ activity_start = {} })
    assert.is_true(s:send_realtime_input{ video = { data = "\255\216jpeg", mime_type = "image/jpeg" } })
    assert.is_true(s:send_realtime_input{ text = "typed" })
    assert.are.equal("Live echo: typed", texts(turn(s)))
    s:close()
    local sent = entry().ws_messages
    assert.same({ realtimeInput = { activityStart = {} } }, sent[2])
    assert.same({ realtimeInput = { video = { data = "/9hqcGVn", mimeType = "image/jpeg" } } }, sent[3])
    assert.same({ realtimeInput = { text = "typed" } }, sent[4])
  end)

  it("raises for realtime input that is not exactly one field", function()
    local s = connect()
    assert.has_error(function() s:send_realtime_input{ text = "a", audio_stream_end = true } end,
      "bad argument #1 to 'session:send_realtime_input' (one of audio, video, text, audio_stream_end,"
        .. " activity_start, activity_end per call)")
    assert.has_error(function() s:send_realtime_input{ audio = { data = "x" } } end,
      "bad field 'audio.mime_type' to 'session:send_realtime_input' (string expected, got no value)")
    s:close()
  end)

  it("raises for turns of the wrong shape, naming turns (the caller's field), not contents", function()
    local s = connect()
    assert.has_error(function() s:send_client_content{ turns = 42 } end,
      "bad field 'turns' to 'session:send_client_content' (string or table expected, got number)")
    assert.has_error(function() s:send_client_content{ turns = {} } end,
      "bad field 'turns' to 'session:send_client_content' (empty)")
    assert.has_error(function() s:send_client_content{ turns = { "ok", 5 } } end,
      "bad turns[2] (a string, a part or a file expected, got number)")
    s:close()
  end)

  it("answers a tool call by hand: tool_call exposed, send_tool_response needs the id", function()
    local s = connect{ tools = { { function_declarations = { { name = "get_weather",
      parameters = { type = "OBJECT", properties = { location = { type = "STRING" } } } } } } } }
    s:send_client_content{ turns = "weather?" }
    local call
    local msgs = {}
    for msg in s:receive() do
      msgs[#msgs + 1] = msg
      if msg.tool_call then
        call = msg.tool_call.functionCalls[1]
        assert.has_error(function()
          s:send_tool_response{ function_responses = { { name = call.name, response = {} } } }
        end, "bad field 'function_responses[1].id' to 'session:send_tool_response' (string expected, got no value)")
        assert.is_true(s:send_tool_response{ function_responses = { { id = call.id, name = call.name,
          response = { temp_c = 21 } } } })
      end
    end
    assert.are.equal("get_weather", call.name)
    assert.same({ location = "Paris" }, call.args)
    assert.are.equal('Live echo: The tool said {"temp_c": 21}', texts(msgs))
    s:close()
  end)

  it("answers tool calls with Lua handlers, as chats do", function()
    local seen
    local tools = gemini.tools.functions{
      { name = "get_weather", description = "weather", parameters = { type = "object",
        properties = { location = { type = "string" } } },
        handler = function(args) seen = args.location; return { temp_c = 19, sky_state = "clear" } end },
    }
    local s = connect{ tools = { tools } }
    s:send_client_content{ turns = "weather in Paris?" }
    local msgs = turn(s)
    assert.are.equal("Paris", seen)
    assert.are.equal('Live echo: The tool said {"result": {"sky_state": "clear", "temp_c": 19}}', texts(msgs))
    assert.truthy(msgs[1].tool_call)
    s:close()
    local sent = entry().ws_messages
    assert.is_nil(sent[1].setup.tools[1].functionDeclarations[1].handler)
    assert.are.equal("call", sent[3].toolResponse.functionResponses[1].id:match("^(call)%-"))
  end)

  it("exposes a toolCallCancellation", function()
    live_faults({ { type = "cancel" } })
    local s = connect{ tools = { { function_declarations = { { name = "slow_lookup" } } } } }
    s:send_client_content{ turns = "go" }
    local ids
    for msg in s:receive() do
      if msg.tool_call_cancellation then ids = msg.tool_call_cancellation.ids end
    end
    assert.matches("^call%-%d+$", ids[1])
    s:close()
  end)

  it("exposes goAway", function()
    live_faults({ { type = "go_away" } })
    local s = connect()
    s:send_client_content{ turns = "hi" }
    turn(s)
    local msg = assert(s:receive_next())
    assert.same({ timeLeft = "10s" }, msg.go_away)
    s:close()
  end)

  it("sees a resumption handle and resumes a new session with it", function()
    local s = connect{ session_resumption = {} }
    s:send_client_content{ turns = "remember me" }
    local handle
    for msg in s:receive() do
      local u = msg.session_resumption_update
      if u and u.resumable then handle = u.newHandle end
    end
    s:close()
    assert.matches("^handle%-%d+$", handle)
    local s2 = connect{ session_resumption = { handle = handle } }
    s2:send_client_content{ turns = "still there?" }
    assert.are.equal("Resumed " .. handle .. ": still there?", texts(turn(s2)))
    s2:close()
    assert.same({ handle = handle }, entry().ws_messages[1].setup.sessionResumption)
  end)

  it("ends receive() with an error carrying the server's close code and reason (1011 mid-turn)", function()
    live_faults({ { type = "close", code = 1011, reason = "Internal error occurred." } })
    local s = connect()
    s:send_client_content{ turns = "hi" }
    local got = {}
    local ok, err = pcall(function() for msg in s:receive() do got[#got + 1] = msg end end)
    assert.is_false(ok)
    assert.is_true(gemini.is_error(err))
    assert.are.equal("stream", err.kind)
    assert.are.equal(1011, err.code)
    assert.are.equal("Internal error occurred.", err.reason)
    assert.are.equal("Live session closed by the server (1011): Internal error occurred.", err.message)
    assert.are.equal(1, #got)
    -- the session stays ended
    local msg, again = s:receive_next()
    assert.is_nil(msg)
    assert.are.equal(err, again)
    local sent, serr = s:send_client_content{ turns = "more" }
    assert.is_nil(sent)
    assert.are.equal(err, serr)
    s:close()
  end)

  it("ends receive() with an error when the connection drops without a close frame", function()
    live_faults({ { type = "drop" } })
    local s = connect()
    s:send_client_content{ turns = "hi" }
    local ok, err = pcall(function() for _ in s:receive() do end end)
    assert.is_false(ok)
    assert.are.equal("stream", err.kind)
    assert.are.equal(1006, err.code)
    assert.are.equal("Live session connection closed without a close frame", err.message)
    s:close()
  end)

  it("fails a message past max_event_size with code 1009", function()
    live_faults({ { type = "big", bytes = 100000 } })
    local small = m:client{ max_event_size = 50000 }
    local s = assert(small.live:connect{ model = MODEL })
    s:send_client_content{ turns = "hi" }
    local msg, err = s:receive_next()
    assert.is_nil(msg)
    assert.are.equal("stream", err.kind)
    assert.are.equal(1009, err.code)
    assert.are.equal("WebSocket message larger than 50000 bytes", err.message)
    s:close()
  end)

  it("returns nil, err for a bad key (the HTTP refusal as an API error, no key in it)", function()
    local bad = m:client{ api_key = "not-the-right-key" }
    local s, err = bad.live:connect{ model = MODEL }
    assert.is_nil(s)
    assert.are.equal("api", err.kind)
    assert.are.equal(400, err.code)
    assert.are.equal("API key not valid. Please pass a valid API key.", err.message)
    assert.is_nil(tostring(err):find("not-the-right-key", 1, true))
  end)

  it("returns nil, err when the handshake's accept value is wrong", function()
    live_faults({ { type = "bad_accept" } })
    local s, err = c.live:connect{ model = MODEL }
    assert.is_nil(s)
    assert.are.equal("transport", err.kind)
    assert.are.equal("WebSocket handshake failed: Sec-WebSocket-Accept does not match the key", err.message)
  end)

  it("connects with an ephemeral token to the constrained v1alpha endpoint, token kept out of logs", function()
    local token = assert(c.auth_tokens:create{ config = { uses = 1 } }).name
    local lines = {}
    local browser = m:client{ api_key = token, log = function(line) lines[#lines + 1] = line end }
    local s = assert(browser.live:connect{ model = MODEL })
    s:send_client_content{ turns = "hi" }
    assert.are.equal("Live echo: hi", texts(turn(s)))
    s:close()
    local e = entry()
    assert.are.equal("/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained",
      e.path)
    assert.are.equal("Token " .. token, e.headers.authorization)
    assert.is_nil(e.headers["x-goog-api-key"])
    assert.is_true(#lines > 0)
    local secret = token:sub(#"auth_tokens/" + 1)
    for _, line in ipairs(lines) do assert.is_nil(line:find(secret, 1, true)) end
    -- an unknown token: refused, and not shown
    local other = m:client{ api_key = "auth_tokens/unknown-token-abcdefgh" }
    local s2, err = other.live:connect{ model = MODEL }
    assert.is_nil(s2)
    assert.are.equal(401, err.code)
    assert.is_nil(tostring(err):find("unknown-token", 1, true))
  end)

  -- A misspelt config field goes to generationConfig, as in generate's
  -- requests; the server refuses the setup with close 1007 naming it.
  it("a misspelt config field: connect gives nil, err (close 1007 naming the field)", function()
    local s, err = c.live:connect{ model = MODEL, config = { response_modality = { "TEXT" } } }
    assert.is_nil(s)
    assert.are.equal("stream", err.kind)
    assert.are.equal(1007, err.code)
    assert.matches("Unknown name \"responseModality\" at 'setup.generation_config'", tostring(err), 1, true)
    assert.truthy(c.live:connect{ model = MODEL, config = { response_modalities = { "TEXT" },
      temperature = 0.5, enable_affective_dialog = true } }):close()
  end)

  it("closes idempotently; a closed session says so", function()
    local s = connect()
    s:close()
    s:close()
    local msg, err = s:receive_next()
    assert.is_nil(msg)
    assert.are.equal("Live session is closed", err.message)
    assert.has_error(function() for _ in s:receive() do end end, "gemini: stream error: Live session is closed")
  end)

  it("raises for a bad connect request, naming the field", function()
    assert.has_error(function() c.live:connect{ model = MODEL, confg = {} } end,
      "bad field 'confg' to 'live:connect' (unknown field; known: model, config)")
    assert.has_error(function() c.live:connect{ config = {} } end,
      "bad field 'model' to 'live:connect' (string expected, got nil)")
  end)

  -- client:close(), and what a session must survive (a bad message, a
  -- full socket, a dropped reference).

  local function b64(s) return require("gemini.core").b64encode(s) end

  it("client:close() ends a session still open: each call then returns the canceled error", function()
    local own = m:client{ stall_timeout = 2 }
    local s = assert(own.live:connect{ model = MODEL })
    own:close()
    local msg, err = s:receive_next()
    assert.is_nil(msg)
    assert.are.equal("canceled", err.kind)
    assert.are.equal("the Live session was canceled (client:close)", err.message)
    local ok, serr = s:send_client_content{ turns = "late" }
    assert.is_nil(ok)
    assert.are.equal(err, serr)
    s:close()   -- harmless after the client's close
    assert.same({ code = 1000, reason = "" }, m:last_completed().ws_close)
  end)

  it("times out a send when the socket takes nothing for connect_timeout, clearly", function()
    live_faults({ { type = "slow_read", bytes = 65536, delay = 1 } })
    local slow = m:client{ connect_timeout = 0.5, stall_timeout = 2 }
    local s = assert(slow.live:connect{ model = MODEL })
    local started = os.time()
    local ok, err = s:send_realtime_input{ audio = { data = string.rep("\1", 12 * 1024 * 1024),
                                                     mime_type = "audio/pcm;rate=16000" } }
    assert.is_nil(ok)
    assert.are.equal("timeout", err.kind)
    assert.are.equal("WebSocket send timed out: the socket took nothing for 0.5 s (the client's connect_timeout)",
      err.message)
    assert.is_true(os.time() - started <= 3)
    -- the stream was cut mid-frame: the session is over, with that error
    local _, again = s:send_client_content{ turns = "more" }
    assert.are.equal(err, again)
    s:close()
    slow:close()
  end)

  -- One raw frame from the server after setupComplete: the error it ends
  -- the session with.
  local function bad_message(op, bytes)
    live_faults({ { type = "raw", op = op, data = b64(bytes) } })
    local s = assert(c.live:connect{ model = MODEL })
    local msg, err = s:receive_next()
    assert.is_nil(msg)
    local _, again = s:receive_next()
    assert.are.equal(err, again)   -- kept for every later call
    s:close()
    return err
  end

  it("ends the session with a decode error for a message that is not JSON", function()
    local err = bad_message(1, "not json at all")
    assert.are.equal("decode", err.kind)
    assert.matches("^invalid Live message: ", err.message)
  end)

  it("ends the session with a decode error for JSON that is not an object", function()
    for _, text in ipairs{ "[1, 2]", '"text"', "42", "null", "" } do
      local err = bad_message(2, text)
      assert.are.equal("decode", err.kind, text)
      assert.matches("^invalid Live message: ", err.message)
    end
    assert.are.equal("invalid Live message: not a JSON object", bad_message(1, "[1, 2]").message)
  end)

  it("fails the connection (1007) for a text frame of invalid UTF-8, as RFC 6455 8.1 asks", function()
    local err = bad_message(1, '{"serverContent": {"modelTurn": {"parts": [{"text": "\255\254"}]}}}')
    assert.are.equal("stream", err.kind)
    assert.are.equal("WebSocket text message is not valid UTF-8", err.message)
    assert.are.equal(1007, err.code)
    assert.are.equal(1007, m:last_completed().ws_close.code)
  end)

  it("takes a binary frame holding JSON as a message (as Google sends them)", function()
    live_faults({ { type = "raw", op = 2, data = b64('{"goAway": {"timeLeft": "5s"}}') } })
    local s = assert(c.live:connect{ model = MODEL })
    local msg = assert(s:receive_next())
    assert.are.equal("5s", msg.go_away.timeLeft)
    s:close()
  end)

  it("hands on a toolCall whose calls are not objects, with Lua handlers and nothing to answer", function()
    live_faults({ { type = "raw", op = 1, data = b64('{"toolCall": {"functionCalls": ["nonsense"]}}') } })
    local tools = gemini.tools.functions{ { name = "get_weather", handler = function() return "sunny" end } }
    local s = assert(c.live:connect{ model = MODEL, config = { tools = { tools } } })
    local msg = assert(s:receive_next())
    assert.same({ "nonsense" }, msg.tool_call.functionCalls)
    s:close()
    assert.are.equal(1, #entry().ws_messages)   -- the setup alone: no toolResponse
  end)

  it("raises a closed session's error from receive() and ignores a second close()", function()
    local s = assert(c.live:connect{ model = MODEL })
    s:close()
    s:close()
    assert.has_error(function() for _ in s:receive() do end end, "gemini: stream error: Live session is closed")
  end)

  it("says going away (1001) when a session is collected while open", function()
    local s = assert(c.live:connect{ model = MODEL })
    s = nil   -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.same({ code = 1001, reason = "" }, m:last_completed().ws_close)
  end)
end)

local ok_uv, uv = pcall(require, "luv")
local describe_uv = ok_uv and describe or pending

describe_uv("client.live (callbacks on luv)", function()
  local loop = require("support.loop")
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local c

  setup(function() c = m:client{ loop = uv, stall_timeout = 5 } end)
  loop.hygiene(uv, { teardown = teardown, after_each = after_each }, function() return c end)

  local function live_faults(list) m:_control("POST", "/_mock/live/faults", { faults = list }) end

  it("returns the session at once, queues early sends, and delivers a turn on the loop", function()
    live_faults({ { type = "slow", delay = 0.05 } })
    local events, text, closes, close_err = {}, {}, 0, "unset"
    local session
    local ticker = loop.ticker(uv, 10)
    session = c.live:connect({ model = MODEL, config = { response_modalities = { "TEXT" } } }, {
      on_open = function(s)
        events[#events + 1] = "open"
        assert.are.equal(session, s)
      end,
      on_message = function(msg)
        text[#text + 1] = msg.text
        if msg.server_content and msg.server_content.turnComplete then session:close() end
      end,
      on_close = function(err)
        closes = closes + 1
        close_err = err
        ticker.stop()
      end,
    })
    assert.are.equal(0, #events)
    -- sent before setupComplete: queued, goes out after it
    assert.is_true(session:send_client_content{ turns = "from the loop" })
    loop.run(uv, 10)
    assert.same({ "open" }, events)
    assert.are.equal("Live echo: from the loop", table.concat(text))
    assert.are.equal(1, closes)
    assert.is_nil(close_err)
    assert.is_true(ticker.n >= 10, "10 ms ticks during 7 messages 50 ms apart: " .. ticker.n)
    local e = m:last()
    assert.are.equal("models/" .. MODEL, e.ws_messages[1].setup.model)
    assert.are.equal("from the loop", e.ws_messages[2].clientContent.turns[1].parts[1].text)
  end)

  it("calls on_close once with the server's close code (1011 mid-turn)", function()
    live_faults({ { type = "close", code = 1011, reason = "Internal error occurred." } })
    local errs = {}
    local session = c.live:connect({ model = MODEL }, {
      on_close = function(err) errs[#errs + 1] = err end,
    })
    session:send_client_content{ turns = "hi" }
    loop.run(uv, 10)
    session:close()   -- after the end: no second on_close
    assert.are.equal(1, #errs)
    assert.are.equal("stream", errs[1].kind)
    assert.are.equal(1011, errs[1].code)
    assert.are.equal("Internal error occurred.", errs[1].reason)
  end)

  it("answers tool calls with handlers in the callback form too", function()
    local tools = gemini.tools.functions{
      { name = "get_weather", parameters = { type = "object", properties = { location = { type = "string" } } },
        handler = function() return "sunny" end },
    }
    local text, session = {}, nil
    session = c.live:connect({ model = MODEL, config = { tools = { tools } } }, {
      on_open = function(s) s:send_client_content{ turns = "weather?" } end,
      on_message = function(msg)
        text[#text + 1] = msg.text
        if msg.server_content and msg.server_content.turnComplete then session:close() end
      end,
    })
    loop.run(uv, 10)
    assert.are.equal('Live echo: The tool said {"result": "sunny"}', table.concat(text))
  end)

  it("calls on_close with the error of a failed connect", function()
    local bad = m:client{ loop = uv, api_key = "wrong-key-abcdef" }
    local got
    bad.live:connect({ model = MODEL }, { on_close = function(err) got = err end })
    loop.run(uv, 10)
    bad:close()
    assert.are.equal("api", got.kind)
    assert.are.equal(400, got.code)
  end)

  it("connects without blocking the loop (a slow upgrade answer)", function()
    live_faults({ { type = "slow_upgrade", delay = 0.3 } })
    local ticker = loop.ticker(uv, 10)
    local ticks_at_open, session
    session = c.live:connect({ model = MODEL }, {
      on_open = function()
        ticks_at_open = ticker.n
        session:close()
      end,
      on_close = function() ticker.stop() end,
    })
    loop.run(uv, 10)
    assert.is_true(ticks_at_open >= 15, "10 ms ticks while connecting: " .. tostring(ticks_at_open))
  end)

  it("calls on_close with a transport error for a refused connection", function()
    local nowhere = gemini.Client{ api_key = KEY, base_url = "http://127.0.0.1:1", loop = uv }
    local got
    nowhere.live:connect({ model = MODEL }, { on_close = function(err) got = err end })
    loop.run(uv, 10)
    nowhere:close()
    assert.are.equal("transport", got.kind)
    assert.matches("^WebSocket connection failed: ", got.message)
  end)

  it("raises for receive_next / receive on a session opened with callbacks, before and after on_open", function()
    local function MSG(method)
      return "bad call to 'session:" .. method .. "' (a session opened with callbacks hands its"
        .. " messages to on_message)"
    end
    local in_open
    local session = c.live:connect({ model = MODEL }, {
      on_open = function(s)
        in_open = { pcall(s.receive_next, s) }
        s:close()
      end,
    })
    assert.has_error(function() session:receive_next() end, MSG("receive_next"))
    assert.has_error(function() for _ in session:receive() do end end, MSG("receive"))
    loop.run(uv, 10)
    assert.is_false(in_open[1])
    assert.matches(MSG("receive_next"), in_open[2], 1, true)
  end)

  it("raises for callbacks on a client without a loop", function()
    local plain = m:client{}
    assert.has_error(function() plain.live:connect({ model = MODEL }, { on_close = function() end }) end,
      "bad argument #2 to 'live:connect' (callbacks need a client with a loop:"
        .. " gemini.Client{ loop = require(\"luv\") })")
  end)

  -- client:close(), misuse, and what a session must survive.

  it("client:close() ends an open session: on_close once with the canceled error, handles freed", function()
    local own = m:client{ loop = uv }
    local errs = {}
    own.live:connect({ model = MODEL }, {
      on_open = function() own:close() end,
      on_close = function(err) errs[#errs + 1] = err end,
    })
    loop.run(uv, 5)
    assert.are.equal(1, #errs)
    assert.are.equal("canceled", errs[1].kind)
    assert.are.equal("the Live session was canceled (client:close)", errs[1].message)
  end)

  it("client:close() ends a session still connecting, once", function()
    live_faults({ { type = "slow_upgrade", delay = 0.3 } })
    local own = m:client{ loop = uv }
    local errs, opened = {}, false
    own.live:connect({ model = MODEL }, {
      on_open = function() opened = true end,
      on_close = function(err) errs[#errs + 1] = err end,
    })
    local t = uv.new_timer()
    t:start(50, 0, function() t:close(); own:close() end)
    loop.run(uv, 5)
    assert.is_false(opened)
    assert.are.equal(1, #errs)
    assert.are.equal("canceled", errs[1].kind)
  end)

  it("sends several MB of realtime audio without blocking the loop (a slowly reading server)", function()
    live_faults({ { type = "slow_read", bytes = 65536, delay = 0.02 } })
    local audio = string.rep("\7", 6 * 1024 * 1024)
    local heard, text, session = nil, {}, nil
    local last, max_gap = nil, 0
    local tick = uv.new_timer()
    tick:start(10, 10, function()
      local now = uv.hrtime() / 1e6
      if last then max_gap = math.max(max_gap, now - last) end
      last = now
    end)
    local send_ms
    session = c.live:connect({ model = MODEL, config = { input_audio_transcription = {} } }, {
      on_open = function(s)
        local t0 = uv.hrtime()
        assert.is_true(s:send_realtime_input{ audio = { data = audio, mime_type = "audio/pcm;rate=16000" } })
        assert.is_true(s:send_realtime_input{ audio_stream_end = true })   -- queued behind, in order
        send_ms = (uv.hrtime() - t0) / 1e6
      end,
      on_message = function(msg)
        local sc = msg.server_content
        if sc and sc.inputTranscription then heard = sc.inputTranscription.text end
        text[#text + 1] = msg.text
        if sc and sc.turnComplete then session:close() end
      end,
      on_close = function() tick:close() end,
    })
    loop.run(uv, 20)
    assert.are.equal("heard " .. #audio .. " bytes", heard)
    assert.are.equal("Live echo: audio of " .. #audio .. " bytes", table.concat(text))
    assert.is_true(send_ms < 400, "the sends took " .. send_ms .. " ms")
    assert.is_true(max_gap < 400, "the 10 ms timer stopped for " .. max_gap .. " ms")
  end)

  it("ends the session with on_close(decode error) for a message that is not JSON", function()
    live_faults({ { type = "raw", op = 1, data = require("gemini.core").b64encode("{oops") } })
    local errs = {}
    c.live:connect({ model = MODEL }, { on_close = function(err) errs[#errs + 1] = err end })
    loop.run(uv, 5)
    assert.are.equal(1, #errs)
    assert.are.equal("decode", errs[1].kind)
    assert.matches("^invalid Live message: ", errs[1].message)
  end)

  it("closes from inside on_message, and a second close() changes nothing", function()
    local closes, got, session = {}, 0, nil
    session = c.live:connect({ model = MODEL }, {
      on_open = function(s) s:send_client_content{ turns = "hi" } end,
      on_message = function()
        got = got + 1
        session:close()
        session:close()
      end,
      on_close = function(err) closes[#closes + 1] = err == nil and "nil" or err end,
    })
    loop.run(uv, 5)
    session:close()
    assert.are.equal(1, got)   -- nothing after the close
    assert.same({ "nil" }, closes)
    assert.are.equal("gemini.live.Session (closed)", tostring(session))
  end)

  it("keeps a session whose reference was dropped on the loop until client:close() ends it", function()
    local own = m:client{ loop = uv }
    local errs, texts = {}, {}
    own.live:connect({ model = MODEL }, {
      on_open = function(s)
        collectgarbage()
        collectgarbage()
        s:send_client_content{ turns = "still here" }
      end,
      on_message = function(msg)
        texts[#texts + 1] = msg.text
        collectgarbage()
        if msg.server_content and msg.server_content.turnComplete then own:close() end
      end,
      on_close = function(err) errs[#errs + 1] = err end,
    })
    collectgarbage()
    collectgarbage()
    loop.run(uv, 5)
    assert.are.equal("Live echo: still here", table.concat(texts))
    assert.are.equal(1, #errs)
    assert.are.equal("canceled", errs[1].kind)
  end)
end)

local nginx = require("support.nginx")
local describe_ngx = nginx.available and describe or pending

describe_ngx("client.live in OpenResty (cosocket, the C framer)", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local n

  -- A content handler that runs one Live text turn against the mock and
  -- prints its text, or the error.
  local HTTP = [[
  lua_ssl_trusted_certificate %s;
  server {
    listen 127.0.0.1:%d;
    location = /ping { return 204; }
    location = /live {
      content_by_lua_block {
        local gemini = require("gemini")
        local base = ngx.var.arg_tls and "%s" or "%s"
        local c = gemini.Client{ api_key = "%s", base_url = base, stall_timeout = 5 }
        local s, err = c.live:connect{ model = "gemini-live-2.5-flash-preview" }
        if not s then ngx.say("connect error: ", tostring(err)) return end
        s:send_client_content{ turns = ngx.var.arg_q }
        local ok, e = pcall(function()
          for msg in s:receive() do if msg.text then ngx.print(msg.text) end end
        end)
        if not ok then ngx.print("\nerror: ", e.kind, " ", e.code, " ", e.reason) end
        s:close()
      }
    }
  }
]]

  local dir, m_tls

  setup(function()
    dir = mock.make_cert()
    m_tls = mock.start{ key = KEY, tls = { cert = dir .. "/cert.pem", key = dir .. "/key.pem" } }
    n = nginx.new()
    n:start(string.format(HTTP, dir .. "/cert.pem", n.port, m_tls.url, m.url, KEY))
  end)

  teardown(function()
    if n then n:stop() end
    if m_tls then m_tls:stop() end
    if dir then os.execute(mock.child_env .. "rm -rf " .. mock.shell_quote(dir)) end
  end)

  local function live_faults(list) m:_control("POST", "/_mock/live/faults", { faults = list }) end

  local function body(q) return n:get("/live?q=" .. q) end

  it("runs a Live turn from a content handler", function()
    assert.are.equal("Live echo: nginx", body("nginx"))
    local e = m:last()
    assert.same({}, e.ws_errors)
    assert.are.equal(1000, e.ws_close.code)
  end)

  it("answers pings and reassembles fragments over the cosocket", function()
    live_faults({ { type = "ping" }, { type = "fragment" } })
    assert.are.equal("Live echo: frag", body("frag"))
    local e = m:last()
    assert.is_true(e.pongs >= 5)
    assert.same({}, e.ws_errors, require("cjson").encode(e.ws_errors))
  end)

  it("ends the turn with the server's close code (1011) and a dropped connection (1006)", function()
    live_faults({ { type = "close", code = 1011, reason = "Internal error occurred." } })
    assert.are.equal("Live echo: \nerror: stream 1011 Internal error occurred.", body("x"))
    live_faults({ { type = "drop" } })
    assert.are.equal("Live echo: \nerror: stream 1006 WebSocket connection closed without a close frame",
      body("x"))
  end)

  it("fails the connection (1007) on a text frame of invalid UTF-8, after the messages before it", function()
    live_faults({ { type = "raw", op = 1, data = require("gemini.core").b64encode("\255 not UTF-8") } })
    -- (the mock may miss the client's close 1007: its answer to the turn
    -- can meet the socket already closed)
    assert.are.equal("\nerror: stream 1007 nil", body("x"))
  end)

  it("runs a Live turn over TLS (sslhandshake, verified)", function()
    assert.are.equal("Live echo: secure", n:get("/live?tls=1&q=secure"))
  end)

  it("fails the handshake clearly on a bad accept", function()
    live_faults({ { type = "bad_accept" } })
    assert.are.equal("connect error: gemini: transport error: WebSocket handshake failed:"
      .. " Sec-WebSocket-Accept does not match the key\n", body("x"))
  end)
end)

describe("client.live over TLS (the client's CA options, as every call)", function()
  local dir, m

  setup(function()
    dir = mock.make_cert()
    m = mock.start{ key = KEY, tls = { cert = dir .. "/cert.pem", key = dir .. "/key.pem" } }
  end)

  teardown(function()
    if m then m:stop() end
    if dir then os.execute(mock.child_env .. "rm -rf " .. mock.shell_quote(dir)) end
  end)

  it("runs a turn with ca_file, and refuses the unknown certificate without it", function()
    local s = assert(m:client{ ca_file = dir .. "/cert.pem" }.live:connect{ model = MODEL })
    s:send_client_content{ turns = "over TLS" }
    local text = {}
    for msg in s:receive() do text[#text + 1] = msg.text end
    assert.are.equal("Live echo: over TLS", table.concat(text))
    s:close()
    local s2, err = m:client{}.live:connect{ model = MODEL }
    assert.is_nil(s2)
    assert.are.equal("transport", err.kind)
    assert.matches("^WebSocket connection failed: .*certificate", err.message)
  end)
end)

describe("client.live through an HTTP proxy (CONNECT, the client's proxy option)", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local base, port, pid

  setup(function()
    base = os.tmpname()
    os.execute(mock.child_env .. "sh -c " .. mock.shell_quote("echo $$ > " .. mock.shell_quote(base .. ".pid")
      .. "; exec python3 spec/mock/connect_proxy.py --port-file " .. mock.shell_quote(base .. ".port")
      .. " --log " .. mock.shell_quote(base .. ".log")) .. " < /dev/null > /dev/null 2>&1 &")
    for _ = 1, 100 do
      port = tonumber(mock.read_file(base .. ".port") or "")
      if port then break end
      mock.sleep(0.05)
    end
    pid = tonumber(mock.read_file(base .. ".pid") or "")
    assert(port, "the CONNECT proxy did not start")
  end)

  teardown(function()
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    for _, ext in ipairs({ "", ".pid", ".port", ".log" }) do os.remove(base .. ext) end
  end)

  it("tunnels the WebSocket through the proxy", function()
    local c = m:client{ proxy = "http://127.0.0.1:" .. port }
    local s = assert(c.live:connect{ model = MODEL })
    s:send_client_content{ turns = "via proxy" }
    local text = {}
    for msg in s:receive() do text[#text + 1] = msg.text end
    s:close()
    assert.are.equal("Live echo: via proxy", table.concat(text))
    assert.are.equal("127.0.0.1:" .. m.port .. "\n", mock.read_file(base .. ".log"))
  end)
end)
