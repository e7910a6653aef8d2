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

--- Next piece of the body: a string, nil at the end, or nil, kind, message.
function Reader:read()
  local req = self.req
  while true do
    local data = req:take()
    if data then return data end
    if req:is_done() then
      local kind, msg, final = req:error()
      if kind then return nil, kind, msg, final end
      return nil
    end
    req:await("data")
  end
end

--- Ends the transfer at once; the connection is closed, not reused.
function Reader:close()
  self.req:close()
end

--- Starts a request and waits for its headers: a reader with `status` and
-- `headers`, or nil, kind, message, final.
function Transport:open(spec)
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
