-- The retry engine (gemini.retry) through the real HTTP stack against the
-- mock: the rules not already pinned by client_spec (429/503 retried,
-- RetryInfo and Retry-After honoured, attempts, max_delay against a server
-- delay, retry = false), deadline_spec (the whole-call timeout) or urls_spec
-- (a final error): the backoff's shape, the server's delay winning both
-- ways, the statuses retried, a per-call policy, a stream's attempts. The
-- upload's use of the engine is in files_spec ("upload on the retry
-- engine"). Timings are loose: the machines running this are noisy.
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "retry-spec-key-7c1d"
local now = gemini.core.now

describe("retries", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }

  -- A client of the mock with the retry option `policy` (and `timeout`).
  local function client(policy, timeout)
    return m:client{ retry = policy, timeout = timeout }
  end

  local function request(config)
    return { model = "gemini-2.5-flash", contents = "retry", config = config }
  end

  -- One call on a client of `policy` (and `timeout`), with the call's
  -- `config`: its answer and error, how long it took, how many requests
  -- the mock saw.
  local function call(policy, timeout, config)
    local c = client(policy, timeout)
    local t0 = now()
    local res, err = c.models:generate_content(request(config))
    return res, err, now() - t0, #m:log()
  end

  -- Seconds between the starts of the requests the mock saw.
  local function gaps()
    local log, out = m:log(), {}
    for i = 2, #log do out[#out + 1] = log[i].t_start - log[i - 1].t_start end
    return out
  end

  describe("the backoff", function()
    it("waits initial_delay * exp_base ^ (n - 1), plus at most jitter", function()
      m:faults{ { type = "status", code = 503, times = 3 } }
      assert.truthy(call{ initial_delay = 0.1, exp_base = 3, jitter = 0.05 })
      local g = gaps()
      assert.equal(3, #g)
      for i, want in ipairs({ 0.1, 0.3, 0.9 }) do
        assert.is_true(g[i] >= want and g[i] < want + 0.05 + 0.4, "wait " .. i .. ": " .. g[i] .. " s")
      end
    end)

    -- A 30 s initial_delay, not waited: the call is back at once.
    for _, case in ipairs({
      { "is capped at max_delay", { type = "status", code = 503, times = 2 },
        { initial_delay = 30, max_delay = 0.05, jitter = 0 }, 3 },
      { "gives way to a shorter server delay", { type = "status", code = 429, retry_delay = "0.05s" },
        { initial_delay = 30, max_delay = 60 }, 2 },
    }) do
      local name, fault, policy, requests = case[1], case[2], case[3], case[4]
      it(name, function()
        m:faults{ fault }
        local res, _, took, sent = call(policy)
        assert.truthy(res)
        assert.equal(requests, sent)
        assert.is_true(took < 2, "took " .. took .. " s")
      end)
    end
  end)

  describe("the server's delay", function()
    it("is read from a Retry-After HTTP date", function()
      local at = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 2)
      m:faults{ { type = "status", code = 503, retry_after = at } }
      local res, _, took = call{ initial_delay = 0.01, max_delay = 5, jitter = 0 }
      assert.truthy(res)
      assert.is_true(took >= 0.9 and took < 4, "took " .. took .. " s")
    end)

    it("is not waited out past the call's timeout: the error comes at once", function()
      m:faults{ { type = "status", code = 429, retry_delay = "5s" } }
      local res, err, took, sent = call({ max_delay = 60 }, 2)
      assert.is_nil(res)
      assert.equal(429, err.code)
      assert.equal(5, err.retry_after)
      assert.equal(1, sent)
      assert.is_true(took < 1, "took " .. took .. " s")
    end)
  end)

  describe("the policy", function()
    it("retries only the statuses of http_status_codes", function()
      local policy = { initial_delay = 0.01, jitter = 0, http_status_codes = { 500 } }
      m:faults{ { type = "status", code = 503, times = 2 } }
      local _, err, _, sent = call(policy)
      assert.equal(503, err.code)
      assert.equal(1, sent)
      m:reset()
      m:faults{ { type = "status", code = 500, times = 2 } }
      local res
      res, _, _, sent = call(policy)
      assert.truthy(res)
      assert.equal(3, sent)
    end)

    it("of a call overrides the client's field by field, or turns it off", function()
      local policy = { attempts = 2, initial_delay = 0.01, jitter = 0 }
      m:faults{ { type = "status", code = 503, times = 10 } }
      local _, err, took, sent = call(policy, nil, { http_options = { retry = { attempts = 4 } } })
      assert.equal(503, err.code)
      assert.equal(4, sent)                                 -- the call's attempts ...
      assert.is_true(took < 2, "took " .. took .. " s")     -- ... the client's delays
      m:reset()
      m:faults{ { type = "status", code = 503, times = 10 } }
      _, err, _, sent = call(policy, nil, { http_options = { retry = false } })
      assert.equal(503, err.code)
      assert.equal(1, sent)
    end)

    it("counts a stream's attempts before its first chunk like a call's", function()
      m:faults{ { type = "status", code = 503, times = 10 } }
      local c = client{ attempts = 3, initial_delay = 0.01, jitter = 0 }
      local chunk, err = c.models:generate_content_stream(request()):next()
      assert.is_nil(chunk)
      assert.equal(503, err.code)
      assert.equal(3, #m:log())
    end)
  end)
end)
