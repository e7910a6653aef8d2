--- The transport contract: what the client asks of a transport and how
-- every transport answers. `spec/transport_spec.lua` runs one list of cases
-- (`spec/support/transport_cases.lua`) over each of them against the mock.
--
-- A request spec (built by `client:_spec`):
--
--   { method, url, headers = {"Name: value", ...}, body = string,
--     body_file =, body_offset =, body_length =,   -- a body read from a file
--     timeout =, connect_timeout =, stall_timeout =, proxy =, ca_file =,
--     verify =, max_body =, fresh_connect =, streamed =, on_progress = }
--
-- `timeout` bounds the whole transfer, `stall_timeout` a stream's silence.
-- `fresh_connect = true`: a connection of its own, closed after the request
-- (an upload chunk must not be re-sent by libcurl behind the upload's back);
-- `on_progress(sent, total)`: upload progress. A transport without either
-- habit ignores them. `streamed = true` (set by `open`): the body is
-- read piece by piece, so libcurl pauses the transfer while 256 KB wait
-- untaken, from the first byte on.
--
-- Answers. Any HTTP status is an answer: a 404 or a 503 comes back as a
-- response, for the client to read. Only a transfer that got no complete
-- answer fails, always as `nil, kind, msg, final`:
--
--   kind   "timeout" (timeout or stall_timeout ran out) or "transport"
--          (refused, reset, TLS, DNS, a body cut short, max_body exceeded...)
--   msg    a message for people, without secrets
--   final  true when trying again cannot help (max_body exceeded, a request
--          that can never work); else nil
--
-- A *blocking* transport (`gemini.transport.curl`, `gemini.transport.resty`,
-- and `gemini.async.adapter` for code running in a task) is the client's
-- `transport`:
--
--   t:request(spec) -> res | nil, kind, msg, final
--       res = { status = n, headers = { [lower-case name] = value }, body = s }
--   t:open(spec) -> reader | nil, kind, msg, final   (returns at the headers)
--       reader.status, reader.headers           as in res
--       reader:read() -> piece | nil | nil, kind, msg, final
--                        (a non-empty string; nil: the body ended well)
--       reader:close()  ends the transfer at once; harmless when repeated
--       Optional, the fast path of gemini.stream (curl's reader only):
--       reader:frame_events{max_event_size=}  frame the body as SSE in C;
--       then reader:read_events(q) -> n | nil | nil, kind, msg, final
--       (the data of n events in q[1..n]), reader:cut_event() -> the
--       data of an event the end of the body cut off, or nil, and
--       reader:received() -> the bytes of the body so far (for a trace).
--   t:sleep(seconds)    a retry's backoff (only the caller waits)
--   t:close()           ends every transfer; the transport is done
--
-- An *asynchronous driver* (`gemini.transport.luv`, `gemini.async.multi`)
-- answers the same through callbacks and never calls one before the
-- starting call has returned:
--
--   d:request_async(spec, cb)        cb(res) | cb(nil, kind, msg, final)
--   d:open_async(spec, { on_headers = fn(status, headers), on_data = fn(piece),
--                        on_done = fn(kind, msg, final) })   -- kind nil: a clean end
--                                    (not gemini.async.multi: no streams there)
--   d:sleep_async(seconds, fn)
--   d:defer(fn)                      fn on a later turn
--   d:close()
--
-- each of the first three returning a handle whose `:cancel()` ends the
-- operation (true; false when it had ended) after which none of its
-- callbacks runs.
-- @module gemini.transport
local M = {}

--- The answer of a finished `gemini.core` request, by the contract:
-- `{status=, headers=, body=}`, or nil, kind, msg, final.
function M.result(req)
  local kind, msg, final = req:error()
  if kind then return nil, kind, msg, final end
  return { status = req:status(), headers = req:headers(), body = req:take() or "" }
end

--- The failure of a request that ended without headers (libcurl gives a
-- kind in every such case; this is the contract's answer if it did not).
function M.no_response(kind, msg, final)
  return kind or "transport", msg or "no response", final
end

return M
