-- client.auth_tokens:create: ephemeral tokens for the Live API, the v1alpha
-- REST call of the SDKs (python-genai tokens.py, js-genai src/tokens.ts),
-- against the mock's token endpoint (spec/mock/auth_token_routes.py), which
-- validates the body as Google's service does.
local ok_uv, uv = pcall(require, "luv")
local cjson = require("cjson")
local mock = require("support.mock")
local loop = require("support.loop")

local KEY = "auth-tokens-spec-key"
local MODEL = "gemini-2.5-flash-native-audio-latest"

-- A Live config setting a little of everything: generation config fields,
-- setup fields holding an object, a list, an empty object.
local function live_config()
  return { response_modalities = { "AUDIO" }, temperature = 0.7, system_instruction = "Be brief.",
           output_audio_transcription = {}, tools = { { google_search = {} } } }
end

-- Its setup on the wire.
local SETUP = {
  model = "models/" .. MODEL,
  generationConfig = { responseModalities = { "AUDIO" }, temperature = 0.7 },
  systemInstruction = { parts = { { text = "Be brief." } } },
  outputAudioTranscription = {},
  tools = { { googleSearch = {} } },
}
-- The fields it sets, as a field mask (sorted).
local SETUP_MASK = "generationConfig.responseModalities,generationConfig.temperature,model,"
  .. "outputAudioTranscription,systemInstruction.parts,tools"

describe("client.auth_tokens:create", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local c

  setup(function() c = m:client{ retry = false } end)

  -- The token records the mock keeps (its control endpoint).
  local function issued()
    local res = m:request{ method = "GET", path = "/_mock/auth_tokens" }
    return cjson.decode(res.body).tokens
  end

  it("POSTs v1alpha/auth_tokens with uses, times and the constraints' setup, and answers the AuthToken",
    function()
      local token, err = c.auth_tokens:create{ config = {
        uses = 1, expire_time = os.time() + 600, new_session_expire_time = os.time() + 60,
        live_connect_constraints = { model = MODEL, config = live_config() },
      } }
      assert.is_nil(err)
      assert.matches("^auth_tokens/%x+$", token.name)
      local e = m:last()
      assert.equal("POST", e.method)
      assert.equal("/v1alpha/auth_tokens", e.path)
      assert.equal(KEY, e.headers["x-goog-api-key"])
      assert.same({ "bidiGenerateContentSetup", "expireTime", "newSessionExpireTime", "uses" },
        (function() local ks = {} for k in pairs(e.json) do ks[#ks + 1] = k end table.sort(ks) return ks end)())
      assert.equal(1, e.json.uses)
      assert.equal(os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + 600):sub(1, 15), e.json.expireTime:sub(1, 15))
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", e.json.newSessionExpireTime)
      assert.same(SETUP, e.json.bidiGenerateContentSetup)
      assert.is_nil(e.json.fieldMask)                 -- the whole setup locked
      -- the mock remembers it for the Live API's route
      local t = issued()[1]
      assert.equal(token.name, t.name)
      assert.equal(1, t.uses)
      assert.same(SETUP, t.setup)
      assert.equal(cjson.null, t.field_mask)
    end)

  it("goes to v1alpha whatever the client's api_version", function()
    for _, v in ipairs({ "v1beta", "v1", "v1alpha" }) do
      local cv = m:client{ retry = false, api_version = v }
      local token, err = cv.auth_tokens:create{ config = { uses = 2 } }
      assert.is_nil(err)
      assert.matches("^auth_tokens/", token.name)
      assert.equal("/v1alpha/auth_tokens", m:last().path)
    end
    -- the mock, like Google, has the service in v1alpha only
    local res = m:request{ method = "POST", path = "/v1beta/auth_tokens", body = "{}",
                           headers = { ["x-goog-api-key"] = KEY } }
    assert.equal(404, res.status)
  end)

  it("with no config sends an empty body, and the service's defaults come back", function()
    local token, err = c.auth_tokens:create{}
    assert.is_nil(err)
    assert.equal("{}", m:last().body)
    assert.equal(1, token.uses)
    assert.matches("^auth_tokens/", token.name)
    local t = issued()[1]
    assert.is_true(t.new_session_expire_time - os.time() <= 61)
    assert.is_true(t.expire_time - os.time() > 1700)
  end)

  describe("turns lock_additional_fields into the SDKs' fieldMask", function()
    local with_setup = { model = MODEL, config = live_config() }
    local cases = {
      { "constraints, no list: no mask (everything locked)", with_setup, nil, nil },
      { "constraints, an empty list: the fields they set", with_setup, {}, SETUP_MASK },
      { "constraints and names: those too, generation config fields under generationConfig", with_setup,
        { "top_k", "output_audio_transcription", "session_resumption", "systemInstruction",
          "generationConfig.seed", "speech_config" },
        SETUP_MASK .. ",generationConfig.topK,outputAudioTranscription,sessionResumption,systemInstruction,"
          .. "generationConfig.seed,generationConfig.speechConfig" },
      { "no constraints, names: the names alone, as the SDKs send them", nil,
        { "output_audio_transcription", "generation_config.temperature" },
        "outputAudioTranscription,generationConfig.temperature" },
      { "no constraints, an empty list: no mask", nil, {}, nil },
      { "constraints that set nothing count as none", {}, { "tools" }, "tools" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        local token, err = c.auth_tokens:create{ config = {
          live_connect_constraints = case[2], lock_additional_fields = case[3] } }
        assert.is_nil(err)
        assert.matches("^auth_tokens/", token.name)
        local sent = m:last().json
        assert.equal(case[4], sent.fieldMask)
        if case[2] == with_setup then
          assert.same(SETUP, sent.bidiGenerateContentSetup)
        else
          assert.is_nil(sent.bidiGenerateContentSetup)
        end
        local t = issued()[1]
        if case[4] then
          local paths = {}
          for p in case[4]:gmatch("[^,]+") do paths[#paths + 1] = p end
          assert.same(paths, t.field_mask)
        end
      end)
    end
  end)

  it("a model name in full is kept; generation_config and flat fields meet in generationConfig",
    function()
      local _, err = c.auth_tokens:create{ config = { live_connect_constraints = {
        model = "models/" .. MODEL, config = { generation_config = { top_p = 0.5 }, max_output_tokens = 9 } } } }
      assert.is_nil(err)
      assert.same({ model = "models/" .. MODEL, generationConfig = { topP = 0.5, maxOutputTokens = 9 } },
        m:last().json.bidiGenerateContentSetup)
    end)

  it("an answer the service refuses is nil and the API error", function()
    local token, err = c.auth_tokens:create{ config = { expire_time = "tomorrow" } }
    assert.is_nil(token)
    assert.equal("api", err.kind)
    assert.equal(400, err.code)
    assert.matches("Invalid value at 'expire_time'", err.message, 1, true)
    token, err = c.auth_tokens:create{ config = { live_connect_constraints = { config = { voice = "Kore" } } } }
    assert.is_nil(token)
    assert.equal(400, err.code)
    assert.equal('Invalid JSON payload received. Unknown name "voice" at'
      .. " 'bidi_generate_content_setup.generation_config': Cannot find field.", err.message)
    token, err = c.auth_tokens:create{ config = { expire_time = os.time() - 10 } }
    assert.is_nil(token)
    assert.equal("expire_time must be in the future and less than 20 hours from now.", err.message)
  end)

  it("raises for a config of the wrong shape, naming the field", function()
    local function create(config) return function() c.auth_tokens:create{ config = config } end end
    assert.has_error(create{ uses = "1" }, "bad field 'config.uses' to 'create' (number expected, got string)")
    assert.has_error(create{ uses = -1 }, "bad field 'config.uses' to 'create' (an integer >= 0 expected, got -1)")
    assert.has_error(create{ uses = 1.5 }, "bad field 'config.uses' to 'create' (an integer >= 0 expected, got 1.5)")
    assert.has_error(create{ expire_time = {} },
      "bad field 'config.expire_time' to 'create' (number or string expected, got table)")
    assert.has_error(create{ new_session_expire_time = true },
      "bad field 'config.new_session_expire_time' to 'create' (number or string expected, got boolean)")
    assert.has_error(create{ lock_additional_fields = "tools" },
      "bad field 'config.lock_additional_fields' to 'create' (table expected, got string)")
    assert.has_error(create{ lock_additional_fields = { "tools", 7 } },
      "bad field 'config.lock_additional_fields[2]' to 'create' (string expected, got number)")
    assert.has_error(create{ live_connect_constraints = "x" },
      "bad field 'config.live_connect_constraints' to 'create' (table expected, got string)")
    assert.has_error(create{ live_connect_constraints = { model = 3 } },
      "bad field 'config.live_connect_constraints.model' to 'create' (string expected, got number)")
    assert.has_error(create{ live_connect_constraints = { config = "AUDIO" } },
      "bad field 'config.live_connect_constraints.config' to 'create' (table expected, got string)")
    assert.has_error(create{ live_connect_constraints = { modle = MODEL } },
      "bad field 'config.live_connect_constraints.modle' to 'create' (unknown field; known: model, config)")
    assert.has_error(create{ use = 1 }, "bad field 'config.use' to 'create' (unknown field; known: uses,"
      .. " expire_time, new_session_expire_time, live_connect_constraints, lock_additional_fields, http_options)")
    assert.has_error(function() c.auth_tokens:create("x") end,
      "bad argument #1 to 'create' (table expected, got string)")
    assert.has_error(function() c.auth_tokens:create{ conifg = {} } end,
      "bad field 'conifg' to 'create' (unknown field; known: config)")
    assert.has_error(function() c.auth_tokens.create{ config = {} } end,
      "bad self to 'create' (call it as client.auth_tokens:create{...})")
    assert.equal(0, #m:log())                        -- nothing was sent
  end)

  it("takes camelCase spellings and per-call http_options", function()
    local token, err = c.auth_tokens:create{ config = { uses = 3, expireTime = os.time() + 100,
      liveConnectConstraints = { model = MODEL }, lockAdditionalFields = { "temperature" },
      http_options = { headers = { ["x-trace"] = "t1" } } } }
    assert.is_nil(err)
    assert.equal(3, token.uses)
    local e = m:last()
    assert.equal("model,generationConfig.temperature", e.json.fieldMask)
    assert.equal("t1", e.headers["x-trace"])
  end)
end)

local describe_uv = ok_uv and describe or pending

describe_uv("client.auth_tokens:create with a callback on a luv loop", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local c
  setup(function() c = m:client{ loop = uv, retry = false } end)
  loop.hygiene(uv, { teardown = teardown, after_each = after_each }, function() return c end)

  it("calls back with the token, the loop not blocked", function()
    local got
    local h = c.auth_tokens:create({ config = { uses = 1 } }, function(err, token) got = { err, token } end)
    assert.is_function(h.cancel)
    assert.is_nil(got)
    loop.run(uv, 10)
    assert.is_nil(got[1])
    assert.matches("^auth_tokens/", got[2].name)
    assert.equal("/v1alpha/auth_tokens", m:last().path)
  end)
end)
