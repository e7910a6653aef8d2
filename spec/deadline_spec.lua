-- `timeout` bounds the whole call, retries and backoff waits included:
-- each attempt gets what is left of it, and a backoff wait that would pass
-- it is not taken (the last error is returned). The same holds for a
-- stream (opening, retries before the first chunk, reading) and on an
-- event loop. Timings are loose: the machines running this are noisy.
-- Through the real HTTP stack against the mock.
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "deadline-key-2b4f"
local MODEL = "gemini-2.5-flash"
local REQ = { model = MODEL, contents = "deadline" }

local now = gemini.core.now

describe("timeout bounds the whole call", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }

  local function client(opts) return m:client(opts) end

  it("returns in about `timeout` from a server that never answers, default retries on", function()
    m:faults{ { type = "stall", seconds = 30, times = 10 } }
    local c = client{ timeout = 2 }
    local t0 = now()
    local res, err = c.models:generate_content(REQ)
    local took = now() - t0
    assert.is_nil(res)
    assert.equal("timeout", err.kind)
    assert.is_true(took >= 1.9 and took < 4, "took " .. took .. " s")
  end)

  it("stops retrying when the next backoff wait would pass the timeout", function()
    m:faults{ { type = "status", code = 503, times = 10 } }
    local c = client{ timeout = 1.5, retry = { initial_delay = 0.4, exp_base = 2, jitter = 0 } }
    local t0 = now()
    local _, err = c.models:generate_content(REQ)
    local took = now() - t0
    -- attempts at 0, 0.4 and 1.2 s; the next wait (1.6 s) would end past 1.5 s
    assert.equal(503, err.code)
    assert.equal(3, #m:log())
    assert.is_true(took < 1.5, "took " .. took .. " s")
  end)

  it("gives each attempt only what is left of the call", function()
    m:faults{ { type = "status", code = 503, times = 1 }, { type = "stall", seconds = 30, times = 1 } }
    local c = client{ timeout = 1.5, retry = { initial_delay = 0.5, jitter = 0 } }
    local t0 = now()
    local _, err = c.models:generate_content(REQ)
    local took = now() - t0
    assert.equal("timeout", err.kind)
    assert.equal(2, #m:log())
    assert.is_true(took >= 1.4 and took < 2.5, "took " .. took .. " s")
  end)

  it("ends a stream that stalls before its first chunk by `timeout`, retries included", function()
    m:faults{ { type = "stall", seconds = 30, times = 10 } }
    local c = client{ timeout = 3, stall_timeout = 1 }
    local t0 = now()
    local s = c.models:generate_content_stream(REQ)
    local chunk, err = s:next()
    local took = now() - t0
    assert.is_nil(chunk)
    assert.equal("timeout", err.kind)
    assert.is_true(took >= 0.9 and took < 4, "took " .. took .. " s")
  end)

  it("ends a stream whose body trickles by `timeout`, never retried past it", function()
    m:faults{ { type = "trickle", interval = 0.2, times = 10 } }
    local c = client{ timeout = 2, stall_timeout = 1 }
    local t0 = now()
    local _, err = c.models:generate_content_stream(REQ):next()
    local took = now() - t0
    assert.equal("timeout", err.kind)
    assert.equal(1, #m:log())
    assert.is_true(took >= 1.9 and took < 3.5, "took " .. took .. " s")
  end)

  local ok_uv, uv = pcall(require, "luv")
  local describe_uv = ok_uv and describe or pending
  describe_uv("on an event loop", function()
    it("bounds a call and a stream the same way, without blocking the loop", function()
      m:faults{ { type = "stall", seconds = 30, times = 20 } }
      local c = client{ timeout = 2, stall_timeout = 1, loop = uv }
      local t0 = now()
      local got, sgot = {}, {}
      c.models:generate_content(REQ, function(err) got.err, got.t = err, now() - t0 end)
      c.models:generate_content_stream(REQ, { on_done = function(err)
        sgot.err, sgot.t = err, now() - t0
      end })
      local ticks = 0
      local tick = uv.new_timer()
      tick:start(50, 50, function() ticks = ticks + 1 end)
      tick:unref()
      require("support.loop").run(uv, 15)
      tick:close()
      c:close()
      uv.run("nowait")
      assert.equal("timeout", got.err.kind)
      assert.is_true(got.t >= 1.9 and got.t < 4, "call took " .. got.t .. " s")
      assert.equal("timeout", sgot.err.kind)
      assert.is_true(sgot.t >= 0.9 and sgot.t < 4, "stream took " .. sgot.t .. " s")
      assert.is_true(ticks >= 20, "the loop was blocked: " .. ticks .. " ticks")
    end)
  end)
end)
