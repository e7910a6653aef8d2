-- The transport contract (lua/gemini/transport/init.lua): one list of cases
-- (spec/support/transport_cases.lua) run over every transport against the
-- mock -- libcurl blocking, libcurl on a luv loop through the task adapter,
-- the blocking multi driver of generate_content_all (no streams there), and
-- nginx cosockets.
local adapter = require("gemini.async.adapter")
local cases = require("support.transport_cases")
local core = require("gemini.core")
local mock = require("support.mock")
local multi = require("gemini.async.multi")
local nginx = require("support.nginx")
local task = require("gemini.async.task")

local ok_uv, uv = pcall(require, "luv")

local KEY = "transport-key"
local REFUSED = "http://127.0.0.1:1"

-- Runs case.run in a task over `driver` (its transport: the adapter);
-- `drive(done)` turns the driver until done() holds. (No pcall around the
-- case: Lua 5.1 cannot yield across it. A transport that raises, breaking
-- the contract, ends the run on the loop.)
local function in_task(driver, drive, case, env)
  local ended, obs
  task.spawn(driver, function() return case.run(adapter.new(driver), env) end,
    function(res) ended, obs = true, res end)
  drive(function() return ended end)
  assert(ended, "the case did not end")
  return obs
end

-- Inside nginx: a location runs case i (run and check) over the cosocket
-- transport and answers "ok" or the failure.
local HTTP = [[
  server {
    listen 127.0.0.1:%d;
    location /ping { return 204; }
    location /conformance {
      content_by_lua_block {
        local case = require("support.transport_cases").cases[tonumber(ngx.var.arg_case)]
        local t = require("gemini.transport.resty").new()
        local env = { url = "%s", key = "%s", refused = "%s" }
        local ok, err = pcall(function() case.check(case.run(t, env)) end)
        ngx.say(ok and "ok" or ("FAIL " .. tostring(err)))
      }
    }
  }
]]

-- Each runner: `start(env)` before its cases, `conform(i, case, env)` runs
-- case i and raises when the contract is broken, `stop()` after.
-- (The luv transport's per-socket mode, for systems without epoll, is
-- left to luv_spec: luv prints "EBADF" to stderr for every refused
-- connection there.)
local RUNNERS = {
  {
    name = "gemini.transport.curl",
    start = function(self) self.t = require("gemini.transport.curl").new() end,
    conform = function(self, _, case, env) case.check(case.run(self.t, env)) end,
    stop = function(self) if self.t then self.t:close() end end,
  },
  {
    name = "gemini.transport.luv", skip = not ok_uv and "lua-luv is not installed",
    start = function(self) self.d = require("gemini.transport.luv").new(uv) end,
    conform = function(self, _, case, env)
      case.check(in_task(self.d, function() require("support.loop").run(uv, 15) end, case, env))
    end,
    stop = function(self)
      if self.d then self.d:close() end
      uv.run()
    end,
  },
  {
    name = "gemini.async.multi", streams = false,
    start = function(self)
      self.session = core.session()
      self.d = multi.new(self.session)
    end,
    conform = function(self, _, case, env)
      case.check(in_task(self.d, function(done) self.d:run(done) end, case, env))
    end,
    stop = function(self)
      if self.d then self.d:close() end
      if self.session then self.session:close() end
    end,
  },
  {
    name = "gemini.transport.resty (inside nginx)",
    skip = not nginx.available and "nginx with the Lua module is not installed",
    start = function(self, env)
      self.n = nginx.new()
      self.n:start(string.format(HTTP, self.n.port, env.url, env.key, env.refused))
    end,
    conform = function(self, i)
      local out = self.n:get("/conformance?case=" .. i, 20)
      assert(out == "ok\n", out ~= "" and out or self.n:error_log())
    end,
    stop = function(self) if self.n then self.n:stop() end end,
  },
}

describe("the transport contract", function()
  local m
  local env = { key = KEY, refused = REFUSED }

  setup(function()
    m = mock.start{ key = KEY, stream_delay = 0 }
    env.url = m.url
  end)

  teardown(function() if m then m:stop() end end)

  for _, runner in ipairs(RUNNERS) do
    local describe_runner = runner.skip and pending or describe
    describe_runner(runner.name .. (runner.skip and (": " .. runner.skip) or ""), function()
      setup(function() runner:start(env) end)
      teardown(function() runner:stop() end)

      for i, case in ipairs(cases.cases) do
        if not case.stream or runner.streams ~= false then
          it(case.name, function()
            m:reset()
            if case.faults then m:faults(case.faults) end
            runner:conform(i, case, env)
            if case.after then case.after(m) end
          end)
        end
      end
    end)
  end
end)
