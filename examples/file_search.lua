-- File search (managed retrieval): a store of two documents, a question
-- answered from them with citations, then the store deleted.
--
--   lua5.4 examples/file_search.lua ["question"]
--
-- Each document is uploaded into the store with the resumable protocol;
-- Google then chunks and embeds it, a long-running operation that
-- client.operations:wait polls until it is done.
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

local question = arg[1] or "How many storms did the keeper log, and what did the cat do?"

local DOCUMENTS = {
  { name = "keeper-log.txt", author = "the keeper", text =
    "The lighthouse keeper's log for 1934 records 14 storms and 3 rescues."
    .. " The worst storm, on 2 November, broke the lower window of the lamp room." },
  { name = "cat.md", author = "the keeper's daughter", text =
    "# The lighthouse cat\n\nThe cat, Lua, slept through every storm on the warm lamp room"
    .. " floor. She caught mice in the oil store." },
}

local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"

local fss = client.file_search_stores
local store = check(fss:create{ config = { display_name = "lighthouse" } })
print("store " .. store.name)
-- Indexes the documents, then asks: the answer, or nil and the error.
local function index_and_ask()
  for _, doc in ipairs(DOCUMENTS) do
    local op, err = fss:upload_to_file_search_store{
      file_search_store_name = store.name, data = doc.text,
      config = { display_name = doc.name,          -- MIME type guessed from the name
                 custom_metadata = { author = doc.author } } }
    -- first poll after 0.5 s, each next one 1.5 times later (at most 10 s)
    if op then op, err = client.operations:wait(op, { timeout = 300, interval = 0.5 }) end
    if not op then return nil, err end
    if op.error then return nil, "indexing " .. doc.name .. " failed: " .. tostring(op.error.message) end
    print("indexed " .. op.response.documentName)
  end
  return client.models:generate_content{
    model = model, contents = question,
    config = { tools = { gemini.tools.file_search{ file_search_store_names = { store.name } } } },
  }
end

local res, err = index_and_ask()
if res then
  print("\n" .. (res.cited_text or res.text or "(no answer)"))
  print("\nSources:")
  for i, s in ipairs(res.sources or {}) do
    local text = (s.text or ""):gsub("%s+", " ")
    if #text > 70 then text = text:sub(1, 67) .. "..." end
    print(string.format("  [%d] %s: %s", i, s.title or "?", text))
  end
end
-- The store goes, with its documents, whatever happened above.
check(fss:delete(store.name, { force = true }))
print("\ndeleted " .. store.name)
check(res, err)
