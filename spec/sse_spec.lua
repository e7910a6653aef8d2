-- core.sse_framer (src/sse.c)
local core = require("gemini.core")

-- Feeds `chunks` (a string or a list of strings) into a new framer made
-- with `opts`; returns every event, then what finish() returned.
local function run(chunks, opts)
  if type(chunks) == "string" then chunks = { chunks } end
  local f = core.sse_framer(opts)
  local out, events = {}, {}
  for _, c in ipairs(chunks) do
    local n, err = f:feed(c, out)
    assert(n, err)
    for i = 1, n do events[#events + 1] = out[i] end
  end
  return events, f:finish()
end

local function bytes_of(s)
  local t = {}
  for i = 1, #s do t[i] = s:sub(i, i) end
  return t
end

describe("sse_framer", function()
  it("is a userdata with methods and a __tostring", function()
    local f = core.sse_framer()
    assert.equal("userdata", type(f))
    assert.truthy(tostring(f):find("sse_framer", 1, true))
    assert.equal("function", type(f.feed))
    assert.equal(0, f:feed("", {}))
  end)

  it("checks its arguments", function()
    assert.has_error(function() core.sse_framer(5) end,
      "bad argument #1 to 'sse_framer' (table expected, got number)")
    assert.has_error(function() core.sse_framer{ max_event_size = 0 } end,
      "bad argument #1 to 'sse_framer' (max_event_size must be >= 1)")
    assert.has_error(function() core.sse_framer{ max_event_size = "x" } end,
      "bad argument #1 to 'sse_framer' (max_event_size must be a number)")
    assert.has_error(function() core.sse_framer{ lenient = 1 } end,
      "bad argument #1 to 'sse_framer' (lenient must be a boolean)")
    local f = core.sse_framer()
    assert.has_error(function() f:feed("data: x\n\n") end,
      "bad argument #2 to 'feed' (table expected, got no value)")   -- no out table
    assert.has_error(function() f:feed(nil, {}) end,
      "bad argument #1 to 'feed' (string expected, got nil)")
    assert.has_error(function() f.feed({}, "x", {}) end,
      "bad argument #1 to 'feed' (gemini.core.sse_framer expected, got table)")     -- not a framer
  end)

  describe("line endings", function()
    it("accepts LF, CRLF, CR and a mix", function()
      assert.same({ "a", "b" }, (run("data: a\n\ndata: b\n\n")))
      assert.same({ "a", "b" }, (run("data: a\r\n\r\ndata: b\r\n\r\n")))
      assert.same({ "a", "b" }, (run("data: a\r\rdata: b\r\r")))
      assert.same({ "a\nb", "c" }, (run("data: a\rdata: b\r\n\ndata: c\n\r")))
    end)

    it("treats a CR ending one feed and an LF starting the next as one line end", function()
      -- If the LF were a second line end, "a" and "b" would be two events.
      assert.same({ "a\nb" }, (run({ "data: a\r", "\ndata: b\r\n\r\n" })))
      assert.same({ "a\nb" }, (run({ "data: a\r", "", "\ndata: b\r", "\n", "\r", "\n" })))
      -- ... but a CR followed by something else is a line end on its own.
      assert.same({ "a", "b" }, (run({ "data: a\r", "\r", "data: b\r", "\r" })))
    end)
  end)

  describe("fields", function()
    it("joins multi-line data with \\n", function()
      assert.same({ "l1\nl2\nl3" }, (run("data: l1\ndata: l2\ndata: l3\n\n")))
    end)

    it("removes exactly one space after the colon", function()
      assert.same({ "x", "x", " x", "x " }, (run("data:x\n\ndata: x\n\ndata:  x\n\ndata: x \n\n")))
    end)

    it("splits at the first colon only", function()
      assert.same({ '{"a":1}' }, (run('data: {"a":1}\n\n')))
      assert.same({ "a: b: c" }, (run("data:a: b: c\n\n")))
    end)

    it("dispatches an empty event for data with an empty value", function()
      assert.same({ "" }, (run("data:\n\n")))
      assert.same({ "" }, (run("data: \n\n")))
      assert.same({ "\n" }, (run("data\ndata\n\n")))
    end)

    it("takes a line without a colon as a field name with an empty value", function()
      assert.same({ "" }, (run("data\n\n")))
      assert.same({ "x" }, (run("event\ndata: x\n\n")))
    end)

    it("ignores comments, also inside an event", function()
      assert.same({ "a\nb" }, (run(": ping\ndata: a\n:comment: with colon\ndata: b\n\n")))
      assert.same({}, (run(":\n\n: keep-alive\n\n")))
    end)

    it("parses and drops event, id and retry", function()
      assert.same({ "y" }, (run("event: message\nid: 7\nretry: 1000\ndata: y\n\n")))
      assert.same({ "y" }, (run("id: a\0b\nretry: soon\ndata: y\n\n")))
      -- an event without data dispatches nothing
      assert.same({}, (run("event: ping\nid: 1\n\n")))
    end)

    it("does nothing on blank lines with an empty data buffer", function()
      assert.same({}, (run("\n\n\r\n\r\r")))
    end)

    it("keeps NUL and arbitrary bytes in data", function()
      assert.same({ "a\0b\255" }, (run("data: a\0b\255\n\n")))
    end)
  end)

  describe("byte order mark", function()
    local BOM = "\239\187\191"

    it("skips a leading BOM", function()
      assert.same({ "x" }, (run(BOM .. "data: x\n\n", { lenient = false })))
      assert.same({ "x" }, (run(BOM .. "data: x\n\n")))
    end)

    it("skips a BOM split across feeds", function()
      assert.same({ "x" }, (run({ "\239", "\187", "\191data: x\n\n" })))
      assert.same({ "x" }, (run({ "\239\187", "\191", "data: x\n\n" })))
      assert.same({ "x" }, (run({ "", "\239", "", "\187\191", "data: x\n\n" })))
    end)

    it("keeps the bytes of a partial BOM as data", function()
      -- lenient: the line's field is "\239\187data", unknown, so the whole
      -- line is data
      assert.same({ "\239\187data: x" }, (run({ "\239\187", "data: x\n\n" })))
      assert.same({ "\239x" }, (run({ "\239", "x\n\n" })))
      local ev, pending = run({ "\239\187" })
      assert.same({}, ev)
      assert.equal("\239\187", pending)
    end)

    it("only skips it at the start of the stream, and again after reset()", function()
      assert.same({ "a" }, (run("data: a\n\n" .. BOM .. "data: b\n\n", { lenient = false })))
      local f, out = core.sse_framer{ lenient = false }, {}
      assert.equal(1, f:feed("data: a\n\n", out))
      f:reset()
      assert.equal(1, f:feed(BOM .. "data: b\n\n", out))
      assert.equal("b", out[1])
    end)
  end)

  describe("lenient mode", function()
    local bare = '{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}'
    local pretty = table.concat({
      "{",
      '  "error": {',
      '    "code": 429,',
      '    "message": "Resource has been exhausted",',
      '    "status": "RESOURCE_EXHAUSTED"',
      "  }",
      "}",
    }, "\n")

    it("is the default", function()
      assert.same({ bare }, (run(bare .. "\n\n")))
    end)

    it("delivers a bare JSON line as data, at a blank line", function()
      assert.same({ bare }, (run(bare .. "\r\n\r\n", { lenient = true })))
    end)

    it("delivers pretty-printed JSON as one event", function()
      assert.same({ pretty }, (run(pretty .. "\n\n")))
      local ev, pending = run(pretty .. "\n")
      assert.same({}, ev)
      assert.equal(pretty, pending)
      ev, pending = run(pretty)          -- not even the last line ended
      assert.same({}, ev)
      assert.equal(pretty, pending)
      ev = run(bytes_of(pretty .. "\r\n\r\n"))
      assert.same({ pretty }, ev)
    end)

    it("still treats comments and known fields as such", function()
      assert.same({ "x" }, (run(": c\nevent: e\nid: 1\nretry: 5\ndata: x\n\n")))
    end)

    it("is off in strict mode: unknown fields are ignored", function()
      local ev, pending = run(bare .. "\n\n" .. pretty .. "\n\n", { lenient = false })
      assert.same({}, ev)
      assert.is_nil(pending)
      ev, pending = run(pretty, { lenient = false })
      assert.same({}, ev)
      assert.is_nil(pending)
      assert.same({ "x" }, (run("foo: bar\ndata: x\nbaz\n\n", { lenient = false })))
    end)
  end)

  describe("finish()", function()
    it("returns nil after a clean end", function()
      local ev, pending = run("data: a\n\n")
      assert.same({ "a" }, ev)
      assert.is_nil(pending)
      ev, pending = run("")
      assert.same({}, ev)
      assert.is_nil(pending)
      ev, pending = run("data: a\n\n: trailing comment")
      assert.is_nil(pending)
      ev, pending = run("data: a\n\nevent: x\nid: 3")
      assert.is_nil(pending)
    end)

    it("returns the data of a cut-off event", function()
      local ev, pending = run("data: a\n\ndata: b\ndata: c\n")
      assert.same({ "a" }, ev)
      assert.equal("b\nc", pending)
    end)

    it("processes an unterminated last line first", function()
      assert.equal("b\nc", select(2, run("data: b\ndata: c")))
      assert.equal("b", select(2, run("data: b")))
      assert.equal("", select(2, run("data:")))
      assert.equal("b", select(2, run("data: b\r")))
      assert.equal("b", select(2, run("data: b\n: comment")))
    end)

    it("leaves the framer ready for a new stream", function()
      local f, out = core.sse_framer(), {}
      f:feed("data: a", out)
      assert.equal("a", f:finish())
      assert.is_nil(f:finish())
      assert.equal(1, f:feed("data: b\n\n", out))
      assert.equal("b", out[1])
    end)
  end)

  describe("reset()", function()
    it("drops a partial event and a pending CR", function()
      local f, out = core.sse_framer(), {}
      assert.equal(0, f:feed("data: a\r", out))
      f:reset()
      -- the LF is now a blank line of its own: no data, no event
      assert.equal(0, f:feed("\n", out))
      assert.equal(1, f:feed("data: b\n\n", out))
      assert.equal("b", out[1])
      assert.is_nil(f:finish())
    end)
  end)

  describe("event size bound", function()
    it("accepts an event of exactly max_event_size bytes", function()
      assert.same({ ("x"):rep(10) }, (run("data: " .. ("x"):rep(10) .. "\n\n", { max_event_size = 10 })))
      assert.same({ "01234\n0123" }, (run("data: 01234\ndata:0123\n\n", { max_event_size = 10 })))
      assert.same({ ("x"):rep(10) }, (run(bytes_of("data: " .. ("x"):rep(10) .. "\n\n"), { max_event_size = 10 })))
    end)

    it("fails past it and stays failed", function()
      local f, out = core.sse_framer{ max_event_size = 10 }, {}
      assert.equal(1, f:feed("data: ok\n\n", out))
      local n, err = f:feed("data: 01234\ndata: 01234\n\n", out)
      assert.is_nil(n)
      assert.equal("SSE event larger than 10 bytes", err)
      n, err = f:feed("data: ok\n\n", out)
      assert.is_nil(n)
      assert.equal("SSE event larger than 10 bytes", err)
      local p, err2 = f:finish()
      assert.is_nil(p)
      assert.equal("SSE event larger than 10 bytes", err2)
      f:reset()
      assert.equal(1, f:feed("data: ok\n\n", out))
    end)

    it("fails on an unterminated line as it grows, without waiting for its end", function()
      local f, out = core.sse_framer{ max_event_size = 100 }, {}
      assert.equal(0, f:feed("data: " .. ("x"):rep(60), out))
      local n, err = f:feed(("x"):rep(60), out)
      assert.is_nil(n)
      assert.equal("SSE event larger than 100 bytes", err)
    end)

    it("bounds comments and unknown fields too (memory)", function()
      local n, err = core.sse_framer{ max_event_size = 50 }:feed(":" .. ("c"):rep(100), {})
      assert.is_nil(n)
      assert.truthy(err:find("larger than 50"))
      n = core.sse_framer{ max_event_size = 50, lenient = false }:feed(("u"):rep(100), {})
      assert.is_nil(n)
    end)

    it("fails on a data line that would add to a full event", function()
      local f, out = core.sse_framer{ max_event_size = 10 }, {}
      assert.equal(0, f:feed("data: 0123456789\n", out))
      assert.is_nil(f:feed("data:", out))
    end)

    it("defaults to 16 MiB", function()
      local f, out = core.sse_framer(), {}
      local big = ("y"):rep(16 * 1024 * 1024)
      assert.equal(1, f:feed("data: " .. big .. "\n\n", out))
      assert.equal(#big, #out[1])
      local n, err = f:feed("data: " .. big .. "z\n\n", out)
      assert.is_nil(n)
      assert.equal("SSE event larger than 16777216 bytes", err)
    end)
  end)

  it("reuses the caller's out table and reports only new events", function()
    local f, out = core.sse_framer(), {}
    assert.equal(3, f:feed("data: 1\n\ndata: 2\n\ndata: 3\n\n", out))
    assert.equal(1, f:feed("data: 4\n\n", out))
    assert.equal("4", out[1])
    assert.equal("2", out[2])   -- stale, not cleared: only out[1..n] count
  end)

  describe("property: any split gives the same events", function()
    -- Gemini-like streamGenerateContent chunks.
    local function gemini_events(count)
      local ev = {}
      for i = 1, count do
        local text = ("token %d: %s"):format(i, ("lorem ipsum \\\"quoted\\\" é 日本 "):rep(i % 7 + 1))
        ev[i] = '{"candidates": [{"content": {"parts": [{"text": "' .. text
          .. '"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 9,'
          .. '"candidatesTokenCount": ' .. i .. ',"totalTokenCount": ' .. (9 + i)
          .. '},"modelVersion": "gemini-2.5-flash","responseId": "abc' .. i .. '"}'
      end
      return ev
    end

    local function stream_of(events, eol, extras)
      local t = {}
      if extras then t[#t + 1] = "\239\187\191: hello" .. eol end
      for i, e in ipairs(events) do
        if extras and i % 17 == 0 then t[#t + 1] = ": keep-alive" .. eol .. "event: message" .. eol end
        t[#t + 1] = "data: " .. e .. eol .. eol
      end
      return table.concat(t)
    end

    local function random_pieces(s, maxlen)
      local pieces, i = {}, 1
      while i <= #s do
        local n = math.random(0, maxlen)
        pieces[#pieces + 1] = s:sub(i, i + n - 1)
        i = i + n
      end
      return pieces
    end

    local expected = gemini_events(200)
    local streams = {
      { "CRLF CRLF", stream_of(expected, "\r\n") },
      { "LF only", stream_of(expected, "\n") },
      { "CR only", stream_of(expected, "\r") },
      { "CRLF with BOM, comments and event fields", stream_of(expected, "\r\n", true) },
    }

    for _, case in ipairs(streams) do
      local name, s = case[1], case[2]
      it(name, function()
        assert.same(expected, (run(s)))
        assert.same(expected, (run(bytes_of(s))))
        math.randomseed(20240601)
        for _, maxlen in ipairs({ 3, 17, 100, 1000, 9000 }) do
          local ev, pending = run(random_pieces(s, maxlen))
          assert.same(expected, ev)
          assert.is_nil(pending)
        end
      end)
    end

    it("multi-line events split anywhere", function()
      local s = "data: a\r\ndata: b\rdata: c\n\r\n" .. '{\n  "x": 1\n}\n\n' .. "data:\n\n"
      local want = { "a\nb\nc", '{\n  "x": 1\n}', "" }
      assert.same(want, (run(s)))
      assert.same(want, (run(bytes_of(s))))
      for cut = 0, #s do
        assert.same(want, (run({ s:sub(1, cut), s:sub(cut + 1) })))
      end
    end)
  end)

  it("frames 100,000 events (~32 MB) fed in 64 KiB chunks", function()
    local body = ('{"candidates":[{"content":{"parts":[{"text":"%s"}]}}]}'):format(("w"):rep(260))
    local one = "data: " .. body .. "\r\n\r\n"
    local s = one:rep(100000)
    local f, out = core.sse_framer(), {}
    local count, bytes = 0, 0
    for i = 1, #s, 65536 do
      local n = assert(f:feed(s:sub(i, i + 65535), out))
      count = count + n
      for j = 1, n do bytes = bytes + #out[j] end
    end
    assert.is_nil(f:finish())
    assert.equal(100000, count)
    assert.equal(100000 * #body, bytes)
    assert.truthy(#s > 30e6)
  end)
end)

-- A streamed request of gemini.core that frames its body in C as it
-- arrives (req:frame_sse), through the real HTTP stack: the same rules as
-- core.sse_framer (one implementation), whatever the server's chunking.
describe("streamed requests (req:frame_sse, flow control)", function()
  local mock = require("support.mock")
  local KEY = "sse-request-key-5e1b"
  local m

  setup(function()
    m = mock.start{ key = KEY }
  end)
  teardown(function()
    m:stop()
  end)
  before_each(function()
    m:reset()
  end)

  -- Starts a stream call whose body is `pieces`, each its own HTTP chunk
  -- (none: the mock's answer, or its fault).
  local function open(pieces, streamed)
    if pieces then m:script{ { chunks = pieces, delay = 0 } } end
    local req = core.session():request{
      method = "POST",
      url = m.url .. "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
      headers = { "x-goog-api-key: " .. KEY, "Content-Type: application/json" },
      body = '{"contents":[{"parts":[{"text":"x"}]}]}',
      streamed = streamed,
    }
    assert.is_true(req:await("headers", 5000))
    assert.equal(200, req:status())
    return req
  end

  -- Every event of a framed request, in order, and its error.
  local function events_of(req)
    local events, q = {}, {}
    while true do
      local n = req:take_events(q)
      for i = 1, n or 0 do
        events[#events + 1] = q[i]
        q[i] = nil
      end
      if not n then
        if req:is_done() then return events, req:error() end
        req:await("data", 5000)
      end
    end
  end

  local PIECES = {
    "\239\187\191data: a\r", "\ndata: b\n\n", ": a comment\n",
    "data: {\"x\":", " 1}\r\n\r", "\n", "data:\n\n", "event: e\nid: 7\ndata: ", "last\n\n",
  }

  it("hands over the events of the body, split anywhere, as core.sse_framer does", function()
    local req = open(PIECES)
    req:frame_sse()
    local events, kind = events_of(req)
    assert.is_nil(kind)
    local want = run(table.concat(PIECES))
    assert.same({ "a\nb", '{"x": 1}', "", "last" }, want)
    assert.same(want, events)
    assert.is_nil(req:finish_sse())
    assert.is_nil(req:take())                   -- no body string is made
    req:close()
  end)

  it("frames the bytes that came before it was asked to", function()
    local req = open(PIECES)
    assert.is_true(req:await("done", 5000))
    req:frame_sse()
    assert.same(run(table.concat(PIECES)), (events_of(req)))
    req:close()
  end)

  it("gives the data of a last event the body cut off", function()
    local req = open({ "data: whole\n\n", "data: {\"error\":", "{}}\ndata: more" })
    req:frame_sse()
    assert.same({ "whole" }, (events_of(req)))
    assert.equal('{"error":{}}\nmore', req:finish_sse())
    req:close()
  end)

  it("ends the transfer at an event past max_event_size, after the events before it", function()
    local req = open({ "data: 0123456789\n\n", "data: 0123456789a\n\n", "data: never\n\n" })
    req:frame_sse{ max_event_size = 10 }
    local events, kind, msg, final = events_of(req)
    assert.same({ "0123456789" }, events)
    assert.equal("stream", kind)
    assert.equal("SSE event larger than 10 bytes", msg)
    assert.is_true(final)
    req:close()
  end)

  it("checks its options as core.sse_framer does, and frames once", function()
    local req = open({ "data: x\n\n" })
    assert.has_error(function() req:frame_sse{ max_event_size = 0 } end,
      "bad argument #1 to 'frame_sse' (max_event_size must be >= 1)")
    req:frame_sse()
    assert.has_error(function() req:frame_sse() end, "the request is already framed")
    assert.has_error(function() req:take_events() end)
    req:close()
    local plain = open({ "data: x\n\n" })
    assert.has_error(function() plain:finish_sse() end, "the request is not framed (frame_sse)")
    plain:close()
  end)

  it("stops reading a streamed body while 256 KB wait untaken, from the first byte", function()
    m:faults{ { type = "big", bytes = 2000000 } }
    local req = open(nil, true)
    for _ = 1, 10 do req:await("done", 30) end      -- libcurl runs; nothing is taken
    local _, received = req:progress()
    assert.is_false(req:is_done())
    assert.is_true(received < 300 * 1024, ("%.0f bytes were read ahead"):format(received))
    local got = 0
    while true do
      local piece = req:take()
      if piece then
        got = got + #piece
      elseif req:is_done() then
        break
      else
        req:await("data", 5000)
      end
    end
    assert.is_nil(req:error())
    assert.is_true(got > 2000000)
    req:close()
  end)
end)
