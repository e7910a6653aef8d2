-- Grounding with Google Maps: places near a location, with their Maps links.
-- The location goes in tool_config's retrieval_config.
--
--   lua5.4 examples/google_maps.lua ["question"]
local gemini = require("gemini")

-- Every call returns its result, or nil and a gemini.Error (an API error,
-- the network, a timeout): say why and stop.
local function check(res, err)
  if res == nil then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
  return res
end

local question = arg[1] or "Where can I get a good coffee within a 10 minute walk?"

local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"

local T = gemini.tools
local res = check(client.models:generate_content{
  model = model, contents = question,
  config = {
    tools = { T.google_maps() },
    tool_config = T.tool_config{ retrieval_config = {
      lat_lng = { latitude = 48.8606, longitude = 2.3376 },   -- the Louvre, Paris
      language_code = "en" } },
  },
})
print(res.text or "(no answer)")
local meta = res.candidates[1].groundingMetadata
if meta and meta.groundingChunks then
  print("\nPlaces:")
  for i, chunk in ipairs(meta.groundingChunks) do
    local place = chunk.maps
    if place then
      print(string.format("  [%d] %s <%s>", i, place.title or "?", place.uri or "?"))
    end
  end
end
