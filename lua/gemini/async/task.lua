--- Tasks: blocking-style code run as a coroutine over an asynchronous driver.
--
-- Every call of the client is written once, in the blocking style
-- (`client:_call`, the stream object, the retries). To run it without
-- blocking, it runs inside a task, on a client whose transport
-- (`gemini.async.adapter`) starts each operation on an asynchronous driver
-- (`gemini.transport.luv`, `gemini.async.multi`) and then waits here: the
-- task yields, and the driver's callback resumes it. So the retry logic,
-- error decoding, SSE framing and merging are the very same code in every
-- mode.
-- @module gemini.async.task
local errors = require("gemini.errors")
local raise_later = require("gemini.async.deliver").raise_later

local M = {}

local function pack(...) return { n = select("#", ...), ... } end

local TASKS = setmetatable({}, { __mode = "k" })   -- coroutine -> task

--- A coroutine on a driver, with the driver operations it waits for.
-- @type Task
local Task = {}
Task.__index = Task

--- The task of the running coroutine, or nil outside one.
function M.running()
  local co = coroutine.running()
  return co and TASKS[co] or nil
end

--- The task of the running coroutine; raises (naming `what`) outside one.
function M.current(what)
  local task = M.running()
  if not task then
    errors.misuse("gemini: " .. what .. " of an asynchronous transport outside a task")
  end
  return task
end

-- A programmer error (or a bug) ended the task: raised to the caller when
-- it happens before spawn returned, else on the loop.
function Task:_abort(err)
  local msg = type(err) == "string" and debug.traceback(self.co, err) or err
  if self.on_abort then self.on_abort() end
  if self.starting then
    self.raise = err
  elseif self.driver.raise_now then
    error(msg, 0)
  else
    raise_later(self.driver, msg)
  end
end

-- Resumes the coroutine; when it has returned, hands on_end its result
-- (res, err) -- a gemini.Error it raised counts as (nil, err).
function Task:_resume()
  if self.finished or not self.waiting then return end
  self.waiting = false
  local r = pack(coroutine.resume(self.co))
  if coroutine.status(self.co) ~= "dead" then return end
  self.finished = true
  self:_cancel_ops()
  local ok, res, err = r[1], r[2], r[3]
  if not ok then
    if not errors.is_error(res) then return self:_abort(res) end
    res, err = nil, res
  end
  if self.starting and self.driver.defer then
    -- Never call back before spawn has returned.
    self.driver:defer(function() self.on_end(res, err) end)
  else
    self.on_end(res, err)
  end
end

--- Waits (yields) until cond() is true; the driver's callbacks wake it.
function Task:wait(cond)
  while not cond() do
    self.waiting = true
    coroutine.yield()
  end
end

--- Resumes the task if it waits (a driver callback brought news).
function Task:wake()
  if self.waiting and not self.finished then self:_resume() end
end

function Task:_cancel_ops()
  local ops = self.ops
  self.ops = {}
  for h in pairs(ops) do h:cancel() end
end

--- Ends the task where it waits: its driver operations are canceled (their
-- connections closed) and on_end is never called. False when it had ended.
function Task:stop()
  if self.finished then return false end
  self.finished = true
  self:_cancel_ops()
  -- Whoever waits for what this task was doing (a token fetch) hears of it.
  if self.on_stop then self.on_stop() end
  if coroutine.close and coroutine.status(self.co) == "suspended" then
    pcall(coroutine.close, self.co)
  end
  return true
end

--- Runs `fn()` in a new task on `driver` up to its first wait; `on_end(res,
-- err)` when it returns (never before spawn has, on a driver that can
-- defer). A programmer error raised before the first wait is raised here.
-- @return the task
function M.spawn(driver, fn, on_end)
  local task = setmetatable({ ops = {}, on_end = on_end, driver = driver, waiting = true,
                              starting = true }, Task)
  task.co = coroutine.create(fn)
  TASKS[task.co] = task
  task:_resume()
  task.starting = false
  if task.raise then error(task.raise, 0) end
  return task
end

return M
