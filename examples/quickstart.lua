-- A prompt answered, streamed to the terminal.
--
--   make demo                         (from the repository)
--   lua5.4 examples/quickstart.lua "Why is the sky blue?"
--
-- With GEMINI_API_KEY (or GOOGLE_API_KEY) set it asks Google's API; with
-- COMETAPI_KEY it asks CometAPI (GEMINI_BASE_URL overrides the base URL of
-- either). With no key it starts the project's own mock server on
-- 127.0.0.1 and says so, so it works with no key and no network.
local gemini = require("gemini")

local prompt = arg[1] or "Explain how AI works in a few words"
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"

local function env(name)
  local v = os.getenv(name)
  return v ~= "" and v or nil
end

local opts, mock
local key = env("GOOGLE_API_KEY") or env("GEMINI_API_KEY")
if key then
  opts = { api_key = key }
elseif env("COMETAPI_KEY") then
  opts = { api_key = env("COMETAPI_KEY"), base_url = env("GEMINI_BASE_URL") or "https://api.cometapi.com" }
else
  local found, support = pcall(require, "support.mock")
  if not found then
    io.stderr:write("set GEMINI_API_KEY (or COMETAPI_KEY), or run this from the repository"
      .. " (make demo) to use the bundled mock server\n")
    os.exit(2)
  end
  mock = support.start{ key = "demo-key", stream_delay = 0.05 }
  opts = { api_key = "demo-key", base_url = mock.url }
  io.stderr:write("(no GEMINI_API_KEY set: answering from the bundled mock server at ",
    mock.url, ")\n")
end

local client = gemini.Client(opts)
io.stderr:write("> ", prompt, "\n")
local ok, err = pcall(function()
  local stream = client.models:generate_content_stream{ model = model, contents = prompt }
  for chunk in stream do
    io.write(chunk.text or "")
    io.flush()
  end
  io.write("\n")
  io.flush()
  local usage = stream.response.usageMetadata
  if usage then
    io.stderr:write(string.format("(%s, %d tokens)\n", model, usage.totalTokenCount or 0))
  end
end)
if mock then mock:stop() end
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
