-- Secrets: the API key never shows in an error, a debug log line, a URL or
-- a raised error. Two parts:
--   1. a representative set of calls (success, API errors, transport
--      errors, timeouts, stream errors, retries, header and bearer auth),
--      several of them with servers that echo the key back, with a log
--      callback; every string they produce is searched for the key;
--   2. the other spec files of the suite, run again in a child busted under
--      spec/support/secret_audit.lua, which gives every client a log
--      callback and searches every log line, gemini.Error, raised error
--      and request URL of the whole run for the key of any client.
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "secret-spec-KEY-Zq81xT"
local MODEL = "gemini-2.5-flash"
local REQ = { model = MODEL, contents = "Hello" }

local function has_key(s)
  return type(s) == "string" and s:find(KEY, 1, true) ~= nil
end

describe("the API key", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local lines, seen

  before_each(function()
    lines, seen = {}, {}
  end)

  local function client(opts)
    opts = opts or {}
    opts.log = function(line) lines[#lines + 1] = line end
    if opts.retry == nil then
      opts.retry = { attempts = 3, initial_delay = 0.01, max_delay = 0.05, jitter = 0 }
    end
    return m:client(opts)
  end

  -- Everything a caller may print about an error.
  local function keep(err)
    if err == nil then return end
    seen[#seen + 1] = tostring(err)
    if type(err) == "table" then
      seen[#seen + 1] = tostring(err.message)
      seen[#seen + 1] = require("gemini.json").encode_verbatim(err.details or {})
    end
  end

  -- Every string produced so far, the log lines, and the mock's view of
  -- each request's URL: none may hold the key.
  local function assert_clean()
    for _, s in ipairs(seen) do
      assert(not has_key(s), "the key leaked into an error: " .. s:gsub(KEY, "<KEY>"))
    end
    for _, s in ipairs(lines) do
      assert(not has_key(s), "the key leaked into a log line: " .. s:gsub(KEY, "<KEY>"))
    end
    for _, e in ipairs(m:log()) do
      assert.is_nil(e.query.key)
      assert.is_false(has_key(e.path))
      for _, v in pairs(e.query) do assert.is_false(has_key(tostring(v))) end
    end
  end

  local function log_text()
    return table.concat(lines, "\n")
  end

  it("is sent in its header, and the log shows method, URL, headers and status without it", function()
    local res, err = client().models:generate_content(REQ)
    assert.is_nil(err)
    assert.truthy(res.text)
    assert.equal(KEY, m:last().headers["x-goog-api-key"])   -- really sent
    local text = log_text()
    assert.matches("POST http://127%.0%.0%.1:%d+/v1beta/models/gemini%-2%.5%-flash:generateContent", text)
    assert.matches("x%-goog%-api%-key: %[REDACTED%]", text)
    assert.matches("Content%-Type: application/json", text)
    assert.matches("%-> HTTP 200", text)
    assert_clean()
  end)

  it("is redacted with bearer auth too", function()
    local res = client{ auth = "bearer" }.models:generate_content(REQ)
    assert.truthy(res)
    assert.equal("Bearer " .. KEY, m:last().headers["authorization"])
    assert.matches("Authorization: Bearer %[REDACTED%]", log_text())
    assert_clean()
  end)

  it("is redacted from a header the caller adds with the key in it", function()
    local c = client{ headers = { ["X-Extra-Auth"] = "token " .. KEY } }
    assert.truthy(c.models:generate_content(REQ))
    assert.matches("X%-Extra%-Auth: token %[REDACTED%]", log_text())
    assert_clean()
  end)

  it("does not leak through API errors, even when the server echoes it", function()
    local c = client{ retry = false }
    m:faults{ { type = "status", code = 400 } }
    local _, err = c.models:generate_content(REQ)
    keep(err)
    m:faults{ { type = "status", code = 403, message = "key " .. KEY .. " is suspended",
                details = { { ["@type"] = "type.googleapis.com/google.rpc.ErrorInfo",
                              reason = "echo", metadata = { key = "[elided]" } } } } }
    _, err = c.models:generate_content(REQ)
    keep(err)
    assert.equal(403, err.code)
    assert.matches("key %[REDACTED%] is suspended", err.message)
    m:faults{ { type = "html", code = 502, body = "<html><p>upstream rejected " .. KEY .. "</p></html>" } }
    _, err = c.models:generate_content(REQ)
    keep(err)
    assert.matches("upstream rejected %[REDACTED%]", err.message)
    m:script{ { status = 400, body = { error = { code = 400, message = "bad: " .. KEY } } } }
    _, err = c.models:generate_content(REQ)
    keep(err)
    assert.matches("bad: %[REDACTED%]", tostring(err))
    assert_clean()
  end)

  it("does not leak through a wrong key's error or the wrong key itself", function()
    local wrong = "wrong-" .. KEY:reverse()
    local c = client{ api_key = wrong, retry = false }
    local _, err = c.models:generate_content(REQ)
    keep(err)
    assert.equal(400, err.code)
    for _, s in ipairs(seen) do assert.is_nil(s:find(wrong, 1, true)) end
    for _, s in ipairs(lines) do assert.is_nil(s:find(wrong, 1, true)) end
    assert_clean()
  end)

  it("does not leak through retries, transport errors and timeouts", function()
    local c = client()
    m:faults{ { type = "status", code = 503, times = 2 } }
    local res, err = c.models:generate_content(REQ)
    assert.truthy(res)
    assert.matches("retrying in", log_text())
    assert.equal(3, #m:log())
    -- (libcurl itself resends once on a reused connection that died)
    m:faults{ { type = "close", times = 10 } }
    res, err = c.models:generate_content(REQ)
    assert.equal("transport", err.kind)
    keep(err)
    m:reset()
    res, err = client{ timeout = 0.3, retry = false }.models:generate_content(REQ)
    assert.truthy(res)
    m:faults{ { type = "stall", seconds = 2 } }
    res, err = client{ timeout = 0.3, retry = false }.models:generate_content(REQ)
    assert.equal("timeout", err.kind)
    keep(err)
    -- nothing listens on port 1
    res, err = client{ base_url = "http://127.0.0.1:1", retry = false }.models:generate_content(REQ)
    assert.equal("transport", err.kind)
    keep(err)
    assert_clean()
  end)

  it("does not leak through stream errors, returned or raised", function()
    local c = client{ retry = false, stall_timeout = 0.3 }
    local function drain(fault)
      m:faults{ fault }
      local s = c.models:generate_content_stream(REQ)
      local ok, e = pcall(function() for _ in s do end end)
      assert.is_false(ok)
      keep(e)
      return e
    end
    keep(drain{ type = "cut", events = 1 })
    local e = drain{ type = "stream_error", after = 1, code = 500, message = "boom " .. KEY }
    assert.matches("boom %[REDACTED%]", tostring(e))
    e = drain{ type = "stream_error", after = 0, code = 429, bare = true, message = "quota " .. KEY }
    assert.equal(429, e.code)
    assert.equal("timeout", drain{ type = "stall_after", events = 1, seconds = 2 }.kind)
    -- An event that is not JSON is quoted in the error: with the key cut out.
    m:script{ { chunks = { "data: not json " .. KEY .. "\r\n\r\n" } } }
    local s = c.models:generate_content_stream(REQ)
    local chunk, err = s:next()
    assert.is_nil(chunk)
    assert.equal("decode", err.kind)
    assert.matches("not json %[REDACTED%]", err.message)
    keep(err)
    assert.matches("%(stream%)", log_text())
    assert_clean()
  end)

  it("does not leak through a paged list that fails, nor other calls", function()
    local c = client{ retry = false }
    m:faults{ { type = "status", code = 500, message = "list failed for " .. KEY } }
    local ok, e = pcall(function() for _ in c.models:list() do end end)
    assert.is_false(ok)
    keep(e)
    assert.matches("%[REDACTED%]", tostring(e))
    keep(select(2, c.models:count_tokens(REQ)))
    keep(select(2, c.models:embed_content{ model = "gemini-embedding-001", contents = "x" }))
    keep(select(2, c.models:get("no-such-model")))
    assert_clean()
  end)

  it("is not in programmer errors", function()
    local c = client()
    for _, f in ipairs({
      function() c.models:generate_content("x") end,
      function() c.models:generate_content{ model = 1 } end,
      function() gemini.Client{ api_key = KEY, timeout = "soon" } end,
      function() gemini.Client{ api_key = KEY, base_url = "ftp://x" } end,
      function() gemini.Client{ api_key = KEY, headers = { X = "a\r\nb" } } end,
    }) do
      local ok, msg = pcall(f)
      assert.is_false(ok)
      assert.matches("bad %a+ .* to '[%w_.]+' %(", tostring(msg))   -- the argument error, not a crash
      seen[#seen + 1] = tostring(msg)
    end
    assert_clean()
  end)

  it("is redacted even when it holds pattern characters", function()
    local odd = "k%[.]-+*?^$(" .. KEY
    local c = gemini.Client{ api_key = odd, base_url = m.url, retry = false,
                             log = function(line) lines[#lines + 1] = line end }
    m:faults{ { type = "status", code = 400, message = "echo " .. odd } }
    local _, err = c.models:generate_content(REQ)
    assert.equal("gemini: api error 400 INVALID_ARGUMENT: echo [REDACTED]", tostring(err))
    for _, s in ipairs(lines) do assert.is_nil(s:find(odd, 1, true)) end
  end)

  -- Any 8 characters of the key in a row: what a cut made after the key
  -- was found would leave behind.
  local function has_piece(s)
    for i = 1, #KEY - 7 do
      if s:find(KEY:sub(i, i + 7), 1, true) then return true end
    end
    return false
  end

  it("is redacted from every field of an error: status and each string of details", function()
    local c = client{ retry = false }
    m:faults{ { type = "status", code = 403, message = "denied", status = "DENIED_" .. KEY,
                details = { { ["@type"] = "type.googleapis.com/google.rpc.ErrorInfo", reason = "echo " .. KEY,
                              metadata = { key = KEY, [KEY] = "as a name", list = { "x", "in a list " .. KEY } } } } } }
    local _, err = c.models:generate_content(REQ)
    keep(err)
    assert.equal(403, err.code)
    assert.equal("DENIED_[REDACTED]", err.status)
    local d = err.details[1]
    assert.equal("echo [REDACTED]", d.reason)
    assert.equal("[REDACTED]", d.metadata.key)
    assert.equal("as a name", d.metadata["[REDACTED]"])
    assert.equal("in a list [REDACTED]", d.metadata.list[2])
    assert_clean()
  end)

  it("is redacted from every field of an error met inside a stream", function()
    local c = client{ retry = false }
    m:script{ { chunks = {
      { candidates = { { content = { role = "model", parts = { { text = "Hi" } } }, index = 0 } } },
      { error = { code = 500, message = "broke for " .. KEY, status = "S_" .. KEY,
                  details = { { ["@type"] = "type.googleapis.com/google.rpc.DebugInfo", detail = KEY } } } },
    } } }
    local s = c.models:generate_content_stream(REQ)
    local ok, err = pcall(function() for _ in s do end end)
    assert.is_false(ok)
    keep(err)
    assert.equal("broke for [REDACTED]", err.message)
    assert.equal("S_[REDACTED]", err.status)
    assert.equal("[REDACTED]", err.details[1].detail)
    assert_clean()
  end)

  it("is redacted before an HTML error page is cut short", function()
    local c = client{ retry = false }
    m:faults{ { type = "html", code = 502, body = "<html><p>" .. ("y"):rep(290) .. KEY .. "</p></html>" } }
    local _, err = c.models:generate_content(REQ)
    keep(err)
    assert.equal(502, err.code)
    assert.is_false(has_piece(err.message))
    assert.matches("^HTTP 502: y+%[RE", err.message)
    assert_clean()
  end)

  it("is redacted before a bad stream event is quoted, cut short", function()
    local c = client{ retry = false }
    m:script{ { chunks = { "data: " .. ("x"):rep(70) .. KEY .. " and more\r\n\r\n" } } }
    local chunk, err = c.models:generate_content_stream(REQ):next()
    assert.is_nil(chunk)
    keep(err)
    assert.equal("decode", err.kind)
    assert.is_false(has_piece(err.message))
    assert.matches(": x+%[RE[A-Z%]]*%.%.%.$", err.message)
    assert_clean()
  end)

  it("of a few characters is not searched for in text: log lines and errors stay whole", function()
    for _, short in ipairs({ "e", "ke", "API" }) do
      lines = {}
      local c = client{ api_key = short, retry = false }
      local _, err = c.models:generate_content(REQ)
      assert.equal(400, err.code)
      assert.equal("API key not valid. Please pass a valid API key.", err.message)
      assert.equal("API key not valid. Please pass a valid API key.", err.details[2].message)
      local text = log_text()
      assert.matches("POST http://127%.0%.0%.1:%d+/v1beta/models/gemini%-2%.5%-flash:generateContent", text)
      assert.matches("x%-goog%-api%-key: %[REDACTED%]", text)      -- the header still is
      assert.matches("gemini: the API key has fewer than 8 characters: too short to be searched for"
        .. " and redacted in messages (credential headers still are)", text, 1, true)
      assert.is_nil(text:find(" 1 characters", 1, true))
      assert.is_nil(text:find("[REDACTED]", text:find("x-goog-api-key: [REDACTED]", 1, true) + 26, true))
    end
  end)

  it("nor is the password of a base_url with userinfo, in the log or in errors", function()
    local host = m.url:match("^http://(.*)$")
    for _, pw in ipairs({ "proxy-pass-9f31c7", "pw" }) do
      lines, seen = {}, {}
      local c = client{ retry = false, base_url = "http://gemini-user:" .. pw .. "@" .. host }
      m:faults{ { type = "status", code = 407, message = "bad password " .. pw } }
      local _, err = c.models:generate_content(REQ)
      keep(err)
      local _, err2 = c.models:generate_content(REQ)
      keep(err2)
      local text = log_text()
      assert.matches("POST http://%[REDACTED%]@127%.0%.0%.1:%d+/v1beta/models/", text)
      assert.is_nil(text:find("gemini-user:" .. pw, 1, true))
      if #pw >= 8 then
        assert.equal("bad password [REDACTED]", err.message)
        for _, x in ipairs(seen) do assert.is_nil(x:find(pw, 1, true)) end
        assert.is_nil(text:find(pw, 1, true))
      end
      assert_clean()
    end
  end)

  it("is not in `debug = true` output on stderr", function()
    local cmd = table.concat({
      "LUA_PATH='lua/?.lua;lua/?/init.lua;spec/?.lua;;'",
      "LUA_CPATH=" .. mock.shell_quote(package.cpath),
      (jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))) .. " -e " .. mock.shell_quote(
        "local g = require('gemini'); local c = g.Client{ api_key = '" .. KEY .. "', base_url = '"
        .. m.url .. "', debug = true }; assert(c.models:generate_content{ model = 'gemini-2.5-flash',"
        .. " contents = 'hi' })"),
      "2>&1",
    }, " ")
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    assert.matches("x%-goog%-api%-key: %[REDACTED%]", out)
    assert.matches("%-> HTTP 200", out)
    assert.is_nil(out:find(KEY, 1, true))
  end)
end)

-- The spec files of the suite that part 2 runs again: all but this one and
-- the soak (which runs 10,000 streams and proves nothing more here).
local function suite_files()
  local files = {}
  local p = assert(io.popen((mock.child_env or "") .. "sh -c 'ls spec/*_spec.lua'"))
  for f in p:lines() do
    if not f:find("secrets_spec", 1, true) and not f:find("soak_spec", 1, true) then
      files[#files + 1] = f
    end
  end
  p:close()
  return files
end

describe("the whole suite, audited", function()
  it("never shows any client's key in a log line, error, raised error or URL", function()
    if os.getenv("GEMINI_SECRET_AUDIT") then return end   -- already inside the audit
    -- The child is lua5.4 whatever runs this file, so one interpreter's pass
    -- of `make test` does it; `make valgrind` skips it (the child is not
    -- under valgrind, it would only add time).
    if _VERSION ~= "Lua 5.4" or jit or os.getenv("GEMINI_SKIP_SUITE_AUDIT") then
      io.stderr:write("\n[secrets] whole-suite audit skipped here (it runs on the Lua 5.4 pass)\n")
      return
    end
    local out = os.tmpname()
    local files = suite_files()
    local cmd = table.concat({
      "GEMINI_SECRET_AUDIT=" .. mock.shell_quote(out),
      "LUA_PATH='lua/?.lua;lua/?/init.lua;spec/?.lua;;'",
      "LUA_CPATH=" .. mock.shell_quote(package.cpath),
      "lua5.4 /usr/bin/busted --lpath='' --cpath='' -o TAP",
      "--helper=spec/support/secret_audit.lua",
      table.concat(files, " "), "> /dev/null 2>&1",
    }, " ")
    os.execute(cmd)
    local f = assert(io.open(out, "rb"))
    local report = f:read("*a")
    f:close()
    os.remove(out)
    local leaks = {}
    for line in report:gmatch("[^\n]+") do
      if line:find("^LEAK ") then leaks[#leaks + 1] = line end
    end
    assert.same({}, leaks)
    -- Not vacuous: the run saw the keys and a great deal of output.
    local log_n, err_n, raised_n, url_n, keys_n =
      report:match("COUNTS log=(%d+) error=(%d+) raised=(%d+) url=(%d+) keys=(%d+)")
    assert(log_n, "the audited run did not finish: " .. report)
    io.stderr:write(string.format("\n[secrets] audited %d spec files: %d log lines, %d errors,"
      .. " %d raised errors, %d URLs, %d keys; no leak\n", #files, log_n, err_n, raised_n, url_n, keys_n))
    assert.is_true(tonumber(keys_n) >= 5)
    assert.is_true(tonumber(log_n) > 100)
    assert.is_true(tonumber(err_n) > 20)
    assert.is_true(tonumber(raised_n) > 20)
    assert.is_true(tonumber(url_n) > 50)
  end)
end)
