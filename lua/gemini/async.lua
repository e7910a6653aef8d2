--- The callback API and many requests at once, on top of the blocking code.
--
-- Every call of the client is written once, in the blocking style
-- (`client:_call`, the stream object, the retries). To run it without
-- blocking, it runs inside a *task*: a coroutine whose client is a *view*
-- of the real client with a different transport. That transport offers the
-- blocking methods (`request`, `open` + `read`, `sleep`), but instead of
-- waiting it starts the operation on an asynchronous *driver* and yields;
-- the driver's callback resumes the task. So the retry logic, error
-- decoding, SSE framing and merging are the very same code in every mode.
--
-- Drivers:
--   * `gemini.transport.luv` on a libuv loop (luv, Neovim's `vim.loop`);
--   * the blocking driver below, which drives one libcurl session with
--     `sess:step` until a group of tasks has finished (for
--     `generate_content_all` without a loop).
--
-- Inside Neovim, user callbacks run through `vim.schedule`, where the editor
-- API may be called, unless the client has `fast_callbacks = true` (then
-- they run directly in libuv's callback, a "fast" context: quicker, but
-- most of `vim.api` is off limits there).
--
-- `client:close()` may be called anywhere, inside these callbacks too (the
-- way a luv program ends when its work is done): every call still running
-- (a `generate_content_all` group as one) then gets its "canceled" error
-- once, as after `handle:cancel()`, and nothing else of the client runs.
-- @module gemini.async
local core = require("gemini.core")
local contract = require("gemini.transport")
local errors = require("gemini.errors")

local M = {}

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

-- ---- delivery of user callbacks ------------------------------------------

local function in_nvim()
  return type(vim) == "table" and type(vim.schedule) == "function"
end

-- Whether user callbacks of `client` are scheduled (Neovim, not fast).
local function scheduled(client)
  return in_nvim() and not client.fast_callbacks
end

-- Raises `msg` on the host's loop, outside our bookkeeping: Neovim reports
-- it; luv reports it through its callback error handler.
local function raise_later(client, driver, msg)
  if in_nvim() then
    vim.schedule(function() error(msg, 0) end)
  elseif driver and driver.defer then
    driver:defer(function() error(msg, 0) end)
  else
    error(msg, 0)
  end
end

--- Calls a user callback: scheduled inside Neovim (unless `fast_callbacks`),
-- else at once, protected so an error in it cannot break a transfer's
-- bookkeeping (it is re-raised on the loop).
function M.deliver(client, fn, ...)
  if not fn then return end
  if scheduled(client) then
    local args = pack(...)
    vim.schedule(function() fn(unpack(args, 1, args.n)) end)
    return
  end
  local ok, err = pcall(fn, ...)
  if not ok then raise_later(client, client._luv, err) end
end

-- ---- tasks -----------------------------------------------------------------

local TASKS = setmetatable({}, { __mode = "k" })   -- coroutine -> task

--- A running call: the handle the callback API returns.
-- @type Handle
local Task = {}
Task.__index = Task

local function current(what)
  local co = coroutine.running()
  local task = co and TASKS[co]
  if not task then
    error("gemini: " .. what .. " of an asynchronous transport outside a task", 3)
  end
  return task
end

-- Resumes the coroutine (the first time with arguments).
function Task:_resume(...)
  if self.finished or not self.waiting then return end
  self.waiting = false
  local r = pack(coroutine.resume(self.co, ...))
  if coroutine.status(self.co) ~= "dead" then return end
  self.finished = true
  self:_cancel_ops()
  local ok, a = r[1], r[2]
  if not ok and not errors.is_error(a) then
    -- A programmer error (or a bug): raised to the caller when it happens
    -- before the call returned, else on the loop.
    local msg = type(a) == "string" and debug.traceback(self.co, a) or a
    if self.on_abort then self.on_abort() end
    if self.starting then
      self.raise = a
    elseif self.driver.raise_now then
      error(msg, 0)
    else
      raise_later(self.client, self.driver, msg)
    end
    return
  end
  local res, err
  if ok then res, err = r[2], r[3] else res, err = nil, a end
  if self.starting and self.driver.defer then
    -- Never call back before the call has returned its handle.
    self.driver:defer(function() self.on_end(res, err) end)
  else
    self.on_end(res, err)
  end
end

-- Waits (yields) until cond() is true; the driver's callbacks wake it.
function Task:wait(cond)
  while not cond() do
    self.waiting = true
    coroutine.yield()
  end
end

function Task:wake()
  if self.waiting and not self.finished then self:_resume() end
end

function Task:_cancel_ops()
  local ops = self.ops
  self.ops = {}
  for h in pairs(ops) do h:cancel() end
end

--- Cancels the call: its connection is closed at once and its callback
-- gets a `gemini.Error` of kind "canceled" (once); callbacks still queued
-- (Neovim schedules them) are dropped. Returns false when the call's final
-- callback has already run (or the call was canceled before).
function Task:cancel()
  if self.canceled or self.delivered or (self.finished and not self.user) then return false end
  self.canceled = true
  if not self.finished then
    self.finished = true
    self:_cancel_ops()
    if coroutine.close and coroutine.status(self.co) == "suspended" then
      pcall(coroutine.close, self.co)
    end
  end
  if self.on_cancel then
    self.on_cancel(self.client:error("canceled", "the call was canceled"))
  end
  return true
end

function Task:__tostring()
  return "gemini.Handle (" .. (self.finished and "ended" or "running") .. ")"
end

-- Runs fn(view) in a new task; on_end(res, err) when it returns.
local function spawn(view, fn, on_end, on_cancel)
  local task = setmetatable({
    ops = {}, on_end = on_end, on_cancel = on_cancel, client = view,
    driver = view._driver, waiting = true, starting = true,
  }, Task)
  task.co = coroutine.create(fn)
  TASKS[task.co] = task
  task:_resume(view)
  task.starting = false
  if task.raise then error(task.raise, 0) end
  return task
end
M.spawn = spawn

-- ---- the blocking-style transport of a view ---------------------------------

local Co = {}
Co.__index = Co

--- Whole request, as `gemini.transport.curl`'s, yielding while it runs.
function Co:request(spec)
  local task = current("request")
  local out
  local h
  h = self.driver:request_async(spec, function(res, kind, msg, final)
    if h then task.ops[h] = nil end
    out = { res, kind, msg, final }
    task:wake()
  end)
  if not out then task.ops[h] = true end
  task:wait(function() return out ~= nil end)
  return out[1], out[2], out[3], out[4]
end

local Reader = {}
Reader.__index = Reader

--- Next piece of the body; nil at the end; nil, kind, message on failure.
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
function Co:open(spec)
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
  if not r.status then return nil, r.kind or "transport", r.msg or "no response", r.final end
  return r
end

--- Waits on the driver's timer (a retry's backoff), yielding.
function Co:sleep(seconds)
  local task = current("sleep")
  local fired
  local h
  h = self.driver:sleep_async(seconds, function()
    if h then task.ops[h] = nil end
    fired = true
    task:wake()
  end)
  if not fired then task.ops[h] = true end
  task:wait(function() return fired end)
end

local service_in

-- A view of `client` whose calls run on `driver`. Its services
-- (`view.models`, `view.files`, ...: the client's fields that are objects
-- bound to the client) are the view's own copies, so that a service that
-- reaches another one (a chat calls `self.client.models`) stays on the view.
local function view_of(client, driver)
  -- _services: weak keys, as chats come and go.
  return setmetatable({ transport = setmetatable({ driver = driver }, Co), _driver = driver,
                        _services = setmetatable({}, { __mode = "k" }) }, {
    __index = function(view, k)
      local v = client[k]
      if type(v) == "table" and rawget(v, "client") == client then return service_in(view, v) end
      return v
    end,
  })
end

-- The view's copy of one of the client's service objects (`client.models`,
-- ..., or a chat): the same fields and methods, bound to the view. The copy
-- is shallow, so tables such as a chat's history stay shared.
function service_in(view, service)
  local s = view._services[service]
  if s then return s end
  s = {}
  for k, v in pairs(service) do s[k] = v end
  s.client = view
  setmetatable(s, getmetatable(service))
  view._services[service] = s
  return s
end

-- The client's view on its event loop (made on first use). The view knows
-- the user's calls still running (`view.running`: handle -> true), so that
-- `client:close()`, which closes the loop transport, cancels them first:
-- each gets its "canceled" error once, like after `handle:cancel()`.
local function loop_view(client, fname)
  if client._loop_view then return client._loop_view end
  if client.loop == nil then
    error(string.format("'%s' with a callback needs an event loop: create the client with"
      .. " loop = vim.loop or require(\"luv\")", fname), 4)
  end
  if not client._luv then
    client._luv = require("gemini.transport.luv").new(client.loop)
  end
  local view = view_of(client, client._luv)
  view.running = {}
  client._luv.on_close = function()
    local handles = {}
    for h in pairs(view.running) do handles[#handles + 1] = h end
    for _, h in ipairs(handles) do h:cancel() end
  end
  client._loop_view = view
  return view
end

-- ---- the callback API --------------------------------------------------------

-- Runs fn(view) as a user's call: `done(err, res)` is delivered once, and
-- never after a cancel (which delivers the "canceled" error instead).
local function user_task(client, view, fn, done)
  local task
  task = spawn(view, fn, function(res, err)
    M.deliver(client, function()
      if task.canceled or task.delivered then return end
      task.delivered = true
      view.running[task] = nil
      done(err, res)
    end)
  end, function(err)
    view.running[task] = nil
    M.deliver(client, function()
      task.delivered = true
      done(err, nil)
    end)
  end)
  task.user = true
  view.running[task] = true
  return task
end

local function check_service(service, method)
  if type(service) ~= "table" or type(service.client) ~= "table" then
    error(string.format("bad self to '%s' (call it with a colon)", method), 4)
  end
end

--- `service:method(args..., cb)`: runs the blocking method in a task on the
-- client's loop; `cb(err, result)` once. Returns the handle.
-- @param service e.g. `client.models`
-- @tparam string method e.g. "generate_content"
-- @tparam table args the method's arguments (with `n`)
-- @tparam function cb
function M.call(service, method, args, cb)
  check_service(service, method)
  errors.arg(method, (args.n or #args) + 1, cb, "function")
  local client = service.client
  local view = loop_view(client, method)
  return user_task(client, view, function(v)
    local s = service_in(v, service)
    return s[method](s, unpack(args, 1, args.n or #args))
  end, cb)
end

--- A paged list with a callback: `cb(err, items)` with every item of every
-- page, in order.
function M.list(service, method, args, cb)
  check_service(service, method)
  errors.arg(method, (args.n or #args) + 1, cb, "function")
  local client = service.client
  local view = loop_view(client, method)
  return user_task(client, view, function(v)
    local s = service_in(v, service)
    local items = {}
    -- A failing page raises its gemini.Error, which ends the task with it.
    -- Called by hand, not by a generic for: Lua 5.1 cannot yield inside
    -- an iterator that a for loop calls.
    local iter = s[method](s, unpack(args, 1, args.n or #args))
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
-- answer; err: a `gemini.Error`, "canceled" after `handle:cancel()`).
-- @param service the service (`client.models`)
-- @tparam string method e.g. "generate_content_stream"
-- @param req its request
-- @tparam table handlers `{on_chunk=, on_done=}`
function M.stream(service, method, req, handlers)
  return M.stream_args(service, method, { req, n = 1 }, handlers)
end

--- `M.stream` for a method with any arguments (`chat:send_message_stream(message, config)`).
function M.stream_args(service, method, args, handlers)
  check_service(service, method)
  errors.arg(method, (args.n or #args) + 1, handlers, "table")
  errors.field(method, "on_chunk", handlers.on_chunk, "function", true)
  errors.field(method, "on_done", handlers.on_done, "function", true)
  local client = service.client
  local view = loop_view(client, method)
  local on_chunk, on_done = handlers.on_chunk, handlers.on_done
  local task
  -- A scheduled chunk still queued when the call is canceled is dropped:
  -- after cancel() only the "canceled" on_done arrives.
  local function chunk_cb(chunk)
    if not (task and task.canceled) then on_chunk(chunk) end
  end
  task = user_task(client, view, function(v)
    local s = service_in(v, service)
    local st = s[method](s, unpack(args, 1, args.n or #args))
    while true do
      local chunk, err = st:next()
      if err then return nil, err end
      if chunk == nil then return st.response end
      if on_chunk then M.deliver(client, chunk_cb, chunk) end
    end
  end, function(err, res)
    if on_done then on_done(err, res) end
  end)
  return task
end

-- ---- callbacks on the other services ------------------------------------------

-- Whether a trailing table is stream callbacks (a config never has these).
local function is_handlers(t)
  return type(t) == "table" and (type(t.on_chunk) == "function" or type(t.on_done) == "function")
end

-- Shadows `obj[name]` on the instance: with a trailing callback (or, for a
-- stream, a trailing `{on_chunk=, on_done=}`) the call goes through the
-- callback API; otherwise the method runs as always.
local function wrap(obj, name, kind)
  local orig = obj[name]
  if type(orig) ~= "function" then return end
  obj[name] = function(self, ...)
    local n = select("#", ...)
    local last = n > 0 and select(n, ...) or nil
    if kind == "stream" and is_handlers(last) then
      local args = pack(...)
      args.n = n - 1
      return M.stream_args(self, name, args, last)
    elseif kind ~= "stream" and type(last) == "function" then
      local args = pack(...)
      args.n = n - 1
      return (kind == "list" and M.list or M.call)(self, name, args, last)
    end
    return orig(self, ...)
  end
end

local SERVICES = {
  files = { get = "call", delete = "call", upload = "call", wait_active = "call", list = "list" },
  caches = { create = "call", get = "call", update = "call", delete = "call", list = "list" },
}
local CHAT = { send_message = "call", send_message_stream = "stream" }

--- Gives `client.files`, `client.caches` and the chats of `client.chats`
-- the trailing-callback forms (`client.models` has them built in). Called
-- by the client when it has a loop; without one nothing changes.
function M.wrap_services(client)
  for field, methods in pairs(SERVICES) do
    local svc = rawget(client, field)
    if type(svc) == "table" then
      for name, kind in pairs(methods) do wrap(svc, name, kind) end
    end
  end
  local chats = rawget(client, "chats")
  if type(chats) == "table" and type(chats.create) == "function" then
    local create = chats.create
    chats.create = function(self, ...)
      local chat = create(self, ...)
      if type(chat) == "table" then
        for name, kind in pairs(CHAT) do wrap(chat, name, kind) end
      end
      return chat
    end
  end
end

-- ---- the blocking driver -------------------------------------------------------

--- Drives one libcurl session in the blocking style until a condition
-- holds; offers the driver methods of `gemini.transport.luv` (whole
-- requests and sleeps) so tasks can share the session.
local Blocking = {}
Blocking.__index = Blocking


local BOp = {}
BOp.__index = BOp

function BOp:cancel()
  if self.closed then return false end
  self.closed = true
  self.driver.ops[self] = nil
  if self.req then self.req:close() end
  return true
end

function Blocking.new(session)
  -- raise_now: a failing task raises out of run() (the caller is blocked
  -- in it anyway).
  return setmetatable({ session = session, ops = {}, timers = {}, later = {}, raise_now = true },
    Blocking)
end

function Blocking:request_async(spec, cb)
  local op = setmetatable({ driver = self, req = self.session:request(spec), cb = cb }, BOp)
  self.ops[op] = true
  return op
end

function Blocking:open_async()
  error("gemini: streams are not available in generate_content_all", 2)
end

function Blocking:sleep_async(seconds, cb)
  local op = setmetatable({ driver = self, at = core.now() + seconds, cb = cb }, BOp)
  self.timers[op] = true
  op.cancel = function(o)
    if o.closed then return false end
    o.closed = true
    self.timers[o] = nil
    return true
  end
  return op
end

function Blocking:defer(fn)
  self.later[#self.later + 1] = fn
end

-- Runs until done() is true: fires due timers and finished requests, and in
-- between waits in curl_multi_poll (no busy loop) for the nearest of: a
-- socket event, a timer, one second.
function Blocking:run(done)
  while true do
    while #self.later > 0 do
      local fns = self.later
      self.later = {}
      for _, fn in ipairs(fns) do fn() end
    end
    if done() then return end
    local now = core.now()
    local wait = 1
    local due = {}
    for op in pairs(self.timers) do
      if op.at <= now then due[#due + 1] = op else wait = math.min(wait, op.at - now) end
    end
    for _, op in ipairs(due) do
      if not op.closed then
        op.closed = true
        self.timers[op] = nil
        op.cb()
      end
    end
    if #due == 0 then
      if next(self.ops) then
        self.session:step(math.max(1, math.ceil(wait * 1000)))
      elseif next(self.timers) then
        core.sleep(wait)
      elseif #self.later == 0 and not done() then
        error("gemini: internal error: tasks wait for nothing", 0)
      end
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
  end
end

function Blocking:close()
  for op in pairs(self.ops) do op:cancel() end
  self.timers = {}
end

-- ---- many requests at once ---------------------------------------------------

local function check_all(models, requests, opts)
  errors.arg("generate_content_all", 1, requests, "table")
  errors.arg("generate_content_all", 2, opts, "table", true)
  opts = opts or {}
  local conc = errors.field("generate_content_all", "concurrency", opts.concurrency, "number", true) or 8
  if conc < 1 or conc ~= math.floor(conc) then
    error("bad field 'concurrency' to 'generate_content_all' (a positive integer expected)", 3)
  end
  for i = 1, #requests do
    local req = requests[i]
    if type(req) ~= "table" then
      error(string.format("bad argument #1 to 'generate_content_all' (requests[%d]: table expected, got %s)",
        i, type(req)), 3)
    end
    local ok, msg = pcall(models.build_generate, models, req, "generate_content_all")
    if not ok then
      error(string.format("generate_content_all: requests[%d]: %s", i,
        tostring(msg):gsub("^[^:]*:%d+: ", "")), 3)
    end
  end
  return math.min(conc, math.max(1, #requests))
end

-- Starts `conc` worker tasks on `view`, each taking the next request in
-- turn; calls finish() when every worker has ended. Returns the workers.
local function start_workers(view, models, requests, conc, responses, errs, finish)
  local n, next_i, alive = #requests, 0, conc
  local workers = {}
  local function worker(v)
    local s = service_in(v, models)
    while next_i < n do
      next_i = next_i + 1
      local i = next_i
      local res, err = s:generate_content(requests[i])
      responses[i], errs[i] = res, err
    end
  end
  local function ended()
    alive = alive - 1
    if alive == 0 then finish() end
  end
  for w = 1, conc do
    workers[w] = spawn(view, worker, ended, ended)
    workers[w].on_abort = ended
  end
  return workers
end

-- In OpenResty every cosocket call yields by itself: light threads are
-- the tasks.
local function all_resty(models, requests, conc)
  local responses, errs, next_i, n = {}, {}, 0, #requests
  local function worker()
    while next_i < n do
      next_i = next_i + 1
      local i = next_i
      responses[i], errs[i] = models:generate_content(requests[i])
    end
  end
  local threads = {}
  for w = 1, conc do threads[w] = ngx.thread.spawn(worker) end
  for w = 1, conc do
    local ok, err = ngx.thread.wait(threads[w])
    if not ok then error(err, 0) end
  end
  return responses, errs
end

--- `client.models:generate_content_all(requests, opts[, cb])`: every request
-- over one libcurl multi handle (one connection pool), at most
-- `opts.concurrency` (default 8) at a time, each with its own retries.
-- Blocking: returns `responses, errors` (`responses[i]` answers
-- `requests[i]`, else `errors[i]` says why). With `cb` (needs the client's
-- loop): returns a handle at once and later calls `cb(responses, errors)`.
function M.all(models, requests, opts, cb)
  local conc = check_all(models, requests, opts)
  local client = models.client
  local responses, errs = {}, {}
  if #requests == 0 then
    if cb then
      errors.arg("generate_content_all", 3, cb, "function")
      local view = loop_view(client, "generate_content_all")
      view._driver:defer(function() M.deliver(client, cb, responses, errs) end)
      return setmetatable({ finished = true, ops = {} }, Task)
    end
    return responses, errs
  end
  if cb ~= nil then
    errors.arg("generate_content_all", 3, cb, "function")
    local view = loop_view(client, "generate_content_all")
    local group = { finished = false }
    local workers
    local function finish()
      if group.finished then return end
      group.finished = true
      view.running[group] = nil
      M.deliver(client, cb, responses, errs)
    end
    workers = start_workers(view, models, requests, conc, responses, errs, finish)
    --- Cancels every request not yet answered; they get a "canceled"
    -- error and `cb` runs once.
    function group.cancel()
      if group.finished then return false end
      local canceled = client:error("canceled", "the call was canceled")
      for i = 1, #requests do
        if responses[i] == nil and errs[i] == nil then errs[i] = canceled end
      end
      local fin = finish
      finish = function() end
      for _, w in ipairs(workers) do w:cancel() end
      fin()
      return true
    end
    view.running[group] = true
    return group
  end
  if client.transport.resty then return all_resty(models, requests, conc) end
  local session = client.transport.session
  local own = false
  if not session or session.step == nil then
    session, own = core.session(), true
  end
  local driver = Blocking.new(session)
  local view = view_of(client, driver)
  local alive = true
  local ok, err = pcall(function()
    start_workers(view, models, requests, conc, responses, errs, function() alive = false end)
    driver:run(function() return not alive end)
  end)
  driver:close()
  if own then session:close() end
  if not ok then error(err, 0) end
  return responses, errs
end

return M
