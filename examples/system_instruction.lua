-- A system instruction steers every answer: a string, parts or a content.
--
--   lua5.4 examples/system_instruction.lua ["question"]
local gemini = require("gemini")
local support = dofile((arg[0]:match("^(.-)[^/]*$") or "") .. "support/client.lua")

local question = arg[1] or "What is 2+2?"

support.main({}, function(client, model)
  local res = support.check(client.models:generate_content{
    model = model, contents = question,
    config = { system_instruction = "You are a math tutor. Always show your work." },
  })
  print("== as a string\n" .. (res.text or ""))

  -- The same instruction as parts, with a second rule.
  res = support.check(client.models:generate_content{
    model = model, contents = question,
    config = { system_instruction = { gemini.parts.text("You are a math tutor."),
                                      gemini.parts.text("Answer in French.") } },
  })
  print("== as parts\n" .. (res.text or ""))
end)
