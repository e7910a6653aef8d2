--- The callback API: a service's entry point, given a trailing callback,
-- runs its blocking form in a task (`gemini.async.task`) on the client's
-- twin over its event loop, and returns a handle at once:
--
--   function Files:get(name, cb)
--     check_self(self, "get")
--     if cb ~= nil then
--       return async.call(self.client, "get", 2, cb, function(c) return c.files:get(name) end)
--     end
--     ...
--
-- The twin (`client:_over`, made on first use) shares the client's
-- configuration; its transport is `gemini.async.adapter` over
-- `gemini.transport.luv` on the client's `loop` (luv, Neovim's `vim.loop`).
-- So a call on the loop is the very same code as a blocking one.
--
-- `client:close()` may be called anywhere, inside these callbacks too (the
-- way a luv program ends when its work is done): every call still running
-- (a `generate_content_all` group as one) then gets its "canceled" error
-- once, as after `handle:cancel()`, and nothing else of the client runs.
-- @module gemini.async
local adapter = require("gemini.async.adapter")
local deliver = require("gemini.async.deliver").deliver
local errors = require("gemini.errors")
local task = require("gemini.async.task")

local M = {}

--- The client's twin on its event loop (made on first use). It keeps the
-- handles of the user's calls still running (`twin.running`: handle ->
-- true), so that `client:close()`, which closes the loop transport,
-- cancels them first: each gets its "canceled" error once.
-- @param client the client
-- @tparam string fname the call, for the error without a loop
function M.on_loop(client, fname)
  local twin = rawget(client, "_on_loop")
  if twin then return twin end
  if client.loop == nil then
    errors.misuse(string.format("'%s' with a callback needs an event loop: create the client with"
      .. " loop = vim.loop or require(\"luv\")", fname))
  end
  local luv = require("gemini.transport.luv").new(client.loop)
  twin = client:_over(adapter.new(luv))
  twin.running = {}
  luv.on_close = function()
    local handles = {}
    for h in pairs(twin.running) do handles[#handles + 1] = h end
    for _, h in ipairs(handles) do h:cancel() end
  end
  client._luv, client._on_loop = luv, twin
  return twin
end

--- A running call: what the callback forms return.
-- @type Handle
local Handle = {}
Handle.__index = Handle

--- A handle of a call on `twin`: `stop()` ends its work; after a cancel,
-- `on_cancel(err)` delivers the "canceled" error. The caller adds it to
-- `twin.running` once the call has started.
function M.handle(client, twin, stop, on_cancel)
  return setmetatable({ client = client, running = twin.running, stop = stop,
                        on_cancel = on_cancel }, Handle)
end

--- Delivers the call's end, `fn(...)`, once: never after a cancel.
function Handle:finish(fn, ...)
  deliver(self.client, function(...)
    if self.canceled or self.delivered then return end
    self.delivered = true
    self.running[self] = nil
    fn(...)
  end, ...)
end

--- Cancels the call: its connections are closed at once and its callback
-- gets a `gemini.Error` of kind "canceled" (once); callbacks still queued
-- (Neovim schedules them) are dropped. Returns false when the call's final
-- callback has already run (or the call was canceled before).
function Handle:cancel()
  if self.canceled or self.delivered then return false end
  self.canceled = true
  self.running[self] = nil
  self.stop()
  local err = self.client:error("canceled", "the call was canceled")
  deliver(self.client, function()
    self.delivered = true
    self.on_cancel(err)
  end)
  return true
end

function Handle:__tostring()
  return "gemini.Handle (" .. ((self.canceled or self.delivered) and "ended" or "running") .. ")"
end

-- Runs run(twin) in a task on the loop of `twin`, a client's twin;
-- `done(err, res)` once. Returns the handle.
local function start(twin, client, run, done)
  local t
  local h = M.handle(client, twin, function() t:stop() end, function(err) done(err, nil) end)
  t = task.spawn(twin.transport.driver, function() return run(twin) end, function(res, err)
    h:finish(done, err, res)
  end)
  twin.running[h] = true
  return h
end

--- `cb(err, result)` once with what `run(twin)` returns: a blocking call
-- made on the client's twin on its loop. Returns the handle at once.
-- @param client the service's client
-- @tparam string fname the entry point, for error messages
-- @tparam number argn the callback's argument position, for error messages
-- @tparam function cb
-- @tparam function run
function M.call(client, fname, argn, cb, run)
  errors.arg(fname, argn, cb, "function")
  return start(M.on_loop(client, fname), client, run, cb)
end

--- A paged list with a callback: `cb(err, items)` with every item of
-- every page, in order; `run(twin)` returns the list's iterator.
function M.list(client, fname, argn, cb, run)
  errors.arg(fname, argn, cb, "function")
  return start(M.on_loop(client, fname), client, function(twin)
    local items = {}
    -- A failing page raises its gemini.Error, which ends the task with it.
    -- Called by hand, not by a generic for: Lua 5.1 cannot yield inside
    -- an iterator that a for loop calls.
    local iter = run(twin)
    while true do
      local item = iter()
      if item == nil then break end
      items[#items + 1] = item
    end
    return items
  end, cb)
end

--- A stream with callbacks: `on_chunk(chunk)` for each chunk as it
-- arrives, then `on_done(err, response)` once (response: the merged
-- answer; err: a `gemini.Error`, "canceled" after `handle:cancel()`);
-- `run(twin)` returns the stream.
-- @param client the service's client
-- @tparam string fname the entry point, for error messages
-- @tparam number argn the handlers' argument position, for error messages
-- @tparam table handlers `{on_chunk=, on_done=}`
-- @tparam function run
function M.stream(client, fname, argn, handlers, run)
  errors.arg(fname, argn, handlers, "table")
  local on_chunk = errors.field(fname, "on_chunk", handlers.on_chunk, "function", true)
  local on_done = errors.field(fname, "on_done", handlers.on_done, "function", true)
  local h
  -- A scheduled chunk still queued when the call is canceled is dropped:
  -- after cancel() only the "canceled" on_done arrives.
  local function chunk_cb(chunk)
    if not (h and h.canceled) then on_chunk(chunk) end
  end
  h = start(M.on_loop(client, fname), client, function(twin)
    local st = run(twin)
    while true do
      local chunk, err = st:next()
      if err then return nil, err end
      if chunk == nil then return st.response end
      if on_chunk then deliver(client, chunk_cb, chunk) end
    end
  end, function(err, res)
    if on_done then on_done(err, res) end
  end)
  return h
end

--- Whether a trailing argument is stream callbacks (a config never has
-- these): `chat:send_message_stream(message[, config], handlers)`.
function M.is_handlers(t)
  return type(t) == "table" and (type(t.on_chunk) == "function" or type(t.on_done) == "function")
end

return M
