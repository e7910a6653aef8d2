-- The callback API on a libuv loop (Debian's lua-luv), and
-- generate_content_all, through the real HTTP stack against the mock.
local ok_uv, uv = pcall(require, "luv")
local gemini = require("gemini")
local mock = require("support.mock")
local loop = require("support.loop")

local KEY = "luv-key"
local MODEL = "gemini-2.5-flash"

local describe_uv = ok_uv and describe or pending

describe_uv("callback API on luv", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each,
                        key = KEY, stream_delay = 0.03 }
  local c

  -- Runs the loop until it has nothing left to do; fails after `limit`
  -- seconds (a hang must not hang the suite).
  local function run(limit) loop.run(uv, limit) end

  local function now() return uv.hrtime() / 1e9 end

  local function ticker(ms) return loop.ticker(uv, ms) end

  setup(function()
    c = m:client{ loop = uv, retry = { initial_delay = 0.05, jitter = 0 } }
  end)

  loop.hygiene(uv, { teardown = teardown, after_each = after_each }, function() return c end)

  it("returns a handle at once and calls back on the loop", function()
    local got
    local h = c.models:generate_content({ model = MODEL, contents = "hello loop" }, function(err, res)
      got = { err = err, res = res }
    end)
    assert.is_nil(got)
    assert.is_function(h.cancel)
    run()
    assert.is_nil(got.err)
    assert.matches('You asked: "hello loop"', got.res.text, 1, true)
    assert.matches("gemini%-2%.5%-flash$", m:last().model)
  end)

  it("takes callbacks on count_tokens, embed_content, get and list", function()
    local r = {}
    c.models:count_tokens({ model = MODEL, contents = "one two three" }, function(err, res) r.count = { err, res } end)
    c.models:embed_content({ model = "gemini-embedding-001", contents = { "a", "b" } },
      function(err, res) r.embed = { err, res } end)
    c.models:get("gemini-2.5-pro", function(err, res) r.get = { err, res } end)
    c.models:list({ page_size = 3 }, function(err, res) r.list = { err, res } end)
    run()
    assert.is_nil(r.count[1]); assert.is_truthy(r.count[2].totalTokens)
    assert.is_nil(r.embed[1]); assert.are.equal(2, #r.embed[2].embeddings)
    assert.is_nil(r.get[1]); assert.are.equal("models/gemini-2.5-pro", r.get[2].name)
    assert.is_nil(r.list[1]); assert.is_true(#r.list[2] > 3)      -- every page
    assert.are.equal("models/gemini-2.5-flash", r.list[2][1].name)
  end)

  it("takes callbacks on files, caches and chats", function()
    local r = {}
    c.files:upload({ data = "hello file", mime_type = "text/plain", display_name = "f1" }, function(err, file)
      r.upload = { err, file }
      c.files:get(file.name, function(err2, f2) r.get = { err2, f2 } end)
      c.files:list(function(err2, list) r.list = { err2, list } end)
    end)
    c.caches:create({ model = MODEL, config = { contents = "a long document", ttl = "300s" } },
      function(err, cache) r.cache = { err, cache } end)
    local chat = c.chats:create{ model = MODEL }
    local tick = ticker(10)
    chat:send_message("first turn", function(err, res)
      r.send = { err, res }
      local chunks, first, last = 0, nil, nil
      chat:send_message_stream("second turn", {
        on_chunk = function()
          chunks = chunks + 1
          first, last = first or tick.n, tick.n
        end,
        on_done = function(err2, response)
          r.stream = { err2, response, chunks, last - first }
          tick.stop()
        end })
    end)
    assert.is_nil(r.upload); assert.is_nil(r.cache); assert.is_nil(r.send)   -- returned at once
    run()
    assert.is_nil(r.upload[1]); assert.matches("^files/", r.upload[2].name)
    assert.is_nil(r.get[1]); assert.are.equal("f1", r.get[2].displayName)
    assert.is_nil(r.list[1]); assert.are.equal(1, #r.list[2])
    assert.is_nil(r.cache[1]); assert.matches("^cachedContents/", r.cache[2].name)
    assert.is_nil(r.send[1]); assert.matches("first turn", r.send[2].text, 1, true)
    assert.is_nil(r.stream[1]); assert.matches("second turn", r.stream[2].text, 1, true)
    assert.is_true(r.stream[3] > 1)
    -- the chat's stream ran on the loop (events 30 ms apart), not blocking it
    assert.is_true(r.stream[4] >= 5, "ticks during the chat stream: " .. r.stream[4])
    -- both turns reached the chat's history
    assert.are.equal(4, #chat:get_history())
    -- without a callback the blocking forms are untouched
    local plain_chat = gemini.Client{ api_key = KEY, base_url = m.url }.chats:create{ model = MODEL }
    assert.matches("blocking", plain_chat:send_message("blocking").text, 1, true)
  end)

  it("hands an API error to the callback", function()
    local got
    c.models:generate_content({ model = "no-such-model", contents = "x" }, function(err, res)
      got = { err = err, res = res }
    end)
    run()
    assert.is_nil(got.res)
    assert.is_true(gemini.is_error(got.err))
    assert.are.equal("api", got.err.kind)
    assert.are.equal(404, got.err.code)
    assert.is_nil(tostring(got.err):find(KEY, 1, true))
  end)

  it("raises programmer errors at once", function()
    assert.has_error(function()
      c.models:generate_content({ contents = "no model" }, function() end)
    end, "bad field 'model' to 'generate_content' (string expected, got nil)")
    assert.has_error(function()
      c.models:generate_content({ model = MODEL, contents = "x" }, "not a function")
    end, "bad argument #2 to 'generate_content' (function expected, got string)")
    assert.has_error(function()
      c.models:generate_content_stream({ model = MODEL, contents = "x" }, { on_chunk = 1 })
    end, "bad field 'on_chunk' to 'generate_content_stream' (function expected, got number)")
    local plain = gemini.Client{ api_key = KEY, base_url = m.url }
    local ok, err = pcall(plain.models.generate_content, plain.models, { model = MODEL, contents = "x" },
      function() end)
    assert.is_false(ok)
    assert.matches("needs an event loop", err, 1, true)
    assert.has_error(function() gemini.Client{ api_key = KEY, loop = 42 } end,
      "bad field 'loop' to 'Client' (the luv module or vim.loop expected)")
  end)

  it("says that a callback needs a loop on files, caches and chats too", function()
    -- Without a loop a callback must not be dropped while the call blocks.
    local plain = gemini.Client{ api_key = KEY, base_url = m.url }
    local chat = plain.chats:create{ model = MODEL }
    local cb = function() error("never called") end
    local calls = {
      get = function() return plain.files:get("files/abc", cb) end,
      list = function() return plain.files:list(cb) end,
      create = function() return plain.caches:create({ model = MODEL }, cb) end,
      delete = function() return plain.caches:delete("cachedContents/x", cb) end,
      send_message = function() return chat:send_message("hi", cb) end,
      send_message_stream = function() return chat:send_message_stream("hi", { on_done = cb }) end,
    }
    for fname, call in pairs(calls) do
      local ok, err = pcall(call)
      assert.is_false(ok, fname)
      assert.matches("'" .. fname .. "' with a callback needs an event loop", err, 1, true)
    end
    assert.are.equal(0, #m:log())
  end)

  it("cancels a call: one 'canceled' callback, the connection closed", function()
    m:script{ { latency = 3 } }
    local calls = {}
    local h = c.models:generate_content({ model = MODEL, contents = "slow" }, function(err, res)
      calls[#calls + 1] = { err = err, res = res }
    end)
    uv.update_time()
    local t = uv.new_timer()
    t:start(150, 0, function()
      t:close()
      assert.is_true(h:cancel())
      assert.is_false(h:cancel())
    end)
    local t0 = now()
    run()
    assert.is_true(now() - t0 < 2)
    assert.are.equal(1, #calls)
    assert.are.equal("canceled", calls[1].err.kind)
    assert.is_nil(calls[1].res)
    assert.is_true(m:wait_for(function(log) return log[1] and log[1].disconnected end, 5))
  end)

  it("streams chunk by chunk while a 20 ms timer keeps ticking", function()
    m:faults{ { type = "slow_stream", events = 12, delay = 0.05 } }
    local tick = ticker(20)
    local chunks, at = {}, {}
    local done
    c.models:generate_content_stream({ model = MODEL, contents = "stream me" }, {
      on_chunk = function(chunk)
        chunks[#chunks + 1] = chunk.text
        at[#at + 1] = tick.n
      end,
      on_done = function(err, response)
        done = { err = err, response = response }
        tick.stop()
      end,
    })
    run()
    assert.is_nil(done.err)
    assert.are.equal(12, #chunks)
    assert.are.equal(table.concat(chunks), done.response.text)
    assert.are.equal("STOP", done.response.candidates[1].finishReason)
    -- 11 gaps of 50 ms: the timer ran all along, between the chunks.
    assert.is_true(at[#at] - at[1] >= 15, "ticks between first and last chunk: " .. (at[#at] - at[1]))
    local increasing = 0
    for i = 2, #at do if at[i] > at[i - 1] then increasing = increasing + 1 end end
    assert.is_true(increasing >= 9)
  end)

  it("hands a stream error to on_done, after the chunks before it", function()
    m:faults{ { type = "stream_error", after = 2, code = 500, message = "boom" } }
    local chunks, done = 0, nil
    c.models:generate_content_stream({ model = MODEL, contents = "x" }, {
      on_chunk = function() chunks = chunks + 1 end,
      on_done = function(err, response) done = { err = err, response = response } end,
    })
    run()
    assert.are.equal(2, chunks)
    assert.is_nil(done.response)
    assert.are.equal("api", done.err.kind)
    assert.are.equal(500, done.err.code)
    assert.are.equal(1, #m:log())           -- never retried after a chunk
  end)

  it("cancels a stream mid-way from on_chunk", function()
    m:faults{ { type = "slow_stream", events = 20, delay = 0.05 } }
    local chunks, dones = 0, {}
    local h
    h = c.models:generate_content_stream({ model = MODEL, contents = "x" }, {
      on_chunk = function()
        chunks = chunks + 1
        if chunks == 2 then h:cancel() end
      end,
      on_done = function(err, response) dones[#dones + 1] = { err = err, response = response } end,
    })
    run()
    assert.are.equal(2, chunks)
    assert.are.equal(1, #dones)
    assert.are.equal("canceled", dones[1].err.kind)
    assert.is_true(m:wait_for(function(log) return log[1] and log[1].disconnected end, 5))
    assert.is_false(m:log()[1].completed)
  end)

  it("fails a silent stream with its stall timeout", function()
    local sc = gemini.Client{ api_key = KEY, base_url = m.url, loop = uv, stall_timeout = 0.3,
                              retry = false }
    m:faults{ { type = "stall_after", events = 1, seconds = 5 } }
    local chunks, done = 0, nil
    local t0 = now()
    sc.models:generate_content_stream({ model = MODEL, contents = "x" }, {
      on_chunk = function() chunks = chunks + 1 end,
      on_done = function(err) done = err end,
    })
    run()
    sc:close()
    uv.run()
    assert.are.equal(1, chunks)
    assert.are.equal("timeout", done.kind)
    assert.matches("stall_timeout", done.message, 1, true)
    assert.is_true(now() - t0 < 2)
  end)

  it("retries on the loop's timer, not in sleep", function()
    m:faults{ { type = "status", code = 503, times = 2, retry_delay = "0.15s" } }
    local tick = ticker(20)
    local got
    local t0 = now()
    c.models:generate_content({ model = MODEL, contents = "again" }, function(err, res)
      got = { err = err, res = res, t = now() - t0 }
      tick.stop()
    end)
    run()
    assert.is_nil(got.err)
    assert.is_truthy(got.res.text)
    assert.are.equal(3, #m:log())
    assert.is_true(got.t >= 0.3)
    assert.is_true(tick.n >= 10, "ticks while waiting: " .. tick.n)
  end)

  it("drives libcurl with a poll handle per socket where there is no epoll", function()
    local t = require("gemini.transport.luv").new(uv, { per_socket = true })
    local function spec(path, body)
      return { method = body and "POST" or "GET", url = m.url .. path, body = body,
               headers = { "x-goog-api-key: " .. KEY, "Content-Type: application/json" } }
    end
    local got, pieces, ended = nil, {}, nil
    t:request_async(spec("/v1beta/models/" .. MODEL), function(res, kind) got = { res = res, kind = kind } end)
    t:open_async(spec("/v1beta/models/" .. MODEL .. ":streamGenerateContent?alt=sse",
                      '{"contents":[{"parts":[{"text":"per socket"}]}]}'), {
      on_data = function(bytes) pieces[#pieces + 1] = bytes end,
      on_done = function(kind) ended = kind or "clean" end,
    })
    run()
    t:close()
    uv.run()
    assert.is_nil(got.kind)
    assert.are.equal(200, got.res.status)
    assert.matches('"name": *"models/gemini%-2%.5%-flash"', got.res.body)
    assert.are.equal("clean", ended)
    local body = table.concat(pieces)
    assert.matches('"text":"socket\\"."}]},"index":0,"finishReason":"STOP"}', body, 1, true)
    assert.are.equal(5, select(2, body:gsub("data: ", "")))
  end)

  it("is driven with the core's socket flags: take_changes gives them, socket_action takes them", function()
    local core = gemini.core
    local IN, OUT, ERR = core.POLL_IN, core.POLL_OUT, core.POLL_ERR
    assert.same({ "number", "number", "number" }, { type(IN), type(OUT), type(ERR) })
    assert.is_true(IN ~= OUT and IN ~= ERR and OUT ~= ERR)
    local s = core.session()
    assert.is_nil(s:watch(false))   -- the changes are for the caller to apply
    local req = s:request{ method = "GET", url = m.url .. "/v1beta/models/" .. MODEL,
                           headers = { "x-goog-api-key: " .. KEY } }
    -- A poller of the poorest kind: every watched socket is handed back as
    -- ready for what it is watched for, every few ms.
    local watched, seen = {}, {}
    local deadline = core.now() + 10
    while not req:is_done() and core.now() < deadline do
      s:timeout_action()
      local changes = s:take_changes()
      for i = 1, #(changes or {}), 2 do
        local fd, what = changes[i], changes[i + 1]
        seen[#seen + 1] = what
        watched[fd] = what ~= 0 and what or nil
      end
      for fd, what in pairs(watched) do s:socket_action(fd, what) end
      core.sleep(0.002)
    end
    assert.is_true(req:is_done())
    assert.are.equal(200, req:status())
    local read = false
    for _, what in ipairs(seen) do
      assert.is_true(what == 0 or what == IN or what == OUT or what == IN + OUT, "what = " .. what)
      read = read or what == IN or what == IN + OUT
    end
    assert.is_true(read, "a socket was watched for reading")
    req:close()
    s:close()
  end)

  describe("generate_content_all", function()
    local function requests(n, bad)
      local list = {}
      for i = 1, n do
        list[i] = { model = bad and bad[i] and "no-such-model" or MODEL, contents = "q" .. i }
      end
      return list
    end

    local function check_order(responses, n, bad)
      for i = 1, n do
        if not (bad and bad[i]) then
          assert.matches('You asked: "q' .. i .. '"', responses[i].text, 1, true)
        end
      end
    end

    local function latency(n, s)
      local list = {}
      for i = 1, n do list[i] = { latency = s } end
      m:script(list)
    end

    local function peers()
      local set, n = {}, 0
      for _, e in ipairs(m:log()) do
        if not set[e.peer] then set[e.peer], n = true, n + 1 end
      end
      return n
    end

    it("runs 40 requests of 200 ms at concurrency 20 in about 0.4 s, blocking", function()
      latency(40, 0.2)
      local t0 = now()
      local responses, errs = c.models:generate_content_all(requests(40), { concurrency = 20 })
      local took = now() - t0
      assert.is_nil(next(errs))
      assert.are.equal(40, #responses)
      check_order(responses, 40)
      assert.is_true(took >= 0.38 and took < 1.5, "took " .. took)
      assert.is_true(peers() <= 20)
    end)

    it("runs 40 requests of 200 ms at concurrency 20 on the loop", function()
      latency(40, 0.2)
      local tick = ticker(20)
      local got
      local t0 = now()
      local h = c.models:generate_content_all(requests(40), { concurrency = 20 }, function(responses, errs)
        got = { responses = responses, errs = errs, t = now() - t0 }
        tick.stop()
      end)
      assert.is_nil(got)
      assert.is_function(h.cancel)
      run()
      assert.is_nil(next(got.errs))
      check_order(got.responses, 40)
      assert.is_true(got.t >= 0.38 and got.t < 1.5, "took " .. got.t)
      assert.is_true(tick.n >= 10)
      assert.is_true(peers() <= 20)
    end)

    it("keeps per-request errors in place", function()
      local bad = { [3] = true, [5] = true }
      local responses, errs = c.models:generate_content_all(requests(6, bad), { concurrency = 3 })
      check_order(responses, 6, bad)
      assert.is_nil(responses[3]); assert.are.equal(404, errs[3].code)
      assert.is_nil(responses[5]); assert.are.equal(404, errs[5].code)
      assert.is_nil(errs[1]); assert.is_nil(errs[6])
      local got
      c.models:generate_content_all(requests(6, bad), { concurrency = 3 }, function(r, e) got = { r, e } end)
      run()
      check_order(got[1], 6, bad)
      assert.are.equal(404, got[2][3].code)
      assert.are.equal(404, got[2][5].code)
      assert.is_nil(got[2][4])
    end)

    it("retries each request on its own", function()
      m:faults{ { type = "status", code = 503, times = 3, retry_delay = "0.05s" } }
      local responses, errs = c.models:generate_content_all(requests(8), { concurrency = 4 })
      assert.is_nil(next(errs))
      check_order(responses, 8)
      assert.are.equal(11, #m:log())
    end)

    it("cancels every pending request, calling back once", function()
      latency(6, 2)
      local calls = 0
      local got
      local h = c.models:generate_content_all(requests(6), { concurrency = 3 }, function(r, e)
        calls = calls + 1
        got = { r, e }
      end)
      uv.update_time()
      local t = uv.new_timer()
      t:start(100, 0, function() t:close(); h:cancel() end)
      run()
      assert.are.equal(1, calls)
      for i = 1, 6 do assert.are.equal("canceled", got[2][i].kind) end
    end)

    it("checks its arguments", function()
      assert.has_error(function() c.models:generate_content_all("x") end,
        "bad argument #1 to 'generate_content_all' (table expected, got string)")
      assert.has_error(function() c.models:generate_content_all({ {} }) end,
        "generate_content_all: requests[1]: bad field 'model' to 'generate_content_all' (string expected,"
        .. " got nil)")
      assert.has_error(function() c.models:generate_content_all(requests(2), { concurrency = 0 }) end,
        "bad field 'concurrency' to 'generate_content_all' (a positive integer expected)")
      local r, e = c.models:generate_content_all({})
      assert.are.same({}, r); assert.are.same({}, e)
    end)
  end)
end)

-- Programs that end their own loop: each runs in a child Lua (this
-- interpreter, this build) so that a raise inside the loop (luv exits the
-- process) or a line on stderr is seen, not suffered, by the suite.
describe_uv("a luv program", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each,
                        key = KEY, stream_delay = 0.03 }
  local lua = arg and arg[-1] or "lua5.4"

  -- What every child script starts with: the client `c` on luv, `emit`
  -- for its report, a watchdog that ends a hung loop.
  local PRELUDE = [[
local uv = require("luv")
local gemini = require("gemini")
local url, key = os.getenv("GEMINI_MOCK_URL"), os.getenv("GEMINI_MOCK_KEY")
local function emit(k, v) io.stdout:write(k, "=", tostring(v), "\n"); io.stdout:flush() end
local dog = uv.new_timer()
dog:start(15000, 0, function() emit("watchdog", "fired"); os.exit(3) end)
dog:unref()
local c = gemini.Client{ api_key = key, base_url = url, loop = uv,
                         retry = { attempts = 3, initial_delay = 0.02, jitter = 0 } }
local req = { model = "gemini-2.5-flash", contents = "hi" }
local slow = { model = "gemini-2.5-pro", contents = "slow" }
]]

  -- Runs PRELUDE .. code in a child; returns its report ({key = value},
  -- a key seen twice keeps its values joined by ","), its stderr and exit code.
  local function run_child(code, base_url)
    local base = os.tmpname()
    mock.write_file(base .. ".lua", PRELUDE .. code .. "\nuv.run()\nemit('exit', 'clean')\n")
    local cmd = "GEMINI_MOCK_URL=" .. mock.shell_quote(base_url or m.url)
      .. " GEMINI_MOCK_KEY=" .. mock.shell_quote(KEY)
      .. " timeout 30 " .. lua .. " " .. mock.shell_quote(base .. ".lua")
      .. " 2>" .. mock.shell_quote(base .. ".err") .. "; echo rc=$?"
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    local stderr = mock.read_file(base .. ".err") or ""
    os.remove(base .. ".lua"); os.remove(base .. ".err"); os.remove(base)
    local r = {}
    for k, v in out:gmatch("([%w_]+)=([^\n]*)") do r[k] = r[k] and (r[k] .. "," .. v) or v end
    return r, stderr, "\n--- report\n" .. out .. "--- stderr\n" .. stderr
  end

  -- `n` calls to the slow model stay in flight (the mock holds them 5 s).
  local function hold_slow_calls(n)
    m:faults{ { type = "stall", seconds = 5, times = n, match = "gemini-2.5-pro:generateContent" } }
  end

  -- The child ended well, said nothing on stderr, and reported `want`.
  local function check(r, stderr, info, want)
    assert.are.equal("0", r.rc, info)
    assert.are.equal("clean", r.exit, info)
    for k, v in pairs(want) do assert.are.equal(v, r[k], info) end
    assert.are.equal("", stderr, info)
  end

  it("may close the client in a call's callback while other calls are in flight", function()
    hold_slow_calls(4)
    local r, stderr, info = run_child([[
for i = 1, 2 do
  c.models:generate_content(slow, function(err, res) emit("slow" .. i, err and err.kind or "answer") end)
end
c.models:generate_content_all({ slow, slow }, {}, function(responses, errs)
  emit("all", errs[1].kind .. " " .. errs[2].kind)
end)
c.models:generate_content(req, function(err, res)
  emit("fast", err and err.kind or "answer")
  c:close()
  emit("closed", true)
end)
]])
    -- the calls still running get one "canceled" each
    check(r, stderr, info, { fast = "answer", closed = "true", slow1 = "canceled",
                             slow2 = "canceled", all = "canceled canceled" })
  end)

  it("may close the client in on_chunk and in on_done of a stream", function()
    hold_slow_calls(2)
    m:faults{ { type = "slow_stream", events = 20, delay = 0.05 },
              { type = "slow_stream", events = 3, delay = 0.02 } }
    local r, stderr, info = run_child([[
c.models:generate_content(slow, function(err) emit("slow1", err and err.kind or "answer") end)
local chunks = 0
c.models:generate_content_stream(req, {
  on_chunk = function()
    chunks = chunks + 1
    if chunks == 2 then c:close(); emit("closed", true) end
  end,
  on_done = function(err) emit("done1", err and err.kind or "response"); emit("chunks1", chunks) end,
})
uv.run()
-- a second client, closed from on_done
c = gemini.Client{ api_key = key, base_url = url, loop = uv }
c.models:generate_content(slow, function(err) emit("slow2", err and err.kind or "answer") end)
c.models:generate_content_stream(req, {
  on_done = function(err)
    emit("done2", err and err.kind or "response")
    c:close()
  end,
})
]])
    -- done1: the stream closed from its own on_chunk is canceled too, once
    check(r, stderr, info, { closed = "true", done1 = "canceled", chunks1 = "2", slow1 = "canceled",
                             done2 = "response", slow2 = "canceled" })
  end)

  it("says nothing on stderr when the server refuses the connection", function()
    -- A port bound but not listening refuses every connection.
    local r, stderr, info = run_child([[
local s = uv.new_tcp()
s:bind("127.0.0.1", 0)
local port = s:getsockname().port
c = gemini.Client{ api_key = key, base_url = "http://127.0.0.1:" .. port, loop = uv,
                   retry = { attempts = 3, initial_delay = 0.02, jitter = 0 } }
c.models:generate_content(req, function(err)
  emit("call", err and err.kind or "answer")
  c.models:generate_content_stream(req, { on_done = function(err2)
    emit("stream", err2 and err2.kind or "response")
    s:close()
  end })
end)
]])
    check(r, stderr, info, { call = "transport", stream = "transport" })
  end)
end)
