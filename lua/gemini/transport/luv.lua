--- A transport on a libuv loop: luv (`require("luv")`) or Neovim's
-- `vim.loop`. libcurl's multi interface is driven by the loop through its
-- socket and timer callbacks: one poll handle on the session's epoll
-- descriptor (Linux: the C side keeps libcurl's sockets in that epoll set)
-- or, elsewhere, one poll handle per socket libcurl asks for; one timer for
-- libcurl's timeouts. No thread, no subprocess, no polling.
--
-- The C side (src/http.c, event-loop section) never calls Lua from inside
-- libcurl: its callbacks record socket interest and the timer; after every
-- action this module takes the records (`take_changes`) and applies them,
-- then asks which requests progressed (`take_events`) and hands their news
-- to the operation's callbacks.
--
-- Why one epoll descriptor rather than a poll handle per socket: libuv
-- reports a socket with an error (a refused connection, a reset) as
-- UV_EBADF, and luv prints "EBADF: bad file descriptor" to stderr for it.
-- On systems without epoll that line can still appear.
--
-- It is an asynchronous driver of the `gemini.transport` contract
-- (`request_async`, `open_async`, `sleep_async`, `defer`, `close`): every
-- method returns at once, results arrive through callbacks on the loop.
-- @module gemini.transport.luv
local core = require("gemini.core")
local errors = require("gemini.errors")
local contract = require("gemini.transport")

local Transport = {}
Transport.__index = Transport

-- libuv measures timers from the loop's cached "now", which is only
-- refreshed while the loop turns: after a long stretch of other work (or
-- before the loop first runs) a timer would fire early. Refresh it first.
local function fresh(loop)
  if loop.update_time then loop.update_time() end
end

-- The socket flags of the C side (`take_changes` gives them, `socket_action`
-- takes them), and what libcurl wants to know about a socket as luv poll
-- events.
local POLL_IN, POLL_OUT, POLL_ERR = core.POLL_IN, core.POLL_OUT, core.POLL_ERR
local EVENTS = { [POLL_IN] = "r", [POLL_OUT] = "w", [POLL_IN + POLL_OUT] = "rw" }

--- Makes a transport on `loop` (the luv module or `vim.loop`).
-- `opts.per_socket`: a poll handle per socket even where epoll exists (the
-- path of other systems, for the specs).
function Transport.new(loop, opts)
  if type(loop) ~= "table" and type(loop) ~= "userdata" or not loop.new_timer then
    errors.misuse("bad field 'loop' to 'Client' (the luv module or vim.loop expected)")
  end
  local self = setmetatable({
    loop = loop,
    session = core.session(),
    polls = {},          -- fd -> poll handle
    poll_cbs = {},       -- fd -> its poll callback (made once per socket)
    sleeps = {},         -- pending sleep timers, closed by close()
    ops = {},            -- request id -> operation
    nops = 0,
  }, Transport)
  local fd = self.session:watch(not (opts and opts.per_socket))
  if fd then
    self.watcher = loop.new_poll(fd)
    self.watcher:start("r", function()
      if self.closed then return end
      self.session:ready_action()
      self:_after()
    end)
    self.watcher:unref()
  end
  self.timer = loop.new_timer()
  self.on_timer = function()
    if self.closed then return end
    self.session:timeout_action()
    self:_after()
  end
  return self
end

-- An idle pool must not keep a luv program's uv.run() alive.
function Transport:_hold()
  local method = self.nops == 0 and "unref" or "ref"
  self.timer[method](self.timer)
  if self.watcher then self.watcher[method](self.watcher) end
end

-- Applies the socket and timer changes libcurl recorded, then hands each
-- progressed request to its operation; repeats while handing over caused
-- more (an operation closed or started a request). A callback may close the
-- transport (a program that ends when its work is done): then it stops.
function Transport:_after()
  local sess = self.session
  local failed
  while not self.closed do
    local changes, timer_ms = sess:take_changes()
    if changes then
      for i = 1, #changes, 2 do self:_poll(changes[i], changes[i + 1]) end
    end
    if timer_ms then
      if timer_ms < 0 then
        self.timer:stop()
      else
        fresh(self.loop)
        self.timer:start(timer_ms, 0, self.on_timer)
      end
    end
    self:_hold()
    local ids = sess:take_events()
    if not ids and not changes and not timer_ms then break end
    if ids then
      local seen = {}
      for i = 1, #ids do
        local id = ids[i]
        if not seen[id] then
          seen[id] = true
          local op = self.ops[id]
          if op then
            local ok, err = pcall(self._progress, self, op)
            if not ok and failed == nil then failed = err end
          end
        end
      end
    end
  end
  -- A callback that raised is re-raised only now: the news of the other
  -- requests (taken from the session already) must not be lost.
  if failed then error(failed, 0) end
end

function Transport:_poll(fd, what)
  local p = self.polls[fd]
  if what == 0 then     -- no flag: no longer watched
    if p then
      self.polls[fd] = nil
      self.poll_cbs[fd] = nil
      p:stop()
      p:close()
    end
    return
  end
  if not p then
    p = self.loop.new_socket_poll(fd)
    -- libuv refuses a socket that is already gone: libcurl notices the
    -- broken transfer itself, at the latest through its timer.
    if not p then return end
    self.polls[fd] = p
    self.poll_cbs[fd] = function(err, events)
      if self.closed then return end
      local flags = 0
      if err then flags = POLL_ERR end
      if events then
        if events:find("r", 1, true) then flags = flags + POLL_IN end
        if events:find("w", 1, true) then flags = flags + POLL_OUT end
      end
      self.session:socket_action(fd, flags)
      self:_after()
    end
  end
  p:start(EVENTS[what], self.poll_cbs[fd])
end

local Op = {}
Op.__index = Op

--- Ends the operation at once (the connection is closed, not reused); no
-- callback of it runs afterwards. Safe to call more than once.
function Op:cancel()
  if self.closed then return false end
  self.transport:_drop(self)
  self.transport:_after()
  return true
end

function Transport:_drop(op)
  op.closed = true
  if self.ops[op.id] == op then
    self.ops[op.id] = nil
    self.nops = self.nops - 1
  end
  if op.stall then
    op.stall:close()
    op.stall = nil
  end
  op.req:close()
end

function Transport:_start(spec, op)
  if self.closed or self.closing then errors.misuse("gemini: the transport is closed") end
  op.transport = self
  op.req = self.session:request(spec)
  op.id = op.req:id()
  self.ops[op.id] = op
  self.nops = self.nops + 1
  if spec.stall_timeout and spec.stall_timeout > 0 then
    op.stall = self.loop.new_timer()
    self:_watch_stall(op, spec.stall_timeout * 1000)
  end
  setmetatable(op, Op)
  self:_after()
  return op
end

-- libcurl has no stall timeout of its own that reacts in time (see
-- src/http.c), so a timer asks the request when the last byte came.
function Transport:_watch_stall(op, ms)
  fresh(self.loop)
  op.stall:start(math.max(1, math.ceil(ms)), 0, function()
    if op.closed then return end
    local stalled, left = op.req:check_stall()
    if stalled then
      self:_progress(op)
      self:_after()
    elseif left then
      self:_watch_stall(op, left)
    end
  end)
end

function Transport:_progress(op)
  if op.closed then return end
  local req = op.req
  if op.kind == "request" then
    if not req:is_done() then return end
    local res, kind, msg, final = contract.result(req)
    self:_drop(op)
    op.cb(res, kind, msg, final)
    return
  end
  local h = op.handlers
  if not op.headed then
    local status = req:status()
    if status then
      op.headed = true
      if h.on_headers then h.on_headers(status, req:headers()) end
      if op.closed then return end
    end
  end
  if op.headed then
    local data = req:take()
    if data then
      h.on_data(data)
      if op.closed then return end
    end
  end
  if req:is_done() then
    local kind, msg, final = req:error()
    if not op.headed then kind, msg, final = contract.no_response(kind, msg, final) end
    self:_drop(op)
    h.on_done(kind, msg, final)
  end
end

--- Starts a whole request; `cb(res, kind, msg, final)` gets `{status=, headers=,
-- body=}` or nil, kind, message, final. Returns a handle with `:cancel()`.
function Transport:request_async(spec, cb)
  return self:_start(spec, { kind = "request", cb = cb })
end

--- Starts a streamed request. `handlers`: `on_headers(status, headers)`
-- (optional), `on_data(bytes)` for each piece of the body, `on_done(kind,
-- msg, final)` once at the end (kind nil when the body ended well). Returns a
-- handle with `:cancel()`.
function Transport:open_async(spec, handlers)
  return self:_start(spec, { kind = "stream", handlers = handlers })
end

local Sleep = {}
Sleep.__index = Sleep

function Sleep:cancel()
  if self.timer:is_closing() then return false end
  self.sleeps[self.timer] = nil
  self.timer:close()
  return true
end

--- Calls `cb` after `seconds` on the loop's timer. Returns a handle with
-- `:cancel()`.
function Transport:sleep_async(seconds, cb)
  local t = self.loop.new_timer()
  local sleeps = self.sleeps
  sleeps[t] = true
  fresh(self.loop)
  t:start(math.max(0, math.floor(seconds * 1000 + 0.5)), 0, function()
    sleeps[t] = nil
    t:close()
    cb()
  end)
  return setmetatable({ timer = t, sleeps = sleeps }, Sleep)
end

--- Runs `fn` on the loop's next turn (never before the caller returns).
function Transport:defer(fn)
  return self:sleep_async(0, fn)
end

--- Cancels every operation and closes every handle and the pool; no
-- callback of an operation runs afterwards. Safe to call from inside any
-- callback, and more than once. `self.on_close`, when set, runs first,
-- while the transport still works (the callback API cancels its calls
-- there).
function Transport:close()
  if self.closed or self.closing then return end
  self.closing = true
  if self.on_close then self.on_close() end
  local ops = {}
  for _, op in pairs(self.ops) do ops[#ops + 1] = op end
  for _, op in ipairs(ops) do self:_drop(op) end
  self.closed = true
  for fd, p in pairs(self.polls) do
    self.polls[fd] = nil
    p:stop()
    p:close()
  end
  self.poll_cbs = {}
  -- Before the session closes the descriptor it watches.
  if self.watcher then self.watcher:close() end
  -- A pending sleep (a retry's backoff) would keep the loop alive and then
  -- resume its task on a closed transport.
  for t in pairs(self.sleeps) do
    if not t:is_closing() then t:close() end
  end
  self.sleeps = {}
  if not self.timer:is_closing() then self.timer:close() end
  self.session:close()
end

return Transport
