--- Shared bits of the Lua workloads: the server URL, a clock, the result line.
-- Each workload prints one line `result <seconds> <check>` on stdout; the
-- driver (bench/run.lua) wraps it in /usr/bin/time -v for the peak memory.
local core = require("gemini.core")

local M = {}

M.url = os.getenv("BENCH_URL") or "http://127.0.0.1:18437"
-- The bench server's self-signed certificate, for its https:// URL.
M.ca_file = os.getenv("BENCH_CA")
M.now = core.now

--- The server's count of connections that have carried "slow-" calls (nil
-- if it cannot be read): read before and after a workload, it tells how
-- many connections the client opened.
function M.connections()
  local req = core.session():request{ method = "GET", url = M.url .. "/bench/connections",
                                      ca_file = M.ca_file }
  req:await("done")
  local n = not req:error() and req:status() == 200 and tonumber(req:take())
  req:close()
  return n or nil
end

--- Prints the measured time and a check value (so a run that did the
-- wrong amount of work is visible in the table).
function M.result(seconds, check)
  io.write(string.format("result %.6f %s\n", seconds, tostring(check)))
end

--- A field of /proc/<pid>/status in kB (`pid` may be "self"), or nil.
function M.status_kb(pid, field)
  local f = io.open("/proc/" .. pid .. "/status", "r")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return tonumber(text:match(field .. ":%s*(%d+) kB"))
end

--- kB as "12.3 MiB" ("?" for nil).
function M.mib(kb) return kb and string.format("%.1f MiB", kb / 1024) or "?" end

return M
