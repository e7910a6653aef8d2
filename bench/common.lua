--- Shared bits of the Lua workloads: the server URL, a clock, the result line.
-- Each workload prints one line `result <seconds> <check>` on stdout; the
-- driver (bench/run.lua) wraps it in /usr/bin/time -v for the peak memory.
local core = require("gemini.core")

local M = {}

M.url = os.getenv("BENCH_URL") or "http://127.0.0.1:18437"
M.now = core.now

--- Prints the measured time and a check value (so a run that did the
-- wrong amount of work is visible in the table).
function M.result(seconds, check)
  io.write(string.format("result %.6f %s\n", seconds, tostring(check)))
end

return M
