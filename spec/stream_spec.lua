-- Streaming through the real HTTP stack against the mock: chunk delivery,
-- the merged response, closing, and every way a stream can go wrong.
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "stream-key-81d2"
local MODEL = "gemini-2.5-flash"

describe("generate_content_stream", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  before_each(function()
    client = m:client{ retry = { initial_delay = 0.01, max_delay = 1, jitter = 0.01 } }
  end)

  local function collect(s)
    local texts = {}
    for chunk in s do texts[#texts + 1] = chunk.text or "" end
    return texts
  end

  it("streams the answer over SSE and merges it in .response", function()
    local s = client.models:generate_content_stream{ model = MODEL, contents = "Tell me" }
    local texts = collect(s)
    assert.is_true(#texts > 1)
    local e = m:last()
    assert.equal("/v1beta/models/gemini-2.5-flash:streamGenerateContent", e.path)
    assert.equal("sse", e.query.alt)
    assert.equal(table.concat(texts), s.response.text)
    assert.matches("You asked", s.response.text)
    assert.equal("STOP", s.response.candidates[1].finishReason)
    assert.truthy(s.response.usageMetadata.totalTokenCount)
    assert.is_nil(s:next())
  end)

  it("hands over each chunk before the server has sent the last", function()
    m:faults{ { type = "slow_stream", delay = 0.3, events = 5 } }
    local s = client.models:generate_content_stream{ model = MODEL, contents = "x" }
    local first = assert(s:next())
    assert.truthy(first.text)
    local e = m:last()
    assert.is_true(e.events_sent < e.events_total)
    assert.is_false(e.completed)
    s:close()
  end)

  it("closes the connection on break, and the server sees it", function()
    m:faults{ { type = "slow_stream", delay = 0.1, events = 50 } }
    for _ in client.models:generate_content_stream{ model = MODEL, contents = "x" } do
      break
    end
    -- Lua 5.4 closes at the break; elsewhere the collector does.
    collectgarbage()
    collectgarbage()
    assert.is_true(m:wait_for(function(log) return log[1] and log[1].disconnected end, 3))
    assert.is_true(m:last().events_sent < 50)
  end)

  it("closes the connection on close()", function()
    m:faults{ { type = "slow_stream", delay = 0.1, events = 50 } }
    local s = client.models:generate_content_stream{ model = MODEL, contents = "x" }
    assert.truthy(s:next())
    s:close()
    assert.is_nil(s:next())
    assert.is_true(m:wait_for(function(log) return log[1] and log[1].disconnected end, 3))
  end)

  -- Opens a slow stream on client `c`, takes a chunk, drops the stream and
  -- collects: true when the mock then sees the connection closed.
  local function closed_when_dropped(c)
    m:faults{ { type = "slow_stream", delay = 0.1, events = 50 } }
    do
      local s = c.models:generate_content_stream{ model = MODEL, contents = "x" }
      assert.truthy(s:next())
    end
    collectgarbage()
    collectgarbage()
    return m:wait_for(function(log) return log[1] and log[1].disconnected end, 3)
  end

  it("closes the connection when the stream is collected", function()
    assert.is_true(closed_when_dropped(client))
  end)

  it("closes the transfer when the stream is collected, whoever else holds its reader", function()
    -- A transport that keeps the readers it opened (as one that closes them
    -- all at the end would): only the stream's own collection can close
    -- this one. Lua 5.1 and LuaJIT run no __gc of a table.
    local curl = require("gemini.transport.curl").new()
    local kept = {}
    local transport = {
      request = function(_, spec) return curl:request(spec) end,
      open = function(_, spec)
        local reader, kind, msg, final = curl:open(spec)
        kept[#kept + 1] = reader
        return reader, kind, msg, final
      end,
      sleep = function(_, seconds) curl:sleep(seconds) end,
      close = function() curl:close() end,
    }
    local c = gemini.Client{ api_key = KEY, base_url = m.url, retry = false, transport = transport }
    assert.is_true(closed_when_dropped(c))
    assert.is_true(m:last().events_sent < 50)
    assert.equal(1, #kept)
    c:close()
  end)

  it("reads LF-only separators and thousands of events", function()
    m:faults{ { type = "lf" } }
    local s = client.models:generate_content_stream{ model = MODEL, contents = "lf please" }
    assert.is_true(#collect(s) > 1)
    assert.matches("lf please", s.response.text)
    m:faults{ { type = "many", events = 20000 } }
    local n = 0
    s = client.models:generate_content_stream{ model = MODEL, contents = "x" }
    for _ in s do n = n + 1 end
    assert.equal(20000, n)
    assert.equal("w1 ", s.response.text:sub(1, 3))
    assert.equal("STOP", s.response.candidates[1].finishReason)
  end)

  it("fails clearly when the stream is cut mid-event, without retrying", function()
    m:faults{ { type = "cut", events = 2 } }
    local s = client.models:generate_content_stream{ model = MODEL, contents = "x" }
    assert.truthy(s:next())
    assert.truthy(s:next())
    local chunk, err = s:next()
    assert.is_nil(chunk)
    assert.is_true(gemini.is_error(err))
    assert.is_true(err.kind == "stream" or err.kind == "transport")
    assert.equal(1, #m:log())
    -- and the failure sticks
    local _, again = s:next()
    assert.equal(err, again)
  end)

  it("raises the error from a for loop instead of ending silently", function()
    m:faults{ { type = "cut", events = 1 } }
    local n = 0
    local ok, err = pcall(function()
      for _ in client.models:generate_content_stream{ model = MODEL, contents = "x" } do n = n + 1 end
    end)
    assert.is_false(ok)
    assert.equal(1, n)
    assert.is_true(gemini.is_error(err))
  end)

  it("reports an event that is not JSON", function()
    m:faults{ { type = "not_json", after = 1 } }
    local s = client.models:generate_content_stream{ model = MODEL, contents = "x" }
    assert.truthy(s:next())
    local _, err = s:next()
    assert.equal("decode", err.kind)
    assert.matches("this is not json", err.message)
  end)

  it("reports an error object inside the stream, with or without data:", function()
    for _, bare in ipairs({ false, true }) do
      m:reset()
      m:faults{ { type = "stream_error", after = 1, code = 500, bare = bare } }
      local s = client.models:generate_content_stream{ model = MODEL, contents = "x" }
      assert.truthy(s:next())
      local _, err = s:next()
      assert.equal("api", err.kind)
      assert.equal(500, err.code)
      assert.equal("INTERNAL", err.status)
    end
  end)

  it("retries before the first chunk", function()
    m:faults{ { type = "status", code = 503, times = 2 } }
    local s = client.models:generate_content_stream{ model = MODEL, contents = "x" }
    assert.is_true(#collect(s) > 1)
    assert.equal(3, #m:log())
    m:reset()
    m:faults{ { type = "cut", events = 0 } }
    s = client.models:generate_content_stream{ model = MODEL, contents = "x" }
    assert.is_true(#collect(s) > 1)
    assert.equal(2, #m:log())
  end)

  it("returns API errors from next()", function()
    m:faults{ { type = "status", code = 400, message = "no" } }
    local s = client.models:generate_content_stream{ model = MODEL, contents = "x" }
    local chunk, err = s:next()
    assert.is_nil(chunk)
    assert.equal(400, err.code)
  end)

  it("cuts a stalled stream with the stall timeout", function()
    m:faults{ { type = "stall_after", events = 1, seconds = 5 } }
    local c = gemini.Client{ api_key = KEY, base_url = m.url, stall_timeout = 1, retry = false }
    local s = c.models:generate_content_stream{ model = MODEL, contents = "x" }
    assert.truthy(s:next())
    local t0 = gemini.core.now()
    local _, err = s:next()
    assert.equal("timeout", err.kind)
    assert.is_true(gemini.core.now() - t0 < 4)
  end)

  it("merges thought parts, signatures and function calls in order", function()
    m:script{ { chunks = {
      { candidates = { { content = { role = "model", parts = { { text = "hm", thought = true } } } } } },
      { candidates = { { content = { role = "model", parts = { { text = "mm", thought = true } } } } } },
      { candidates = { { content = { role = "model", parts = { { text = "Hel" } } } } } },
      { candidates = { { content = { role = "model", parts = { { text = "lo", thoughtSignature = "c2ln" } } } } } },
      { candidates = { { content = { role = "model", parts = {
          { functionCall = { name = "f", args = { x = 1 } }, thoughtSignature = "c2lnMg==" } } },
          finishReason = "STOP" } },
        usageMetadata = { totalTokenCount = 9 } },
    } } }
    local s = client.models:generate_content_stream{ model = MODEL, contents = "x" }
    collect(s)
    local r = s.response
    assert.same({
      { text = "hmmm", thought = true },
      { text = "Hello", thoughtSignature = "c2ln" },
      { functionCall = { name = "f", args = { x = 1 } }, thoughtSignature = "c2lnMg==" },
    }, r.candidates[1].content.parts)
    assert.equal("Hello", r.text)
    assert.equal("hmmm", r.thoughts)
    assert.equal("f", r.function_calls[1].name)
    assert.equal(9, r.usageMetadata.totalTokenCount)
  end)

  it("keeps a long answer's text out of the Lua heap until the end, then joins it", function()
    local piece = ("0123456789abcdef"):rep(128)     -- 2 KB
    local chunks = {}
    for i = 1, 1000 do
      chunks[i] = { candidates = { { content = { role = "model", parts = { { text = piece } } } } } }
    end
    m:script{ { chunks = chunks, delay = 0 } }
    local s = client.models:generate_content_stream{ model = MODEL, contents = "x" }
    collectgarbage()
    local base, grew, n = collectgarbage("count"), 0, 0
    for _ in s do
      n = n + 1
      if n % 100 == 0 then
        collectgarbage()
        grew = math.max(grew, collectgarbage("count") - base)
      end
    end
    assert.equal(1000, n)
    assert.equal(piece:rep(1000), s.response.text)
    -- 2 MB of text were merged; the live Lua heap held the events waiting
    -- to be handed over (up to 256 KB), never the text.
    assert.is_true(grew < 500, ("the Lua heap grew by %.0f KB"):format(grew))
  end)
end)
