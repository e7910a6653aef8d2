--- Workload 5: encoding the request of a 1,000-turn chat history, in
-- process: gemini's encoder (snake_case -> camelCase, the gemini.json rules)
-- or cjson.encode of the same table. `lua encode.lua gemini|cjson [iterations]`
local B = require("common")
local which = arg[1] or "gemini"
local iters = tonumber(arg[2]) or 200

-- A chat: alternating user/model turns of a sentence or two, the way a
-- chat session sends its whole history each turn, plus a config.
local contents = {}
for i = 1, 1000 do
  contents[i] = {
    role = i % 2 == 1 and "user" or "model",
    parts = { { text = string.format("Turn %d: %s", i, string.rep("some words of the chat ", 3 + i % 5)) } },
  }
end
local body = {
  contents = contents,
  systemInstruction = { parts = { { text = "You are a helpful assistant." } } },
  generationConfig = { temperature = 0.7, maxOutputTokens = 1024, topP = 0.95 },
}

local encode
if which == "cjson" then
  encode = require("cjson").encode
else
  local json = require("gemini.json")
  encode = function(t) return json.encode(t, { root = "request" }) end
end

local len = #encode(body)             -- warm up, and the check value
local t0 = B.now()
for _ = 1, iters do encode(body) end
B.result((B.now() - t0) / iters, len)
