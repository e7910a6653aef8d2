--- Workload 6: decoding answers in process, gemini's decoder
-- (core.json_decode, src/json_decode.c) against lua-cjson's decode on the
-- same text:
--   chunk    a typical ~300-byte stream chunk (one text part, usage)
--   text     a ~1 MB answer: one long text part with escapes (newlines,
--            quotes, non-ASCII), the shape of a long generateContent answer
--   numbers  a ~1 MB answer of numbers: embeddings (floats), logprobs
--            (floats and integers)
--
--   lua decode.lua                           every input, both decoders, a table
--   lua decode.lua gemini|cjson INPUT [N]    one `result <seconds> <check>`
--                                            line (per decode), for bench/run.lua
local core = require("gemini.core")

local WORDS = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
                "hotel", "india", "juliett", "kilo", "lima", "mike", "november" }

local function words(i, n)
  local out, len, k = {}, 0, i
  while len < n do
    local w = WORDS[k % #WORDS + 1]
    out[#out + 1] = w
    len = len + #w + 1
    k = (k * 7 + 3) % 1000003
  end
  return table.concat(out, " ")
end

local INPUTS = {}

-- What a stream event carries (bench/server.lua's shape, plus the fields
-- Gemini 2.5 adds).
INPUTS.chunk = '{"candidates":[{"content":{"parts":[{"text":"token 4711: ' .. words(4711, 60)
  .. '\\n"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,'
  .. '"candidatesTokenCount":4711,"totalTokenCount":4720,"promptTokensDetails":'
  .. '[{"modality":"TEXT","tokenCount":9}]},"modelVersion":"gemini-2.5-flash",'
  .. '"responseId":"bench-stream-0001"}'

do
  local lines = {}
  for i = 1, 12000 do
    lines[i] = (i % 7 == 0 and 'He said \\"' or "") .. words(i, 70)
      .. (i % 5 == 0 and " \\u00e9t\\u00e9 caf\195\169 \226\128\148 " or "") .. "\\n"
  end
  INPUTS.text = '{"candidates":[{"content":{"parts":[{"text":"' .. table.concat(lines)
    .. '"}],"role":"model"},"finishReason":"STOP","index":0,"avgLogprobs":-0.12345678901234567}],'
    .. '"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":250000,"totalTokenCount":250009},'
    .. '"modelVersion":"gemini-2.5-flash","responseId":"bench-answer-0002"}'
end

do
  local embs, seed = {}, 12345
  local function rnd()          -- deterministic, so every run decodes the same text
    seed = seed * 16807 % 2147483647   -- exact in doubles too (LuaJIT)
    return seed / 2147483647
  end
  for e = 1, 16 do
    local v = {}
    for i = 1, 3072 do v[i] = string.format("%.9g", (rnd() - 0.5) * 0.2) end
    embs[e] = '{"values":[' .. table.concat(v, ",") .. "]}"
  end
  local lp = {}
  for i = 1, 2000 do
    lp[i] = string.format('{"token":"t%d","tokenId":%d,"logProbability":%.17g}', i, i * 37 % 256000,
      -rnd() * 5)
  end
  INPUTS.numbers = '{"embeddings":[' .. table.concat(embs, ",") .. '],"logprobsResult":{"chosenCandidates":['
    .. table.concat(lp, ",") .. "]}}"
end

local DECODERS = {
  gemini = function() return core.json_decode end,
  cjson = function()
    local cjson = require("cjson").new()
    cjson.decode_max_depth(200)
    cjson.decode_invalid_numbers(false)
    return cjson.decode
  end,
}

-- Seconds per decode of `text`: the best of `rounds` rounds of `n` decodes
-- (the best is the least disturbed by the other processes of the machine).
local function time_per_decode(decode, text, n, rounds)
  local best = math.huge
  decode(text)
  for _ = 1, rounds do
    collectgarbage()
    local t0 = core.now()
    for _ = 1, n do decode(text) end
    best = math.min(best, (core.now() - t0) / n)
  end
  return best
end

local ITERS = { chunk = 200000, text = 100, numbers = 20 }

if arg[1] then
  local which, input = arg[1], arg[2] or "chunk"
  assert(DECODERS[which] and INPUTS[input], "usage: decode.lua gemini|cjson chunk|text|numbers [N]")
  local n = tonumber(arg[3]) or ITERS[input]
  io.write(string.format("result %.9f %d\n", time_per_decode(DECODERS[which](), INPUTS[input], n, 1), #INPUTS[input]))
  return
end

io.write(string.format("%s, best of 5 rounds\n", jit and jit.version or _VERSION))
io.write(string.format("%-8s %9s %14s %14s %7s\n", "input", "bytes", "gemini", "cjson", "ratio"))
for _, input in ipairs({ "chunk", "text", "numbers" }) do
  local n, text = ITERS[input], INPUTS[input]
  local g = time_per_decode(DECODERS.gemini(), text, n, 5)
  local c = time_per_decode(DECODERS.cjson(), text, n, 5)
  local unit, scale = "us", 1e6
  if g > 1e-3 then unit, scale = "ms", 1e3 end
  io.write(string.format("%-8s %9d %11.3f %s %11.3f %s %6.2fx\n", input, #text, g * scale, unit, c * scale, unit, g / c))
end
