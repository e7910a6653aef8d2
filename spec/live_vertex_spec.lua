-- client.live in Vertex AI mode through the real WebSocket stack against the
-- mock (spec/mock/live_routes.py, its Vertex endpoint): python-genai live.py
-- AsyncLive.connect's vertexai branches, the bearer token from the client's
-- token cache (the single flight of its HTTP calls), a 401 on the upgrade
-- answered with one fresh token and one retry.
local gemini = require("gemini")
local mock = require("support.mock")
local creds = require("support.credentials")

local KEY = "vertex-live-key-77c1"
local MODEL = "gemini-live-2.5-flash"
local PROJECT, LOCATION = "proj-live", "us-central1"
local PATH = "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
local FULL = "projects/" .. PROJECT .. "/locations/" .. LOCATION .. "/publishers/google/models/" .. MODEL
local TEXT = { response_modalities = { "TEXT" } }

local function texts(s)
  local t, usage = {}, nil
  for msg in s:receive() do
    t[#t + 1] = msg.text
    usage = usage or msg.usage_metadata
  end
  return table.concat(t), usage
end

-- The Live connections of the mock's log (the upgrades and their refusals).
local function upgrades(m)
  local list = {}
  for _, e in ipairs(m:log()) do
    if e.path:find("/ws/", 1, true) then list[#list + 1] = e end
  end
  return list
end

describe("client.live in Vertex AI mode (blocking)", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  teardown(function() creds.cleanup() end)

  -- Function credentials minting mock tokens; `calls.n` counts the calls.
  local function minting()
    local calls = { n = 0 }
    return function()
      calls.n = calls.n + 1
      return m:access_token(3600)
    end, calls
  end

  local function vclient(opts)
    local o = { vertexai = true, project = PROJECT, location = LOCATION, base_url = m.url,
                retry = false, stall_timeout = 5 }
    for k, v in pairs(opts or {}) do o[k] = v end
    if o.credentials == nil and o.api_key == nil then o.credentials = minting() end
    return gemini.Client(o)
  end

  it("connects to LlmBidiService with a bearer token and the model's full name; a text turn", function()
    local fn, calls = minting()
    local log, _, lines = mock.log_lines()
    local c = vclient{ credentials = fn, log = log }
    local s = assert(c.live:connect{ model = MODEL, config = TEXT })
    assert.is_true(s:send_client_content{ turns = "Hello Vertex" })
    local text, usage = texts(s)
    s:close()
    assert.equal("Live echo: Hello Vertex", text)
    assert.equal(7, usage.candidatesTokenCount)
    assert.equal(7, usage.responseTokenCount)    -- the Gemini API's name too
    assert.equal(1, calls.n)
    local e = m:last_completed()
    assert.equal(PATH, e.path)
    assert.equal("bearer", e.auth)
    assert.matches("^Bearer ya29%.mock%-", e.headers.authorization)
    assert.is_nil(e.headers["x-goog-api-key"])
    assert.same({ setup = { model = FULL, generationConfig = { responseModalities = { "TEXT" } } } },
      e.ws_messages[1])
    for _, l in ipairs(lines) do assert.is_nil(l:find("ya29.mock-", 1, true), l) end
  end)

  it("sets the setup as python-genai does on Vertex: AUDIO by default, explicit_vad_signal on top", function()
    local c = vclient()
    assert(c.live:connect{ model = MODEL, config = { explicit_vad_signal = true, temperature = 0.2 } }):close()
    assert.same({ setup = { model = FULL, explicitVadSignal = true,
                            generationConfig = { responseModalities = { "AUDIO" }, temperature = 0.2 } } },
      m:last_completed().ws_messages[1])
    assert.has_error(function()
      c.live:connect{ model = MODEL, config = { translation_config = { target_language_code = "fr" } } }
    end, "bad field 'config.translation_config' to 'live:connect' (the Gemini API's only, not in Vertex"
      .. " AI mode)")
  end)

  it("answers a toolCall without the call's id (Vertex does without)", function()
    local c = vclient()
    local s = assert(c.live:connect{ model = MODEL, config = { response_modalities = { "TEXT" },
      tools = { { function_declarations = { { name = "weather", description = "w" } } } } } })
    assert.is_true(s:send_client_content{ turns = "weather?" })
    local call
    for msg in s:receive() do
      call = msg.tool_call
      if call then break end
    end
    assert.is_true(s:send_tool_response{ function_responses = { name = "weather", response = { t = 20 } } })
    assert.equal('Live echo: The tool said {"t": 20}', (texts(s)))
    s:close()
  end)

  it("takes the token of a service-account file (the mock verifies the JWT)", function()
    local _, path = creds.service_account(m, { email = "live-sa@mock-project.iam.gserviceaccount.com" })
    local c = vclient{ credentials = path }
    local s = assert(c.live:connect{ model = MODEL, config = TEXT })
    assert.is_true(s:send_client_content{ turns = "signed" })
    assert.equal("Live echo: signed", (texts(s)))
    s:close()
    assert.equal(1, creds.counts(m).jwt_bearer)
    assert.equal("bearer", m:last_completed().auth)
  end)

  it("shares the token of the client's HTTP calls", function()
    local fn, calls = minting()
    local c = vclient{ credentials = fn }
    assert.truthy(c.models:generate_content{ model = "gemini-2.5-flash", contents = "hi" })
    assert(c.live:connect{ model = MODEL, config = TEXT }):close()
    assert.equal(1, calls.n)
  end)

  it("express mode: the key header, publishers/google/models/{m}", function()
    local c = gemini.Client{ vertexai = true, api_key = KEY, base_url = m.url, retry = false }
    local s = assert(c.live:connect{ model = MODEL, config = TEXT })
    assert.is_true(s:send_client_content{ turns = "express" })
    assert.equal("Live echo: express", (texts(s)))
    s:close()
    local e = m:last_completed()
    assert.equal(PATH, e.path)
    assert.equal("express", e.auth)
    assert.equal(KEY, e.headers["x-goog-api-key"])
    assert.is_nil(e.headers.authorization)
    assert.equal("publishers/google/models/" .. MODEL, e.ws_messages[1].setup.model)
  end)

  it("a gateway of one's own (base_url without project and location): its URL, no token", function()
    local fn, calls = minting()
    local c = gemini.Client{ vertexai = true, credentials = fn, retry = false,
                             base_url = m.url .. "/gw" .. PATH, headers = { ["x-goog-api-key"] = KEY } }
    local s = assert(c.live:connect{ model = MODEL, config = TEXT })
    s:close()
    local e = m:last_completed()
    assert.equal("/gw" .. PATH, e.path)
    assert.equal("publishers/google/models/" .. MODEL, e.ws_messages[1].setup.model)
    assert.equal(0, calls.n)
  end)

  it("answers a 401 on the upgrade (a revoked token) with one fresh token and one retry", function()
    local fn, calls = minting()
    local log, _, lines = mock.log_lines()
    local c = vclient{ credentials = fn, log = log }
    assert(c.live:connect{ model = MODEL, config = TEXT }):close()
    assert.equal(1, m:revoke_tokens())
    local s = assert(c.live:connect{ model = MODEL, config = TEXT })
    assert.is_true(s:send_client_content{ turns = "again" })
    assert.equal("Live echo: again", (texts(s)))
    s:close()
    assert.equal(2, calls.n)
    local ups = upgrades(m)
    assert.equal(3, #ups)
    assert.equal(401, ups[2].status)
    assert.equal("revoked", ups[2].auth)
    assert.equal(101, ups[3].status)
    for _, l in ipairs(lines) do assert.is_nil(l:find("ya29.mock-", 1, true), l) end
  end)

  it("gives the 401 after one retry when the fresh token is refused too", function()
    local c = vclient{ credentials = function() return "ya29.never-valid-live", 3600 end }
    local s, err = c.live:connect{ model = MODEL, config = TEXT }
    assert.is_nil(s)
    assert.equal("api", err.kind)
    assert.equal(401, err.code)
    assert.equal(2, #upgrades(m))
    assert.is_nil(tostring(err):find("never-valid", 1, true))
  end)
end)

local ok_uv, uv = pcall(require, "luv")
local describe_uv = ok_uv and describe or pending

describe_uv("client.live in Vertex AI mode (callbacks on luv)", function()
  local loop = require("support.loop")
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  teardown(function() creds.cleanup() end)
  local c
  loop.hygiene(uv, { teardown = teardown, after_each = after_each }, function() return c end)

  it("fetches the token on the loop, once for a connect and an HTTP call in flight", function()
    creds.settings(m, { latency = 0.3 })
    local _, path = creds.service_account(m, { email = "live-loop@mock-project.iam.gserviceaccount.com" })
    c = gemini.Client{ vertexai = true, project = PROJECT, location = LOCATION, base_url = m.url,
                       retry = false, credentials = path, loop = uv, stall_timeout = 5 }
    local text, closed, answer = {}, "unset", nil
    c.models:generate_content({ model = "gemini-2.5-flash", contents = "hi" }, function(err, res)
      answer = err or res.text
    end)
    local session
    session = c.live:connect({ model = MODEL, config = TEXT }, {
      on_message = function(msg)
        text[#text + 1] = msg.text
        if msg.server_content and msg.server_content.turnComplete then session:close() end
      end,
      on_close = function(err) closed = err end,
    })
    assert.is_true(session:send_client_content{ turns = "on the loop" })
    local ticks = loop.run(uv, 10)
    assert.is_nil(closed)
    assert.equal("Live echo: on the loop", table.concat(text))
    assert.matches('You asked: "hi"', answer, 1, true)
    assert.equal(1, creds.counts(m).jwt_bearer)
    assert.is_true(ticks >= 4, "the loop ran while the token came (0.3 s): " .. ticks .. " ticks")
    assert.equal(FULL, upgrades(m)[1].ws_messages[1].setup.model)
  end)

  it("client:close() while the token is fetched: on_close once with the canceled error", function()
    creds.settings(m, { latency = 0.3 })
    local _, path = creds.service_account(m, { email = "live-cancel@mock-project.iam.gserviceaccount.com" })
    c = gemini.Client{ vertexai = true, project = PROJECT, location = LOCATION, base_url = m.url,
                       retry = false, credentials = path, loop = uv }
    local errs, opened = {}, false
    c.live:connect({ model = MODEL, config = TEXT }, {
      on_open = function() opened = true end,
      on_close = function(err) errs[#errs + 1] = err end })
    local t = uv.new_timer()
    t:start(50, 0, function() t:close() c:close() end)
    loop.run(uv, 10)
    assert.is_false(opened)
    assert.equal(1, #errs)
    assert.equal("canceled", errs[1].kind)
    assert.equal(0, #upgrades(m))
  end)

  it("answers a 401 on the upgrade with one fresh token and one retry", function()
    local calls = 0
    c = gemini.Client{ vertexai = true, project = PROJECT, location = LOCATION, base_url = m.url,
                       retry = false, loop = uv, stall_timeout = 5,
                       credentials = function() calls = calls + 1 return m:access_token(3600) end }
    -- a first session, then its token revoked
    local opened = 0
    local s1
    s1 = c.live:connect({ model = MODEL, config = TEXT }, {
      on_open = function() opened = opened + 1 s1:close() end })
    loop.run(uv, 10)
    m:revoke_tokens()
    local closed = "unset"
    local s2
    s2 = c.live:connect({ model = MODEL, config = TEXT }, {
      on_open = function() opened = opened + 1 s2:close() end,
      on_close = function(err) closed = err end })
    loop.run(uv, 10)
    assert.equal(2, opened)
    assert.is_nil(closed)
    assert.equal(2, calls)
    local ups = upgrades(m)
    assert.equal(401, ups[2].status)
    assert.equal(101, ups[3].status)
  end)
end)

local nginx = require("support.nginx")
local describe_ngx = nginx.available and describe or pending

describe_ngx("client.live in Vertex AI mode in OpenResty (cosockets)", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local n

  -- The worker's client (credentials: spec/support/token_source.lua, a token
  -- fetched over cosockets); GET /both runs a generate call and a Live turn
  -- on two light threads at once and prints both answers.
  local HTTP = [[
  init_worker_by_lua_block {
    local token_source = require("support.token_source")
    token_source.install({ url = "%s" })
    package.loaded.vertex_client = require("gemini").Client{ vertexai = true, project = "%s",
      location = "%s", base_url = "%s", retry = false, stall_timeout = 5,
      credentials = token_source.account() }
  }
  server {
    listen 127.0.0.1:%d;
    location = /ping { return 204; }
    location = /both {
      content_by_lua_block {
        local c = package.loaded.vertex_client
        local gen = ngx.thread.spawn(function()
          local res, err = c.models:generate_content{ model = "gemini-2.5-flash", contents = "http" }
          return res and res.text or ("ERROR " .. tostring(err))
        end)
        local live = ngx.thread.spawn(function()
          local s, err = c.live:connect{ model = "%s", config = { response_modalities = { "TEXT" } } }
          if not s then return "ERROR " .. tostring(err) end
          s:send_client_content{ turns = ngx.var.arg_q }
          local out = {}
          for msg in s:receive() do out[#out + 1] = msg.text end
          s:close()
          return table.concat(out)
        end)
        local _, a = ngx.thread.wait(gen)
        local _, b = ngx.thread.wait(live)
        ngx.say(a)
        ngx.say(b)
      }
    }
  }
]]

  setup(function()
    n = nginx.new()
    n:start(string.format(HTTP, m.url, PROJECT, LOCATION, m.url, n.port, MODEL))
  end)
  teardown(function() if n then n:stop() end end)

  it("fetches one token for a Live session and an HTTP call of the same moment", function()
    local body = n:get("/both?q=cosocket")
    assert.matches('You asked: "http"', body, 1, true)
    assert.matches("Live echo: cosocket", body, 1, true)
    assert.equal(1, m:access_tokens().issued)
    local e = upgrades(m)[1]
    assert.equal("bearer", e.auth)
    assert.equal(FULL, e.ws_messages[1].setup.model)
  end)

  it("answers a 401 on the upgrade with one fresh token and one retry", function()
    n:get("/both?q=first")   -- (the worker's token may be one of the last test: forgotten by the mock)
    m:revoke_tokens()
    local before, seen = m:access_tokens().issued, #upgrades(m)
    local body = n:get("/both?q=again")
    assert.matches("Live echo: again", body, 1, true)
    assert.equal(before + 1, m:access_tokens().issued)
    local ups, refused = upgrades(m), 0
    for i = seen + 1, #ups do if ups[i].status == 401 then refused = refused + 1 end end
    assert.equal(1, refused)
    assert.equal("revoked", ups[#ups - 1].auth)
    assert.equal(101, ups[#ups].status)
  end)
end)
