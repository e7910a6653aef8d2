-- Bounded inputs: whatever a server sends or a caller builds, memory and
-- time stay bounded and the failure is a clear error, not a crash or hang.
--   max_response_size   a body past it ends the transfer (whole or stream)
--   max_event_size      an SSE event past it ends the stream
--   JSON depth          encode: max_depth (200 by default, 1..1000);
--                       decode: core.json_decode's limit (200) -> a decode error
--   stall_timeout       a stream that goes quiet is cut; a trickle that
--                       never goes quiet long enough is cut by `timeout`
local core = require("gemini.core")
local mock = require("support.mock")

local KEY = "limits-key-63c0"
local MODEL = "gemini-2.5-flash"
local REQ = { model = MODEL, contents = "limits" }

local function nest(n, leaf, open, close)
  return string.rep(open, n) .. leaf .. string.rep(close, n)
end

describe("bounded inputs", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }

  local function client(opts)
    opts = opts or {}
    if opts.retry == nil then opts.retry = false end
    return m:client(opts)
  end

  describe("max_response_size", function()
    it("takes a body under the limit", function()
      m:faults{ { type = "big", bytes = 20000 } }
      local res, err = client{ max_response_size = 100000 }.models:generate_content(REQ)
      assert.is_nil(err)
      assert.equal(20000, #res.text)
    end)

    it("ends a larger answer with a clear error", function()
      m:faults{ { type = "big", bytes = 200000 } }
      local res, err = client{ max_response_size = 50000 }.models:generate_content(REQ)
      assert.is_nil(res)
      assert.equal("transport", err.kind)
      assert.equal("response larger than 50000 bytes (max_response_size)", err.message)
    end)

    it("does not retry an answer past the limit: it would only come again", function()
      m:faults{ { type = "big", bytes = 200000, times = 3 } }
      local c = client{ max_response_size = 50000, retry = { attempts = 3, initial_delay = 0.01 } }
      local res, err = c.models:generate_content(REQ)
      assert.is_nil(res)
      assert.is_true(err.final)
      assert.equal(1, #m:log())
    end)

    it("bounds a stream's body too", function()
      m:faults{ { type = "big", bytes = 200000 } }
      local s = client{ max_response_size = 50000 }.models:generate_content_stream(REQ)
      local chunk, err = s:next()
      assert.is_nil(chunk)
      assert.matches("max_response_size", err.message)
    end)

    it("is checked as a number", function()
      assert.has_error(function() client{ max_response_size = "1MB" } end,
        "bad field 'max_response_size' to 'Client' (number expected, got string)")
    end)
  end)

  describe("max_event_size", function()
    it("ends a stream whose event is larger, with a stream error", function()
      m:faults{ { type = "big", bytes = 5000 } }
      local s = client{ max_event_size = 1000 }.models:generate_content_stream(REQ)
      local chunk, err = s:next()
      assert.is_nil(chunk)
      assert.equal("stream", err.kind)
      assert.equal("SSE event larger than 1000 bytes", err.message)
      assert.is_nil(s:next())   -- stays failed, no retry of a half-read answer
    end)

    it("lets events up to the limit through", function()
      m:faults{ { type = "big", bytes = 5000 } }
      local s = client{ max_event_size = 8000 }.models:generate_content_stream(REQ)
      local chunk, err = s:next()
      assert.is_nil(err)
      assert.equal(5000, #chunk.text)
    end)

    it("is checked as a number", function()
      assert.has_error(function() client{ max_event_size = {} } end,
        "bad field 'max_event_size' to 'Client' (number expected, got table)")
    end)
  end)

  describe("JSON nesting on encode", function()
    local function chain(n)
      local v = "leaf"
      for _ = 1, n do v = { v } end
      return v
    end

    it("stops at max_depth (200 by default), naming the path", function()
      assert.is_string(core.json_encode(chain(200)))
      local ok, msg = pcall(core.json_encode, chain(201))
      assert.is_false(ok)
      assert.matches("^cannot encode value[%[%]%d]*: nesting deeper than 200$", msg)
    end)

    it("takes max_depth up to 1000 and refuses more", function()
      assert.is_string(core.json_encode(chain(1000), { max_depth = 1000 }))
      assert.is_false(pcall(core.json_encode, chain(1001), { max_depth = 1000 }))
      assert.is_false(pcall(core.json_encode, chain(11), { max_depth = 10 }))
      assert.has_error(function() core.json_encode({}, { max_depth = 1001 }) end,
        "bad argument #2 to 'json_encode' (max_depth must be a number in 1..1000)")
      assert.has_error(function() core.json_encode({}, { max_depth = 0 }) end,
        "bad argument #2 to 'json_encode' (max_depth must be a number in 1..1000)")
    end)

    it("fails fast on a very deep value, and on a cycle", function()
      local ok, msg = pcall(core.json_encode, chain(100000))
      assert.is_false(ok)
      assert.matches("nesting deeper than 200", msg)
      local t = {}
      t.self = t
      ok, msg = pcall(core.json_encode, t)
      assert.is_false(ok)
      assert.matches("cycle", msg)
    end)

    it("raises from generate_content for a request nested too deep, before sending", function()
      local deep = chain(300)
      local ok, msg = pcall(function()
        return client().models:generate_content{ model = MODEL, contents = {
          { role = "user", parts = { { function_response = { name = "f", response = { v = deep } } } } },
        } }
      end)
      assert.is_false(ok)
      assert.matches("cannot encode request%.contents%[1%]%.parts%[1%]", tostring(msg))
      assert.matches("nesting deeper than 200", tostring(msg))
      assert.equal(0, #m:log())
    end)
  end)

  describe("JSON nesting on decode", function()
    it("answers a response nested too deep with a decode error", function()
      m:script{ { raw = '{"candidates":' .. nest(5000, "1", "[", "]") .. "}" } }
      local res, err = client().models:generate_content(REQ)
      assert.is_nil(res)
      assert.equal("decode", err.kind)
      assert.matches("nested", err.message)
    end)

    it("takes nesting under the limit", function()
      m:script{ { raw = '{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]}}],'
        .. '"deep":' .. nest(150, "1", "[", "]") .. "}" } }
      local res, err = client().models:generate_content(REQ)
      assert.is_nil(err)
      assert.equal("ok", res.text)
    end)

    it("answers a stream event nested too deep with a decode error", function()
      m:script{ { chunks = { "data: " .. nest(100000, "0", '{"a":', "}") .. "\r\n\r\n" } } }
      local s = client().models:generate_content_stream(REQ)
      local chunk, err = s:next()
      assert.is_nil(chunk)
      assert.equal("decode", err.kind)
    end)
  end)

  describe("a trickling server", function()
    it("is cut by stall_timeout when it sends a byte a second", function()
      m:faults{ { type = "trickle", interval = 1.0 } }
      local c = client{ stall_timeout = 0.4 }
      local t0 = core.now()
      local s = c.models:generate_content_stream(REQ)
      local chunk, err = s:next()
      local took = core.now() - t0
      assert.is_nil(chunk)
      assert.equal("timeout", err.kind)
      assert.matches("stall_timeout", err.message)
      assert.is_true(took < 3, "took " .. took .. " s")
      -- the server sent something, but not the whole event
      local e = m:last()
      assert.equal("trickle", e.fault)
      assert.is_false(e.completed)
    end)

    it("is cut by the total timeout when it never stalls long enough", function()
      -- a byte every 0.2 s never trips a 1 s stall check: `timeout` bounds it
      m:faults{ { type = "trickle", interval = 0.2 } }
      local c = client{ stall_timeout = 1, timeout = 1.5 }
      local t0 = core.now()
      local s = c.models:generate_content_stream(REQ)
      local chunk, err = s:next()
      local took = core.now() - t0
      assert.is_nil(chunk)
      assert.equal("timeout", err.kind)
      assert.is_true(took >= 1.3 and took < 4, "took " .. took .. " s")
    end)

    it("cuts a whole (non-stream) answer by the total timeout", function()
      m:faults{ { type = "trickle", interval = 0.2 } }
      local t0 = core.now()
      local res, err = client{ timeout = 1 }.models:generate_content(REQ)
      local took = core.now() - t0
      assert.is_nil(res)
      assert.equal("timeout", err.kind)
      assert.is_true(took < 3, "took " .. took .. " s")
    end)
  end)
end)
