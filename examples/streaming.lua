-- Streaming: each chunk is printed the moment it arrives
-- (streamGenerateContent?alt=sse), then the merged answer's usage.
--
--   lua5.4 examples/streaming.lua ["prompt"]
local gemini = require("gemini")

local prompt = arg[1] or "Write a short poem about the stars"
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"
local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md

-- 1. In a generic for: a failure raises (so it is never a silent end);
--    pcall turns it back into a value.
local stream = client.models:generate_content_stream{ model = model, contents = prompt }
local chunks = 0
local ok, err = pcall(function()
  for chunk in stream do
    chunks = chunks + 1
    io.write(chunk.text or "")
    io.flush()
  end
end)
io.write("\n")
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
local r = stream.response
print(string.format("(%d chunks, finish reason %s, %d tokens)", chunks,
  r.candidates[1].finishReason, r.usageMetadata.totalTokenCount))

-- 2. Step by step, with errors as values; close() ends the transfer early.
stream = client.models:generate_content_stream{ model = model, contents = "Count from one to twenty" }
local first, next_err = stream:next()
if not first then
  io.stderr:write(tostring(next_err or "the stream ended before its first chunk"), "\n")
  os.exit(1)
end
print("first chunk: " .. (first.text or ""))
stream:close()
print("(stream closed after its first chunk)")
