--- The default transport: libcurl through `gemini.core`, blocking.
-- One transport owns one libcurl multi handle, so every call of a client
-- shares one connection pool (keep-alive, HTTP/2 multiplexing). Its methods
-- and answers are the contract of `gemini.transport`.
-- @module gemini.transport.curl
local core = require("gemini.core")
local contract = require("gemini.transport")

local Transport = {}
Transport.__index = Transport

function Transport.new()
  return setmetatable({ session = core.session() }, Transport)
end

--- Whole request: `{status=, headers=, body=}` or nil, kind, message,
-- final (true when retrying cannot help, e.g. max_response_size was hit).
function Transport:request(spec)
  local req = self.session:request(spec)
  local on_progress = spec.on_progress
  if on_progress then
    while not req:await("done", 100) do on_progress(req:progress()) end
    on_progress(req:progress())
  else
    req:await("done")
  end
  local res, kind, msg, final = contract.result(req)
  req:close()
  return res, kind, msg, final
end

local Reader = {}
Reader.__index = Reader

-- What `take(req, arg)` hands over next (nil while nothing waits), waiting
-- for the transfer; nil at its end; nil, kind, message, final on failure.
local function next_of(req, take, arg)
  while true do
    local got = take(req, arg)
    if got then return got end
    if req:is_done() then
      local kind, msg, final = req:error()
      if kind then return nil, kind, msg, final end
      return nil
    end
    req:await("data")
  end
end

--- Next piece of the body: a string, nil at the end, or nil, kind, message.
function Reader:read()
  return next_of(self.req, self.req.take)
end

--- Frames the rest of the body as Server-Sent Events inside the request,
-- as it arrives (the rules of `core.sse_framer`, in C): no body string is
-- made. `opts` is core.sse_framer's `{max_event_size=}`. From now on
-- `read_events` and `cut_event` replace `read`. Readers of other
-- transports have no such method (gemini.stream frames their bytes).
function Reader:frame_events(opts)
  self.req:frame_sse(opts)
end

--- The data of the next events: stored in `q[1..n]`, returns n (> 0); nil
-- at the end; nil, kind, message, final on failure (kind "stream" when an
-- event passed max_event_size).
function Reader:read_events(q)
  return next_of(self.req, self.req.take_events, q)
end

--- After the end: the data of a last event the body cut off, or nil.
function Reader:cut_event()
  return self.req:finish_sse()
end

--- The bytes of the body received so far.
function Reader:received()
  local _, received = self.req:progress()
  return received
end

--- Ends the transfer at once; the connection is closed, not reused.
function Reader:close()
  self.req:close()
end

--- Starts a request and waits for its headers: a reader with `status` and
-- `headers`, or nil, kind, message, final.
function Transport:open(spec)
  spec.streamed = true
  local req = self.session:request(spec)
  req:await("headers")
  local status = req:status()
  if not status then
    local kind, msg, final = req:error()
    req:close()
    return nil, contract.no_response(kind, msg, final)
  end
  return setmetatable({ req = req, status = status, headers = req:headers() }, Reader)
end

--- Waits, blocking the thread (the blocking API has nothing else to do).
function Transport:sleep(seconds)
  core.sleep(seconds)
end

function Transport:close()
  self.session:close()
end

return Transport
