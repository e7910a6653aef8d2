-- gemini.thinking through the real HTTP stack against the mock: the
-- builders' JSON on the wire, the model/knob check before any request,
-- thought summaries (res.thoughts) and usageMetadata.thoughtsTokenCount.
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "test-key-thinking-41b8"
local TH = gemini.thinking

describe("gemini.thinking", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  before_each(function()
    client = m:client{ retry = false }
  end)

  local function gen(model, config, c)
    return (c or client).models:generate_content{ model = model, contents = "Why is the sky blue?",
                                                  config = config }
  end

  describe("level", function()
    it("builds thinkingLevel from any case, with include_thoughts", function()
      assert.same({ thinkingLevel = "LOW" }, TH.level("LOW"))
      assert.same({ thinkingLevel = "MINIMAL" }, TH.level("minimal"))
      assert.same({ thinkingLevel = "MEDIUM" }, TH.level("Medium"))
      assert.same({ thinkingLevel = "HIGH", includeThoughts = true }, TH.level("high", { include_thoughts = true }))
      assert.same({ thinkingLevel = "HIGH", includeThoughts = false }, TH.level("HIGH", { includeThoughts = false }))
    end)

    it("rejects anything else", function()
      assert.has_error(function() TH.level("ULTRA") end,
        "bad argument #1 to 'thinking.level' (MINIMAL, LOW, MEDIUM or HIGH expected, got \"ULTRA\")")
      assert.has_error(function() TH.level(2) end,
        "bad argument #1 to 'thinking.level' (MINIMAL, LOW, MEDIUM or HIGH expected, got number)")
      assert.has_error(function() TH.level() end,
        "bad argument #1 to 'thinking.level' (MINIMAL, LOW, MEDIUM or HIGH expected, got no value)")
      assert.has_error(function() TH.level("LOW", { include_thought = true }) end,
        "bad field 'include_thought' to 'thinking.level' (unknown option; known: include_thoughts)")
      assert.has_error(function() TH.level("LOW", { include_thoughts = "yes" }) end,
        "bad field 'include_thoughts' to 'thinking.level' (boolean expected, got string)")
      assert.has_error(function() TH.level("LOW", true) end,
        "bad argument #2 to 'thinking.level' (table expected, got boolean)")
    end)

    it("reaches the wire inside generationConfig", function()
      assert(gen("gemini-3-pro-preview", { thinking_config = TH.level("low", { include_thoughts = true }) }))
      assert.same({ thinkingLevel = "LOW", includeThoughts = true }, m:last().json.generationConfig.thinkingConfig)
    end)
  end)

  describe("budget", function()
    it("builds thinkingBudget: 0 off, -1 dynamic, include_thoughts", function()
      assert.same({ thinkingBudget = 0 }, TH.budget(0))
      assert.same({ thinkingBudget = -1 }, TH.budget(-1))
      assert.same({ thinkingBudget = 1024, includeThoughts = true }, TH.budget(1024, { include_thoughts = true }))
    end)

    it("rejects what is not an integer >= -1", function()
      assert.has_error(function() TH.budget(-2) end,
        "bad argument #1 to 'thinking.budget' (integer >= -1 expected: 0 turns thinking off, -1 is dynamic; got -2)")
      assert.has_error(function() TH.budget(1.5) end,
        "bad argument #1 to 'thinking.budget' (integer >= -1 expected: 0 turns thinking off, -1 is dynamic;"
        .. " got 1.5)")
      assert.has_error(function() TH.budget("1024") end,
        "bad argument #1 to 'thinking.budget' (integer >= -1 expected: 0 turns thinking off, -1 is dynamic;"
        .. " got string)")
      assert.has_error(function() TH.budget(math.huge) end,
        "bad argument #1 to 'thinking.budget' (integer >= -1 expected: 0 turns thinking off, -1 is dynamic;"
        .. " got inf)")
      assert.error_matches(function() TH.budget(0 / 0) end,   -- "nan" or "-nan", by the C library
        "^bad argument #1 to 'thinking.budget' %(integer >= %-1 expected: 0 turns thinking off, %-1 is"
        .. " dynamic;"
        .. " got %-?nan%)$")
      assert.has_error(function() TH.budget(10, { include_thoughts = 1 }) end,
        "bad field 'include_thoughts' to 'thinking.budget' (boolean expected, got number)")
    end)

    it("reaches the wire as an integer", function()
      assert(gen("gemini-2.5-flash", { thinking_config = TH.budget(2048.0) }))
      local e = m:last()
      assert.truthy(e.body:find('"thinkingConfig":{"thinkingBudget":2048}', 1, true), e.body)
    end)
  end)

  describe("the model check", function()
    it("refuses a level for a Gemini 2.x model before any request", function()
      for _, config in ipairs{
        { thinking_config = TH.level("LOW") },
        { thinkingConfig = { thinkingLevel = "LOW" } },
        { generation_config = { thinking_config = { thinking_level = "HIGH" } } },
        { generationConfig = { thinkingConfig = { thinking_level = "HIGH" } } },
      } do
        assert.has_error(function() gen("gemini-2.5-flash", config) end,
          "thinking_level is for Gemini 3 models; use thinking_budget (gemini.thinking.budget) with"
          .. " gemini-2.5-flash (client option check_thinking = false skips this check)")
      end
      assert.has_error(function() gen("models/gemini-2.0-flash", { thinking_config = TH.level("LOW") }) end,
        "thinking_level is for Gemini 3 models; use thinking_budget (gemini.thinking.budget) with"
        .. " gemini-2.0-flash (client option check_thinking = false skips this check)")
      assert.equal(0, #m:log())
    end)

    it("refuses a budget for a Gemini 3 model before any request", function()
      local ok, err = pcall(gen, "gemini-3-pro-preview", { thinking_config = TH.budget(1024) })
      assert.is_false(ok)
      assert.matches("thinking_budget is for Gemini 2.5 models; use thinking_level (gemini.thinking.level)"
        .. " with gemini-3-pro-preview", err, 1, true)
      assert.has_error(function()
        client.models:generate_content_stream{ model = "gemini-3.1-pro-preview", contents = "x",
          config = { thinking_config = { thinking_budget = 0 } } }
      end, "thinking_budget is for Gemini 2.5 models; use thinking_level (gemini.thinking.level) with"
        .. " gemini-3.1-pro-preview (client option check_thinking = false skips this check)")
      assert.equal(0, #m:log())
    end)

    it("passes the right knob for each generation, and unknown families", function()
      assert(gen("gemini-2.5-flash", { thinking_config = TH.budget(0) }))
      assert(gen("gemini-3-flash-preview", { thinking_config = TH.level("MINIMAL") }))
      assert(gen("mock-thinker", { thinking_config = TH.level("LOW") }))
      assert(gen("mock-thinker", { thinking_config = TH.budget(10) }))
      assert.equal(4, #m:log())
    end)

    it("is off with check_thinking = false: the server's 400 comes back as an error value", function()
      local c = gemini.Client{ api_key = KEY, base_url = m.url, retry = false, check_thinking = false }
      local res, err = gen("gemini-2.5-flash", { thinking_config = TH.level("LOW") }, c)
      assert.is_nil(res)
      assert.equal("api", err.kind)
      assert.equal(400, err.code)
      assert.equal("INVALID_ARGUMENT", err.status)
      assert.equal("Thinking level is not supported for this model.", err.message)
      assert.equal(1, #m:log())
      -- a budget to Gemini 3 is accepted by the server
      assert(gen("gemini-3-pro-preview", { thinking_config = TH.budget(128) }, c))
    end)

    it("checks the function directly too", function()
      assert.has_no_error(function() TH.check("models/gemini-2.5-pro", { thinking_config = TH.budget(-1) }) end)
      assert.has_no_error(function() TH.check("models/gemini-2.5-pro", nil) end)
      assert.has_no_error(function() TH.check("tunedModels/x", { thinking_config = TH.level("LOW") }) end)
      assert.has_no_error(function() TH.check("gemini-2.5-pro", { thinking_config = TH.level("LOW") }, false) end)
      assert.has_error(function() TH.check("gemini-2.5-pro", { thinking_config = TH.level("LOW") }, true) end,
        "thinking_level is for Gemini 3 models; use thinking_budget (gemini.thinking.budget) with"
        .. " gemini-2.5-pro (client option check_thinking = false skips this check)")
      assert.equal(2, TH.generation("models/gemini-2.5-flash-lite"))
      assert.equal(3, TH.generation("gemini-3.1-pro-preview"))
      assert.is_nil(TH.generation("gemini-embedding-001"))
      assert.is_nil(TH.generation("gemma-3-27b-it"))
    end)
  end)

  describe("answers", function()
    it("give thought summaries in res.thoughts, apart from res.text, and count thought tokens", function()
      local res = assert(gen("gemini-2.5-flash", { thinking_config = TH.budget(-1, { include_thoughts = true }) }))
      assert.is_string(res.thoughts)
      assert.is_string(res.text)
      assert.is_nil(res.text:find(res.thoughts, 1, true))
      assert.is_true(res.candidates[1].content.parts[1].thought)
      local u = res.usageMetadata
      assert.truthy(u.thoughtsTokenCount > 0)
      assert.equal(u.promptTokenCount + u.candidatesTokenCount + u.thoughtsTokenCount, u.totalTokenCount)
    end)

    it("count thought tokens without summaries, and none with budget 0", function()
      local res = assert(gen("gemini-3-flash-preview", { thinking_config = TH.level("LOW") }))
      assert.is_nil(res.thoughts)
      assert.truthy(res.usageMetadata.thoughtsTokenCount > 0)
      -- Gemini 3 signs its answer
      assert.is_string(res.candidates[1].content.parts[1].thoughtSignature)
      res = assert(gen("gemini-2.5-flash", { thinking_config = TH.budget(0) }))
      assert.is_nil(res.usageMetadata.thoughtsTokenCount)
    end)

    it("stream thoughts first, then the text, and merge both", function()
      local s = client.models:generate_content_stream{ model = "gemini-3-flash-preview",
        contents = "Hello", config = { thinking_config = TH.level("HIGH", { include_thoughts = true }) } }
      local seen_thought, text_after_thought, sig_chunk = false, false, false
      for chunk in s do
        if chunk.thoughts then
          assert.is_false(text_after_thought)
          seen_thought = true
        end
        if chunk.text and chunk.text ~= "" then text_after_thought = seen_thought end
        local p = chunk.candidates[1].content.parts[1]
        if p.thoughtSignature then sig_chunk = true end
      end
      assert.is_true(seen_thought and text_after_thought and sig_chunk)
      local r = s.response
      assert.matches("Planning the answer", r.thoughts)
      assert.matches("You asked: \"Hello\"", r.text, 1, true)
      assert.truthy(r.usageMetadata.thoughtsTokenCount > 0)
    end)
  end)
end)
