-- The cosocket transport inside nginx's Lua module (Debian's nginx-light +
-- libnginx-mod-http-lua), against the mock: nginx runs with its own prefix
-- and config in a temp dir, one worker; its locations call the Gemini API
-- and stream the answer to their HTTP client with ngx.print/ngx.flush.
local mock = require("support.mock")
local nginx = require("support.nginx")

local KEY = "resty-key"
local q = mock.shell_quote

local read_file = mock.read_file
local sh = nginx.sh

-- The body of nginx's http block.
local HTTP = [[
  init_by_lua_block {
    local gemini = require("gemini")
    local c = gemini.Client{ api_key = "%s", base_url = "%s" }
    local ok, err = pcall(c.models.generate_content, c.models,
                          { model = "gemini-2.5-flash", contents = "from init" })
    ngx.log(ngx.ERR, "INIT_CALL ok=", tostring(ok), " err=", tostring(err))
  }

  init_worker_by_lua_block {
    local gemini = require("gemini")
    package.loaded.test_client = gemini.Client{ api_key = "%s", base_url = "%s",
      retry = { initial_delay = 0.05, jitter = 0 }, stall_timeout = 2 }
  }

  server {
    listen 127.0.0.1:%d;
    location /ping { return 204; }
    # A streamed answer, relayed chunk by chunk.
    location /stream {
      content_by_lua_block {
        local client = package.loaded.test_client
        ngx.header["Content-Type"] = "text/plain"
        local stream = client.models:generate_content_stream{
          model = "gemini-2.5-flash", contents = ngx.unescape_uri(ngx.var.arg_q or "hi") }
        while true do
          local chunk, err = stream:next()
          if err then ngx.print("\nERROR ", tostring(err)) break end
          if not chunk then break end
          ngx.print(chunk.text or "")
          ngx.flush(true)
        end
        if stream.response then
          ngx.print("\nFINISH ", stream.response.candidates[1].finishReason)
        end
      }
    }
    # A whole answer, or the error.
    location /gen {
      content_by_lua_block {
        local client = package.loaded.test_client
        local res, err = client.models:generate_content{
          model = ngx.var.arg_model or "gemini-2.5-flash", contents = ngx.unescape_uri(ngx.var.arg_q or "hi") }
        if not res then ngx.say("ERROR ", err.kind, " ", tostring(err.code)) return end
        ngx.say(res.text)
      }
    }
    # Many at once, through light threads.
    location /all {
      content_by_lua_block {
        local client = package.loaded.test_client
        local reqs = {}
        for i = 1, 6 do reqs[i] = { model = "gemini-2.5-flash", contents = "r" .. i } end
        reqs[4].model = "no-such-model"
        local responses, errors = client.models:generate_content_all(reqs, { concurrency = 3 })
        for i = 1, 6 do
          ngx.say(i, " ", responses[i] and responses[i].text or ("ERROR " .. errors[i].code))
        end
      }
    }
    # A gemini.Error raised and not caught: nginx logs it (see the spec).
    location /raise {
      content_by_lua_block {
        local client = package.loaded.test_client
        for chunk in client.models:generate_content_stream{ model = "gemini-2.5-flash", contents = "x" } do
          ngx.print(chunk.text or "")
        end
      }
    }
    # The same under pcall: the caller gets the gemini.Error itself.
    location /caught {
      content_by_lua_block {
        local gemini = require("gemini")
        local client = package.loaded.test_client
        local ok, err = pcall(function()
          for _ in client.models:generate_content_stream{ model = "gemini-2.5-flash", contents = "x" } do end
        end)
        ngx.say(tostring(ok), " ", tostring(gemini.is_error(err)), " ", tostring(err.code), " | ", "caught: " .. err)
      }
    }
    # A failed page of a list, raised in a timer that nothing catches.
    location /timer {
      content_by_lua_block {
        local client = package.loaded.test_client
        ngx.timer.at(0, function()
          for _ in client.models:list() do end
        end)
        ngx.say("scheduled")
      }
    }
    # Over TLS (nginx below terminates it in front of the mock).
    location /tls {
      content_by_lua_block {
        local gemini = require("gemini")
        local c = gemini.Client{ api_key = "%s", retry = false,
          base_url = "https://127.0.0.1:" .. ngx.var.arg_port,
          verify = ngx.var.arg_verify ~= "0" }
        local res, err = c.models:generate_content{ model = "gemini-2.5-flash", contents = "secure" }
        if not res then ngx.say("ERROR ", err.kind, " ", err.message) return end
        ngx.say(res.text)
        local s = c.models:generate_content_stream{ model = "gemini-2.5-flash", contents = "tls stream" }
        local n = 0
        for chunk in s do n = n + 1 end
        ngx.say("STREAM ", n, " ", s.response.text)
      }
    }
  }
%s
]]

-- Two TLS front ends to the mock: one with the certificate nginx trusts
-- (lua_ssl_trusted_certificate), one with a certificate it does not.
local TLS = [[
  lua_ssl_trusted_certificate %s/trusted.pem;
  lua_ssl_verify_depth 2;
  server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s/trusted.pem; ssl_certificate_key %s/trusted.key;
    location / { proxy_pass %s; proxy_http_version 1.1; proxy_buffering off; }
  }
  server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s/other.pem; ssl_certificate_key %s/other.key;
    location / { proxy_pass %s; proxy_http_version 1.1; proxy_buffering off; }
  }
]]

local describe_ngx = nginx.available and describe or pending

describe_ngx("OpenResty (nginx + lua module, cosockets)", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local n, prefix, start_output, tls_port, tls_other

  local function url(path) return n:url(path) end

  setup(function()
    n = nginx.new()
    prefix = n.prefix
    -- Self-signed certificates for the TLS tests (the name is the address
    -- the client dials, as a DNS name: nginx checks names, not IPs).
    local tls = ""
    if sh("command -v openssl 2>/dev/null") ~= "" then
      for _, name in ipairs({ "trusted", "other" }) do
        os.execute("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
          .. " -addext 'subjectAltName=DNS:127.0.0.1,IP:127.0.0.1'"
          .. " -keyout " .. q(prefix .. "/conf/" .. name .. ".key")
          .. " -out " .. q(prefix .. "/conf/" .. name .. ".pem") .. " >/dev/null 2>&1")
      end
      if read_file(prefix .. "/conf/other.pem") then
        tls_port, tls_other = nginx.free_port(), nginx.free_port()
        local dir = prefix .. "/conf"
        tls = string.format(TLS, dir, tls_port, dir, dir, m.url, tls_other, dir, dir, m.url)
      end
    end
    n:start(string.format(HTTP, KEY, "http://127.0.0.1:1", KEY, m.url, n.port, KEY, tls))
    start_output = n.output
  end)

  teardown(function()
    if n then n:stop() end
  end)

  it("gives a clear error for a call from init_by_lua", function()
    -- init_by_lua runs while nginx reads its config: its log line goes to
    -- the start-up output (stderr) or, once opened, the error log.
    local log = start_output .. (read_file(prefix .. "/logs/error.log") or "")
    local line = log:match("INIT_CALL[^\n]*")
    assert.is_truthy(line, log)
    assert.matches("ok=false", line, 1, true)
    -- the cosocket transport was chosen, and said why it cannot work here
    assert.matches("'init' phase has no cosockets", line, 1, true)
    assert.matches("content_by_lua", line, 1, true)
  end)

  it("streams an answer through ngx.print/ngx.flush", function()
    m:faults{ { type = "slow_stream", events = 4, delay = 0.1 } }
    local body = sh("curl -s -N --max-time 10 " .. q(url("/stream?q=relay%20me")))
    assert.matches('You asked: "relay me"', body, 1, true)
    assert.matches("\nFINISH STOP$", body)
    local e = m:last()
    assert.are.equal(4, e.events_sent)
    assert.are.equal(KEY, e.headers["x-goog-api-key"])
    assert.are.equal("sse", e.query.alt)
  end)

  it("answers 20 concurrent streams of 500 ms in about 0.5 s (the worker never blocks)", function()
    m:faults{ { type = "slow_stream", events = 2, delay = 0.5, times = 20 } }
    local dir = prefix .. "/par"
    os.execute("mkdir -p " .. q(dir))
    -- One curl process with 20 transfers at once (curl -Z): 20 curl
    -- processes would measure process start-up on a busy machine instead.
    local args = {}
    for i = 1, 20 do
      args[#args + 1] = "-o " .. q(dir .. "/" .. i) .. " " .. q(url("/stream?q=n" .. i))
    end
    local script = "t0=$(date +%s.%N); curl -s -N -Z --parallel-max 20 --parallel-immediate"
      .. " --max-time 15 " .. table.concat(args, " ") .. " 2>/dev/null; t1=$(date +%s.%N); echo \"$t0 $t1\""
    local t0, t1 = sh("sh -c " .. q(script)):match("([%d%.]+) ([%d%.]+)")
    local took = tonumber(t1) - tonumber(t0)
    for i = 1, 20 do
      local body = read_file(dir .. "/" .. i) or ""
      assert.matches('You asked: "n' .. i .. '"', body, 1, true)
      assert.matches("FINISH STOP", body, 1, true)
    end
    assert.is_true(took >= 0.45 and took < 3, "20 streams took " .. took .. " s")
    local log = m:log()
    assert.are.equal(20, #log)
    -- they ran side by side, not one after the other
    local first_end, last_start = math.huge, 0
    for _, e in ipairs(log) do
      first_end = math.min(first_end, e.t_end or math.huge)
      last_start = math.max(last_start, e.t_start)
    end
    assert.is_true(last_start < first_end)
  end)

  it("returns whole answers and errors, retrying with ngx.sleep", function()
    assert.matches('You asked: "whole"', sh("curl -s --max-time 10 " .. q(url("/gen?q=whole"))), 1, true)
    assert.matches("ERROR api 404", sh("curl -s --max-time 10 " .. q(url("/gen?model=no-such-model"))), 1, true)
    m:reset()
    m:faults{ { type = "status", code = 503, times = 2, retry_delay = "0.1s" } }
    local t0 = os.time()
    assert.matches('You asked: "again"', sh("curl -s --max-time 10 " .. q(url("/gen?q=again"))), 1, true)
    assert.is_true(os.time() - t0 < 5)
    assert.are.equal(3, #m:log())
    -- keep-alive: the retries reuse the pooled connection
    local log = m:log()
    assert.are.equal(log[2].peer, log[3].peer)
  end)

  it("runs generate_content_all on light threads, errors in place", function()
    local body = sh("curl -s --max-time 10 " .. q(url("/all")))
    for i = 1, 6 do
      if i == 4 then
        assert.matches("\n4 ERROR 404", body, 1, true)
      else
        assert.matches(i .. ' [^\n]*You asked: "r' .. i .. '"', body)
      end
    end
  end)

  it("verifies TLS with sslhandshake against lua_ssl_trusted_certificate", function()
    if not tls_port then return pending("no openssl to make certificates") end
    local ok = sh("curl -s --max-time 10 " .. q(url("/tls?port=" .. tls_port)))
    assert.matches('You asked: "secure"', ok, 1, true)
    assert.matches('STREAM %d+ [^\n]*You asked: "tls stream"', ok)
    local bad = sh("curl -s --max-time 10 " .. q(url("/tls?port=" .. tls_other)))
    assert.matches("^ERROR transport TLS handshake", bad)
    assert.matches('You asked: "secure"',
      sh("curl -s --max-time 10 " .. q(url("/tls?verify=0&port=" .. tls_other))), 1, true)
  end)

  -- lua-nginx-module logs an uncaught error value that is not a string as
  -- "unknown reason" (content handlers and timers alike): a gemini.Error
  -- nothing catches must reach the log as its text.
  local function wait_log(pattern)
    local log
    for _ = 1, 100 do
      log = read_file(prefix .. "/logs/error.log") or ""
      if log:find(pattern) then return log end
      mock.sleep(0.05)
    end
    return log
  end

  it("logs the text of a gemini.Error a content handler does not catch", function()
    m:faults{ { type = "stream_error", after = 1, code = 500, message = "expected failure in a handler" } }
    sh("curl -s --max-time 10 " .. q(url("/raise")))
    local log = wait_log("expected failure in a handler")
    assert.matches("lua entry thread aborted: runtime error: gemini: api error 500[%.0]* INTERNAL:"
      .. " expected failure in a handler", log)
    assert.is_nil(log:find("unknown reason", 1, true))
  end)

  it("logs the text of a gemini.Error a timer does not catch", function()
    m:faults{ { type = "status", code = 403, message = "expected failure in a timer" } }
    assert.equal("scheduled\n", sh("curl -s --max-time 10 " .. q(url("/timer"))))
    local log = wait_log("expected failure in a timer")
    assert.matches("lua entry thread aborted: runtime error: gemini: api error 403 PERMISSION_DENIED:"
      .. " expected failure in a timer\n.-context: ngx%.timer", log)
    assert.is_nil(log:find("unknown reason", 1, true))
  end)

  it("still gives the gemini.Error itself to pcall", function()
    m:faults{ { type = "status", code = 404, message = "caught failure" } }
    assert.equal("false true 404 | caught: gemini: api error 404 NOT_FOUND: caught failure\n",
      sh("curl -s --max-time 10 " .. q(url("/caught"))))
  end)

  it("logs nothing unexpected", function()
    local log = read_file(prefix .. "/logs/error.log")
    -- the only [error] lines are the init probe's
    for line in log:gmatch("[^\n]+") do
      if line:find("%[error%]") or line:find("%[crit%]") or line:find("%[alert%]") then
        -- the init probe, the refused certificate of the TLS test, the
        -- errors raised on purpose
        if not line:find("certificate verify failed", 1, true)
          and not line:find("lua ssl certificate verify error", 1, true)
          and not line:find("expected failure in a", 1, true) then
          assert.matches("INIT_CALL", line, 1, true)
        end
      end
    end
    assert.is_nil(log:find(KEY, 1, true))
  end)
end)

-- examples/openresty/gemini_sse.lua as its nginx.conf runs it: the key and
-- the base URL from the environment (nginx's env directives), the client
-- made in init_worker_by_lua, the model from $gemini_model.
local EXAMPLE = [[
  init_worker_by_lua_block {
    package.path = "%s/examples/openresty/?.lua;" .. package.path
    require("gemini_sse").init()
  }
  server {
    listen 127.0.0.1:%d;
    location /ping { return 204; }
    location = /ask { set $gemini_model "gemini-2.5-flash"; content_by_lua_block { require("gemini_sse").ask() } }
    location = /ask-429 { set $gemini_model "mock-fail-429"; content_by_lua_block { require("gemini_sse").ask() } }
    location = /ask-400 { set $gemini_model "mock-fail-400"; content_by_lua_block { require("gemini_sse").ask() } }
    location = /ask-late { set $gemini_model "mock-stream-error"; content_by_lua_block { require("gemini_sse").ask() } }
  }
]]

describe_ngx("examples/openresty/gemini_sse.lua", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local n

  setup(function()
    n = nginx.new()
    n:start(string.format(EXAMPLE, n.root, n.port),
      string.format("env GEMINI_API_KEY=%s; env GEMINI_BASE_URL=%s;", KEY, m.url))
  end)

  teardown(function()
    if n then n:stop() end
  end)

  -- The status, the headers (lower-case names) and the body of GET path.
  local function get(path)
    local raw = sh("curl -s -i -N --max-time 10 " .. q(n:url(path)))
    local head, body = raw:match("^(.-)\r\n\r\n(.*)$")
    local headers = {}
    for name, value in (head or ""):gmatch("\n([^:\r\n]+): *([^\r\n]*)") do headers[name:lower()] = value end
    return tonumber((head or ""):match("^HTTP/%S+ (%d+)")), headers, body or raw
  end

  it("streams a good prompt's answer as Server-Sent Events", function()
    local status, headers, body = get("/ask?q=Why%20is%20the%20sky%20blue%3F")
    assert.equal(200, status)
    assert.equal("text/event-stream", headers["content-type"])
    local _, chunks = body:gsub("event: chunk\ndata: ", "")
    assert.is_true(chunks > 1)
    assert.matches('event: done\ndata: {[^\n]*"finishReason":"STOP"', body)
    assert.is_nil(body:find("event: error", 1, true))
  end)

  it("answers the quota's 429 as a 429 with Retry-After, before any chunk", function()
    local status, headers, body = get("/ask-429?q=hi")
    assert.equal(429, status)
    assert.equal("2", headers["retry-after"])
    assert.equal("application/json", headers["content-type"])
    assert.matches('^{"error":"gemini: api error 429 RESOURCE_EXHAUSTED: ', body)
    assert.equal(1, #m:log())   -- a delay beyond max_delay is the browser's to wait
  end)

  it("answers another failure upstream as a 502", function()
    local status, _, body = get("/ask-400?q=hi")
    assert.equal(502, status)
    assert.matches('^{"error":"gemini: api error 400 INVALID_ARGUMENT: ', body)
  end)

  it("a failure after the first chunk is an error event in the stream", function()
    local status, _, body = get("/ask-late?q=hi")
    assert.equal(200, status)
    assert.matches("^event: chunk\ndata: ", body)
    assert.matches('event: error\ndata: {"message":"gemini: api error 500', body, 1, true)
  end)
end)
