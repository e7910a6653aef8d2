-- Thinking, on both generations of models:
--   Gemini 2.5 takes a token budget (gemini.thinking.budget: 0 off, -1 dynamic),
--   Gemini 3 takes a level (gemini.thinking.level: MINIMAL, LOW, MEDIUM, HIGH).
-- include_thoughts = true returns thought summaries, read with res.thoughts;
-- the thought tokens are counted in usageMetadata.thoughtsTokenCount.
-- Sending the wrong knob to a model fails before the request (see the end).
--
--   lua5.4 examples/thinking.lua ["question"]
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

local question = arg[1] or "How many r's are in the word strawberry? Answer in one sentence."

local function show(title, res)
  print("== " .. title)
  if res.thoughts then print("-- thoughts:\n" .. res.thoughts) end
  print("-- answer:\n" .. (res.text or "(no text)"))
  local u = res.usageMetadata or {}
  print(string.format("-- tokens: %d thinking, %d answer, %d total\n",
    u.thoughtsTokenCount or 0, u.candidatesTokenCount or 0, u.totalTokenCount or 0))
end

local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md

local flash25 = os.getenv("GEMINI_25_MODEL") or "gemini-2.5-flash"
local flash3 = os.getenv("GEMINI_3_MODEL") or "gemini-3-flash-preview"

-- Gemini 2.5: a budget of 1024 thinking tokens, with summaries.
show(flash25 .. ", thinking budget 1024", check(client.models:generate_content{
  model = flash25, contents = question,
  config = { thinking_config = gemini.thinking.budget(1024, { include_thoughts = true }) },
}))

-- Gemini 3: a thinking level, with summaries.
show(flash3 .. ", thinking level LOW", check(client.models:generate_content{
  model = flash3, contents = question,
  config = { thinking_config = gemini.thinking.level("low", { include_thoughts = true }) },
}))

-- The wrong knob is a programmer error, raised before any request.
local ok, err = pcall(client.models.generate_content, client.models, {
  model = flash25, contents = question, config = { thinking_config = gemini.thinking.level("HIGH") } })
print("== a level sent to " .. flash25 .. ":\n" .. (ok and "(accepted)" or tostring(err):gsub("^.-:%d+: ", "")))
