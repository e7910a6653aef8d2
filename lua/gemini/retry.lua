--- Retries: the one engine behind every call, stream and upload.
--
-- A policy says how often and how patiently to try: `attempts`, a backoff
-- of `initial_delay * exp_base ^ (n - 1)` plus up to `jitter` seconds,
-- capped at `max_delay`, and the HTTP statuses worth another try
-- (`http_status_codes`); false is no retries at all. The engine applies it
-- to one operation:
--   * an error marked `final` (trying again cannot help), an API error of
--     another status, a decode error: no retry;
--   * the server's own delay (`RetryInfo.retryDelay` / `Retry-After`, read
--     by gemini.errors into `retry_after`) wins over the backoff; one longer
--     than `max_delay` is not waited out (the error carries it);
--   * an optional deadline bounds the whole operation: each attempt gets
--     what is left of it as its own timeout, and a wait that would end at or
--     past it is not taken. The caller then returns the last attempt's
--     error: kind "timeout" when that attempt ran out of time, whatever it
--     was otherwise (e.g. the 503 that would have been retried).
-- Waits go through `client.transport:sleep`, so the event-loop and
-- coroutine transports (and OpenResty) never block.
-- @module gemini.retry
local core = require("gemini.core")
local defaults = require("gemini.defaults")

local M = {}

--- The policy of a client without a `retry` option (gemini.defaults').
M.DEFAULT = defaults.retry

--- A policy from a `retry` option: `base` (else the defaults) overridden
-- field by field; false is off. (The fields were checked by the client.)
-- @param r the option: a table, true or nil (the base as it is), or false
-- @tparam[opt] table base a policy made by this function
function M.policy(r, base)
  if r == false then return false end
  local p = {}
  for k, v in pairs(base or M.DEFAULT) do p[k] = v end
  if type(r) == "table" then
    for k, v in pairs(r) do p[k] = v end
  end
  local codes = {}
  for _, c in ipairs(p.http_status_codes) do codes[c] = true end
  p.codes = codes
  return p
end

--- Whether `err` may be retried under `policy` (false: no retries).
function M.retryable(policy, err)
  if not policy or err.final then return false end
  if err.kind == "transport" or err.kind == "timeout" or err.kind == "stream" then return true end
  if err.kind == "auth" then
    -- A token request that failed (gemini.auth.tokens) as any request: its
    -- transfer, or a status of the policy's (google-auth retries 500, 503,
    -- 504, 408 and 429: google/oauth2/_client.py _can_retry), or an OAuth
    -- error saying the server failed for a while (cause "server_error",
    -- also _can_retry's). A refused grant or a failing credentials
    -- function is not tried again.
    return err.cause == "transport" or err.cause == "timeout" or err.cause == "server_error"
      or policy.codes[err.code] == true
  end
  return err.kind == "api" and policy.codes[err.code] == true
end

--- How long to wait after the `n`th failed attempt (ending with `err`)
-- before the next one, or nil to give up.
function M.backoff(policy, n, err)
  if not M.retryable(policy, err) or n >= policy.attempts then return nil end
  if err.retry_after then
    if err.retry_after > policy.max_delay then return nil end
    return err.retry_after
  end
  local d = policy.initial_delay * policy.exp_base ^ (n - 1) + math.random() * policy.jitter
  return math.min(policy.max_delay, d)
end

-- The shortest timeout an attempt is given, so that one made just as the
-- deadline comes still reaches libcurl as a timeout (0 would mean none).
local MIN_ATTEMPT = 0.001

--- The retries of one operation.
-- @type Retry
local Retry = {}
Retry.__index = Retry

--- The retries of one operation, starting now.
-- @param client its `transport:sleep` waits, its `_log` tells
-- @param policy a policy made by `policy`, or false
-- @tparam[opt] number timeout seconds for the whole operation, retries and
--   waits included; nil: no deadline (each attempt has its own timeout)
function M.new(client, policy, timeout)
  return setmetatable({ client = client, policy = policy, failures = 0,
                        deadline = timeout and core.now() + timeout }, Retry)
end

--- The number of the attempt about to be made (from 1).
function Retry:attempt()
  return self.failures + 1
end

--- The timeout of the next attempt: what is left until the deadline.
function Retry:time_left()
  return math.max(self.deadline - core.now(), MIN_ATTEMPT)
end

--- Whether the policy would retry `err` (whatever the count and the clock).
function Retry:retryable(err)
  return M.retryable(self.policy, err)
end

--- After a failed attempt: waits out the backoff and returns true when
-- another attempt is due; false when the error is final or not retryable,
-- the attempts are used up, or the wait would end at or past the deadline.
function Retry:wait(err)
  self.failures = self.failures + 1
  local client = self.client
  local wait = M.backoff(self.policy, self.failures, err)
  if not wait then return false end
  if self.deadline then
    local left = self.deadline - core.now()
    if wait >= left then
      client:_log("gemini: no retry: a %.3fs wait would pass the timeout (%.3fs left)", wait, left)
      return false
    end
  end
  client:_log("gemini: retrying in %.3fs", wait)
  client.transport:sleep(wait)
  return true
end

--- After a failed attempt that calls for another at once, whatever the
-- error (an upload asking the server where it stands): true while the
-- policy has attempts left and the deadline has not come.
function Retry:again()
  self.failures = self.failures + 1
  if not self.policy or self.failures >= self.policy.attempts then return false end
  return not self.deadline or core.now() < self.deadline
end

--- Progress was made (an upload's server took bytes): the failures count
-- from zero again.
function Retry:reset()
  self.failures = 0
end

return M
