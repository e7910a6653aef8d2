-- Request URLs are exactly what they should be: a model name cannot add
-- path segments, escapes, control characters, a query or a fragment; a
-- base URL with a query, a fragment or a control character is refused; a
-- URL that libcurl cannot ever use (port 99999) fails at once and is never
-- retried. Through the real HTTP stack against the mock.
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "urls-key-77a0"
local MODEL = "gemini-2.5-flash"

describe("request URLs", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }

  -- A client whose log lines are kept in `lines`.
  local function client(opts, lines)
    opts = opts or {}
    if lines then opts.log = function(line) lines[#lines + 1] = line end end
    return m:client(opts)
  end

  local function count(lines, pattern)
    local n = 0
    for _, l in ipairs(lines) do
      if l:find(pattern) then n = n + 1 end
    end
    return n
  end

  describe("model names", function()
    it("map to exactly /{version}/{name}:{method}", function()
      local c = client()
      local cases = {
        { "gemini-2.5-flash", "/v1beta/models/gemini-2.5-flash:generateContent" },
        { "models/gemini-2.5-flash", "/v1beta/models/gemini-2.5-flash:generateContent" },
        { "tunedModels/my-model_1", "/v1beta/tunedModels/my-model_1:generateContent" },
      }
      for _, case in ipairs(cases) do
        c.models:generate_content{ model = case[1], contents = "x" }
        assert.equal(case[2], m:last().path)
      end
    end)

    it("that would change the path are refused before anything is sent", function()
      local c = client()
      local bad = { "gemini\0x", "gemini-2.5-flash\0/../files", "%2e%2e/files", "models/%2e%2e",
                    "gemini\1", "gemini\127", "gemini\r\nX-A: b", "a//b", "/x", "models/", "..",
                    "models/../files/x", "a b", "a?b", "a#b", "a:b", "a;b" }
      for _, name in ipairs(bad) do
        for _, call in ipairs({
          function() return c.models:generate_content{ model = name, contents = "x" } end,
          function() return c.models:generate_content_stream{ model = name, contents = "x" } end,
          function() return c.models:get(name) end,
        }) do
          local ok, msg = pcall(call)
          assert.is_false(ok, "accepted " .. string.format("%q", name))
          assert.matches("^.-bad field 'model' to '[%w_]+' %(invalid model name ", msg)
        end
      end
      -- cache names keep the same rule
      for _, name in ipairs({ "cachedContents/%2e%2e", "cachedContents/a\0b", "cachedContents/../x" }) do
        assert.has_error(function() c.caches:get(name) end,
          string.format("bad argument #1 to 'get' (invalid cache name %q)", name))
      end
      assert.equal(0, #m:log())
    end)
  end)

  describe("base_url", function()
    it("with a query, a fragment or a control character is refused", function()
      for _, tail in ipairs({ "/?alt=json", "/p?x=1", "#top", "/p#x" }) do
        assert.has_error(function() client{ base_url = m.url .. tail } end,
          "bad field 'base_url' to 'Client' (a URL without query or fragment expected)")
      end
      for _, tail in ipairs({ "/p\0x", "/p\r\nX: y", "/a b", "/p\1" }) do
        assert.has_error(function() client{ base_url = m.url .. tail } end,
          "bad field 'base_url' to 'Client' (an http:// or https:// URL expected)")
      end
      assert.has_error(function() client{ api_version = "v1beta/../x?" } end,
        "bad field 'api_version' to 'Client' (a version such as \"v1beta\" expected)")
    end)

    it("that libcurl cannot use fails at once, never retried", function()
      local lines = {}
      local c = client({ base_url = "http://127.0.0.1:99999",
                         retry = { attempts = 5, initial_delay = 0.2, jitter = 0 } }, lines)
      local t0 = gemini.core.now()
      local res, err = c.models:generate_content{ model = MODEL, contents = "x" }
      assert.is_nil(res)
      assert.equal("transport", err.kind)
      assert.is_true(err.final)
      assert.equal(1, count(lines, "%(attempt %d+%)"))
      -- a stream too
      local s = c.models:generate_content_stream{ model = MODEL, contents = "x" }
      local chunk, serr = s:next()
      assert.is_nil(chunk)
      assert.equal("transport", serr.kind)
      assert.is_true(serr.final)
      assert.equal(1, count(lines, "%(stream%)"))
      assert.equal(0, count(lines, "retrying"))
      assert.is_true(gemini.core.now() - t0 < 0.2)
    end)
  end)
end)
