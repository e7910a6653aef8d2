--- The blocking multi driver: an asynchronous driver (`gemini.transport`)
-- over one libcurl session that the caller drives with `run(done)`,
-- blocked until done() holds. Tasks share the session, so
-- `generate_content_all` without an event loop runs its requests side by
-- side over one connection pool. Whole requests and sleeps only: it has
-- no `open_async` (generate_content_all never streams).
-- @module gemini.async.multi
local contract = require("gemini.transport")
local core = require("gemini.core")
local errors = require("gemini.errors")

local M = {}

local Multi = {}
Multi.__index = Multi

--- A request or a timer on the driver.
local Op = {}
Op.__index = Op

function Op:cancel()
  if self.closed then return false end
  self.closed = true
  self.set[self] = nil
  if self.req then self.req:close() end
  return true
end

--- A driver over `session` (a `gemini.core` session nothing else drives).
function M.new(session)
  -- raise_now: a failing task raises out of run() (the caller is blocked
  -- in it anyway).
  return setmetatable({ session = session, ops = {}, timers = {}, later = {}, raise_now = true },
    Multi)
end

function Multi:request_async(spec, cb)
  local op = setmetatable({ set = self.ops, req = self.session:request(spec), cb = cb }, Op)
  self.ops[op] = true
  return op
end

function Multi:open_async()
  errors.misuse("gemini: streams are not available in generate_content_all")
end

function Multi:sleep_async(seconds, cb)
  local op = setmetatable({ set = self.timers, at = core.now() + seconds, cb = cb }, Op)
  self.timers[op] = true
  return op
end

function Multi:defer(fn)
  self.later[#self.later + 1] = fn
end

-- Runs the deferred functions, those they defer included.
function Multi:_run_later()
  while #self.later > 0 do
    local fns = self.later
    self.later = {}
    for _, fn in ipairs(fns) do fn() end
  end
end

-- Fires the timers that are due; returns how many fired and how long until
-- the next one (at most a second).
function Multi:_fire_timers()
  local now, wait, due = core.now(), 1, {}
  for op in pairs(self.timers) do
    if op.at <= now then due[#due + 1] = op else wait = math.min(wait, op.at - now) end
  end
  for _, op in ipairs(due) do
    if op:cancel() then op.cb() end
  end
  return #due, wait
end

-- Hands each finished request its answer.
function Multi:_finish_requests()
  local finished = {}
  for op in pairs(self.ops) do
    if op.req:is_done() then finished[#finished + 1] = op end
  end
  for _, op in ipairs(finished) do
    if not op.closed then
      local res, kind, msg, final = contract.result(op.req)
      op:cancel()
      op.cb(res, kind, msg, final)
    end
  end
end

--- Runs until done() is true: fires due timers and finished requests, and in
-- between waits in curl_multi_poll (no busy loop) for the nearest of: a
-- socket event, a timer, one second.
function Multi:run(done)
  while true do
    self:_run_later()
    if done() then return end
    local fired, wait = self:_fire_timers()
    if fired == 0 then
      if next(self.ops) then
        self.session:step(math.max(1, math.ceil(wait * 1000)))
      elseif next(self.timers) then
        core.sleep(wait)
      elseif #self.later == 0 and not done() then
        error("gemini: internal error: tasks wait for nothing", 0)
      end
      self:_finish_requests()
    end
  end
end

--- Cancels what is still running (the session is the caller's).
function Multi:close()
  for op in pairs(self.ops) do op:cancel() end
  self.timers = {}
end

return M
