-- JSON mode with a schema: the answer is JSON that matches it, decoded by
-- res.parsed. gemini.schema keeps the properties in the order written
-- (propertyOrdering), which the model follows.
--
--   lua5.4 examples/json_schema.lua
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

local S = gemini.schema

local planet = S.object({
  { "name", S.string{ description = "the planet's name" } },
  { "distance_au", S.number{ description = "mean distance from the sun, in AU", minimum = 0 } },
  { "moons", S.integer{ description = "number of known moons", minimum = 0 } },
  { "kind", S.string{ enum = { "rocky", "gas giant", "ice giant" } } },
}, { required = { "name", "distance_au", "moons", "kind" } })

local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"

local res = check(client.models:generate_content{
  model = model,
  contents = "List 3 planets of the solar system with their distances from the sun.",
  config = {
    response_mime_type = "application/json",
    response_schema = S.array(planet, { min_items = 3, max_items = 3 }),
  },
})
local planets = res.parsed
print(string.format("%-12s %10s %6s  %s", "planet", "distance", "moons", "kind"))
for _, p in ipairs(planets) do
  print(string.format("%-12s %7.2f AU %6d  %s", p.name, p.distance_au, p.moons, p.kind))
end
