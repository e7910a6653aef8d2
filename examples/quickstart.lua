-- A prompt answered, streamed to the terminal.
--
--   make demo                         (from the repository)
--   lua5.4 examples/quickstart.lua "Why is the sky blue?"
--
-- With GEMINI_API_KEY (or GOOGLE_API_KEY) set it asks Google's API; with
-- COMETAPI_KEY it asks CometAPI (GEMINI_BASE_URL overrides the base URL of
-- either). With no key it starts the project's own mock server on
-- 127.0.0.1 and says so, so it works with no key and no network.
local support = dofile((arg[0]:match("^(.-)[^/]*$") or "") .. "support/client.lua")

local prompt = arg[1] or "Explain how AI works in a few words"
local client, model, finish = support.connect{ model = "gemini-2.5-flash" }

io.stderr:write("> ", prompt, "\n")
local ok, err = pcall(function()
  local stream = client.models:generate_content_stream{ model = model, contents = prompt }
  for chunk in stream do
    io.write(chunk.text or "")
    io.flush()
  end
  io.write("\n")
  local usage = stream.response.usageMetadata
  if usage then
    io.stderr:write(string.format("(%s, %d tokens)\n", model, usage.totalTokenCount or 0))
  end
end)
finish(not ok and err or nil)
