-- Vertex AI mode on a libuv loop (the callback API): many calls in flight
-- at once share one token fetch, made through the loop's own transport,
-- and a revoked token is refreshed once for all of them.
local ok_uv, uv = pcall(require, "luv")
local gemini = require("gemini")
local mock = require("support.mock")
local loop = require("support.loop")
local token_source = require("support.token_source")

local MODEL = "gemini-2.5-flash"
local N = 12

local describe_uv = ok_uv and describe or pending

describe_uv("Vertex AI mode on luv", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each,
                        key = "vertex-luv-key", stream_delay = 0.01 }
  local restore, c
  before_each(function() restore = token_source.install(m) end)
  after_each(function() restore() end)

  local function client(opts)
    local o = { vertexai = true, project = "p", location = "us-central1", base_url = m.url,
                loop = uv, retry = false, credentials = token_source.account() }
    for k, v in pairs(opts or {}) do o[k] = v end
    c = gemini.Client(o)
    return c
  end

  loop.hygiene(uv, { teardown = teardown, after_each = after_each }, function() return c end)
  after_each(function() if c then c:close() end c = nil; uv.run() end)

  it("fetches one token for many calls in flight, without blocking the loop", function()
    local cl = client()
    local done, errs = 0, {}
    for i = 1, N do
      cl.models:generate_content({ model = MODEL, contents = "call " .. i }, function(err, res)
        done = done + 1
        if err or not res.text then errs[#errs + 1] = tostring(err) end
      end)
    end
    local ticks = loop.run(uv, 10)
    assert.equal(N, done)
    assert.same({}, errs)
    assert.equal(1, m:access_tokens().issued)
    local tokens = {}
    for _, e in ipairs(m:log()) do
      if e.path:find(":generateContent$") then tokens[e.headers.authorization] = true end
    end
    assert.equal(1, #(function() local l = {} for k in pairs(tokens) do l[#l + 1] = k end return l end)())
    assert.is_true(ticks >= 0)
  end)

  it("fetches one token for generate_content_all and streams on the loop", function()
    local cl = client()
    local reqs = {}
    for i = 1, N do reqs[i] = { model = MODEL, contents = "all " .. i } end
    local got
    cl.models:generate_content_all(reqs, { concurrency = N }, function(res, errs) got = { res, errs } end)
    local streamed = 0
    for i = 1, 3 do
      cl.models:generate_content_stream({ model = MODEL, contents = "s" .. i }, {
        on_done = function(err, res) if not err and res.text then streamed = streamed + 1 end end })
    end
    loop.run(uv, 10)
    for i = 1, N do assert.is_nil(got[2][i]); assert.truthy(got[1][i].text) end
    assert.equal(3, streamed)
    assert.equal(1, m:access_tokens().issued)
  end)

  it("refreshes a revoked token once for all the calls that got a 401", function()
    local cl = client()
    local first
    cl.models:generate_content({ model = MODEL, contents = "warm up" }, function(err) first = err or true end)
    loop.run(uv, 10)
    assert.is_true(first)
    m:revoke_tokens()
    local done, errs = 0, {}
    for i = 1, N do
      cl.models:generate_content({ model = MODEL, contents = "after " .. i }, function(err)
        done = done + 1
        if err then errs[#errs + 1] = tostring(err) end
      end)
    end
    loop.run(uv, 10)
    assert.equal(N, done)
    assert.same({}, errs)
    assert.equal(2, m:access_tokens().issued)
  end)

  it("gives every waiting call the error of a failed fetch", function()
    local creds = token_source.account()
    creds.token_path = "/no-token-endpoint-here"
    local cl = client{ credentials = creds }
    local kinds = {}
    for i = 1, 4 do
      cl.models:generate_content({ model = MODEL, contents = "x" .. i }, function(err)
        kinds[#kinds + 1] = err and err.kind .. ": " .. err.message
      end)
    end
    loop.run(uv, 10)
    assert.equal(4, #kinds)
    for _, k in ipairs(kinds) do
      assert.equal("auth: no access token from the service_account credentials: HTTP 401", k)
    end
    assert.equal(1, #m:log())      -- one fetch for all four
  end)

  it("creates, waits for and cancels batch prediction jobs with callbacks", function()
    local cl = client()
    local created, waited, canceled
    cl.batches:create({ model = MODEL, src = "gs://b/in.jsonl" }, function(err, job)
      created = err or job
      cl.batches:wait(job, { interval = 0.01 }, function(werr, done) waited = werr or done end)
    end)
    loop.run(uv, 10)
    assert.equal("JOB_STATE_PENDING", created.state)
    assert.equal("JOB_STATE_SUCCEEDED", waited.state)
    cl.batches:create({ model = MODEL, src = "bq://p.d.t", config = { dest = "bq://p.d.out" } },
      function(err, job)
        assert.is_nil(err)
        cl.batches:cancel(job, function(cerr, ok) canceled = cerr or ok end)
      end)
    loop.run(uv, 10)
    assert.is_true(canceled)
    assert.equal(1, m:access_tokens().issued)
  end)

  it("fetches anew when the call fetching the token was canceled", function()
    local cl = client()
    local h = cl.models:generate_content({ model = MODEL, contents = "canceled" }, function() end)
    local got
    cl.models:generate_content({ model = MODEL, contents = "waits" }, function(err, res)
      got = err or res.text
    end)
    h:cancel()                    -- the first call's token fetch is in flight
    loop.run(uv, 10)
    assert.matches('You asked: "waits"', got, 1, true)
  end)

  it("generates a video, waits for it and downloads it with callbacks (fetchPredictOperation)", function()
    local cl = client()
    local got
    cl.models:generate_videos({ model = "veo-3.0-generate-001", prompt = "a cat on the loop" },
      function(err, op)
        if err then got = err return end
        cl.operations:wait(op, { interval = 0.01 }, function(werr, done)
          if werr then got = werr return end
          cl.files:download({ file = done.response.generated_videos[1] }, function(derr, bytes)
            got = derr or bytes
          end)
        end)
      end)
    loop.run(uv, 10)
    assert.equal("string", type(got), tostring(got))
    assert.equal("ftyp", got:sub(5, 8))
    local polls = 0
    for _, e in ipairs(m:log()) do
      if e.path:find(":fetchPredictOperation$") then polls = polls + 1 end
    end
    assert.equal(3, polls)   -- two not done yet (the mock's), then done
  end)
end)
