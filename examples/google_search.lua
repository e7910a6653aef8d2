-- Grounding with Google Search, with citations: each cited sentence is
-- followed by the numbers of its sources, listed with their links below.
--
--   lua5.4 examples/google_search.lua ["question"]
local gemini = require("gemini")
local support = dofile((arg[0]:match("^(.-)[^/]*$") or "") .. "support/client.lua")

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

support.main({}, function(client, model)
  local res = support.check(client.models:generate_content{
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
end)
