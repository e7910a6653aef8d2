--- `client.models:generate_content_all(requests, opts[, cb])`: many
-- requests at once over one connection pool, at most `opts.concurrency`
-- (default 8) at a time, each with its own retries. Workers take the next
-- request in turn, each a task on the client's twin over an asynchronous
-- driver: the blocking multi driver (`gemini.async.multi`) without a
-- callback, the client's event loop with one (`gemini.async`). Inside
-- nginx, light threads over cosockets.
-- @module gemini.async.all
local adapter = require("gemini.async.adapter")
local async = require("gemini.async")
local core = require("gemini.core")
local defaults = require("gemini.defaults")
local errors = require("gemini.errors")
local multi = require("gemini.async.multi")
local task = require("gemini.async.task")

local FNAME = "generate_content_all"

-- Checks the arguments (every request is built once, for its errors);
-- returns the number of workers.
local function check(models, requests, opts)
  errors.arg(FNAME, 1, requests, "table")
  errors.arg(FNAME, 2, opts, "table", true)
  errors.known_fields(FNAME, opts, { "concurrency" })
  opts = opts or {}
  local conc = errors.field(FNAME, "concurrency", opts.concurrency, "number", true)
    or defaults.concurrency
  if conc < 1 or conc ~= math.floor(conc) then
    errors.misuse("bad field 'concurrency' to 'generate_content_all' (a positive integer expected)")
  end
  for i = 1, #requests do
    local req = requests[i]
    if type(req) ~= "table" then
      errors.misuse(string.format("bad argument #1 to 'generate_content_all' (requests[%d]: table expected,"
        .. " got %s)", i, type(req)))
    end
    local ok, msg = pcall(models.build_generate, models, req, FNAME)
    if not ok then
      errors.misuse(string.format("generate_content_all: requests[%d]: %s", i,
        tostring(msg):gsub("^[^:]*:%d+: ", "")))
    end
  end
  return math.min(conc, math.max(1, #requests))
end

-- A worker's loop: generates the next request on `models` while any is
-- left, the answers in place.
local function work(models, requests, state)
  while state.next < #requests do
    state.next = state.next + 1
    local i = state.next
    state.responses[i], state.errors[i] = models:generate_content(requests[i])
  end
end

-- Starts `conc` worker tasks on `twin` (a client over an asynchronous
-- driver); calls finish() when every worker has ended. Returns the workers.
local function start_workers(twin, requests, conc, state, finish)
  local alive = conc
  local workers = {}
  local function ended()
    alive = alive - 1
    if alive == 0 then finish() end
  end
  for w = 1, conc do
    workers[w] = task.spawn(twin.transport.driver, function()
      work(twin.models, requests, state)
    end, ended)
    workers[w].on_abort = ended
  end
  return workers
end

-- In OpenResty every cosocket call yields by itself: light threads are
-- the tasks.
local function all_resty(models, requests, conc, state)
  local threads = {}
  for w = 1, conc do threads[w] = ngx.thread.spawn(work, models, requests, state) end
  for w = 1, conc do
    local ok, err = ngx.thread.wait(threads[w])
    if not ok then error(err, 0) end
  end
end

-- Blocking: the workers over the blocking multi driver, on the client's
-- libcurl session (one pool) when it has one.
local function all_blocking(client, requests, conc, state)
  local session = client.transport.session
  local own = false
  if not session or session.step == nil then
    session, own = core.session(), true
  end
  local driver = multi.new(session)
  local alive = true
  local ok, err = pcall(function()
    start_workers(client:_over(adapter.new(driver)), requests, conc, state,
      function() alive = false end)
    driver:run(function() return not alive end)
  end)
  driver:close()
  if own then session:close() end
  if not ok then error(err, 0) end
end

-- With a callback: the workers on `twin`, the client's twin on its loop;
-- returns the handle. A cancel gives every request not yet answered a
-- "canceled" error, and `cb` runs once.
local function all_on_loop(twin, client, requests, conc, state, cb)
  local workers = {}
  local h = async.handle(client, twin, function()
    for _, w in ipairs(workers) do w:stop() end
  end, function(canceled)
    for i = 1, #requests do
      if state.responses[i] == nil and state.errors[i] == nil then state.errors[i] = canceled end
    end
    cb(state.responses, state.errors)
  end)
  local function finish() h:finish(cb, state.responses, state.errors) end
  if #requests == 0 then
    twin.transport.driver:defer(finish)
  else
    workers = start_workers(twin, requests, conc, state, finish)
  end
  twin.running[h] = true
  return h
end

--- Generates every request: `responses, errors` (`responses[i]` answers
-- `requests[i]`, else `errors[i]` says why); with `cb` (needs the client's
-- loop) returns a handle at once and later calls `cb(responses, errors)`.
-- @param models the `client.models` it was called on
return function(models, requests, opts, cb)
  local conc = check(models, requests, opts)
  local client = models.client
  local state = { responses = {}, errors = {}, next = 0 }
  if cb ~= nil then
    errors.arg(FNAME, 3, cb, "function")
    return all_on_loop(async.on_loop(client, FNAME), client, requests, conc, state, cb)
  end
  if #requests > 0 then
    if client.transport.resty then
      all_resty(models, requests, conc, state)
    else
      all_blocking(client, requests, conc, state)
    end
  end
  return state.responses, state.errors
end
