-- Gemini through Vertex AI (Google Cloud): the same calls, a project's
-- credentials instead of a Gemini API key.
--
--   GOOGLE_CLOUD_PROJECT=my-project GOOGLE_CLOUD_LOCATION=us-central1 \
--     lua5.4 examples/vertex.lua "Why is the sky blue?"
--
-- Credentials are Application Default Credentials: a service-account key
-- file named by GOOGLE_APPLICATION_CREDENTIALS, the file `gcloud auth
-- application-default login` writes, or the metadata server on Google
-- Cloud. Express mode instead: GOOGLE_API_KEY set to a Vertex AI API key
-- and no GOOGLE_CLOUD_PROJECT. GOOGLE_VERTEX_BASE_URL points the client
-- at another host (a gateway, or the project's mock server).
--
-- A service account's key file can also be named in the code; its
-- project_id is then the project:
--   gemini.Client{ vertexai = true, credentials = "/secrets/sa.json" }
local gemini = require("gemini")

local prompt = arg[1] or "Explain how AI works in a few words"
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"

-- Project, location and key come from the environment, as above.
local ok, client = pcall(gemini.Client, { vertexai = true })
if not ok then
  io.stderr:write(tostring(client), "\n")
  os.exit(2)
end

-- Tokens first: what the prompt costs.
local count, err = client.models:count_tokens{ model = model, contents = prompt }
if not count then
  io.stderr:write("count_tokens: ", tostring(err), "\n")
  os.exit(1)
end
io.stderr:write(string.format("> %s (%d tokens)\n", prompt, count.totalTokens or 0))

-- Then the answer, streamed.
local stream = client.models:generate_content_stream{ model = model, contents = prompt }
while true do
  local chunk, serr = stream:next()
  if serr then
    io.stderr:write("\nstream: ", tostring(serr), "\n")
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
  io.stderr:write(string.format("(%s on Vertex AI, %d tokens)\n", model, usage.totalTokenCount or 0))
end
