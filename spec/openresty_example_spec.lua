-- examples/openresty/nginx.conf itself, in a real nginx (Debian's
-- nginx-light + libnginx-mod-http-lua), against the mock: its POST /token
-- location (ephemeral_token.lua) mints an ephemeral Live API token for a
-- browser; its /live location (live_relay.lua, gemini.live.relay) relays
-- a browser's WebSocket to a Live session, the "browser" being the
-- library's own C WebSocket client (core.ws_connect). The file is run as shipped, but for what a test must move: the
-- port, the pid and temp paths, the log, and the foreground.
local cjson = require("cjson")
local core = require("gemini.core")
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

  -- ---- /live: the WebSocket relay ----------------------------------------

  local function live_faults(list) m:_control("POST", "/_mock/live/faults", { faults = list }) end

  -- A "browser" on nginx's /live: the C client.
  local function browser()
    return core.ws_connect{ url = "http://127.0.0.1:" .. n.port, host = "127.0.0.1:" .. n.port,
                            target = "/live", headers = {}, timeout = 5 }
  end

  -- Events until a close or `until_text` is seen: a list of {kind, data, code},
  -- and the error of a failed recv (kind, msg, code) if any.
  local function events(c, until_text)
    local got = {}
    for _ = 1, 50 do
      local q = {}
      local k, kind, msg, code = c:recv(q, 5000)
      if not k then return got, { kind, msg, code } end
      assert.is_true(k > 0, "nothing from the relay within 5 s")
      for i = 1, k * 3, 3 do
        got[#got + 1] = { q[i], q[i + 1], q[i + 2] }
        if q[i] == "close" or (until_text and q[i + 1]:find(until_text, 1, true)) then return got end
      end
    end
    return got
  end

  -- nginx's log after a relay: no Lua error, and no read timeout (a relay
  -- that polled its sockets would log one for each poll).
  local function clean_log()
    local log = n:error_log()
    for _, bad in ipairs{ "runtime error", "entry thread aborted", "timed out", KEY } do
      assert.is_nil(log:find(bad, 1, true), bad .. " in nginx's log:\n" .. log)
    end
  end

  -- The mock's log entry of the Live session, once its connection ended.
  local function live_entry()
    for _ = 1, 100 do
      for _, e in ipairs(m:log()) do
        if e.status == 101 and e.ws_close then return e end
      end
      mock.sleep(0.05)
    end
  end

  it("/live relays a browser's text turn to a Live session with the server's model, and the answers back", function()
    local c = assert(browser())
    assert.is_true(c:send("text", '{"realtimeInput": {"text": "hello relay"}}'))
    local got = events(c, "turnComplete")
    local texts = {}
    for _, ev in ipairs(got) do
      assert.are.equal("text", ev[1])
      local msg = cjson.decode(ev[2])
      local sc = msg.serverContent
      if sc and sc.modelTurn then texts[#texts + 1] = sc.modelTurn.parts[1].text end
    end
    assert.are.equal("Live echo: hello relay", table.concat(texts))
    assert.matches('"turnComplete"', got[#got][2])
    c:close(1000)
    local e = live_entry()
    assert.are.equal(KEY, e.headers["x-goog-api-key"])
    assert.are.equal("models/gemini-live-2.5-flash-preview", e.ws_messages[1].setup.model)
    assert.same({ "TEXT" }, e.ws_messages[1].setup.generationConfig.responseModalities)
    assert.same({ realtimeInput = { text = "hello relay" } }, e.ws_messages[2])
    -- the browser's close ended the Live session: the mock saw its close
    assert.same({ code = 1000, reason = "" }, e.ws_close)
    assert.same({}, e.ws_errors)
    clean_log()
  end)

  it("/live gives the browser Live's binary frames (as Google sends) as text frames", function()
    live_faults({ { type = "binary" } })
    local c = assert(browser())
    assert.is_true(c:send("text", '{"realtimeInput": {"text": "bin"}}'))
    local got = events(c, "turnComplete")
    for _, ev in ipairs(got) do assert.are.equal("text", ev[1]) end
    assert.matches('"Live echo: "', got[1][2], 1, true)
    c:close()
    clean_log()
  end)

  it("/live answers the browser's close with its code and ends the Live session", function()
    local c = assert(browser())
    assert.is_true(c:send("ping", "are you there"))
    assert.is_true(c:send("close", "", 4000))
    local got = events(c)
    assert.same({ "close", "", 4000 }, got[#got])
    assert.same({ code = 1000, reason = "" }, live_entry().ws_close)
    clean_log()
  end)

  it("/live refuses a browser's setup (1008), garbage (1007) and binary (1003), and ends the session", function()
    local cases = {
      { '{"setup": {"model": "models/gemini-2.5-pro"}}', 1008, "the setup is the server's" },
      { "not json", 1007, "a message must be a JSON object" },
      { '{"clientContent": {}, "realtimeInput": {}}', 1008,
        "one of clientContent, realtimeInput, toolResponse per message" },
      { '{"realtimeInput": "x"}', 1008, "realtimeInput must be an object" },
    }
    for _, case in ipairs(cases) do
      m:reset()
      local c = assert(browser())
      assert.is_true(c:send("text", case[1]))
      local got = events(c)
      assert.same({ "close", case[3], case[2] }, got[#got])
      c:close()
      local e = live_entry()
      assert.are.equal(1, #e.ws_messages)   -- the setup of the server's only
      assert.are.equal(1000, e.ws_close.code)
    end
    local c = assert(browser())
    assert.is_true(c:send("binary", "\0\1"))
    assert.same({ "close", "binary messages are not relayed: send JSON text", 1003 }, events(c)[1])
    c:close()
    clean_log()
  end)

  it("/live bounds a browser's message (1009)", function()
    local c = assert(browser())
    assert.is_true(c:send("text", '{"realtimeInput": {"text": "' .. ("x"):rep(256 * 1024) .. '"}}'))
    assert.same({ "close", "WebSocket message larger than 262144 bytes", 1009 }, events(c)[1])
    c:close()
    assert.are.equal(1, #live_entry().ws_messages)
    clean_log()
  end)

  it("/live passes Live's close mid-turn (1011) to the browser with its reason", function()
    live_faults({ { type = "close", code = 1011, reason = "Internal error occurred." } })
    local c = assert(browser())
    assert.is_true(c:send("text", '{"clientContent": {"turns": [{"role": "user", "parts": [{"text": "x"}]}],'
      .. ' "turnComplete": true}}'))
    local got = events(c)
    assert.matches('"Live echo: "', got[1][2], 1, true)
    assert.same({ "close", "Internal error occurred.", 1011 }, got[#got])
    c:close()
    clean_log()
  end)

  it("/live answers a ping, then fails the connection (1002) on an unmasked frame from the browser", function()
    -- The C client always masks (and keeps pongs to itself): a raw socket
    -- sends a masked ping (key 0), then the bad frame.
    local out = sh("python3 -c " .. q(string.format([[
import socket, sys
s = socket.create_connection(("127.0.0.1", %d), timeout=5)
s.sendall(b"GET /live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
data = b""
while b"\r\n\r\n" not in data: data += s.recv(4096)
head, rest = data.split(b"\r\n\r\n", 1)
print(head.split(b"\r\n")[0].decode())
print("accept" if b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head else "no accept")
s.sendall(b"\x89\x81\x00\x00\x00\x00p")
s.sendall(b"\x81\x02hi")
def has_close(r):   # a client closes the connection once it has the close frame
    i = r.find(b"\x88")
    return i >= 0 and len(r) >= i + 2 + r[i + 1]
while not has_close(rest):
    b = s.recv(4096)
    if not b: break
    rest += b
s.close()
print(rest.hex())
]], n.port)))
    local status, acc, frame = out:match("^(.-)\n(.-)\n(%x*)\n$")
    assert.are.equal("HTTP/1.1 101 Switching Protocols", status)
    assert.are.equal("accept", acc)
    local reason = "WebSocket protocol error: unmasked frame from the client"
    local expect = string.char(0x8A, 1) .. "p" .. string.char(0x88, 2 + #reason, 0x03, 0xEA) .. reason
    assert.are.equal(expect:gsub(".", function(ch) return string.format("%02x", ch:byte()) end), frame)
    assert.are.equal(1000, live_entry().ws_close.code)
    clean_log()
  end)

  it("/live refuses what is no WebSocket upgrade (400, 426) before opening any Live session", function()
    local status, _, body = curl("/live")
    assert.equal(400, status)
    assert.same({ error = "no \"Upgrade: websocket\"" }, cjson.decode(body))
    local head
    status, head = curl("/live", "-H 'Upgrade: websocket' -H 'Connection: Upgrade'"
      .. " -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Version: 8'")
    assert.equal(426, status)
    assert.matches("\r\nSec%-WebSocket%-Version: 13", head)
    assert.equal(0, #m:log())
    clean_log()
  end)
end)
