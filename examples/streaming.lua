-- Streaming: each chunk is printed the moment it arrives
-- (streamGenerateContent?alt=sse), then the merged answer's usage.
--
--   lua5.4 examples/streaming.lua ["prompt"]
local support = dofile((arg[0]:match("^(.-)[^/]*$") or "") .. "support/client.lua")

local prompt = arg[1] or "Write a short poem about the stars"

support.main({}, function(client, model)
  -- 1. In a generic for: a failure raises (so it is never a silent end).
  local stream = client.models:generate_content_stream{ model = model, contents = prompt }
  local chunks = 0
  for chunk in stream do
    chunks = chunks + 1
    io.write(chunk.text or "")
    io.flush()
  end
  io.write("\n")
  local r = stream.response
  print(string.format("(%d chunks, finish reason %s, %d tokens)", chunks,
    r.candidates[1].finishReason, r.usageMetadata.totalTokenCount))

  -- 2. Step by step, with errors as values; close() ends the transfer early.
  stream = client.models:generate_content_stream{ model = model, contents = "Count from one to twenty" }
  local first, err = stream:next()
  if not first then error(err, 0) end
  print("first chunk: " .. (first.text or ""))
  stream:close()
  print("(stream closed after its first chunk)")
end)
