-- Grounding with Google Search, with citations: each cited sentence is
-- followed by the numbers of its sources, listed with their links below.
--
--   lua5.4 examples/google_search.lua ["question"]
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

local question = arg[1] or "Who won the euro 2024?"

-- The answer text with " [1](link), [2](link)" after each supported segment
-- (the rendering of Google's grounding docs). Segment
-- offsets are byte offsets into the UTF-8 text (startIndex is left out when
-- 0), so the markers go in from the end, where they move no other offset.
local function cite(text, meta)
  local supports = {}
  for _, s in ipairs(meta.groundingSupports or {}) do supports[#supports + 1] = s end
  table.sort(supports, function(a, b) return a.segment.endIndex > b.segment.endIndex end)
  for _, s in ipairs(supports) do
    local marks = {}
    for _, i in ipairs(s.groundingChunkIndices or {}) do
      local web = (meta.groundingChunks[i + 1] or {}).web or {}
      marks[#marks + 1] = string.format("[%d](%s)", i + 1, web.uri or "")
    end
    local at = math.floor(s.segment.endIndex)
    text = text:sub(1, at) .. " " .. table.concat(marks, ", ") .. text:sub(at + 1)
  end
  return text
end

local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"

local res = check(client.models:generate_content{
  model = model, contents = question,
  config = { tools = { gemini.tools.google_search() } },
})
local meta = res.candidates[1].groundingMetadata
if not meta then
  print(res.text or "(no answer)")
  print("(the model answered without searching)")
  return
end
print(cite(res.text or "", meta))
print("\nSearched for: " .. table.concat(meta.webSearchQueries or {}, "; "))
print("Sources:")
for i, chunk in ipairs(meta.groundingChunks or {}) do
  local web = chunk.web or {}
  print(string.format("  [%d] %s <%s>", i, web.title or "?", web.uri or "?"))
end
