-- Code execution: the model writes Python, Google runs it, and the answer
-- carries the code (executableCode), its output (codeExecutionResult) and
-- the text.
--
--   lua5.4 examples/code_execution.lua ["question"]
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

local question = arg[1]
  or "What is the sum of the first 50 prime numbers? Generate and run code for the calculation."

local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"

local res = check(client.models:generate_content{
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
