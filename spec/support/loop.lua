-- spec/support/loop.lua: run a libuv loop (lua-luv) in a spec with a
-- watchdog, so that a call that never ends fails the test instead of
-- hanging the suite.
--
--   local loop = require("support.loop")
--   loop.run(uv, 10)   -- runs until nothing is left to do; fails after 10 s

local M = {}

--- Runs `uv`'s loop until it has nothing left to do; fails (assert) after
-- `limit` seconds (default 10).
function M.run(uv, limit)
  uv.update_time()        -- the loop's "now" is stale after other work
  local timed_out = false
  local dog = uv.new_timer()
  dog:start(math.floor((limit or 10) * 1000), 0, function()
    timed_out = true
    uv.stop()
  end)
  dog:unref()
  uv.run()
  dog:close()
  uv.run("nowait")
  assert(not timed_out, "the loop did not finish in time")
end

return M
