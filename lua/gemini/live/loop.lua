--- The callback form of `client.live:connect` on the client's libuv loop
-- (luv, or Neovim's `vim.loop`):
--
--    local session = client.live:connect(req, {
--      on_open = function(session) end,      -- setupComplete arrived
--      on_message = function(msg) end,       -- every later message
--      on_close = function(err) end })       -- once: nil after session:close()
--
-- `connect` returns the session at once; its sends made before the setup
-- completes are queued and go out, in order, after it. The connection's
-- socket (`link:fd()`) is watched by a poll handle of the loop, and read
-- without blocking when it is readable; a message is handed on as soon as
-- its last frame is in. Everything else (setup, handlers, helpers, errors)
-- is the blocking session's (`gemini.live`).
--
-- `on_close` runs exactly once: with nil after `session:close()`, with the
-- gemini.Error otherwise (a server close with its code and reason, a
-- dropped connection, a failed connect). Callbacks are delivered as the
-- other callbacks of the library are (`gemini.async.deliver`: scheduled
-- inside Neovim unless `fast_callbacks`).
--
-- In Vertex AI mode the connect first waits for the credentials' access
-- token in a task of the loop (gemini.async: the token fetch of the
-- client's HTTP calls, shared), and connects from that task.
--
-- The connect is stepped by the loop too (`core.ws_open` and `step`:
-- libcurl's sockets while it connects, through a proxy and TLS, then the
-- upgrade). Nothing blocks: what the socket cannot take at once is
-- queued in the C link, in order, and written when the loop says the
-- socket is writable.
-- @module gemini.live.loop
local async = require("gemini.async")
local core = require("gemini.core")
local deliver = require("gemini.async.deliver")
local errors = require("gemini.errors")
local json = require("gemini.json")
local live = require("gemini.live")
local task = require("gemini.async.task")

local M = {}

local CALLBACKS = { "on_open", "on_message", "on_close" }

local function check_callbacks(cbs)
  local fname = "live:connect"
  errors.arg(fname, 2, cbs, "table")
  errors.known_fields(fname, cbs, CALLBACKS, "callbacks")
  for _, k in ipairs(CALLBACKS) do errors.field(fname, k, cbs[k], "function", true) end
end

--- Opens a session on `client.loop` (see the module comment).
function M.connect(client, setup, handlers, cbs)
  check_callbacks(cbs)
  local loop = client.loop
  if not loop then
    errors.misuse("bad argument #2 to 'live:connect' (callbacks need a client with a loop:"
      .. " gemini.Client{ loop = require(\"luv\") })")
  end
  local session = live.session(client, nil, handlers)
  local link, done, wait_timer, on_ready
  local connected     -- function(link) or (nil, err): the connect is over
  local authorizing   -- the handle of the task fetching a token (see the end)
  local polls = {}    -- fd -> poll handle

  -- Watches fd for `events` ("r", "w", "rw"), calling on_ready; the other
  -- fds watched so far are let go unless `keep` names them.
  local function watch(fd, events, on_ready)
    local p = polls[fd]
    if not p then
      p = loop.new_poll(fd)
      polls[fd] = p
    end
    p:start(events, on_ready)
  end
  local function unwatch(keep)
    for fd, p in pairs(polls) do
      if not (keep and keep[fd]) then
        p:stop()
        p:close()
        polls[fd] = nil
      end
    end
  end

  local function finish(err)
    if done then return end
    done = true
    if authorizing then authorizing:cancel() end
    unwatch()
    if wait_timer then
      wait_timer:stop()
      wait_timer:close()
      wait_timer = nil
    end
    if err then session:_fail(err) end
    session:_forget()
    if link then link:close(1000, "", 0) end   -- the close frame if the socket takes it now
    deliver.deliver(client, cbs.on_close, err)
  end
  session._on_close = finish

  -- A frame goes out without waiting: what the socket cannot take now
  -- stays queued in the link, in order, and is written as the socket
  -- becomes writable (the one watched descriptor wakes for that too;
  -- "rw" where it is the socket itself).
  local function write(kind, data)
    local ok, left, msg, code = link:send(kind, data, nil, true)
    if not ok then return nil, left, msg, code end   -- left: the failure's kind
    if left > 0 then watch(link:watch_fd(), "rw", on_ready) end
    return true
  end
  function session._write(_, text)
    return write("text", text)
  end

  -- The setupComplete: the link is the session's from now on, and what
  -- was queued goes out.
  local function opened()
    session.link = link
    local queued = session.outbox
    session.outbox = {}
    for _, text in ipairs(queued) do
      local ok, kind, msg, code = write("text", text)
      if not ok then return finish(live.link_error(client, kind, msg, code)) end
    end
    deliver.deliver(client, cbs.on_open, session)
  end

  local function on_event(kind, data, code)
    if not session.link then
      local msg, err = live.decode_event(client, kind, data, code)
      if not msg then return finish(err) end
      if not msg.setup_complete then
        return finish(client:error("decode", "Live session: the server's first message was not setupComplete"))
      end
      return opened()
    end
    local msg, err = session:_take(kind, data, code)
    if not msg then return finish(err) end
    deliver.deliver(client, cbs.on_message, msg)
  end

  -- Everything the socket holds now, without waiting.
  local function on_readable()
    while not done do
      local q = {}
      local n, kind, msg, code = link:recv(q, 0)
      if not n then return finish(live.link_error(client, kind, msg, code)) end
      if n == 0 then return end
      for i = 1, n * 3, 3 do
        if done then return end
        on_event(q[i], q[i + 1], q[i + 2])
      end
    end
  end

  -- The upgrade is done: the setup goes out, the socket is watched.
  local function upgraded()
    wait_timer:stop()
    local fd = link:watch_fd()
    unwatch({ [fd] = true })
    -- Ready: the queued frames go out as far as the socket takes them,
    -- then what came in is read.
    on_ready = function()
      if done then return end
      local left, kind, msg, code = link:flush()
      if not left then return finish(live.link_error(client, kind, msg, code)) end
      watch(fd, left > 0 and "rw" or "r", on_ready)
      on_readable()
    end
    watch(fd, "r", on_ready)
    local ok, kind, msg, code = write("text", json.encode(setup))
    if not ok then return finish(live.link_error(client, kind, msg, code)) end
    on_readable()   -- bytes that came with the handshake's answer
  end

  -- The connect, one step each time what it waits for is ready (libcurl's
  -- sockets while it connects, then the socket of the handshake) or its
  -- timer fires: the loop never waits on it.
  local function drive()
    if done then return end
    local st, fds, ms, status, body = link:step()
    if st == nil then return connected(nil, live.connect_error(client, fds, ms, status, body)) end
    if st then return connected(link) end
    local keep = {}
    for i = 1, #fds, 2 do
      keep[fds[i]] = true
      watch(fds[i], fds[i + 1], drive)
    end
    unwatch(keep)
    wait_timer:stop()
    wait_timer:start(math.max(ms, 1), 0, drive)
  end

  -- Connects to `ep`, the loop stepping it: `on_done(link)`, or on_done(nil,
  -- err) with the failed link let go (its sockets unwatched).
  local function open(ep, on_done)
    live.log_connect(client, ep)
    link = core.ws_open(live.link_options(client, ep))
    connected = function(l, err)
      if not l then
        unwatch()
        wait_timer:stop()
        link:close(1000, "", 0)
        link = nil
      end
      on_done(l, err)
    end
    wait_timer:start(0, 0, drive)
  end

  local function opened_link(l, err)
    if done then return end
    if not l then return finish(err) end
    upgraded()
  end

  wait_timer = loop.new_timer()
  local ep = live.endpoint(client)
  if not ep.bearer then
    open(ep, opened_link)
    return session
  end
  -- A bearer token first (a fetch on the loop, or the one in flight for
  -- the client's HTTP calls): the connect waits for it in a task of the
  -- loop, as those calls do (gemini.async), then in the task for the
  -- upgrade (a 401 answer: a fresh token, once).
  authorizing = async.call(client, "live:connect", 2, function(err, l)
    authorizing = nil
    if l then live.place_model(client, setup) end
    opened_link(l, err)
  end, function(twin)
    return live.open_authorized(twin, ep, function(e)
      local t, res = task.current("live:connect"), nil
      open(e, function(l, err)
        res = { l, err }
        t:wake()
      end)
      t:wait(function() return res ~= nil end)
      return res[1], res[2]
    end)
  end)
  return session
end

return M
