-- Cache a long document once, then ask two questions against the cache:
-- the document's tokens are billed at the cached rate instead of being
-- sent again with every question.
--
--   lua5.4 examples/cache_document.lua [document.txt]
--
-- Without a path it uses a generated handbook of a few thousand words (the
-- API caches nothing shorter than about 1024 tokens on Flash models).
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

local function read(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- A long, regular text with a few facts to find in it.
local function handbook()
  local out = { "Handbook of the Northern Light Station\n" }
  local duties = { "check the lamp", "wind the clockwork", "log the weather",
                   "clean the lens", "inspect the fog signal", "trim the wicks" }
  for chapter = 1, 40 do
    out[#out + 1] = string.format("\nChapter %d.\n", chapter)
    for i, duty in ipairs(duties) do
      out[#out + 1] = string.format("Rule %d.%d: at hour %d the keeper must %s and write"
        .. " the result in the station log, signed and dated, before the next watch begins. ",
        chapter, i, (chapter * i) % 24, duty)
    end
  end
  out[#out + 1] = "\nChapter 41.\nThe station cat is named Fresnel. The spare lens is kept"
    .. " in the cellar, behind the oil barrels. The keeper's salary is paid on the first"
    .. " Monday of each month.\n"
  return table.concat(out)
end

local document = arg[1] and read(arg[1]) or handbook()

local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"

local cache = check(client.caches:create{
  model = model,
  config = {
    display_name = "station handbook",
    system_instruction = "You answer questions about the handbook, briefly, quoting it.",
    contents = document,
    ttl = 600,                      -- seconds; or expire_time = <RFC 3339 or epoch>
  },
})
print(string.format("cached %s: %d tokens, expires %s", cache.name,
  cache.usageMetadata and cache.usageMetadata.totalTokenCount or 0, cache.expireTime))

for _, question in ipairs({ "What is the station cat called?",
                            "Where is the spare lens kept?" }) do
  local res = check(client.models:generate_content{
    model = model, contents = question,
    config = { cached_content = cache.name },
  })
  print("> " .. question)
  print(res.text or "(no text in the answer)")
  local usage = res.usageMetadata or {}
  print(string.format("  (%d of %d prompt tokens from the cache)",
    usage.cachedContentTokenCount or 0, usage.promptTokenCount or 0))
end

-- Only the expiration of a cache can change.
cache = check(client.caches:update{ name = cache.name, config = { ttl = 60 } })
print("now expires " .. cache.expireTime)
check(client.caches:delete(cache.name))
print("deleted " .. cache.name)
