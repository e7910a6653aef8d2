-- client.batches off the blocking path, against the mock through the real
-- HTTP stack: the callback API on a libuv loop (lua-luv), and OpenResty
-- cosockets (nginx + lua module), where waiting for a job polls with
-- ngx.sleep and never blocks the worker.
local ok_uv, uv = pcall(require, "luv")
local gemini = require("gemini")
local mock = require("support.mock")
local loop = require("support.loop")
local nginx = require("support.nginx")

local MODEL = "gemini-2.5-flash"
local q, sh = mock.shell_quote, nginx.sh

local describe_uv = ok_uv and describe or pending

describe_uv("client.batches on a luv loop", function()
  local KEY = "batches-luv-key"
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local c

  local function run(limit) return loop.run(uv, limit) end

  setup(function()
    c = m:client{ loop = uv, retry = { initial_delay = 0.01, jitter = 0 } }
  end)

  loop.hygiene(uv, { teardown = teardown, after_each = after_each }, function() return c end)

  it("takes callbacks on create, get, list, wait, results, cancel and delete", function()
    local r = { progress = {} }
    local h = c.batches:create({ model = MODEL, src = { { contents = "on the loop", key = "a" }, "two" } },
      function(err, job)
        r.create = { err, job }
        c.batches:get(job.name, function(err2, j) r.get = { err2, j } end)
        c.batches:list(function(err2, jobs) r.list = { err2, jobs } end)
        c.batches:wait(job, { interval = 0.1, on_progress = function(j)
          r.progress[#r.progress + 1] = j.state
        end }, function(err2, done)
          r.wait = { err2, done }
          c.batches:results(done, function(err3, items) r.results = { err3, items } end)
        end)
      end)
    assert.is_function(h.cancel)
    assert.is_nil(r.create)                     -- returned at once
    local ticks = run()
    assert.is_nil(r.create[1]); assert.equal("JOB_STATE_PENDING", r.create[2].state)
    assert.is_nil(r.get[1]); assert.equal(r.create[2].name, r.get[2].name)
    assert.is_nil(r.list[1]); assert.equal(1, #r.list[2])
    assert.is_nil(r.wait[1]); assert.equal("JOB_STATE_SUCCEEDED", r.wait[2].state)
    assert.equal("JOB_STATE_SUCCEEDED", r.progress[#r.progress])
    assert.is_true(#r.progress >= 3)
    assert.is_nil(r.results[1])
    local items = r.results[2]
    assert.equal(2, #items)
    assert.equal("a", items[1].key)
    assert.matches('You asked: "on the loop"', items[1].response.text, 1, true)
    assert.matches('You asked: "two"', items[2].response.text, 1, true)
    -- the polls' pauses (0.1 and 0.15 s at least) ran on the loop, not blocking it
    assert.is_true(ticks >= 3, "ticks while waiting: " .. ticks)

    local done = {}
    c.batches:create({ model = MODEL, src = { "x" } }, function(_, job)
      c.batches:cancel(job, function(err, ok)
        done.cancel = { err, ok }
        c.batches:delete(job.name, function(err2, ok2) done.delete = { err2, ok2 } end)
      end)
    end)
    run()
    assert.same({ nil, true }, done.cancel)
    assert.same({ nil, true }, done.delete)
  end)

  it("hands each item of a result file to on_item as it arrives; a cut download ends with its error", function()
    local path = os.tmpname()
    local reqs = {}
    for i = 1, 40 do reqs[i] = { contents = "question " .. i, key = "q" .. i } end
    c.batches:write_requests(path, reqs)
    m:faults{ { type = "batch", states = { "PENDING", "SUCCEEDED" } }, { type = "download", cut = 15000 },
              { type = "status", code = 403, match = ":download" } }
    local seen, r = {}, {}
    c.batches:create({ model = MODEL, src = { path = path } }, function(err, job)
      assert(job, err)
      c.batches:wait(job, { interval = 0.01 }, function(err2, done)
        assert(done, err2)
        c.batches:results(done, { on_item = function(i, res, err3, key)
          seen[#seen + 1] = { i = i, text = res and res.text, err = err3, key = key }
        end }, function(err3, n) r.err, r.n = err3, n end)
      end)
    end)
    run()
    os.remove(path)
    assert.is_true(r.n > 3 and r.n < 40, "items: " .. tostring(r.n))
    assert.equal(r.n, #seen)
    for i, s in ipairs(seen) do
      assert.equal("q" .. i, s.key)
      assert.matches('You asked: "question ' .. i .. '"', s.text, 1, true)
    end
    assert.equal(403, r.err.code)
  end)

  it("gives wait's timeout and a failed create to the callback; raises programmer errors at once", function()
    m:faults{ { type = "batch", states = { "RUNNING" } } }
    local r = {}
    c.batches:create({ model = MODEL, src = { "x" } }, function(_, job)
      c.batches:wait(job, { timeout = 0.2, interval = 0.05 }, function(err, res) r.wait = { err, res } end)
    end)
    run()
    -- Not in flight with the first: the mock's batch fault goes to the first
    -- create that reaches it, and two at once may arrive in either order.
    c.batches:create({ model = "no-such-model", src = { "x" } }, function(err, job) r.create = { err, job } end)
    run()
    assert.equal("timeout", r.wait[1].kind)
    assert.equal("JOB_STATE_RUNNING", r.wait[1].job.state)
    assert.equal(404, r.create[1].code)
    assert.is_nil(r.create[2])
    assert.has_error(function() c.batches:create({ model = MODEL }, function() end) end,
      "bad field 'src' to 'create' (a list of requests, \"files/...\", { path = }, { file_name = } or"
      .. " { inlined_requests = } expected, got no value)")
    assert.has_error(function() c.batches:wait("batches/x", { interval = -1 }, function() end) end,
      "bad field 'interval' to 'wait' (a positive finite number of seconds expected)")
    assert.has_error(function() c.batches:results("batches/x", { on_item = 1 }, function() end) end,
      "bad field 'on_item' to 'results' (function expected, got number)")
    local plain = gemini.Client{ api_key = KEY, base_url = m.url }
    for fname, call in pairs({
      create = function() return plain.batches:create({ model = MODEL, src = { "x" } }, function() end) end,
      results = function() return plain.batches:results("batches/x", function() end) end,
      list = function() return plain.batches:list(function() end) end,
    }) do
      local ok, err = pcall(call)
      assert.is_false(ok, fname)
      assert.matches("'" .. fname .. "' with a callback needs an event loop", err, 1, true)
    end
  end)
end)

local describe_ngx = nginx.available and describe or pending

describe_ngx("client.batches in OpenResty (cosockets)", function()
  local KEY = "batches-resty-key"
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local n

  -- The body of nginx's http block: a client per worker, and a location
  -- that makes a job (inlined, or from a request file written under the
  -- prefix), waits for it and prints its answers. A result file's signed
  -- URL names nginx itself (a cosocket resolves no names without nginx's
  -- `resolver`), relayed to the mock with the Host the client sent.
  local HTTP = [[
  init_worker_by_lua_block {
    package.loaded.test_client = require("gemini").Client{ api_key = "%s", base_url = "%s",
      retry = { initial_delay = 0.05, jitter = 0 } }
  }
  server {
    listen 127.0.0.1:%d;
    location /ping { return 204; }
    location /signed/ { proxy_pass %s; proxy_set_header Host $http_host; proxy_buffering off; }
    location /batch {
      content_by_lua_block {
        local client = package.loaded.test_client
        local q = ngx.var.arg_q or "hi"
        local src = { q .. " 1", q .. " 2" }
        if ngx.var.arg_file then
          local path = ngx.config.prefix() .. "tmp/" .. q .. ".jsonl"
          client.batches:write_requests(path, src)
          src = { path = path }
        end
        local job, err = client.batches:create{ model = "gemini-2.5-flash", src = src }
        if not job then ngx.say("ERROR ", tostring(err)) return end
        local polls = 0
        job, err = client.batches:wait(job, { interval = tonumber(ngx.var.arg_interval) or 0.05,
          on_progress = function() polls = polls + 1 end })
        if not job then ngx.say("ERROR ", tostring(err)) return end
        ngx.say(job.state, " after ", polls, " polls")
        for i, res, err2, key in client.batches:results(job) do
          ngx.say(i, " ", tostring(key), " ", res and res.text or tostring(err2))
        end
      }
    }
  }
]]

  setup(function()
    n = nginx.new()
    n:start(string.format(HTTP, KEY, m.url, n.port, m.url))
  end)

  teardown(function()
    if n then n:stop() end
  end)

  it("makes a job, waits for it with ngx.sleep and reads its answers, inlined or from a result file", function()
    local body = n:get("/batch?q=inline")
    assert.matches("^JOB_STATE_SUCCEEDED after 4 polls\n", body)
    assert.matches('\n1 nil [^\n]*You asked: "inline 1"', body)
    assert.matches('\n2 nil [^\n]*You asked: "inline 2"', body)
    m:faults{ { type = "download", host = "127.0.0.1:" .. n.port } }
    body = n:get("/batch?q=fromfile&file=1")
    assert.matches("^JOB_STATE_SUCCEEDED after 4 polls\n", body)
    assert.matches('\n1 1 [^\n]*You asked: "fromfile 1"', body)
    assert.matches('\n2 2 [^\n]*You asked: "fromfile 2"', body)
    local e = m:last()
    assert.matches("^/signed/", e.path)
    assert.is_false(e.credentials)
  end)

  it("waits for 8 jobs at once in one worker in about the time of one (polling never blocks it)", function()
    local dir = n.prefix .. "/par"
    os.execute("mkdir -p " .. q(dir))
    local args = {}
    for i = 1, 8 do
      args[#args + 1] = "-o " .. q(dir .. "/" .. i) .. " " .. q(n:url("/batch?interval=0.3&q=j" .. i))
    end
    local script = "t0=$(date +%s.%N); curl -s -Z --parallel-max 8 --parallel-immediate --max-time 20 "
      .. table.concat(args, " ") .. " 2>/dev/null; t1=$(date +%s.%N); echo \"$t0 $t1\""
    local t0, t1 = sh("sh -c " .. q(script)):match("([%d%.]+) ([%d%.]+)")
    local took = tonumber(t1) - tonumber(t0)
    for i = 1, 8 do
      local body = mock.read_file(dir .. "/" .. i) or ""
      assert.matches('You asked: "j' .. i .. ' 2"', body, 1, true)
    end
    -- each job pauses 0.3 + 0.45 + 0.675 + 1.0125 s before its 4 polls; one after the other
    -- would be 19.5 s
    assert.is_true(took >= 2.4 and took < 7, "8 jobs took " .. took .. " s")
    assert.is_nil(n:error_log():find("[error]", 1, true), n:error_log())
  end)
end)
