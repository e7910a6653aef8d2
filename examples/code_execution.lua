-- Code execution: the model writes Python, Google runs it, and the answer
-- carries the code (executableCode), its output (codeExecutionResult) and
-- the text.
--
--   lua5.4 examples/code_execution.lua ["question"]
local gemini = require("gemini")
local support = dofile((arg[0]:match("^(.-)[^/]*$") or "") .. "support/client.lua")

local question = arg[1]
  or "What is the sum of the first 50 prime numbers? Generate and run code for the calculation."

support.main({}, function(client, model)
  local res = support.check(client.models:generate_content{
    model = model, contents = question,
    config = { tools = { gemini.tools.code_execution() } },
  })
  for _, part in ipairs(res.candidates[1].content.parts) do
    if part.executableCode then
      print("-- code (" .. tostring(part.executableCode.language) .. "):")
      print(part.executableCode.code)
    elseif part.codeExecutionResult then
      print("-- output (" .. tostring(part.codeExecutionResult.outcome) .. "):")
      print(part.codeExecutionResult.output or "")
    elseif part.text and not part.thought then
      print(part.text)
    end
  end
end)
