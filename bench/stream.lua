--- Workload 1: consume one streamed answer of 100,000 events with gemini.
local gemini = require("gemini")
local B = require("common")

local client = gemini.Client{ api_key = "bench-dummy-key", base_url = B.url, retry = false }
local t0 = B.now()
local n, bytes = 0, 0
local stream = client.models:generate_content_stream{ model = "gemini-2.5-flash", contents = "Go" }
for chunk in stream do
  n = n + 1
  bytes = bytes + #chunk.text
end
local dt = B.now() - t0
-- Not timed: the merged answer must hold every chunk's text.
local merged = stream.response
assert(merged and #merged.text == bytes and merged.candidates[1].finishReason == "STOP",
  "the merged answer does not match the chunks")
B.result(dt, n)
