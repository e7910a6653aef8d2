-- Function calling with a Lua handler: the model asks for the weather, the
-- handler answers, the model writes the final answer (the SDK's automatic
-- function calling), then the contents that went back and forth.
--
--   lua5.4 examples/function_calling.lua ["What's the weather in Tokyo?"]
--
-- GEMINI_API_KEY (or GOOGLE_API_KEY) and GEMINI_BASE_URL: see examples/README.md.
local gemini = require("gemini")

local client = gemini.Client{}
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"

local S = gemini.schema
local prompt = arg[1] or "What's the weather like in Paris right now?"

-- A stand-in for a weather service.
local WEATHER = {
  paris = { temperature_c = 18, conditions = "partly cloudy" },
  london = { temperature_c = 14, conditions = "light rain" },
  tokyo = { temperature_c = 22, conditions = "sunny" },
}

local weather_tool = gemini.tools.functions{ {
  name = "get_weather",
  description = "Returns the current weather of a city.",
  parameters = S.object({
    { "city", S.string{ description = "The city, e.g. Paris" } },
  }, { required = { "city" } }),
  -- Called by the library when the model asks for it; what it returns goes
  -- back to the model as {result = ...}. Raising (or returning nil, err)
  -- sends {error = ...} instead, and the model can say so.
  handler = function(args)
    io.stderr:write(string.format("(get_weather called with city = %q)\n", tostring(args.city)))
    local w = WEATHER[tostring(args.city):lower()]
    if not w then return nil, "no weather data for " .. tostring(args.city) end
    return { city = args.city, temperature_c = w.temperature_c, conditions = w.conditions }
  end,
} }

io.stderr:write("> ", prompt, "\n")
local res, err = client.models:generate_content{
  model = model, contents = prompt, config = { tools = { weather_tool } },
}
if not res then   -- an API error, the network, a timeout: nil, err
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
print(res.text or "(no text in the answer)")

-- What was exchanged: the question, the model's call, the function's answer.
local function describe(part)
  if part.text then return (part.thought and "thought: " or "text: ") .. part.text end
  if part.functionCall then
    local a = {}
    for k, v in pairs(part.functionCall.args or {}) do a[#a + 1] = k .. "=" .. tostring(v) end
    table.sort(a)
    return "call " .. part.functionCall.name .. "(" .. table.concat(a, ", ") .. ")"
  end
  if part.functionResponse then
    local r = part.functionResponse.response or {}
    if r.error then return "error from " .. part.functionResponse.name .. ": " .. tostring(r.error) end
    local t = type(r.result) == "table" and r.result or {}
    return string.format("answer from %s: %s, %s C", part.functionResponse.name,
      tostring(t.conditions), tostring(t.temperature_c))
  end
  return "(other part)"
end
io.stderr:write("-- history of the function calling:\n")
for _, content in ipairs(res.automatic_function_calling_history or {}) do
  for _, part in ipairs(content.parts) do
    io.stderr:write("  ", content.role, ": ", describe(part), "\n")
  end
end
