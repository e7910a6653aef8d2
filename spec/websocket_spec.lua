-- The C WebSocket client (src/ws.c, src/ws_conn.c) through real sockets
-- against the mock's Live endpoint (spec/mock/live_routes.py), a strict
-- RFC 6455 peer: handshake, masking, fragments, pings, closes, bounds.
local core = require("gemini.core")
local cjson = require("cjson")
local mock = require("support.mock")

local KEY = "ws-test-key"
local TARGET = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
local SETUP = '{"setup":{"model":"models/gemini-live"}}'
local TURN = '{"clientContent":{"turns":[{"role":"user","parts":[{"text":"hi"}]}],"turnComplete":true}}'

describe("WebSocket client (C core)", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }

  local function connect(opts)
    local o = { url = m.url, host = "127.0.0.1:" .. m.port, target = TARGET,
                headers = { "x-goog-api-key: " .. KEY }, timeout = 5 }
    for k, v in pairs(opts or {}) do o[k] = v end
    return core.ws_connect(o)
  end

  local function live_faults(list) m:_control("POST", "/_mock/live/faults", { faults = list }) end

  -- Receives until at least n events arrived: a list of {kind, data, code}.
  local function events(c, n)
    local got = {}
    while #got < n do
      local q = {}
      local k, kind, msg, code = c:recv(q, 3000)
      assert(k, tostring(kind) .. ": " .. tostring(msg) .. " " .. tostring(code))
      assert.is_true(k > 0, "no event within 3 s")
      for i = 1, k * 3, 3 do got[#got + 1] = { q[i], q[i + 1], q[i + 2] } end
    end
    return got
  end

  -- The server's JSON messages of a text turn, until turnComplete.
  local function turn(c)
    assert.is_true(c:send("text", TURN))
    local out = {}
    while not (out[#out] and out[#out][2]:find("turnComplete", 1, true)) do
      for _, ev in ipairs(events(c, 1)) do out[#out + 1] = ev end
    end
    return out
  end

  local function entry() return m:last_completed() end

  it("connects, sends masked frames the strict peer accepts, and reads the answers", function()
    local c = assert(connect())
    assert.is_true(math.type == nil or math.type(c:fd()) == "integer")
    assert.is_true(c:fd() > 2)
    assert.is_true(c:send("text", SETUP))
    local ev = events(c, 1)[1]
    assert.same({ "text", '{"setupComplete": {}}', false }, ev)
    local msgs = turn(c)
    assert.matches('"text": "Live echo: "', msgs[1][2], 1, true)
    c:close()
    c:close()   -- harmless when repeated
    local e = entry()
    assert.are.equal(101, e.status)
    assert.same({}, e.ws_errors)
    assert.are.equal(2, #e.ws_messages)
    assert.are.equal("models/gemini-live", e.ws_messages[1].setup.model)
    assert.same({ code = 1000, reason = "" }, e.ws_close)
  end)

  it("steps a connection open without blocking (ws_open, step)", function()
    live_faults({ { type = "slow_upgrade", delay = 0.2 } })
    local c = core.ws_open{ url = m.url, host = "127.0.0.1:" .. m.port, target = TARGET,
                            headers = { "x-goog-api-key: " .. KEY }, timeout = 5 }
    assert.has_error(function() c:recv({}) end, "WebSocket connection is not open yet (step until it is)")
    local waits, slowest = 0, 0
    while true do
      local t0 = core.now()
      local st, fds, ms = c:step()
      slowest = math.max(slowest, core.now() - t0)
      assert.is_not_nil(st, tostring(fds) .. ": " .. tostring(ms))
      if st then break end
      assert.are.equal("number", type(fds[1]))
      assert.is_true(ms >= 0)
      waits = waits + 1
      core.sleep(0.01)
    end
    assert.is_true(waits >= 10, "steps that waited: " .. waits)
    assert.is_true(slowest < 0.1, "the slowest step took " .. slowest .. " s")
    assert.is_true(c:send("text", SETUP))
    assert.are.equal('{"setupComplete": {}}', events(c, 1)[1][2])
    c:close()
  end)

  it("sends a close with the code and reason given", function()
    local c = assert(connect())
    assert.is_true(c:send("text", SETUP))
    events(c, 1)
    c:close(4000, "bye now")
    assert.same({ code = 4000, reason = "bye now" }, entry().ws_close)
  end)

  it("says going away (1001) when a connection is collected without close()", function()
    local c = assert(connect())
    assert.is_true(c:send("text", SETUP))
    events(c, 1)
    c = nil   -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.same({ code = 1001, reason = "" }, entry().ws_close)
  end)

  it("fails the handshake clearly when Sec-WebSocket-Accept does not match", function()
    live_faults({ { type = "bad_accept" } })
    local c, kind, msg = connect()
    assert.is_nil(c)
    assert.are.equal("handshake", kind)
    assert.are.equal("WebSocket handshake failed: Sec-WebSocket-Accept does not match the key", msg)
  end)

  it("gives a refused upgrade's status and body, never the key", function()
    local c, kind, msg, status, body = connect{ headers = { "x-goog-api-key: wrong-key-123" } }
    assert.is_nil(c)
    assert.are.equal("handshake", kind)
    assert.are.equal("WebSocket handshake refused: HTTP 400", msg)
    assert.are.equal(400, status)
    assert.are.equal("API key not valid. Please pass a valid API key.", cjson.decode(body).error.message)
    assert.is_nil(msg:find("wrong-key-123", 1, true))
  end)

  it("fails to connect to a closed port with a transport error", function()
    local c, kind, msg = connect{ url = "http://127.0.0.1:1", host = "127.0.0.1:1" }
    assert.is_nil(c)
    assert.are.equal("transport", kind)
    assert.matches("^WebSocket connection failed: ", msg)
  end)

  it("answers the server's pings with pongs carrying their payload", function()
    live_faults({ { type = "ping" } })
    local c = assert(connect())
    assert.is_true(c:send("text", SETUP))
    assert.are.equal('{"setupComplete": {}}', events(c, 1)[1][2])
    turn(c)
    c:close()
    local e = entry()
    assert.is_true(e.pongs >= 5, "pongs: " .. tostring(e.pongs))
    assert.same({}, e.ws_errors)
  end)

  it("reassembles a message fragmented over continuation frames with a ping between", function()
    live_faults({ { type = "fragment" } })
    local c = assert(connect())
    assert.is_true(c:send("text", SETUP))
    assert.same({ "text", '{"setupComplete": {}}', false }, events(c, 1)[1])
    local msgs = turn(c)
    assert.are.equal('{"serverContent": {"modelTurn": {"role": "model", "parts": [{"text": "hi"}]}}}',
      msgs[2][2])
    c:close()
  end)

  it("takes binary messages as Google sends them", function()
    live_faults({ { type = "binary" } })
    local c = assert(connect())
    assert.is_true(c:send("text", SETUP))
    assert.same({ "binary", '{"setupComplete": {}}', false }, events(c, 1)[1])
    c:close()
  end)

  it("fails a message past max_message_size, telling the server 1009", function()
    live_faults({ { type = "big", bytes = 5000 } })
    local c = assert(connect{ max_message_size = 1000 })
    assert.is_true(c:send("text", SETUP))
    events(c, 1)
    assert.is_true(c:send("text", TURN))
    local q = {}
    local n, kind, msg, code = c:recv(q, 3000)
    assert.is_nil(n)
    assert.are.equal("stream", kind)
    assert.are.equal("WebSocket message larger than 1000 bytes", msg)
    assert.are.equal(1009, code)
    assert.are.equal(1009, entry().ws_close.code)
    c:close()
  end)

  it("reports the server's close frame with its code and reason (1011 mid-turn)", function()
    live_faults({ { type = "close", code = 1011, reason = "Internal error occurred." } })
    local c = assert(connect())
    assert.is_true(c:send("text", SETUP))
    events(c, 1)
    assert.is_true(c:send("text", TURN))
    local evs = events(c, 2)
    assert.are.equal("text", evs[1][1])
    assert.same({ "close", "Internal error occurred.", 1011 }, evs[2])
    c:close()
  end)

  it("fails the connection (1007) on a text message of invalid UTF-8, after the events before it", function()
    live_faults({ { type = "raw", op = 1, data = core.b64encode("\255") } })
    local c = assert(connect())
    assert.is_true(c:send("text", SETUP))
    local got, q = {}, {}
    local n, kind, msg, code
    repeat
      n, kind, msg, code = c:recv(q, 3000)
      for i = 1, (n or 0) * 3, 3 do got[#got + 1] = q[i + 1] end
      q = {}
    until not n
    assert.same({ '{"setupComplete": {}}' }, got)
    assert.are.equal("stream", kind)
    assert.are.equal("WebSocket text message is not valid UTF-8", msg)
    assert.are.equal(1007, code)
    -- a send says why too
    assert.same({ nil, "stream", "WebSocket text message is not valid UTF-8", 1007 }, { c:send("text", TURN) })
    c:close()
    assert.are.equal(1007, entry().ws_close.code)
  end)

  it("queues what the socket cannot take at once (nowait) and writes it, in order, with flush", function()
    live_faults({ { type = "slow_read", bytes = 65536, delay = 0.005 } })
    local c = assert(connect())
    assert.is_true(c:send("text", SETUP))
    events(c, 1)   -- setupComplete
    local pcm = ("\0\1"):rep(3 * 1024 * 1024)
    local big = '{"realtimeInput":{"audio":{"data":"' .. core.b64encode(pcm) .. '","mimeType":"audio/pcm"}}}'
    local ok, left = c:send("text", big, nil, true)
    assert.is_true(ok)
    assert.is_true(left > 0, "the socket took all of it at once")
    -- queued behind the first (the audio is counted before the end ends the turn)
    local ok2, left2 = c:send("text", '{"realtimeInput":{"audioStreamEnd":true}}', nil, true)
    assert.is_true(ok2)
    local q = {}
    while left2 > 0 do
      assert.are.equal(0, c:recv(q, 10))   -- nothing comes back before the audio is in
      left2 = assert(c:flush())
    end
    local texts = {}
    while not (texts[#texts] or ""):find("turnComplete", 1, true) do
      for _, ev in ipairs(events(c, 1)) do texts[#texts + 1] = ev[2] end
    end
    assert.is_truthy(table.concat(texts):find("audio of " .. #pcm .. " bytes", 1, true))
    c:close()
  end)

  it("reports a connection dropped without a close frame as 1006", function()
    live_faults({ { type = "drop" } })
    local c = assert(connect())
    assert.is_true(c:send("text", SETUP))
    events(c, 1)
    assert.is_true(c:send("text", TURN))
    events(c, 1)
    local n, kind, msg, code
    repeat
      n, kind, msg, code = c:recv({}, 3000)
    until n ~= 0
    assert.is_nil(n)
    assert.are.equal("closed", kind)
    assert.are.equal("WebSocket connection closed without a close frame", msg)
    assert.are.equal(1006, code)
    c:close()
  end)
end)

describe("WebSocket framer (C core)", function()
  -- A server frame: unmasked, FIN as given.
  local function frame(op, data, fin)
    local n = #data
    local head = string.char((fin == false and 0 or 0x80) + op)
    if n < 126 then
      head = head .. string.char(n)
    else
      head = head .. string.char(126, math.floor(n / 256), n % 256)
    end
    return head .. data
  end

  it("gives the same events for any split of the bytes", function()
    local bytes = frame(1, "hel", false) .. frame(9, "p") .. frame(0, "lo") .. frame(2, ("x"):rep(300))
      .. frame(8, "\3\232done")
    local whole = {}
    assert.are.equal(4, core.ws_framer():feed(bytes, whole))
    assert.same({ "ping", "p", false, "text", "hello", false, "binary", ("x"):rep(300), false,
                  "close", "done", 1000 }, whole)
    local f, split = core.ws_framer(), {}
    for i = 1, #bytes do
      local q = {}
      f:feed(bytes:sub(i, i), q)
      for _, v in ipairs(q) do split[#split + 1] = v end
    end
    assert.same(whole, split)
  end)

  it("refuses what a server must not send", function()
    local cases = {
      { string.char(0x81, 0x81, 1, 2, 3, 4, 5), "masked frame from the server" },
      { string.char(0xC1, 0), "reserved bits set (no extension was negotiated)" },
      { string.char(0x83, 0), "unknown opcode 3" },
      { frame(9, "p", false), "fragmented control frame" },
      { frame(0, "x"), "continuation frame outside a message" },
      { frame(1, "a", false) .. frame(1, "b"), "new message inside a fragmented one" },
      { frame(8, "\3"), "close frame with a one-byte payload" },
      { frame(8, "\3\237"), "close code 1005 may not be sent" },
    }
    for _, case in ipairs(cases) do
      local n, msg, code = core.ws_framer():feed(case[1], {})
      assert.is_nil(n)
      assert.are.equal("WebSocket protocol error: " .. case[2], msg)
      assert.are.equal(1002, code)
    end
  end)

  it("refuses a text message that is not UTF-8 (1007), whole or fragmented; binary is bytes", function()
    for _, bad in ipairs{ "\255", "ok \192\175", "\237\160\128", "\244\144\128\128", "\195" } do
      local n, msg, code = core.ws_framer():feed(frame(1, bad), {})
      assert.is_nil(n)
      assert.are.equal("WebSocket text message is not valid UTF-8", msg)
      assert.are.equal(1007, code)
    end
    local q = {}
    assert.are.equal(2, core.ws_framer():feed(frame(1, "\195", false) .. frame(0, "\169") .. frame(2, "\255"), q))
    assert.same({ "text", "\195\169", false, "binary", "\255", false }, q)
  end)

  it("checks the size bound at the frame header, before any payload", function()
    local n, msg, code = core.ws_framer{ max_message_size = 10 }:feed(string.char(0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0), {})
    assert.is_nil(n)
    assert.are.equal("WebSocket message larger than 10 bytes", msg)
    assert.are.equal(1009, code)
  end)

  it("builds masked client frames and the RFC's accept value", function()
    -- RFC 6455 section 1.3's example key and answer.
    assert.are.equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", core.ws_accept("dGhlIHNhbXBsZSBub25jZQ=="))
    assert.are.equal(24, #core.ws_key())
    assert.are_not.equal(core.ws_key(), core.ws_key())
    local f = core.ws_frame("text", "hello")
    assert.are.equal(0x81, f:byte(1))
    assert.are.equal(0x80 + 5, f:byte(2))
    local key, body = { f:byte(3, 6) }, {}
    for i = 1, 5 do
      local a, b = f:byte(6 + i), key[(i - 1) % 4 + 1]
      local x, bit = 0, 1
      for _ = 1, 8 do
        if (a % 2) ~= (b % 2) then x = x + bit end
        a, b, bit = math.floor(a / 2), math.floor(b / 2), bit * 2
      end
      body[i] = string.char(x)
    end
    assert.are.equal("hello", table.concat(body))
    assert.has_error(function() core.ws_frame("ping", ("p"):rep(126)) end,
      "bad argument #2 to 'ws_frame' (a control frame carries at most 125 bytes)")
  end)

  it("in the server role unmasks a client's frames, split anywhere, and builds unmasked frames", function()
    -- core.ws_frame builds a client's frames: masked with a fresh key
    local bytes = core.ws_frame("text", "h\195\169llo") .. core.ws_frame("ping", "p")
      .. core.ws_frame("binary", ("\0\255"):rep(40000)) .. core.ws_frame("close", "bye", 1001)
    local f, whole = core.ws_framer{ role = "server" }, {}
    assert.are.equal(4, f:feed(bytes, whole))
    assert.same({ "text", "h\195\169llo", false, "ping", "p", false,
                  "binary", ("\0\255"):rep(40000), false, "close", "bye", 1001 }, whole)
    local split = {}
    f:reset()
    for i = 1, #bytes, 7 do
      local q = {}
      assert.is_not_nil(f:feed(bytes:sub(i, i + 6), q))
      for _, v in ipairs(q) do split[#split + 1] = v end
    end
    assert.same(whole, split)
    assert.matches("^gemini.ws_framer %(server, closed%)", tostring(f))
    -- a server's frames are not masked (RFC 6455 5.1)
    assert.are.equal(frame(1, "hello"), f:frame("text", "hello"))
    assert.are.equal(frame(2, ("x"):rep(300)), f:frame("binary", ("x"):rep(300)))
    assert.are.equal(frame(8, "\3\243policy"), f:frame("close", "policy", 1011))
    assert.are.equal(0x80 + 5, core.ws_framer():frame("text", "hello"):byte(2))   -- a client's: masked
    assert.has_error(function() f:frame("close", "x", 1005) end,
      "bad argument #3 to 'frame' (a close code (1000-1003, 1007-1014, 3000-4999) expected)")
  end)

  it("in the server role fails the connection (1002) on an unmasked frame, and keeps the other rules", function()
    local n, msg, code = core.ws_framer{ role = "server" }:feed(frame(1, "hi"), {})
    assert.is_nil(n)
    assert.are.equal("WebSocket protocol error: unmasked frame from the client", msg)
    assert.are.equal(1002, code)
    n, msg, code = core.ws_framer{ role = "server" }:feed(core.ws_frame("text", "\255"), {})
    assert.are.same({ nil, "WebSocket text message is not valid UTF-8", 1007 }, { n, msg, code })
    n, msg, code = core.ws_framer{ role = "server", max_message_size = 10 }:feed(core.ws_frame("text", ("x"):rep(11)), {})
    assert.are.same({ nil, "WebSocket message larger than 10 bytes", 1009 }, { n, msg, code })
    assert.has_error(function() core.ws_framer{ role = "proxy" } end,
      "bad argument #1 to 'ws_framer' (role must be \"client\" or \"server\")")
    assert.is_true(core.utf8_valid("h\195\169"))
    assert.is_false(core.utf8_valid("\192\175"))
  end)
end)
