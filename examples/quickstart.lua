-- A prompt answered, streamed to the terminal, then its token count on a
-- line of its own.
--
--   make demo                         (from the repository)
--   lua5.4 examples/quickstart.lua "Why is the sky blue?"
--
-- The key comes from GEMINI_API_KEY (or GOOGLE_API_KEY); GEMINI_BASE_URL,
-- when set, points the client at another server of the same format, such
-- as the bundled mock (examples/README.md). GEMINI_MODEL picks the model.
local gemini = require("gemini")

local prompt = arg[1] or "Explain how AI works in a few words"
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"
local client = gemini.Client{}

io.stderr:write("> ", prompt, "\n")
local stream = client.models:generate_content_stream{ model = model, contents = prompt }
-- stream:next() returns each chunk, nil at the end, or nil, err on a failure
-- (an API error, the network, a timeout).
while true do
  local chunk, err = stream:next()
  if err then
    io.write("\n")
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
  if not chunk then break end
  io.write(chunk.text or "")
  io.flush()
end
-- The answer's line ends before the stats are written: stdout and stderr
-- may go to the same pipe.
io.write("\n")
io.flush()
local usage = stream.response.usageMetadata
if usage then
  io.stderr:write(string.format("(%s, %d tokens)\n", model, usage.totalTokenCount or 0))
end
