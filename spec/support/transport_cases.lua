-- spec/support/transport_cases.lua: the conformance cases of the transport
-- contract (lua/gemini/transport/init.lua), one list that every transport
-- runs against the mock (spec/transport_spec.lua: curl, luv through the
-- task adapter, the blocking multi driver, and the cosocket transport
-- inside nginx, which requires this very module).
--
-- A case:
--   name    what the contract says
--   faults  (optional) set on the mock before the case
--   stream  true when it opens a stream (a driver without streams skips it)
--   run(t, env) -> observation   the transport calls, nothing else (it may
--                                run in a task, where each call yields)
--   check(obs)   raises a message when the observation breaks the contract
--   after(m)     (optional) checks on the mock's side, outside the transport
-- env: { url = the mock's base URL, key = its key, refused = a base URL
-- where connections are refused }
--
-- Runs in busted and inside nginx: plain Lua, no busted asserts.
local core = require("gemini.core")

local M = {}

local MODEL = "gemini-2.5-flash"
local BODY = '{"contents":[{"parts":[{"text":"conformance"}]}]}'

local function pack(...) return { n = select("#", ...), ... } end

-- Raises `msg` (with the values shown) unless `ok`.
local function expect(ok, msg, ...)
  if not ok then
    local shown = {}
    for i = 1, select("#", ...) do shown[i] = tostring((select(i, ...))) end
    error(msg .. (#shown > 0 and (": " .. table.concat(shown, ", ")) or ""), 2)
  end
end

-- A request spec for `path` on `base` (GET without a body, else POST).
local function spec(env, path, body, extra)
  local s = { method = body and "POST" or "GET", url = (extra and extra.base or env.url) .. path,
              body = body, timeout = 10, connect_timeout = 5,
              headers = { "x-goog-api-key: " .. env.key, "Content-Type: application/json" } }
  for k, v in pairs(extra or {}) do
    if k ~= "base" then s[k] = v end
  end
  return s
end

local function generate(env, extra)
  return spec(env, "/v1beta/models/" .. MODEL .. ":generateContent", BODY, extra)
end

local function stream(env, extra)
  return spec(env, "/v1beta/models/" .. MODEL .. ":streamGenerateContent?alt=sse", BODY, extra)
end

-- The failure of the contract: nil, kind, a message, final (true or nil).
local function check_failure(r, kind, final)
  expect(r[1] == nil, "an answer where a failure was due", r[1])
  expect(r[2] == kind, "kind " .. kind .. " expected", r[2], r[3])
  expect(type(r[3]) == "string" and r[3] ~= "", "a message expected", r[3])
  expect(r[4] == final, "final " .. tostring(final) .. " expected", r[4])
end

-- An answer of the contract with `status`.
local function check_answer(r, status)
  local res = r[1]
  expect(type(res) == "table", "an answer expected", r[1], r[2], r[3])
  expect(res.status == status, "status " .. status .. " expected", res.status)
  expect(type(res.headers) == "table", "headers expected", res.headers)
  expect(type(res.body) == "string", "a body expected", res.body)
  return res
end

-- Opens a stream and reads it to its end (or `limit` pieces): what came,
-- and the last read's results.
local function read_stream(t, s, limit)
  local reader, kind, msg, final = t:open(s)
  if not reader then return { open = pack(reader, kind, msg, final) } end
  local obs = { status = reader.status, headers = reader.headers, pieces = {} }
  while true do
    local r = pack(reader:read())
    if r[1] == nil then obs.ending = r break end
    obs.pieces[#obs.pieces + 1] = r[1]
    if limit and #obs.pieces >= limit then break end
  end
  reader:close()
  reader:close()   -- harmless when repeated
  return obs
end

-- A stream opened with `status`, every piece a non-empty string: the body
-- they make.
local function opened(obs, status)
  expect(obs.status == status, "status " .. status .. " expected", obs.status,
    obs.open and obs.open[3])
  for i, p in ipairs(obs.pieces) do
    expect(type(p) == "string" and p ~= "", "piece " .. i .. " is not a non-empty string", p)
  end
  return table.concat(obs.pieces)
end

-- A case that opens the stream (with `extra(env)` in its spec) and reads
-- it to its end.
local function read_case(name, faults, check, extra)
  return { name = name, stream = true, faults = faults, check = check, run = function(t, env)
    return read_stream(t, stream(env, extra and extra(env)))
  end }
end

local function events(body)
  return select(2, body:gsub("data: ", ""))
end

M.cases = {
  {
    name = "request: a 200 answer, header names in lower case",
    run = function(t, env) return pack(t:request(spec(env, "/v1beta/models/" .. MODEL))) end,
    check = function(r)
      local res = check_answer(r, 200)
      expect(tostring(res.headers["content-type"]):find("application/json", 1, true),
        "content-type expected", res.headers["content-type"])
      expect(res.body:find('"models/' .. MODEL .. '"', 1, true), "the model expected", res.body)
    end,
  },
  {
    name = "request: an API error (404) is an answer, not a failure",
    run = function(t, env) return pack(t:request(spec(env, "/v1beta/models/no-such-model"))) end,
    check = function(r)
      expect(check_answer(r, 404).body:find("NOT_FOUND", 1, true), "the error body expected")
    end,
  },
  {
    name = "request: a 503 is an answer, its headers passed through",
    faults = { { type = "status", code = 503, retry_after = 7 } },
    run = function(t, env) return pack(t:request(generate(env))) end,
    check = function(r)
      local res = check_answer(r, 503)
      expect(res.headers["retry-after"] == "7", "retry-after expected", res.headers["retry-after"])
      expect(res.body:find("UNAVAILABLE", 1, true), "the error body expected", res.body)
    end,
  },
  {
    name = "request: a refused connection fails with kind transport",
    run = function(t, env) return pack(t:request(generate(env, { base = env.refused }))) end,
    check = function(r) check_failure(r, "transport", nil) end,
  },
  {
    name = "request: a silent server fails with kind timeout when timeout runs out",
    faults = { { type = "stall", seconds = 3 } },
    run = function(t, env)
      local t0 = core.now()
      local r = pack(t:request(generate(env, { timeout = 0.3 })))
      r.took = core.now() - t0
      return r
    end,
    check = function(r)
      check_failure(r, "timeout", nil)
      expect(r.took < 2, "the timeout was not kept", r.took)
    end,
  },
  {
    name = "request: a body past max_body fails with kind transport, final",
    faults = { { type = "big", bytes = 200000 } },
    run = function(t, env) return pack(t:request(generate(env, { max_body = 10000 }))) end,
    check = function(r) check_failure(r, "transport", true) end,
  },
  read_case("open: a stream read piece by piece to its clean end",
    { { type = "slow_stream", events = 3, delay = 0.05 } },
    function(obs)
      local body = opened(obs, 200)
      expect(tostring(obs.headers["content-type"]):find("text/event-stream", 1, true),
        "content-type expected", obs.headers["content-type"])
      expect(events(body) == 3, "3 events expected", body)
      expect(obs.ending[2] == nil, "a clean end expected", obs.ending[2], obs.ending[3])
    end),
  read_case("open: an error status opens too, its body readable",
    { { type = "status", code = 429 } },
    function(obs)
      expect(opened(obs, 429):find("RESOURCE_EXHAUSTED", 1, true), "the error body expected")
      expect(obs.ending[2] == nil, "a clean end expected", obs.ending[2], obs.ending[3])
    end),
  read_case("open: a refused connection fails with kind transport", nil,
    function(obs)
      expect(obs.open, "no reader expected", obs.status)
      check_failure(obs.open, "transport", nil)
    end,
    function(env) return { base = env.refused } end),
  read_case("read: a stream cut short fails with kind transport",
    { { type = "cut", events = 1 } },
    function(obs)
      expect(events(opened(obs, 200)) >= 1, "the first event expected")
      check_failure(obs.ending, "transport", nil)
    end),
  {
    name = "read: a silent stream fails with kind timeout when stall_timeout runs out",
    stream = true,
    faults = { { type = "stall_after", events = 1, seconds = 3 } },
    run = function(t, env)
      local t0 = core.now()
      local obs = read_stream(t, stream(env, { stall_timeout = 0.3 }))
      obs.took = core.now() - t0
      return obs
    end,
    check = function(obs)
      expect(events(opened(obs, 200)) == 1, "the first event expected")
      check_failure(obs.ending, "timeout", nil)
      expect(obs.took < 2, "the stall timeout was not kept", obs.took)
    end,
  },
  {
    name = "close: ends a stream mid-way, the connection closed",
    stream = true,
    faults = { { type = "slow_stream", events = 20, delay = 0.05 } },
    run = function(t, env) return read_stream(t, stream(env), 1) end,
    check = function(obs)
      expect(#obs.pieces == 1, "one piece expected", #obs.pieces)
      expect(obs.ending == nil, "no end expected")
    end,
    after = function(m)
      assert(m:wait_for(function(log) return log[1] and log[1].disconnected end, 5),
        "the mock saw no disconnect")
      assert(not m:log()[1].completed, "the stream was sent to its end")
    end,
  },
  {
    name = "sleep: waits about the time asked",
    run = function(t)
      local t0 = core.now()
      t:sleep(0.2)
      return { took = core.now() - t0 }
    end,
    check = function(obs)
      expect(obs.took >= 0.18 and obs.took < 1, "about 0.2 s expected", obs.took)
    end,
  },
}

--- The case named `name`.
function M.find(name)
  for _, c in ipairs(M.cases) do
    if c.name == name then return c end
  end
end

return M
