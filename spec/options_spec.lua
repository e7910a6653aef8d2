-- Client options and per-call options are checked when they are given:
-- an API key or header that would inject another header line, timeouts
-- that are not positive and finite, sizes that are not positive integers,
-- retry fields of the wrong type. Nothing reaches the server in these
-- cases; values that are valid but huge work (the C core clamps them
-- rather than overflow). Through the real HTTP stack against the mock.
local core = require("gemini.core")
local mock = require("support.mock")

local KEY = "options-key-9c1e"
local MODEL = "gemini-2.5-flash"
local REQ = { model = MODEL, contents = "options" }

describe("options", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }

  local function client(opts) return m:client(opts) end

  -- The message of what fn raises (it must raise).
  local function raised(fn)
    local ok, msg = pcall(fn)
    assert.is_false(ok, "no error was raised")
    return (tostring(msg):gsub("^[^:]*:%d+: ", ""))
  end

  describe("header injection", function()
    it("refuses an api_key holding CR, LF or NUL, with either auth", function()
      for _, auth in ipairs({ "header", "bearer" }) do
        for _, tail in ipairs({ "\r\nX-Injected: yes", "\nX-Injected: yes", "\0X-Injected: yes" }) do
          assert.has_error(function()
            client{ api_key = KEY .. tail, auth = auth }.models:generate_content(REQ)
          end, "bad field 'api_key' to 'Client' (a non-empty key without line breaks or NUL expected)")
        end
      end
      assert.equal(0, #m:log())
    end)

    it("refuses a header name or value that would break the line, at Client{} and at the call", function()
      assert.has_error(function() client{ headers = { ["X-A"] = "a\0b" } } end,
        "bad field 'headers' to 'Client' (header 'X-A': a string without line breaks or NUL expected)")
      assert.has_error(function() client{ headers = { ["X-A\0X-B"] = "v" } } end,
        -- %q writes NUL as \000 on Lua 5.1, as \0 elsewhere
        "bad field 'headers' to 'Client' (header name " .. string.format("%q", "X-A\0X-B")
          .. ": a token without ':' or spaces expected)")
      local c = client()
      for _, v in ipairs({ "a\0X-Injected: yes", "a\r\nX-Injected: yes" }) do
        assert.has_error(function()
          c.models:generate_content{ model = MODEL, contents = "x",
            config = { http_options = { headers = { ["X-A"] = v } } } }
        end, "bad field 'http_options.headers' to 'generate_content' (header 'X-A': a string"
          .. " without line breaks or NUL expected)")
      end
      assert.equal(0, #m:log())
    end)

    it("still sends a clean key and headers, and none with api_key = false", function()
      assert(client{ headers = { ["X-Team"] = "lua" } }.models:generate_content(REQ))
      local e = m:last()
      assert.equal(KEY, e.headers["x-goog-api-key"])
      assert.equal("lua", e.headers["x-team"])
      local _, err = client{ api_key = false }.models:generate_content(REQ)
      assert.equal(401, err.code)
      assert.is_nil(m:last().headers["x-goog-api-key"])
    end)
  end)

  describe("checked when the client is made", function()
    it("timeouts: positive and finite seconds", function()
      for _, k in ipairs({ "timeout", "connect_timeout", "stall_timeout" }) do
        for _, v in ipairs({ 0, -1, math.huge, -math.huge }) do
          assert.has_error(function() client{ [k] = v } end, string.format(
            "bad field '%s' to 'Client' (a positive finite number of seconds expected, got %s)",
            k, tostring(v)))
        end
        assert.matches("^bad field '" .. k .. "' to 'Client' %(a positive finite number of seconds"
          .. " expected, got %-?nan%)$", raised(function() client{ [k] = 0 / 0 } end))
      end
    end)

    it("sizes: positive integers", function()
      for _, k in ipairs({ "max_response_size", "max_event_size" }) do
        for _, v in ipairs({ 0, -1, 1.5, math.huge }) do
          assert.has_error(function() client{ [k] = v } end, string.format(
            "bad field '%s' to 'Client' (a positive integer expected, got %s)", k, tostring(v)))
        end
        assert.matches("a positive integer expected, got %-?nan", raised(function() client{ [k] = 0 / 0 } end))
      end
    end)

    it("retry: each field of its type, no unknown field", function()
      local cases = {
        { { attempts = "3" }, "bad field 'retry.attempts' to 'Client' (a positive integer expected, got string)" },
        { { attempts = 0 }, "bad field 'retry.attempts' to 'Client' (a positive integer expected, got 0)" },
        { { initial_delay = -1 }, "bad field 'retry.initial_delay' to 'Client' (a finite number of seconds >= 0 expected, got -1)" },
        { { max_delay = math.huge }, "bad field 'retry.max_delay' to 'Client' (a finite number of seconds >= 0 expected, got inf)" },
        { { jitter = "1" }, "bad field 'retry.jitter' to 'Client' (a finite number of seconds >= 0 expected, got string)" },
        { { exp_base = 0.5 }, "bad field 'retry.exp_base' to 'Client' (a finite number >= 1 expected, got 0.5)" },
        { { http_status_codes = { "429" } }, "bad field 'retry.http_status_codes' to 'Client' (a list of HTTP status codes expected, got table)" },
        { { attempt = 3 }, "bad field 'retry.attempt' to 'Client' (unknown field; known: attempts, initial_delay, max_delay, exp_base, jitter, http_status_codes)" },
      }
      for _, case in ipairs(cases) do
        assert.has_error(function() client{ retry = case[1] } end, case[2])
      end
      assert.truthy(client{ retry = true })
      assert.truthy(client{ retry = false })
    end)

    it("api_key: a string, or false to send none", function()
      assert.has_error(function() client{ api_key = true } end,
        "bad field 'api_key' to 'Client' (a string expected, or false to send none)")
      assert.has_error(function() client{ api_key = "  " } end,
        "bad field 'api_key' to 'Client' (a non-empty key without line breaks or NUL expected)")
    end)

    it("huge but finite values work: the C core clamps them instead of overflowing", function()
      local c = client{ timeout = 1e300, connect_timeout = 1e300, stall_timeout = 1e300,
                        max_response_size = 2 ^ 52, max_event_size = 2 ^ 52 }
      assert(c.models:generate_content(REQ))
      local n = 0
      for _ in c.models:generate_content_stream(REQ) do n = n + 1 end
      assert.is_true(n > 0)
      assert(c.models:generate_content{ model = MODEL, contents = "x",
        config = { http_options = { timeout = 1e300 } } })
      assert.equal(3, #m:log())
    end)

    local ok_uv, uv = pcall(require, "luv")
    local it_uv = ok_uv and it or pending
    it_uv("huge but finite values work on an event loop too", function()
      local c = client{ timeout = 1e300, stall_timeout = 1e300, loop = uv }
      local got, chunks, stream_err = nil, 0, nil
      c.models:generate_content(REQ, function(err, res) got = { err, res } end)
      c.models:generate_content_stream(REQ, {
        on_chunk = function() chunks = chunks + 1 end,
        on_done = function(err) stream_err = err or false end,
      })
      require("support.loop").run(uv, 10)
      c:close()
      uv.run("nowait")
      assert.is_nil(got[1])
      assert.truthy(got[2].text)
      assert.is_false(stream_err)
      assert.is_true(chunks > 0)
    end)
  end)

  describe("per-call http_options", function()
    it("are checked at the call, streams included, before anything is sent", function()
      local c = client()
      local cases = {
        { { timeout = -1 }, "bad field 'http_options.timeout' to '%s' (a positive finite number of seconds expected, got -1)" },
        { { timeout = math.huge }, "bad field 'http_options.timeout' to '%s' (a positive finite number of seconds expected, got inf)" },
        { { stall_timeout = 0 }, "bad field 'http_options.stall_timeout' to '%s' (a positive finite number of seconds expected, got 0)" },
        { { retry = { attempts = 0 } }, "bad field 'http_options.retry.attempts' to '%s' (a positive integer expected, got 0)" },
        { { timout = 5 }, "bad field 'http_options.timout' to '%s' (unknown field; known: timeout, stall_timeout, headers, retry)" },
      }
      for _, fname in ipairs({ "generate_content", "generate_content_stream", "count_tokens" }) do
        for _, case in ipairs(cases) do
          assert.has_error(function()
            c.models[fname](c.models, { model = MODEL, contents = "x", config = { http_options = case[1] } })
          end, string.format(case[2], fname))
        end
      end
      assert.matches("got %-?nan", raised(function()
        c.models:embed_content{ model = "gemini-embedding-001", contents = "x",
          config = { http_options = { timeout = 0 / 0 } } }
      end))
      assert.equal(0, #m:log())
    end)
  end)

  describe("the C core on its own", function()
    it("refuses NaN and negative numbers and clamps huge ones", function()
      local s = core.session()
      for _, k in ipairs({ "timeout", "connect_timeout", "stall_timeout", "max_body" }) do
        for _, v in ipairs({ 0 / 0, -1 }) do
          assert.has_error(function() s:request{ url = m.url .. "/", [k] = v } end,
            "request option '" .. k .. "' must be a number >= 0")
        end
      end
      local req = s:request{ method = "GET", url = m.url .. "/v1beta/models",
                             headers = { "x-goog-api-key: " .. KEY },
                             timeout = math.huge, connect_timeout = 1e300, stall_timeout = 1e300,
                             max_body = 1e300 }
      req:await("done")
      assert.is_nil(req:error())
      assert.equal(200, req:status())
      req:close()
      s:close()
      core.sleep(0 / 0)
      core.sleep(-math.huge)
    end)
  end)
end)
