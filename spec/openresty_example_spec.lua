-- examples/openresty/nginx.conf itself, in a real nginx (Debian's
-- nginx-light + libnginx-mod-http-lua), against the mock: its POST /token
-- location (ephemeral_token.lua) mints an ephemeral Live API token for a
-- browser. The file is run as shipped, but for what a test must move: the
-- port, the pid and temp paths, the log, and the foreground.
local cjson = require("cjson")
local mock = require("support.mock")
local nginx = require("support.nginx")

local KEY = "openresty-example-key"
local q, sh = mock.shell_quote, nginx.sh

local describe_ngx = nginx.available and describe or pending

-- examples/openresty/nginx.conf made to run beside the test suite.
local function test_conf(n)
  local conf = assert(mock.read_file("examples/openresty/nginx.conf"))
  local function sub(from, to)
    local a, b = conf:find(from, 1, true)
    assert(a, "nginx.conf no longer has " .. from)
    conf = conf:sub(1, a - 1) .. to .. conf:sub(b + 1)
  end
  sub("listen 127.0.0.1:8080;", "listen 127.0.0.1:" .. n.port .. ";")
  sub("daemon off;", "daemon on;")
  sub("worker_processes auto;", "worker_processes 1;"
    .. (sh("id -u"):gsub("%s+$", "") == "0" and "\nuser root;" or ""))
  sub("pid /tmp/gemini-openresty-example.pid;", "pid " .. n.prefix .. "/logs/nginx.pid;")
  sub("error_log stderr info;", "error_log " .. n.prefix .. "/logs/error.log info;")
  conf = conf:gsub("/tmp/gemini%-openresty%-(%a+)", n.prefix .. "/tmp/%1")
  return conf
end

describe_ngx("examples/openresty/nginx.conf", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local n

  setup(function()
    n = nginx.new()
    local conf = n.prefix .. "/conf/nginx.conf"
    mock.write_file(conf, test_conf(n))
    n.output = sh("GEMINI_API_KEY=" .. KEY .. " GEMINI_BASE_URL=" .. q(m.url) .. " nginx -p " .. q(n.root)
      .. " -c " .. q(conf) .. " -e " .. q(n.prefix .. "/logs/error.log") .. " 2>&1")
    for _ = 1, 100 do
      if sh("curl -s -o /dev/null -w '%{http_code}' " .. q(n:url("/"))) == "200" then return end
      mock.sleep(0.05)
    end
    error("nginx did not start: " .. n.output .. n:error_log())
  end)

  teardown(function() if n then n:stop() end end)

  -- curl `args` on `path`: status, headers text, body.
  local function curl(path, args)
    local out = sh("curl -s -i --max-time 10 " .. (args or "") .. " " .. q(n:url(path)))
    local head, body = out:match("^(.-)\r\n\r\n(.*)$")
    return tonumber(head:match("^HTTP/%S+ (%d+)")), head, body
  end

  it("POST /token mints a one-use token locked to the Live model and answers {token, expires}", function()
    local before = os.time()
    local status, head, body = curl("/token", "-X POST")
    assert.equal(200, status)
    assert.matches("\r\nContent%-Type: application/json", head)
    assert.matches("\r\nCache%-Control: no%-store", head)
    local r = cjson.decode(body)
    assert.matches("^auth_tokens/%x+$", r.token)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", r.expires)
    assert.is_nil(body:find(KEY, 1, true))
    local e = m:last()
    assert.equal("/v1alpha/auth_tokens", e.path)
    assert.equal(KEY, e.headers["x-goog-api-key"])
    assert.equal(1, e.json.uses)
    assert.equal(r.expires, e.json.expireTime)
    local setup = e.json.bidiGenerateContentSetup
    assert.equal("models/gemini-2.5-flash-native-audio-latest", setup.model)
    assert.same({ "AUDIO" }, setup.generationConfig.responseModalities)
    assert.is_string(setup.systemInstruction.parts[1].text)
    -- the token is what the mock issued, for one session within a minute, ten minutes long
    local t = cjson.decode(m:request{ path = "/_mock/auth_tokens" }.body).tokens[1]
    assert.equal(r.token, t.name)
    assert.equal(1, t.uses)
    assert.is_true(t.new_session_expire_time - before <= 62)
    assert.is_true(math.abs(t.expire_time - before - 600) <= 2)
  end)

  it("GET /token is refused: 405, nothing minted", function()
    local status, head = curl("/token")
    assert.equal(405, status)
    assert.matches("\r\nAllow: POST", head)
    assert.equal(0, #m:log())
  end)

  it("a refusal by Gemini is a 502 for the browser, the reason in nginx's log without the key", function()
    m:faults{ { type = "status", code = 403, message = "token minting is denied" } }
    local status, _, body = curl("/token", "-X POST")
    assert.equal(502, status)
    assert.same({ error = "could not mint a token" }, cjson.decode(body))
    local log = n:error_log()
    assert.matches("minting a Live API token: gemini: api error 403 PERMISSION_DENIED: token minting is denied",
      log, 1, true)
    assert.is_nil(log:find(KEY, 1, true))
  end)
end)
