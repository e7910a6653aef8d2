--- Workload 2: N sequential generate_content calls over one keep-alive pool.
local gemini = require("gemini")
local B = require("common")

local N = tonumber(arg[1]) or 2000
local client = gemini.Client{ api_key = "bench-dummy-key", base_url = B.url, retry = false }
local t0 = B.now()
local ok = 0
for _ = 1, N do
  local res = assert(client.models:generate_content{ model = "gemini-2.5-flash",
                                                    contents = "Say hello" })
  if res.text then ok = ok + 1 end
end
B.result(B.now() - t0, ok)
