-- Vertex AI mode inside nginx's Lua module: the token is fetched over
-- cosockets, once for the light threads of a request that ask at the same
-- time, and shared by every request (and every client with the same
-- credentials) of the worker.
local mock = require("support.mock")
local nginx = require("support.nginx")

local q = mock.shell_quote
local sh = nginx.sh

-- The body of nginx's http block: %s = the mock's URL (three times), the port.
local HTTP = [[
  init_worker_by_lua_block {
    -- The stand-in for gemini.auth.credentials (spec/support/token_source.lua).
    local token_source = require("support.token_source")
    token_source.install({ url = "%s" })
    package.loaded.vertex_account = token_source.account()
    package.loaded.vertex_client = require("gemini").Client{ vertexai = true, project = "p",
      location = "us-central1", base_url = "%s", retry = false,
      credentials = package.loaded.vertex_account }
  }

  server {
    listen 127.0.0.1:%d;
    location /ping { return 204; }
    # Light threads asking for a token at the same time.
]] .. nginx.VERTEX_THREADS .. [[
    # A client made in the request, with the worker's credentials.
    location /fresh {
      content_by_lua_block {
        local c = require("gemini").Client{ vertexai = true, project = "p", location = "us-central1",
          base_url = "%s", retry = false, credentials = package.loaded.vertex_account }
        local res, err = c.models:generate_content{ model = "gemini-2.5-flash", contents = "fresh" }
        ngx.say(res and res.text or ("ERROR " .. tostring(err)))
      }
    }
  }
]]

local describe_ngx = nginx.available and describe or pending

describe_ngx("Vertex AI mode in OpenResty", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each,
                        key = "vertex-ngx-key" }
  local n

  setup(function()
    n = nginx.new()
    n:start(string.format(HTTP, m.url, m.url, n.port, m.url))
  end)
  teardown(function() if n then n:stop() end end)

  it("fetches one token over cosockets for the light threads of a request and the worker", function()
    local body = sh("curl -s --max-time 10 " .. q(n:url("/threads")))
    for i = 1, 6 do assert.matches(i .. ' [^\n]*You asked: "t' .. i .. '"', body) end
    assert.equal(1, m:access_tokens().issued)
    body = sh("curl -s --max-time 10 " .. q(n:url("/threads")))
    assert.matches('6 [^\n]*You asked: "t6"', body)
    assert.matches('You asked: "fresh"', sh("curl -s --max-time 10 " .. q(n:url("/fresh"))), 1, true)
    assert.equal(1, m:access_tokens().issued)
    local bearer = {}
    for _, e in ipairs(m:log()) do
      if e.headers.authorization then bearer[e.headers.authorization] = true end
    end
    assert.equal(1, #(function() local l = {} for k in pairs(bearer) do l[#l + 1] = k end return l end)())
  end)

  it("refreshes a revoked token once for the light threads that got a 401", function()
    sh("curl -s --max-time 10 " .. q(n:url("/threads")))
    m:revoke_tokens()
    local before = m:access_tokens().issued
    local body = sh("curl -s --max-time 10 " .. q(n:url("/threads")))
    for i = 1, 6 do assert.matches(i .. ' [^\n]*You asked: "t' .. i .. '"', body) end
    assert.equal(before + 1, m:access_tokens().issued)
  end)
end)
