-- spec/support/loop.lua: run a libuv loop (lua-luv) in a spec with a
-- watchdog, so that a call that never ends fails the test instead of
-- hanging the suite.
--
--   local loop = require("support.loop")
--   loop.run(uv, 10)   -- runs until nothing is left to do; fails after 10 s;
--                      -- returns the 50 ms ticks that fired meanwhile
--   local t = loop.ticker(uv, 20)   -- t.n counts 20 ms ticks until t.stop()
--   loop.hygiene(uv, { teardown = teardown, after_each = after_each }, function() return c end)

local M = {}

--- Runs `uv`'s loop until it has nothing left to do; fails (assert) after
-- `limit` seconds (default 10). Returns how often a 50 ms timer fired
-- meanwhile: few times when something blocked the loop.
function M.run(uv, limit)
  uv.update_time()        -- the loop's "now" is stale after other work
  local timed_out, ticks = false, 0
  local dog = uv.new_timer()
  dog:start(math.floor((limit or 10) * 1000), 0, function()
    timed_out = true
    uv.stop()
  end)
  dog:unref()
  local tick = uv.new_timer()
  tick:start(50, 50, function() ticks = ticks + 1 end)
  tick:unref()
  uv.run()
  dog:close()
  tick:close()
  uv.run("nowait")
  assert(not timed_out, "the loop did not finish in time")
  return ticks
end

--- A timer that counts its ticks every `ms` milliseconds in `t.n` until
-- `t.stop()`: a loop blocked by something ticks seldom.
function M.ticker(uv, ms)
  uv.update_time()
  local t = { n = 0, timer = uv.new_timer() }
  t.timer:start(ms, ms, function() t.n = t.n + 1 end)
  function t.stop() t.timer:close() end
  return t
end

--- The loop's hygiene in a describe block whose client runs on `uv`: after
-- each test nothing of the pool may keep the loop busy or leak into the
-- next (no request left in flight, no socket still watched); teardown
-- closes the client (`client()` gives it, or nil) and runs the loop once
-- more, so that libuv can finish closing its handles.
-- @param uv the luv module
-- @tparam table hooks busted's `teardown` and `after_each`
-- @tparam function client
function M.hygiene(uv, hooks, client)
  hooks.after_each(function()
    uv.run("nowait")
    assert(not uv.loop_alive(), "the loop still has work after the test")
  end)
  hooks.teardown(function()
    local c = client()
    if c then c:close() end
    uv.run()
  end)
end

return M
