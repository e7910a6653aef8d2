-- Grounding and code execution helpers on responses received through the
-- real HTTP stack from the mock (scripted answers): cited_text with
-- multi-byte UTF-8 text, sources, web_search_queries, grounding_metadata,
-- executable_code and code_execution_result.
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "grounding-key-77a0"
local MODEL = "gemini-2.5-flash"

-- Two sentences with multi-byte characters: byte offsets and character
-- offsets differ ("ü" is 2 bytes, "€" 3).
local S1 = "Zürich liegt in der Schweiz."
local S2 = " Un café coûte 5 €."

local CHUNKS = {
  { web = { uri = "https://a.example/zurich", title = "a.example" } },
  { web = { uri = "https://b.example/cafe", title = "b.example" } },
  { maps = { uri = "https://maps.example/place/1", title = "Café Odeon", placeId = "places/1" } },
}

local function grounded(parts, supports, extra)
  local gm = { webSearchQueries = { "Zürich Land", "prix café Zürich" },
               groundingChunks = CHUNKS, groundingSupports = supports,
               searchEntryPoint = { renderedContent = "<div>search</div>" } }
  for k, v in pairs(extra or {}) do gm[k] = v end
  return { body = { candidates = { { content = { role = "model", parts = parts },
    finishReason = "STOP", index = 0, groundingMetadata = gm } } } }
end

describe("grounding and code execution helpers", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  before_each(function()
    client = m:client{ retry = false }
  end)

  local function ask(config)
    return assert(client.models:generate_content{ model = MODEL, contents = "q",
      config = config or { tools = { gemini.tools.google_search() } } })
  end

  it("inserts citation markers at byte offsets, last segment first", function()
    m:script{ grounded({ { text = S1 .. S2 } }, {
      { segment = { startIndex = 0, endIndex = #S1, text = S1 }, groundingChunkIndices = { 0 } },
      { segment = { startIndex = #S1, endIndex = #S1 + #S2, text = S2 }, groundingChunkIndices = { 0, 1 } },
    }) }
    local res = ask()
    assert.equal(S1 .. S2, res.text)
    assert.equal("Zürich liegt in der Schweiz.[1](https://a.example/zurich)"
      .. " Un café coûte 5 €.[1](https://a.example/zurich), [2](https://b.example/cafe)", res.cited_text)
    -- The request carried the search tool.
    assert.same({ googleSearch = {} }, m:last().json.tools[1])
  end)

  it("gives the queries, the metadata and one source per chunk", function()
    m:script{ grounded({ { text = S1 } }, {}) }
    local res = ask()
    assert.same({ "Zürich Land", "prix café Zürich" }, res.web_search_queries)
    assert.equal("<div>search</div>", res.grounding_metadata.searchEntryPoint.renderedContent)
    assert.equal(res.candidates[1].groundingMetadata, res.grounding_metadata)
    assert.same({
      { title = "a.example", uri = "https://a.example/zurich" },
      { title = "b.example", uri = "https://b.example/cafe" },
      { title = "Café Odeon", uri = "https://maps.example/place/1" },
    }, res.sources)
    -- No supports: the text as it is.
    assert.equal(S1, res.cited_text)
  end)

  it("skips unknown chunk indices, keeps support order at one position, never splits a character", function()
    local text = S1 .. S2
    m:script{ grounded({ { text = text } }, {
      { segment = { endIndex = #S1 }, groundingChunkIndices = { 1 } },
      { segment = { endIndex = #S1 }, groundingChunkIndices = { 2, 7 } },
      { segment = { endIndex = #S1 + #S2 - 2 }, groundingChunkIndices = { 0 } },   -- inside "€"
      { segment = { endIndex = 3 }, groundingChunkIndices = { 9 } },               -- nothing known
      { segment = { endIndex = 5 } },                                              -- no chunk at all
    }) }
    local res = ask()
    assert.equal("Zürich liegt in der Schweiz.[2](https://b.example/cafe)[3](https://maps.example/place/1)"
      .. " Un café coûte 5 €[1](https://a.example/zurich).", res.cited_text)
  end)

  it("reads offsets relative to the segment's part, leaving thoughts out", function()
    local P1, P2 = "Première partie. ", "Deuxième, très courte."
    m:script{ grounded({ { text = "réflexion…", thought = true }, { text = P1 }, { text = P2 } }, {
      { segment = { partIndex = 1, startIndex = 0, endIndex = #"Première partie." }, groundingChunkIndices = { 0 } },
      { segment = { partIndex = 2, startIndex = 0, endIndex = #P2 }, groundingChunkIndices = { 1 } },
    }) }
    local res = ask()
    assert.equal("Première partie.[1](https://a.example/zurich) Deuxième, très courte.[2](https://b.example/cafe)",
      res.cited_text)
  end)

  it("works on a streamed answer once merged", function()
    local gm = { groundingChunks = CHUNKS, webSearchQueries = { "q1" }, groundingSupports = {
      { segment = { endIndex = #S1 }, groundingChunkIndices = { 0 } },
      { segment = { endIndex = #S1 + #S2 }, groundingChunkIndices = { 1 } },
    } }
    m:script{ { chunks = {
      { candidates = { { content = { role = "model", parts = { { text = "Zürich liegt" } } }, index = 0 } } },
      { candidates = { { content = { role = "model", parts = { { text = " in der Schweiz. Un café" } } }, index = 0 } } },
      { candidates = { { content = { role = "model", parts = { { text = " coûte 5 €." } } }, index = 0,
        finishReason = "STOP", groundingMetadata = gm } } },
    } } }
    local s = client.models:generate_content_stream{ model = MODEL, contents = "q" }
    for _ in s do end
    assert.equal("Zürich liegt in der Schweiz.[1](https://a.example/zurich) Un café coûte 5 €.[2](https://b.example/cafe)",
      s.response.cited_text)
    assert.same({ "q1" }, s.response.web_search_queries)
  end)

  it("is nil or unchanged without grounding", function()
    m:script{ { body = { candidates = { { content = { role = "model", parts = { { text = "plain" } } },
      index = 0 } } } }, { body = { promptFeedback = { blockReason = "SAFETY" } } } }
    local res = ask()
    assert.equal("plain", res.cited_text)
    assert.is_nil(res.grounding_metadata)
    assert.is_nil(res.web_search_queries)
    assert.is_nil(res.sources)
    assert.is_nil(res.executable_code)
    assert.is_nil(res.code_execution_result)
    res = ask()
    assert.is_nil(res.cited_text)
    assert.is_nil(res.sources)
  end)

  it("lists the code the model ran and its results", function()
    m:script{ { body = { candidates = { { index = 0, finishReason = "STOP", content = { role = "model", parts = {
      { text = "Let me compute." },
      { executableCode = { language = "PYTHON", code = "print(sum(range(10)))\n" } },
      { codeExecutionResult = { outcome = "OUTCOME_OK", output = "45\n" } },
      { executableCode = { language = "PYTHON", code = "1/0" } },
      { codeExecutionResult = { outcome = "OUTCOME_FAILED", output = "ZeroDivisionError" } },
      { text = " The sum is 45." },
    } } } } } } }
    local res = ask{ tools = { gemini.tools.code_execution() } }
    assert.same({ codeExecution = {} }, m:last().json.tools[1])
    assert.same({ { language = "PYTHON", code = "print(sum(range(10)))\n" }, { language = "PYTHON", code = "1/0" } },
      res.executable_code)
    assert.same({ { outcome = "OUTCOME_OK", output = "45\n" }, { outcome = "OUTCOME_FAILED", output = "ZeroDivisionError" } },
      res.code_execution_result)
    assert.equal("Let me compute. The sum is 45.", res.text)
  end)
end)
