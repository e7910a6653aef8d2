-- Many calls at once on one session (generate_content_all, sess:step):
-- a finished transfer is handed over without waiting for the others, and
-- over TLS + HTTP/2 the calls share one connection.
local gemini = require("gemini")
local core = require("gemini.core")
local mock = require("support.mock")

local KEY = "concurrency-key-2b7e"
local MODEL = "gemini-2.5-flash"
local q, sh = mock.shell_quote, mock.command_output

describe("sess:step", function()
  local m

  setup(function() m = mock.start{ key = KEY } end)
  teardown(function() m:stop() end)
  before_each(function() m:reset() end)

  local function call(model)
    return {
      method = "POST", url = m.url .. "/v1beta/models/" .. model .. ":generateContent",
      headers = { "x-goog-api-key: " .. KEY, "Content-Type: application/json" },
      body = '{"contents":[{"parts":[{"text":"x"}]}]}',
    }
  end

  it("returns at once when a transfer has ended, without waiting for the others", function()
    m:script{ { latency = 0.3 } }                                       -- a: 0.3 s late
    m:faults{ { type = "stall", seconds = 3, match = "slow-model" } }   -- b: silent for 3 s
    local s = core.session()
    local a, b = s:request(call(MODEL)), s:request(call("slow-model"))
    for _ = 1, 3 do s:step(50) end      -- both sent; a's answer is not due yet
    assert.is_false(a:is_done())
    core.sleep(0.5)                     -- a's answer waits on its socket
    local t0 = core.now()
    s:step(3000)
    assert.is_true(a:is_done())
    assert.equal(200, a:status())
    assert.is_true(core.now() - t0 < 1, ("the step took %.2f s"):format(core.now() - t0))
    a:close()
    b:close()
    s:close()
  end)

  it("over plain HTTP/1.1, starts every call at once (none waits for the first answer)", function()
    local reqs = {}
    for i = 1, 4 do
      m:script{ { latency = 0.5 } }
      reqs[i] = { model = MODEL, contents = "call " .. i }
    end
    local c = gemini.Client{ api_key = KEY, base_url = m.url, retry = false }
    local t0 = core.now()
    local res = c.models:generate_content_all(reqs, { concurrency = 4 })
    local dt = core.now() - t0
    for i = 1, 4 do assert.truthy(res[i] and res[i].text) end
    assert.is_true(dt < 0.9, ("4 calls of 0.5 s took %.2f s"):format(dt))
    c:close()
  end)
end)

-- nginx (any build with http_v2 and ssl) answering over TLS + HTTP/2 and
-- logging each request's connection number.
-- (sh -c: `command` is a shell builtin, and command_output may put `env` first)
local NGINX = sh("sh -c 'command -v nginx || ls /usr/sbin/nginx' 2>/dev/null"):match("[^\n]+")
local OPENSSL = sh("sh -c 'command -v openssl' 2>/dev/null") ~= ""
local describe_h2 = (NGINX and OPENSSL) and describe or pending

local ANSWER = '{"candidates":[{"content":{"role":"model","parts":[{"text":"over h2"}]},'
  .. '"finishReason":"STOP","index":0}]}'

local CONF = [[
%s
worker_processes 1;
daemon on;
pid logs/nginx.pid;
error_log logs/error.log;
events { worker_connections 256; }
http {
  log_format conn '$connection $server_protocol';
  access_log logs/access.log conn;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  server {
    listen 127.0.0.1:%d ssl http2;
    ssl_certificate cert.pem;
    ssl_certificate_key key.pem;
    location / { default_type application/json; return 200 '%s'; }
  }
}
]]

describe_h2("concurrent calls over TLS + HTTP/2", function()
  local prefix, port

  setup(function()
    prefix = sh("mktemp -d"):gsub("%s+$", "")
    os.execute("mkdir -p " .. q(prefix .. "/logs") .. " " .. q(prefix .. "/conf") .. " " .. q(prefix .. "/tmp"))
    assert(os.execute(mock.child_env .. "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256"
      .. " -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
      .. " -keyout " .. q(prefix .. "/conf/key.pem") .. " -out " .. q(prefix .. "/conf/cert.pem")
      .. " >/dev/null 2>&1"))
    port = tonumber(sh("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0));"
      .. " print(s.getsockname()[1])'"))
    local root = sh("id -u"):gsub("%s+$", "") == "0"
    mock.write_file(prefix .. "/conf/nginx.conf", string.format(CONF, root and "user root;" or "", port, ANSWER))
    local out = sh(q(NGINX) .. " -p " .. q(prefix) .. " -c conf/nginx.conf 2>&1")
    local ok = false
    for _ = 1, 100 do
      if mock.read_file(prefix .. "/logs/nginx.pid") then
        ok = true
        break
      end
      mock.sleep(0.05)
    end
    assert(ok, "nginx did not start: " .. out .. (mock.read_file(prefix .. "/logs/error.log") or ""))
  end)

  teardown(function()
    local pid = prefix and tonumber(mock.read_file(prefix .. "/logs/nginx.pid") or "")
    if pid then
      os.execute("kill -QUIT " .. pid .. " 2>/dev/null")
      for _ = 1, 60 do
        if not mock.read_file(prefix .. "/logs/nginx.pid") then break end
        mock.sleep(0.05)
      end
    end
    if prefix then os.execute("rm -rf " .. q(prefix)) end
  end)

  it("share one connection instead of opening one per call", function()
    local c = gemini.Client{ api_key = KEY, base_url = "https://127.0.0.1:" .. port,
                             ca_file = prefix .. "/conf/cert.pem", retry = false }
    local reqs = {}
    for i = 1, 10 do reqs[i] = { model = MODEL, contents = "call " .. i } end
    local res, errs = c.models:generate_content_all(reqs, { concurrency = 10 })
    for i = 1, 10 do
      assert.equal("over h2", res[i] and res[i].text, tostring(errs and errs[i]))
    end
    c:close()
    local conns, n = {}, 0
    for line in (mock.read_file(prefix .. "/logs/access.log") or ""):gmatch("[^\n]+") do
      local conn, proto = line:match("^(%d+) (%S+)$")
      assert.equal("HTTP/2.0", proto)
      if not conns[conn] then
        conns[conn] = true
        n = n + 1
      end
    end
    assert.equal(1, n)
  end)
end)
