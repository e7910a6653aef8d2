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
-- What still blocks: the connect itself (TCP, TLS and the upgrade, on a
-- later turn of the loop, bounded by `connect_timeout`), and a send the
-- socket cannot take at once (bounded by `connect_timeout`).
-- @module gemini.live.loop
local deliver = require("gemini.async.deliver")
local errors = require("gemini.errors")
local json = require("gemini.json")
local live = require("gemini.live")

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
  local link, poll, done

  local function finish(err)
    if done then return end
    done = true
    if poll then
      poll:stop()
      poll:close()
    end
    if err then session:_fail(err) end
    session.closed = true
    if link then link:close(1000) end
    deliver.deliver(client, cbs.on_close, err)
  end
  session._on_close = finish

  -- The setupComplete: the link is the session's from now on, and what
  -- was queued goes out.
  local function opened()
    session.link = link
    local queued = session.outbox
    session.outbox = {}
    for _, text in ipairs(queued) do
      local ok, kind, msg = link:send("text", text)
      if not ok then return finish(live.link_error(client, kind, msg)) end
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

  local timer = loop.new_timer()
  timer:start(0, 0, function()
    timer:close()
    if done then return end
    local err
    link, err = live.open_link(client, live.endpoint(client))
    if not link then return finish(err) end
    local ok, kind, msg = link:send("text", json.encode(setup))
    if not ok then return finish(live.link_error(client, kind, msg)) end
    poll = loop.new_poll(link:fd())
    poll:start("r", function() if not done then on_readable() end end)
    on_readable()   -- bytes that came with the handshake's answer
  end)
  return session
end

return M
