--- Workload 1's floor: the same SSE bytes, already in memory, split on
-- "\r\n\r\n" and decoded with lua-cjson in a plain loop.
local cjson = require("cjson")
local B = require("common")

local f = assert(io.open(assert(arg[1], "usage: floor_stream.lua FILE"), "rb"))
local body = f:read("a")
f:close()

local decode, find, sub = cjson.decode, string.find, string.sub
local t0 = B.now()
local n, bytes, pos = 0, 0, 1
while true do
  local s, e = find(body, "\r\n\r\n", pos, true)
  if not s then break end
  -- each event is one "data: " line
  local v = decode(sub(body, pos + 6, s - 1))
  bytes = bytes + #v.candidates[1].content.parts[1].text
  n = n + 1
  pos = e + 1
end
B.result(B.now() - t0, n)
