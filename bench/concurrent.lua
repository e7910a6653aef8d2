--- Workload 3: N calls whose answer takes 50 ms, `concurrency` in flight,
-- through client.models:generate_content_all; over TLS + HTTP/2 when
-- BENCH_URL is the server's https:// one (BENCH_CA its certificate).
local gemini = require("gemini")
local B = require("common")

local N = tonumber(arg[1]) or 1000
local C = tonumber(arg[2]) or 50
local client = gemini.Client{ api_key = "bench-dummy-key", base_url = B.url, ca_file = B.ca_file,
                              retry = false }
if type(client.models.generate_content_all) ~= "function" then
  io.write("pending generate_content_all not available\n")
  return
end
local requests = {}
for i = 1, N do requests[i] = { model = "slow-50ms", contents = "Say hello " .. i } end
local before = B.connections()
local t0 = B.now()
local res, errs = client.models:generate_content_all(requests, { concurrency = C })
local dt = B.now() - t0
local ok = 0
for i = 1, N do
  if res[i] and res[i].text then ok = ok + 1 elseif errs and errs[i] then
    io.stderr:write("request ", i, ": ", tostring(errs[i]), "\n")
  end
end
-- The check: calls answered, and the connections they took.
local after = B.connections()
B.result(dt, ok .. ",conns=" .. (before and after and after - before or "?"))
