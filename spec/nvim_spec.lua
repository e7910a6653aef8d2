-- The callback API inside headless Neovim (Debian's neovim, LuaJIT,
-- vim.loop), against the mock: a stream consumed while a 20 ms timer keeps
-- ticking, a cancel that closes the connection, an error that reaches
-- on_done, callbacks where the editor API may be called. The Lua side runs
-- in Neovim from a script written below; it reports `key=value` lines to a
-- file that this spec reads.
local mock = require("support.mock")

local KEY = "nvim-key"

local function exists(cmd)
  local p = io.popen("command -v " .. cmd .. " 2>/dev/null")
  local out = p:read("*a")
  p:close()
  return out ~= ""
end

local read_file, write_file = mock.read_file, mock.write_file

-- The test inside Neovim. Each step starts the next from its last callback;
-- a watchdog ends Neovim if something hangs.
local SCRIPT = [=[
local out = assert(io.open(os.getenv("GEMINI_NVIM_OUT"), "w"))
local function emit(k, v) out:write(k, "=", tostring(v), "\n"); out:flush() end
local function finish(code) out:close(); vim.cmd(code == 0 and "qall!" or "cquit! " .. code) end
vim.defer_fn(function() emit("watchdog", "fired"); finish(3) end, 20000)

local okj = pcall(require, "cjson")
emit("cjson", okj)
local gemini = require("gemini")
emit("json_ok", require("gemini.json").decode('{"a":[1,2]}').a[2] == 2)
local url, key = os.getenv("GEMINI_MOCK_URL"), os.getenv("GEMINI_MOCK_KEY")
local client = gemini.Client{ api_key = key, base_url = url, loop = vim.loop, retry = false }
local fast = gemini.Client{ api_key = key, base_url = url, loop = vim.loop, retry = false,
                            fast_callbacks = true }
local req = { model = "gemini-2.5-flash", contents = "from neovim" }

local steps = {}
local function step(i) local ok, err = pcall(steps[i]); if not ok then emit("error", err); finish(4) end end

-- 1. a stream while a 20 ms timer ticks; callbacks scheduled (editor API ok)
steps[1] = function()
  local ticks = 0
  local timer = vim.loop.new_timer()
  timer:start(20, 20, function() ticks = ticks + 1 end)
  local chunks, first, last, api_ok = 0, nil, nil, true
  local returned = false
  client.models:generate_content_stream(req, {
    on_chunk = function(chunk)
      chunks = chunks + 1
      first = first or ticks
      last = ticks
      api_ok = api_ok and not vim.in_fast_event()
      vim.api.nvim_buf_set_lines(0, -1, -1, false, { chunk.text or "" })
    end,
    on_done = function(err, response)
      timer:stop(); timer:close()
      emit("s1_err", err and err.kind or "none")
      emit("s1_chunks", chunks)
      emit("s1_ticks_between", last - first)
      emit("s1_ticks", ticks)
      emit("s1_api_ok", api_ok)
      emit("s1_text_ok", response and response.text ==
        table.concat(vim.api.nvim_buf_get_lines(0, 1, -1, false)))
      step(2)
    end,
  })
  returned = true
  emit("s1_returned_at_once", returned and chunks == 0)
end

-- 2. cancel mid-stream: the connection closes, on_done gets "canceled" once
steps[2] = function()
  local chunks, dones = 0, 0
  local h
  h = fast.models:generate_content_stream(req, {
    on_chunk = function()
      chunks = chunks + 1
      emit("s2_fast", vim.in_fast_event())
      if chunks == 2 then emit("s2_cancel", h:cancel()) end
    end,
    on_done = function(err)
      dones = dones + 1
      emit("s2_err", err and err.kind or "none")
      -- let a stray chunk or second on_done show up before going on
      vim.defer_fn(function()
        emit("s2_chunks", chunks)
        emit("s2_dones", dones)
        step(5)
      end, 300)
    end,
  })
end

-- 2b. cancel from a scheduled on_chunk while more chunks are queued: none
-- of them is delivered after the cancel
steps[5] = function()
  local chunks, dones = 0, 0
  local h
  h = client.models:generate_content_stream(req, {
    on_chunk = function()
      chunks = chunks + 1
      if chunks == 2 then h:cancel() end
    end,
    on_done = function(err)
      dones = dones + 1
      emit("s5_err", err and err.kind or "none")
      vim.defer_fn(function()
        emit("s5_chunks", chunks)
        emit("s5_dones", dones)
        step(3)
      end, 300)
    end,
  })
end

-- 3. an error reaches on_done; a whole call with a callback
steps[3] = function()
  client.models:generate_content_stream({ model = "no-such-model", contents = "x" }, {
    on_chunk = function() emit("s3_chunk", true) end,
    on_done = function(err, response)
      emit("s3_err", err and err.kind or "none")
      emit("s3_code", err and err.code)
      emit("s3_response", response)
      client.models:generate_content(req, function(err2, res)
        emit("s4_err", err2 or "none")
        emit("s4_text", res and res.text and res.text:find("from neovim", 1, true) ~= nil)
        client:close(); fast:close()
        finish(0)
      end)
    end,
  })
end

step(1)
]=]

-- The start of the scripts below: report, watchdog, a client maker.
local HEAD = [=[
local out = assert(io.open(os.getenv("GEMINI_NVIM_OUT"), "w"))
local function emit(k, v) out:write(k, "=", tostring(v), "\n"); out:flush() end
local function finish(code) out:close(); vim.cmd(code == 0 and "qall!" or "cquit! " .. code) end
vim.defer_fn(function() emit("watchdog", "fired"); finish(3) end, 20000)

local gemini = require("gemini")
local url, key = os.getenv("GEMINI_MOCK_URL"), os.getenv("GEMINI_MOCK_KEY")
local function client(fast, base)
  return gemini.Client{ api_key = key, base_url = base or url, loop = vim.loop, fast_callbacks = fast,
                        retry = { attempts = 3, initial_delay = 0.02, jitter = 0 } }
end
local req = { model = "gemini-2.5-flash", contents = "from neovim" }
local slow = { model = "gemini-2.5-pro", contents = "held by the server" }
]=]

-- client:close() inside callbacks (a call's callback, on_chunk), with
-- another call in flight, with fast_callbacks and without. Nothing may
-- raise or write to the screen.
local CLOSE_SCRIPT = HEAD .. [=[
local steps, step = {}, nil
step = function(i) vim.defer_fn(function()
  local ok, err = pcall(steps[i]); if not ok then emit("error", err); finish(4) end
end, 300) end

for i, fast in ipairs({ true, false }) do
  local p = fast and "fast_" or "sched_"
  -- close in a call's callback
  steps[2 * i - 1] = function()
    local c = client(fast)
    c.models:generate_content(slow, function(err) emit(p .. "call_other", err and err.kind or "answer") end)
    c.models:generate_content(req, function(err)
      emit(p .. "call", err and err.kind or "answer")
      c:close()
      step(2 * i)
    end)
  end
  -- close in on_chunk
  steps[2 * i] = function()
    local c = client(fast)
    local chunks = 0
    c.models:generate_content(slow, function(err) emit(p .. "chunk_other", err and err.kind or "answer") end)
    c.models:generate_content_stream(req, {
      on_chunk = function()
        chunks = chunks + 1
        if chunks == 2 then c:close() end
      end,
      on_done = function(err)
        emit(p .. "chunk_done", err and err.kind or "response")
        emit(p .. "chunks", chunks)
        step(2 * i + 1)
      end,
    })
  end
end
steps[5] = function() finish(0) end

step(1)
]=]

-- A server that refuses every connection (a port bound, not listening),
-- retried, on both kinds of client: nothing may reach the screen.
local REFUSED_SCRIPT = HEAD .. [=[
local s = vim.loop.new_tcp()
s:bind("127.0.0.1", 0)
local base = "http://127.0.0.1:" .. s:getsockname().port
local pending = 2
for _, fast in ipairs({ true, false }) do
  local c = client(fast, base)
  c.models:generate_content_stream(req, { on_done = function(err)
    emit((fast and "fast" or "sched") .. "_refused", err and err.kind or "response")
    pending = pending - 1
    if pending == 0 then s:close(); vim.defer_fn(function() finish(0) end, 300) end
  end })
end
]=]

-- The example plugin (examples/nvim): :Gemini streams into a scratch buffer.
local PLUGIN_SCRIPT = [=[
local out = assert(io.open(os.getenv("GEMINI_NVIM_OUT"), "w"))
vim.opt.rtp:append(os.getenv("GEMINI_PLUGIN_DIR"))
vim.cmd("runtime! plugin/gemini.lua")
vim.cmd("Gemini hello from the plugin")
local buf = vim.api.nvim_get_current_buf()
local done = vim.wait(10000, function() return vim.b[buf].gemini_done == true end, 20)
out:write("done=", tostring(done), "\n")
out:write(table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n"), "\n")
out:close()
vim.cmd("qall!")
]=]

-- The plugin as lazy.nvim loads it: the repository's root and
-- examples/nvim on the runtime path, no LUA_PATH / LUA_CPATH at all; the
-- plugin finds the C core in build/luajit from its own file.
local PLUGIN_RTP_SCRIPT = [=[
local out = assert(io.open(os.getenv("GEMINI_NVIM_OUT"), "w"))
local root = os.getenv("GEMINI_REPO")
vim.opt.rtp:append(root)
vim.opt.rtp:append(root .. "/examples/nvim")
vim.cmd("runtime! plugin/gemini.lua")
out:write("cpath_had_build=", tostring(package.cpath:find("build/luajit", 1, true) ~= nil), "\n")
vim.cmd("Gemini hello from the runtime path")
local buf = vim.api.nvim_get_current_buf()
local done = vim.wait(10000, function() return vim.b[buf].gemini_done == true end, 20)
out:write("done=", tostring(done), "\n")
out:write("core=", tostring(package.searchpath("gemini.core", package.cpath)), "\n")
out:write(table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n"), "\n")
out:close()
vim.cmd("qall!")
]=]

-- A Live session (client.live, callback form) on vim.loop: the socket
-- watched by the editor's loop while a 10 ms timer ticks; callbacks
-- scheduled, where the editor API may be called.
local LIVE_SCRIPT = HEAD .. [=[
local ticks = 0
local timer = vim.loop.new_timer()
timer:start(10, 10, function() ticks = ticks + 1 end)
local text, api_ok, session = {}, true, nil
session = client(false).live:connect({ model = "gemini-live-2.5-flash-preview" }, {
  on_open = function() emit("live_open", true) end,
  on_message = function(msg)
    api_ok = api_ok and not vim.in_fast_event()
    text[#text + 1] = msg.text
    if msg.server_content and msg.server_content.turnComplete then session:close() end
  end,
  on_close = function(err)
    timer:stop(); timer:close()
    emit("live_close", err and tostring(err) or "nil")
    emit("live_text", table.concat(text))
    emit("live_api_ok", api_ok)
    emit("live_ticks", ticks)
    finish(0)
  end,
})
emit("live_returned_at_once", session ~= nil)
session:send_client_content{ turns = "from neovim" }
]=]

local describe_nvim = exists("nvim") and describe or pending

describe_nvim("Neovim (headless, vim.loop)", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local run_nvim

  -- Runs `script` in headless Neovim; returns its report and its output.
  -- With `bare`, no LUA_PATH / LUA_CPATH: the script finds the module
  -- through the runtime path.
  run_nvim = function(script_text, bare)
    local base = os.tmpname()
    local script, out = base .. ".lua", base .. ".out"
    write_file(script, script_text)
    local cwd = os.getenv("PWD") or "."
    -- No ";;": Neovim's own paths only, so lua-cjson is not found: the
    -- module must not need it (the C core decodes).
    local env = table.concat({
      bare and "env -u LUA_PATH -u LUA_CPATH -u LUA_INIT"
        or ("LUA_PATH=" .. mock.shell_quote(cwd .. "/lua/?.lua;" .. cwd .. "/lua/?/init.lua")),
      bare and "" or ("LUA_CPATH=" .. mock.shell_quote(cwd .. "/build/luajit/?.so")),
      "GEMINI_REPO=" .. mock.shell_quote(cwd),
      "GEMINI_NVIM_OUT=" .. mock.shell_quote(out),
      "GEMINI_MOCK_URL=" .. mock.shell_quote(m.url),
      "GEMINI_MOCK_KEY=" .. mock.shell_quote(KEY),
      "GEMINI_BASE_URL=" .. mock.shell_quote(m.url),
      "GEMINI_API_KEY=" .. mock.shell_quote(KEY),
      "GOOGLE_API_KEY=",
      "GEMINI_PLUGIN_DIR=" .. mock.shell_quote(cwd .. "/examples/nvim"),
    }, " ")
    local cmd = env .. " timeout 60 nvim --headless -u NONE -i NONE -n -c "
      .. mock.shell_quote("luafile " .. script) .. " >" .. mock.shell_quote(base .. ".log") .. " 2>&1"
    os.execute(cmd)
    local text = read_file(out) or ""
    local log = read_file(base .. ".log") or ""
    for _, f in ipairs({ script, out, base .. ".log", base }) do os.remove(f) end
    return text, log
  end

  local function build()
    -- The C core must be built for LuaJIT (Neovim's Lua).
    local so = "build/luajit/gemini/core.so"
    if not read_file(so) then
      os.execute("make --no-print-directory LUA=luajit >/dev/null")
    end
    assert.is_truthy(read_file(so), "no " .. so .. " (make LUA=luajit)")
  end

  it("streams without blocking the editor's loop, cancels, reports errors", function()
    build()
    m:faults{
      { type = "slow_stream", events = 12, delay = 0.05 },
      { type = "slow_stream", events = 40, delay = 0.05 },
      { type = "many", events = 3000 },
    }
    local text, log = run_nvim(SCRIPT)
    local r = {}
    for k, v in text:gmatch("([%w_]+)=([^\n]*)") do r[k] = v end
    local info = "\n--- report\n" .. text .. "--- nvim output\n" .. log

    assert.is_nil(r.error, info)
    assert.is_nil(r.watchdog, info)
    assert.are.equal("false", r.cjson, info)       -- decoded without lua-cjson
    assert.are.equal("true", r.json_ok, info)
    -- 1: 12 chunks 50 ms apart; the 20 ms timer ticked between them
    assert.are.equal("true", r.s1_returned_at_once, info)
    assert.are.equal("none", r.s1_err, info)
    assert.are.equal("12", r.s1_chunks, info)
    assert.is_true(tonumber(r.s1_ticks_between) >= 15, info)
    assert.are.equal("true", r.s1_api_ok, info)
    assert.are.equal("true", r.s1_text_ok, info)
    -- 2: canceled after 2 chunks, once; the server saw the client go
    assert.are.equal("true", r.s2_fast, info)
    assert.are.equal("true", r.s2_cancel, info)
    assert.are.equal("canceled", r.s2_err, info)
    assert.are.equal("2", r.s2_chunks, info)
    assert.are.equal("1", r.s2_dones, info)
    assert.is_true(m:wait_for(function(l) return l[2] and l[2].disconnected end, 5), info)
    assert.is_false(m:log()[2].completed)
    assert.are.equal("canceled", r.s5_err, info)
    assert.are.equal("2", r.s5_chunks, info)
    assert.are.equal("1", r.s5_dones, info)
    -- 3: the error reaches on_done
    assert.is_nil(r.s3_chunk, info)
    assert.are.equal("api", r.s3_err, info)
    assert.are.equal("404", r.s3_code, info)
    assert.are.equal("nil", r.s3_response, info)
    assert.are.equal("none", r.s4_err, info)
    assert.are.equal("true", r.s4_text, info)
  end)

  -- Runs a script and returns its report ({key = value}; a key seen twice
  -- keeps its values joined by ","), and the text for failure messages.
  local function report_of(script)
    local text, log = run_nvim(script)
    local r = {}
    for k, v in text:gmatch("([%w_]+)=([^\n]*)") do r[k] = r[k] and (r[k] .. "," .. v) or v end
    return r, log, "\n--- report\n" .. text .. "--- nvim output\n" .. log
  end

  it("may close a client in its callbacks, with other calls in flight", function()
    build()
    m:faults{
      { type = "stall", seconds = 5, times = 4, match = "gemini-2.5-pro:generateContent" },
      { type = "slow_stream", events = 20, delay = 0.05, times = 2 },
    }
    local r, log, info = report_of(CLOSE_SCRIPT)
    assert.is_nil(r.error, info)
    assert.is_nil(r.watchdog, info)
    for _, p in ipairs({ "fast_", "sched_" }) do
      assert.are.equal("answer", r[p .. "call"], info)
      assert.are.equal("canceled", r[p .. "call_other"], info)   -- once each
      assert.are.equal("canceled", r[p .. "chunk_done"], info)
      assert.are.equal("2", r[p .. "chunks"], info)
      assert.are.equal("canceled", r[p .. "chunk_other"], info)
    end
    assert.are.equal("", log, info)
  end)

  it("prints nothing when the server refuses the connection", function()
    build()
    local r, log, info = report_of(REFUSED_SCRIPT)
    assert.is_nil(r.watchdog, info)
    assert.are.equal("transport", r.fast_refused, info)
    assert.are.equal("transport", r.sched_refused, info)
    assert.are.equal("", log, info)
  end)

  it("runs the example plugin: :Gemini streams into a scratch buffer", function()
    build()
    m:faults{ { type = "slow_stream", events = 5, delay = 0.05 } }
    local text, log = run_nvim(PLUGIN_SCRIPT)
    local info = "\n--- report\n" .. text .. "--- nvim output\n" .. log
    assert.matches("^done=true\n", text, nil)
    assert.matches('You asked: "hello from the plugin"', text, 1, true)
    assert.matches("%[gemini%-2%.5%-flash, %d+ tokens%]", text)
    assert.are.equal(1, #m:log(), info)
  end)

  it("runs the example plugin from the runtime path alone: it finds the core in build/luajit", function()
    build()
    local text, log = run_nvim(PLUGIN_RTP_SCRIPT, true)
    local info = "\n--- report\n" .. text .. "--- nvim output\n" .. log
    assert.matches("^cpath_had_build=false\ndone=true\n", text, nil)
    local cwd = os.getenv("PWD") or "."
    assert.matches("\ncore=" .. cwd:gsub("%p", "%%%0") .. "/build/luajit/gemini/core%.so\n", text)
    assert.matches('You asked: "hello from the runtime path"', text, 1, true)
    assert.are.equal(1, #m:log(), info)
  end)

  it("runs a Live session on the editor's loop (client.live callbacks)", function()
    build()
    m:_control("POST", "/_mock/live/faults", { faults = { { type = "slow", delay = 0.05 } } })
    local text, log = run_nvim(LIVE_SCRIPT)
    local r = {}
    for k, v in text:gmatch("([%w_]+)=([^\n]*)") do r[k] = v end
    local info = "\n--- report\n" .. text .. "--- nvim output\n" .. log
    assert.is_nil(r.error, info)
    assert.is_nil(r.watchdog, info)
    assert.are.equal("true", r.live_returned_at_once, info)
    assert.are.equal("true", r.live_open, info)
    assert.are.equal("nil", r.live_close, info)
    assert.are.equal("Live echo: from neovim", r.live_text, info)
    assert.are.equal("true", r.live_api_ok, info)
    assert.is_true(tonumber(r.live_ticks) >= 10, info)
  end)
end)
