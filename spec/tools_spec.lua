-- gemini.tools through the real HTTP stack against the mock: each builder's
-- JSON on the wire, the handlers on their declarations, the build-time errors, and
-- the mock's answers to each tool (function calls with a thoughtSignature,
-- grounding metadata, code execution parts).
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "test-key-tools-7d21"
local T, S = gemini.tools, gemini.schema

describe("gemini.tools", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  before_each(function()
    client = m:client{ retry = false }
  end)

  -- Sends a request with `config`, returns the response and the logged entry.
  local function send(config, contents, model)
    local res, err = client.models:generate_content{
      model = model or "gemini-2.5-flash", contents = contents or "Hi", config = config }
    assert.is_nil(err)
    return res, m:last()
  end

  local function has(body, fragment)
    assert(body:find(fragment, 1, true), "expected " .. fragment .. " in " .. body)
  end

  it("is reachable as require('gemini').tools and require('gemini.tools')", function()
    assert.equal(require("gemini.tools"), gemini.tools)
  end)

  describe("built-in tools", function()
    it("send googleSearch, googleMaps, codeExecution and urlContext as empty objects", function()
      local _, e = send{ tools = { T.google_search(), T.google_maps(), T.code_execution(), T.url_context() } }
      has(e.body, '"tools":[{"googleSearch":{}},{"googleMaps":{}},{"codeExecution":{}},{"urlContext":{}}]')
    end)

    it("google_maps takes enable_widget", function()
      local _, e = send{ tools = { T.google_maps{ enable_widget = true } } }
      has(e.body, '"tools":[{"googleMaps":{"enableWidget":true}}]')
    end)

    it("google_search takes a time range filter", function()
      local _, e = send{ tools = { T.google_search{ time_range_filter = {
        start_time = "2024-01-01T00:00:00Z", end_time = "2024-12-31T00:00:00Z" } } } }
      assert.same({ startTime = "2024-01-01T00:00:00Z", endTime = "2024-12-31T00:00:00Z" },
        e.json.tools[1].googleSearch.timeRangeFilter)
    end)

    it("reject unknown options and wrong types at build time", function()
      assert.has_error(function() T.google_maps{ enable_widgets = true } end,
        "bad field 'enable_widgets' to 'tools.google_maps' (unknown option; known: enable_widget)")
      assert.has_error(function() T.google_maps{ enable_widget = "yes" } end,
        "bad field 'enable_widget' to 'tools.google_maps' (boolean expected, got string)")
      assert.has_error(function() T.google_search("x") end,
        "bad argument #1 to 'tools.google_search' (table expected, got string)")
      assert.has_error(function() T.google_search{ time_range_filter = { start = "x" } } end,
        "bad field 'time_range_filter.start' to 'tools.google_search' (start_time and end_time, RFC 3339"
        .. " strings, expected)")
    end)
  end)

  describe("functions", function()
    local weather = S.object({ { "city", S.string{ description = "city name" } },
                               { "unit", S.string{ enum = { "C", "F" } } } },
                             { required = { "city" } })

    it("sends functionDeclarations with parameters and parametersJsonSchema", function()
      local raw = { type = "object", properties = { a = { type = "integer" }, b = { type = "integer" } },
                    required = { "a", "b" }, additionalProperties = false }
      local _, e = send{ tools = { T.functions{
        { name = "get_weather", description = "Weather for a city", parameters = weather },
        { name = "add", description = "Add two ints", parameters_json_schema = raw },
      } } }
      local decls = e.json.tools[1].functionDeclarations
      assert.equal(2, #decls)
      assert.same({ name = "get_weather", description = "Weather for a city", parameters = {
        type = "OBJECT", properties = { city = { type = "STRING", description = "city name" },
                                        unit = { type = "STRING", enum = { "C", "F" } } },
        required = { "city" }, propertyOrdering = { "city", "unit" } } }, decls[1])
      assert.same({ name = "add", description = "Add two ints", parametersJsonSchema = raw }, decls[2])
      -- raw JSON Schema stays verbatim: no camelCase rewriting, no upper-casing
      has(e.body, '"additionalProperties":false')
      assert.is_nil(e.body:find("handler", 1, true))
    end)

    it("keeps each handler on its declaration, hands them back through tools.handlers"
      .. " and sends none", function()
      local function h1() return { ok = true } end
      local function h2() return {} end
      local tool = T.functions{
        { name = "one", parameters = weather, handler = h1 },
        { name = "two", handler = h2 },
        { name = "three" },
      }
      assert.equal(h1, tool.functionDeclarations[1].handler)
      local hs = T.handlers{ T.google_search(), tool }
      assert.equal(h1, hs.one)
      assert.equal(h2, hs.two)
      assert.is_nil(hs.three)
      assert.is_nil(T.handlers{ T.functions{ { name = "x" } } })
      assert.is_nil(T.handlers(nil))
      assert.is_nil(T.handlers{ { functionDeclarations = { { name = "raw" } } } })
      -- the request leaves the handlers out; the caller's tool keeps them
      local _, e = send{ tools = { T.google_search(), tool } }
      assert.same({ { name = "one", parameters = e.json.tools[2].functionDeclarations[1].parameters },
                    { name = "two" }, { name = "three" } }, e.json.tools[2].functionDeclarations)
      assert.is_nil(e.body:find("handler", 1, true))
      assert.equal(h2, tool.functionDeclarations[2].handler)
      assert.equal(h1, T.handlers{ tool }.one)
    end)

    it("finds the handlers of copied tools and of hand-written declarations", function()
      local function h() return 1 end
      local tool = T.functions{ { name = "one", handler = h }, { name = "two" } }
      local copy = {}
      for k, v in pairs(tool) do copy[k] = v end
      local decls = {}
      for i, d in ipairs(tool.functionDeclarations) do
        decls[i] = {}
        for k, v in pairs(d) do decls[i][k] = v end
      end
      for _, t in ipairs({ copy, { functionDeclarations = tool.functionDeclarations },
                           { function_declarations = tool.functionDeclarations },
                           { functionDeclarations = decls },
                           { function_declarations = { { name = "one", handler = h } } } }) do
        assert.equal(h, T.handlers{ t }.one)
        local _, e = send{ tools = { t } }
        assert.equal("one", e.json.tools[1].functionDeclarations[1].name)
        assert.is_nil(e.body:find("handler", 1, true))
      end
    end)

    it("leaves the handlers out of count_tokens and caches:create too", function()
      local tool = T.functions{ { name = "one", handler = function() end } }
      assert(client.models:count_tokens{ model = "gemini-2.5-flash", contents = "Hi",
                                         config = { tools = { tool } } })
      assert.same({ { functionDeclarations = { { name = "one" } } } }, m:last().json.generateContentRequest.tools)
      assert(client.caches:create{ model = "gemini-2.5-flash", config = { contents = "Hi", tools = { tool } } })
      assert.same({ { functionDeclarations = { { name = "one" } } } }, m:last().json.tools)
    end)

    it("rejects bad declarations naming the field", function()
      assert.has_error(function() T.functions{} end,
        "bad argument #1 to 'tools.functions' (non-empty list of function declarations expected, got an"
        .. " empty table or a map)")
      assert.has_error(function() T.functions{ name = "f" } end,
        "bad argument #1 to 'tools.functions' (non-empty list of function declarations expected, got an"
        .. " empty table or a map)")
      assert.has_error(function() T.functions{ { name = "f" }, extra = true } end,
        "bad argument #1 to 'tools.functions' (a list of function declarations expected, got a table with"
        .. " other keys: write tools.functions{ {name = ...}, ... })")
      assert.has_error(function() T.functions{ { description = "no name" } } end,
        "bad field '[1].name' to 'tools.functions' (string expected, got no value)")
      assert.has_error(function() T.functions{ { name = "has space" } } end,
        "bad field '[1].name' to 'tools.functions' (\"has space\": 1 to 64 characters of a-z, A-Z, 0-9, _ : . - expected)")
      assert.has_error(function() T.functions{ { name = string.rep("a", 65) } } end,
        "bad field '[1].name' to 'tools.functions' (\"" .. string.rep("a", 65)
        .. "\": 1 to 64 characters of a-z, A-Z, 0-9, _ : . - expected)")
      assert.has_no_error(function() T.functions{ { name = string.rep("a", 64) } } end)
      assert.has_no_error(function() T.functions{ { name = "ns:tool.v1-x_y" } } end)
      assert.has_error(function() T.functions{ { name = "f" }, { name = "f" } } end,
        "bad field '[2].name' to 'tools.functions' (duplicate name \"f\")")
      assert.has_error(function() T.functions{ { name = "f", handler = "not a function" } } end,
        "bad field '[1].handler' to 'tools.functions' (function expected, got string)")
      assert.has_error(function() T.functions{ { name = "f", params = {} } } end,
        "bad field '[1].params' to 'tools.functions' (unknown field; known: name, description, parameters,"
        .. " parameters_json_schema, response, response_json_schema, behavior, handler)")
      assert.has_error(function() T.functions{ { name = "f", parameters = weather,
        parameters_json_schema = {} } } end,
        "bad field '[1]' to 'tools.functions' (f: give parameters or parameters_json_schema, not both)")
      assert.has_error(function() T.functions{ { name = "f", parameters = S.string() } } end,
        "bad field '[1].parameters' to 'tools.functions' (f: an OBJECT schema expected, e.g."
        .. " gemini.schema.object{...}; got type STRING)")
    end)

    it("gets a function call with a thoughtSignature from the mock, args from the schema", function()
      local res = send({ tools = { T.functions{ { name = "get_weather", parameters = weather } } } },
        "What is the weather in Paris?", "gemini-3-flash-preview")
      local calls = res.function_calls
      assert.equal(1, #calls)
      assert.equal("get_weather", calls[1].name)
      assert.same({ city = "Paris", unit = "C" }, calls[1].args)
      local part = res.candidates[1].content.parts[1]
      assert.is_string(part.thoughtSignature)
      assert.equal("STOP", res.candidates[1].finishReason)
    end)

    it("gets parallel calls for a prompt asking for both", function()
      local res = send({ tools = { T.functions{
        { name = "get_weather", parameters = weather },
        { name = "get_time", parameters_json_schema = { type = "object",
            properties = { tz = { type = "string", enum = { "UTC", "CET" } } } } },
      } } }, "Weather and time in both places, please")
      local calls = res.function_calls
      assert.equal(2, #calls)
      assert.equal("get_weather", calls[1].name)
      assert.equal("get_time", calls[2].name)
      assert.same({ tz = "UTC" }, calls[2].args)
    end)

    it("gets a text answer quoting the function response", function()
      local res = send({ tools = { T.functions{ { name = "get_weather", parameters = weather } } } }, {
        { role = "user", parts = { { text = "Weather in Paris?" } } },
        { role = "model", parts = { { functionCall = { name = "get_weather", args = { city = "Paris" } } } } },
        { role = "user", parts = { gemini.parts.function_response("get_weather", { result = { temp_c = 21 } }) } },
      })
      assert.is_nil(res.function_calls)
      assert.matches('get_weather returned {"result":{"temp_c":21}}', res.text, 1, true)
    end)
  end)

  describe("tool_config", function()
    it("sends the function-calling modes", function()
      local _, e = send{ tool_config = T.tool_config{ mode = "any", allowed_function_names = { "a", "b" } } }
      assert.same({ functionCallingConfig = { mode = "ANY", allowedFunctionNames = { "a", "b" } } },
        e.json.toolConfig)
      for _, mode in ipairs{ "AUTO", "NONE", "VALIDATED" } do
        _, e = send{ tool_config = T.tool_config{ mode = mode } }
        assert.same({ functionCallingConfig = { mode = mode } }, e.json.toolConfig)
      end
      _, e = send{ tool_config = T.tool_config{ mode = "VALIDATED", allowed_function_names = { "x" } } }
      assert.same({ "x" }, e.json.toolConfig.functionCallingConfig.allowedFunctionNames)
    end)

    it("sends an empty tool config as {}", function()
      local _, e = send{ tool_config = T.tool_config{} }
      has(e.body, '"toolConfig":{}')
      _, e = send{ tool_config = T.tool_config() }
      has(e.body, '"toolConfig":{}')
    end)

    it("sends a retrieval config (where Maps grounding searches from)", function()
      local _, e = send{ tools = { T.google_maps() }, tool_config = T.tool_config{
        retrieval_config = { lat_lng = { latitude = 48.85, longitude = 2.35 }, language_code = "fr" } } }
      assert.same({ retrievalConfig = { latLng = { latitude = 48.85, longitude = 2.35 }, languageCode = "fr" } },
        e.json.toolConfig)
    end)

    it("rejects bad modes and allowed names without ANY/VALIDATED", function()
      assert.has_error(function() T.tool_config{ mode = "SOMETIMES" } end,
        "bad field 'mode' to 'tools.tool_config' (AUTO, ANY, NONE or VALIDATED expected, got \"SOMETIMES\")")
      assert.has_error(function() T.tool_config{ mode = "AUTO", allowed_function_names = { "a" } } end,
        "bad field 'allowed_function_names' to 'tools.tool_config' (only with mode ANY or VALIDATED, got mode AUTO)")
      assert.has_error(function() T.tool_config{ allowed_function_names = { "a" } } end,
        "bad field 'allowed_function_names' to 'tools.tool_config' (only with mode ANY or VALIDATED, got"
        .. " mode nil)")
      assert.has_error(function() T.tool_config{ mode = "ANY", allowed_function_names = {} } end,
        "bad field 'allowed_function_names' to 'tools.tool_config' (non-empty list of names expected)")
      assert.has_error(function() T.tool_config{ mode = "ANY", allowed_function_names = { 1 } } end,
        "bad field 'allowed_function_names[1]' to 'tools.tool_config' (function name expected, got number)")
      assert.has_error(function() T.tool_config{ modes = "ANY" } end,
        "bad field 'modes' to 'tools.tool_config' (unknown option; known: allowed_function_names, mode,"
        .. " retrieval_config)")
      assert.has_error(function() T.tool_config{ retrieval_config = { lat_lng = { latitude = "x" } } } end,
        "bad field 'retrieval_config.lat_lng' to 'tools.tool_config' ({latitude = number, longitude ="
        .. " number} expected)")
    end)

    it("mode NONE keeps the mock from calling", function()
      local res = send({ tools = { T.functions{ { name = "f" } } }, tool_config = T.tool_config{ mode = "NONE" } },
        "call f")
      assert.is_nil(res.function_calls)
      assert.truthy(res.text)
    end)

    it("allowed names pick the function the mock calls", function()
      local res = send({ tools = { T.functions{ { name = "f" }, { name = "g" } } },
        tool_config = T.tool_config{ mode = "ANY", allowed_function_names = { "g" } } })
      assert.equal("g", res.function_calls[1].name)
    end)
  end)

  describe("grounding and code execution answers", function()
    it("google_search gives groundingMetadata whose segments are byte offsets into the text", function()
      local res = send({ tools = { T.google_search() } }, "Who won the euro 2024?")
      local gm = res.candidates[1].groundingMetadata
      assert.same({ "Who won the euro 2024?" }, gm.webSearchQueries)
      assert.is_string(gm.groundingChunks[1].web.uri)
      assert.is_string(gm.groundingChunks[1].web.title)
      local text = res.text
      assert.truthy(#gm.groundingSupports >= 2)
      for _, s in ipairs(gm.groundingSupports) do
        local a, b = s.segment.startIndex or 0, s.segment.endIndex
        assert.equal(s.segment.text, text:sub(a + 1, b))
        for _, i in ipairs(s.groundingChunkIndices) do assert.truthy(gm.groundingChunks[i + 1]) end
      end
    end)

    it("google_maps gives maps grounding chunks with place ids", function()
      local res = send({ tools = { T.google_maps{ enable_widget = true } } }, "Coffee near the Louvre")
      local gm = res.candidates[1].groundingMetadata
      assert.is_string(gm.groundingChunks[1].maps.placeId)
      assert.is_string(gm.groundingChunks[1].maps.uri)
      assert.is_string(gm.googleMapsWidgetContextToken)
      local s = gm.groundingSupports[1].segment
      assert.equal(s.text, res.text:sub((s.startIndex or 0) + 1, s.endIndex))
    end)

    it("code_execution gives executableCode and codeExecutionResult parts", function()
      local res = send({ tools = { T.code_execution() } }, "Sum of the first 50 primes?")
      local parts = res.candidates[1].content.parts
      local code, result
      for _, p in ipairs(parts) do
        code = code or p.executableCode
        result = result or p.codeExecutionResult
      end
      assert.equal("PYTHON", code.language)
      assert.matches("print", code.code)
      assert.equal("OUTCOME_OK", result.outcome)
      assert.equal("5117\n", result.output)
      assert.matches("5117", res.text)
    end)

    it("streams a function call whole, with its signature", function()
      local parts = {}
      for chunk in client.models:generate_content_stream{ model = "gemini-3-flash-preview",
        contents = "Weather in Paris?", config = { tools = { T.functions{ { name = "get_weather",
          parameters = S.object({ { "city", S.string() } }) } } } } } do
        for _, p in ipairs(chunk.candidates[1].content.parts) do parts[#parts + 1] = p end
      end
      assert.equal(1, #parts)
      assert.same({ city = "Paris" }, parts[1].functionCall.args)
      assert.is_string(parts[1].thoughtSignature)
    end)
  end)
end)
