-- A system instruction steers every answer: a string, parts or a content.
--
--   lua5.4 examples/system_instruction.lua ["question"]
local gemini = require("gemini")

local question = arg[1] or "What is 2+2?"
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"
local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md

local res, err = client.models:generate_content{
  model = model, contents = question,
  config = { system_instruction = "You are a math tutor. Always show your work." },
}
if not res then   -- an API error, the network, a timeout: nil, err
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
print("== as a string\n" .. (res.text or ""))

-- The same instruction as parts, with a second rule.
res, err = client.models:generate_content{
  model = model, contents = question,
  config = { system_instruction = { gemini.parts.text("You are a math tutor."),
                                    gemini.parts.text("Answer in French.") } },
}
if not res then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
print("== as parts\n" .. (res.text or ""))
