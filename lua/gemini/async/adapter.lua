--- A blocking transport over an asynchronous driver, for code running in a
-- task (`gemini.async.task`): each method starts the operation on the
-- driver and waits by yielding the task until the driver calls back. Its
-- methods and answers are the blocking ones of `gemini.transport`, those
-- of the driver the asynchronous ones.
-- @module gemini.async.adapter
local contract = require("gemini.transport")
local current = require("gemini.async.task").current

local unpack = table.unpack or unpack

-- Starts a driver operation, `start(cb)` returning its handle, and waits
-- for its callback: returns what the callback got. While it runs the
-- operation belongs to the task (a stopped task cancels it).
local function await(what, start)
  local task = current(what)
  local out
  local h
  h = start(function(...)
    if h then task.ops[h] = nil end
    out = { n = select("#", ...), ... }
    task:wake()
  end)
  if not out then task.ops[h] = true end
  task:wait(function() return out ~= nil end)
  return unpack(out, 1, out.n)
end

local Adapter = {}
Adapter.__index = Adapter

--- The blocking transport over `driver` (`gemini.transport.luv`,
-- `gemini.async.multi`).
function Adapter.new(driver)
  return setmetatable({ driver = driver }, Adapter)
end

--- Whole request, yielding while it runs.
function Adapter:request(spec)
  return await("request", function(cb) return self.driver:request_async(spec, cb) end)
end

local Reader = {}
Reader.__index = Reader

--- Next piece of the body; nil at the end; nil, kind, msg, final on failure.
function Reader:read()
  local task = current("read")
  self.task = task
  task:wait(function() return #self.pieces > 0 or self.ended end)
  if #self.pieces > 0 then
    local s = table.concat(self.pieces)
    self.pieces = {}
    return s
  end
  if self.kind then return nil, self.kind, self.msg, self.final end
  return nil
end

--- Ends the transfer at once.
function Reader:close()
  if not self.ended then
    self.ended = true
    self.task.ops[self.handle] = nil
    self.handle:cancel()
  end
end

--- Starts a streamed request and waits for its headers.
function Adapter:open(spec)
  local task = current("open")
  local r = setmetatable({ pieces = {}, task = task }, Reader)
  r.handle = self.driver:open_async(spec, {
    on_headers = function(status, headers)
      r.status, r.headers = status, headers
      r.task:wake()
    end,
    on_data = function(bytes)
      r.pieces[#r.pieces + 1] = bytes
      r.task:wake()
    end,
    on_done = function(kind, msg, final)
      r.ended, r.kind, r.msg, r.final = true, kind, msg, final
      if r.handle then r.task.ops[r.handle] = nil end
      r.task:wake()
    end,
  })
  if not r.ended then task.ops[r.handle] = true end
  task:wait(function() return r.status ~= nil or r.ended end)
  if not r.status then return nil, contract.no_response(r.kind, r.msg, r.final) end
  return r
end

--- Waits on the driver's timer (a retry's backoff), yielding.
function Adapter:sleep(seconds)
  await("sleep", function(cb) return self.driver:sleep_async(seconds, cb) end)
end

--- Nothing to free: the driver belongs to whoever made it.
function Adapter:close() end

return Adapter
