-- Soak: 10,000 streams against the mock, each abandoned one way or another
-- (2,000 per way): `break` out of the for loop, an error raised in the loop
-- body, `close()`, dropping the last reference and collecting garbage, and
-- the server cutting the connection mid-stream. Afterwards the process's
-- open file descriptors and Lua's memory are back at their starting level,
-- and while it runs they never pile up (past one collection cycle).
local mock = require("support.mock")

local KEY = "soak-key-4e1b"
local MODEL = "gemini-2.5-flash"
local PER_WAY = 2000
-- Only Lua 5.4 closes a stream at `break` (or on an error in the body):
-- elsewhere the garbage collector does, so collect more often there.
local HAS_CLOSE = _VERSION == "Lua 5.4" and not jit
local GC_EVERY = 100

-- Open descriptors of this process (the listing's own pipe is one of them,
-- every time, so counts compare).
local PID = assert(io.open("/proc/self/stat")):read("*l"):match("^(%d+)")
local function fds()
  local p = assert(io.popen((mock.child_env or "") .. "sh -c 'ls /proc/" .. PID .. "/fd | wc -l'"))
  local n = tonumber(p:read("*a"))
  p:close()
  return n
end

local function lua_kb()
  collectgarbage("collect")
  collectgarbage("collect")
  return collectgarbage("count")
end

describe("soak: 10,000 abandoned streams", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  setup(function()
    client = m:client{ retry = false }
  end)

  local REQ = { model = MODEL, contents = "soak" }
  local function open() return client.models:generate_content_stream(REQ) end

  -- The five ways; each returns nothing and raises on an unexpected result.
  local WAYS = {
    { name = "break", fault = "many", run = function()
      local n = 0
      for chunk in open() do
        assert(chunk.text)
        n = n + 1
        break
      end
      assert(n == 1)
    end },
    { name = "error in the loop body", fault = "many", run = function()
      local ok, e = pcall(function()
        for _ in open() do error("soak: leaving the loop") end
      end)
      assert(not ok and tostring(e):find("leaving the loop", 1, true), tostring(e))
    end },
    { name = "close()", fault = "many", run = function()
      local s = open()
      assert(s:next())
      s:close()
      assert(s:next() == nil)
    end },
    { name = "dropped + collectgarbage", fault = "many", gc = true, run = function()
      local s = open()
      assert(s:next())
      s = nil   -- luacheck: ignore
    end },
    { name = "server cut", fault = "cut", run = function()
      local s = open()
      local got, chunk, err = 0, nil, nil
      repeat
        chunk, err = s:next()
        if chunk then got = got + 1 end
      until not chunk
      assert(got == 1 and err, "expected one chunk, then an error")
    end },
  }

  local function run_way(w, n)
    m:reset()
    m:faults{ w.fault == "many" and { type = "many", events = 5, times = n }
              or { type = "cut", events = 1, times = n } }
    -- Only the ways that leave the stream to the collector get collections
    -- during the run; the others must release everything by themselves.
    local needs_gc = w.gc or not HAS_CLOSE
    local peak = 0
    for i = 1, n do
      w.run()
      if i % GC_EVERY == 0 then
        local f = fds()   -- before collecting: what is open right now
        if f > peak then peak = f end
        if needs_gc then collectgarbage() end
      end
    end
    return peak
  end

  it("returns descriptors and memory to their starting level", function()
    -- Warm up: modules loaded, the pool and the mock's threads in use.
    for _, w in ipairs(WAYS) do run_way(w, 20) end
    local kb0 = lua_kb()   -- collects first: the count is of what is really held
    local fd0 = fds()
    local t0 = os.time()
    local clock0 = os.clock()
    local counts, peaks, total = {}, {}, 0
    for _, w in ipairs(WAYS) do
      peaks[w.name] = run_way(w, PER_WAY)
      counts[#counts + 1] = string.format("%s %d", w.name, PER_WAY)
      total = total + PER_WAY
    end
    local kb1 = lua_kb()
    local fd1 = fds()
    io.stderr:write(string.format(
      "\n[soak] %d streams (%s) in ~%ds wall, %.1fs CPU; fds %d -> %d (peak %s); Lua %.0f KB -> %.0f KB\n",
      total, table.concat(counts, ", "), os.time() - t0, os.clock() - clock0, fd0, fd1,
      (function()
        local p = {}
        for _, w in ipairs(WAYS) do p[#p + 1] = tostring(peaks[w.name]) end
        return table.concat(p, "/")
      end)(), kb0, kb1))
    assert.equal(10000, total)
    -- Back where it started: a connection or two may sit in the pool.
    assert.is_true(fd1 <= fd0 + 2, ("descriptors: %d before, %d after"):format(fd0, fd1))
    assert.is_true(kb1 <= kb0 * 1.10 + 64, ("Lua memory: %.0f KB before, %.0f KB after"):format(kb0, kb1))
    -- No pile-up while running: at most one collection cycle's worth of
    -- streams waits for the collector, and none with 5.4's to-be-closed.
    for _, w in ipairs(WAYS) do
      local bound = fd0 + 4
      if w.gc or not HAS_CLOSE then bound = fd0 + GC_EVERY + 4 end
      assert.is_true(peaks[w.name] <= bound,
        ("%s: %d descriptors open at a peak (start %d)"):format(w.name, peaks[w.name], fd0))
    end
  end)
end)
