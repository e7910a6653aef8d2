-- REST-style request tables: the top-level fields of a REST body
-- (generationConfig, systemInstruction, safetySettings, toolConfig, tools,
-- cachedContent, in either spelling) are taken next to `config`, as a curl
-- body pasted into Lua has them; the same field given both ways, and any
-- key a call does not know, raise naming the key. Through the real HTTP
-- stack against the mock.
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "rest-body-key-41d2"
local MODEL = "gemini-2.5-flash"

describe("REST-style request tables", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  before_each(function()
    client = m:client{ retry = false }
  end)

  local function sent()
    return m:last().json
  end

  it("sends the REST body's top-level fields, merged with config", function()
    local res, err = client.models:generate_content{
      model = MODEL,
      contents = { { parts = { { text = "What is 2+2?" } } } },
      generationConfig = { temperature = 0.5, thinkingConfig = { thinkingBudget = 0 } },
      systemInstruction = { parts = { { text = "You are a math tutor." } } },
      safetySettings = { { category = "HARM_CATEGORY_HARASSMENT", threshold = "BLOCK_ONLY_HIGH" } },
      toolConfig = { functionCallingConfig = { mode = "AUTO" } },
      tools = { { googleSearch = gemini.object() } },
      cachedContent = "cachedContents/abc",
      config = { max_output_tokens = 64 },
    }
    assert.is_nil(err)
    assert.truthy(res.text)
    local b = sent()
    assert.same({ temperature = 0.5, maxOutputTokens = 64, thinkingConfig = { thinkingBudget = 0 } },
      b.generationConfig)
    assert.same({ parts = { { text = "You are a math tutor." } } }, b.systemInstruction)
    assert.same({ { category = "HARM_CATEGORY_HARASSMENT", threshold = "BLOCK_ONLY_HIGH" } },
      b.safetySettings)
    assert.same({ functionCallingConfig = { mode = "AUTO" } }, b.toolConfig)
    assert.same({ { googleSearch = {} } }, b.tools)
    assert.equal("cachedContents/abc", b.cachedContent)
  end)

  it("takes the snake_case spellings at the top level too", function()
    assert(client.models:generate_content{
      model = MODEL, contents = "Hi",
      generation_config = { max_output_tokens = 32 },
      system_instruction = "Answer tersely.",
      tool_config = { function_calling_config = { mode = "NONE" } },
      cached_content = "abc",
    })
    local b = sent()
    assert.same({ maxOutputTokens = 32 }, b.generationConfig)
    assert.same({ parts = { { text = "Answer tersely." } } }, b.systemInstruction)
    assert.same({ functionCallingConfig = { mode = "NONE" } }, b.toolConfig)
    assert.equal("cachedContents/abc", b.cachedContent)
  end)

  it("takes them in generate_content_stream and count_tokens", function()
    local n = 0
    for _ in client.models:generate_content_stream{ model = MODEL, contents = "Hi",
      generationConfig = { temperature = 0.1 }, systemInstruction = "Be brief." } do
      n = n + 1
    end
    assert.is_true(n > 0)
    local b = sent()
    assert.equal(0.1, b.generationConfig.temperature)
    assert.same({ parts = { { text = "Be brief." } } }, b.systemInstruction)

    assert(client.models:count_tokens{ model = MODEL, contents = "one two",
      systemInstruction = "Be brief." })
    b = sent()
    assert.same({ parts = { { text = "Be brief." } } },
      b.generateContentRequest.systemInstruction)
  end)

  it("runs automatic function calling for handlers in a top-level tools list", function()
    local called
    local tools = { gemini.tools.functions{
      { name = "get_weather", description = "Weather of a city",
        parameters = { type = "OBJECT", properties = { city = { type = "STRING" } } },
        handler = function(args) called = args.city; return { temp_c = 21 } end },
    } }
    local res = assert(client.models:generate_content{ model = MODEL,
      contents = "Weather in Paris?", tools = tools })
    assert.equal("Paris", called)
    assert.truthy(res.text)
    assert.equal(2, #m:log())
  end)

  it("raises when one field is given both at the top level and in config", function()
    assert.has_error(function()
      client.models:generate_content{ model = MODEL, contents = "Hi",
        systemInstruction = "a", config = { system_instruction = "b" } }
    end, "bad field 'systemInstruction' to 'generate_content' (given both at the top level"
      .. " and in config as 'system_instruction')")
    assert.has_error(function()
      client.models:generate_content_stream{ model = MODEL, contents = "Hi",
        tools = {}, config = { tools = {} } }
    end, "bad field 'tools' to 'generate_content_stream' (given both at the top level and in"
      .. " config as 'tools')")
    -- A generation field, flat in config and inside generationConfig.
    -- The message is the same whatever pairs' order (tables of other sizes
    -- and insertion orders walk their keys in other orders).
    for n = 0, 12 do
      local config, req = {}, { model = MODEL, contents = "Hi" }
      for i = 1, n do config["x" .. i] = i end
      if n % 2 == 0 then
        config.temperature, req.generationConfig = 1, { temperature = 0 }
      else
        req.generationConfig, config.temperature = { temperature = 0 }, 1
      end
      req.config = config
      assert.has_error(function() client.models:generate_content(req) end, "bad field 'temperature' to"
        .. " 'generate_content' (given twice: as config.temperature and as generationConfig.temperature)")
      -- Both spellings at the top level.
      req = { model = MODEL, contents = "Hi" }
      if n % 2 == 0 then
        req.generationConfig, req.generation_config = {}, {}
      else
        req.generation_config, req.generationConfig = {}, {}
      end
      assert.has_error(function() client.models:generate_content(req) end, "bad field 'generationConfig'"
        .. " to 'generate_content' (given twice: as 'generationConfig' and as 'generation_config')")
    end
    assert.equal(0, #m:log())
  end)

  it("raises naming any top-level key a call does not know", function()
    local GEN = "known: model, contents, config, generationConfig, systemInstruction,"
      .. " safetySettings, tools, toolConfig, cachedContent, serviceTier, labels)"
    for _, fname in ipairs({ "generate_content", "generate_content_stream", "count_tokens" }) do
      assert.has_error(function()
        client.models[fname](client.models, { model = MODEL, contents = "Hi", confg = { temperature = 0 } })
      end, "bad field 'confg' to '" .. fname .. "' (unknown field; " .. GEN)
    end
    assert.has_error(function()
      client.models:embed_content{ model = "gemini-embedding-001", contents = "Hi",
        taskType = "RETRIEVAL_QUERY" }
    end, "bad field 'taskType' to 'embed_content' (unknown field; known: model, contents, config)")
    assert.has_error(function()
      client.chats:create{ model = MODEL, histroy = {} }
    end, "bad field 'histroy' to 'create' (unknown field; known: model, config, history)")
    assert.has_error(function()
      client.models:generate_content{ model = MODEL, contents = "Hi", http_options = { timeout = 5 } }
    end, "bad field 'http_options' to 'generate_content' (unknown field; per-call options go in"
      .. " config.http_options)")
    assert.has_error(function()
      client.models:generate_content_all{ { model = MODEL, contents = "Hi", confg = {} } }
    end, "generate_content_all: requests[1]: bad field 'confg' to 'generate_content_all'"
      .. " (unknown field; " .. GEN)
    assert.equal(0, #m:log())
  end)
end)
