--- Errors: `gemini.Error` values and the checks for programmer errors.
-- Every failure of the API, the network or decoding reaches the caller as a
-- `gemini.Error` (a table with `kind`, `code`, `status`, `message`,
-- `details`, `retry_after`), never as a raised string. Programmer errors
-- (wrong argument types, a missing model) raise, naming the argument.
-- @module gemini.errors
local M = {}

--- The metatable of every `gemini.Error`.
-- Fields: `kind` ("api", "transport", "timeout", "decode", "stream",
-- "canceled"), `code` (HTTP status for "api"), `status` (e.g.
-- "RESOURCE_EXHAUSTED"), `message`, `details` (the API's `error.details`
-- list, as sent), `retry_after` (seconds, when known).
-- @type Error
local Error = {}
Error.__index = Error
M.Error = Error

-- The google.rpc.Code name for an HTTP status, for bodies that carry none.
local STATUS_NAMES = {
  [400] = "INVALID_ARGUMENT", [401] = "UNAUTHENTICATED", [403] = "PERMISSION_DENIED",
  [404] = "NOT_FOUND", [408] = "DEADLINE_EXCEEDED", [409] = "ABORTED",
  [429] = "RESOURCE_EXHAUSTED", [499] = "CANCELLED", [500] = "INTERNAL",
  [501] = "NOT_IMPLEMENTED", [502] = "UNAVAILABLE", [503] = "UNAVAILABLE",
  [504] = "DEADLINE_EXCEEDED",
}
M.STATUS_NAMES = STATUS_NAMES

--- One readable line: kind, code and status, message, retry hint.
function Error.__tostring(e)
  local head = "gemini: " .. tostring(e.kind) .. " error"
  if e.code then head = head .. " " .. tostring(e.code) end
  if e.status then head = head .. " " .. tostring(e.status) end
  local line = head .. ": " .. tostring(e.message)
  if e.retry_after then
    line = line .. string.format(" (retry after %gs)", e.retry_after)
  end
  return line
end

-- Replaces every occurrence of `secret` in `s` (plain text, no patterns).
local function redact(s, secret)
  if type(s) ~= "string" or not secret or secret == "" then return s end
  local out, i = {}, 1
  while true do
    local a, b = string.find(s, secret, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = "[REDACTED]"
    i = b + 1
  end
  if i == 1 then return s end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end
M.redact = redact

--- Makes a `gemini.Error`.
-- @tparam string kind
-- @tparam string message
-- @tparam[opt] table fields more fields (`code`, `status`, `details`, `retry_after`)
-- @tparam[opt] string secret text to redact from the message (the API key)
function M.new(kind, message, fields, secret)
  local e = fields or {}
  e.kind = kind
  e.message = redact(message, secret)
  return setmetatable(e, Error)
end

--- Whether `x` is a `gemini.Error`.
function M.is_error(x)
  return getmetatable(x) == Error
end

-- "47s", "0.05s", "1.5s" -> seconds.
local function duration(s)
  if type(s) ~= "string" then return nil end
  return tonumber(s:match("^%s*([%d%.]+)s%s*$"))
end
M.duration = duration

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6,
                 Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- Retry-After is either seconds or an HTTP date (RFC 9110).
local function retry_after_header(v)
  if type(v) ~= "string" then return nil end
  local secs = tonumber(v)
  if secs then return math.max(0, secs) end
  local d, mon, y, h, mi, s = v:match("%a+, (%d+) (%a+) (%d+) (%d+):(%d+):(%d+) GMT")
  if not d or not MONTHS[mon] then return nil end
  local t = { year = tonumber(y), month = MONTHS[mon], day = tonumber(d),
              hour = tonumber(h), min = tonumber(mi), sec = tonumber(s) }
  -- os.time reads its table as local time; correct by the local offset.
  local now = os.time()
  local offset = os.time(os.date("!*t", now)) - now
  return math.max(0, os.time(t) - offset - now)
end

--- Builds the error for a non-2xx HTTP answer.
-- Reads Google's `{"error": {code, message, status, details}}` envelope
-- (also inside a one-element array), `RetryInfo.retryDelay` and the
-- `Retry-After` header; a body that is not JSON (an HTML page from a proxy)
-- becomes the message.
-- @tparam number code HTTP status
-- @tparam string body
-- @tparam table headers lower-case names
-- @tparam function decode JSON decoder returning value or nil, err
-- @tparam[opt] string secret redacted from the message
function M.from_http(code, body, headers, decode, secret)
  local env = decode(body or "")
  if type(env) == "table" and env[1] ~= nil and env[2] == nil then env = env[1] end
  local err = type(env) == "table" and type(env.error) == "table" and env.error or nil
  local fields = { code = code, status = STATUS_NAMES[code] }
  local message
  if err then
    fields.status = type(err.status) == "string" and err.status or fields.status
    fields.details = type(err.details) == "table" and err.details or nil
    message = type(err.message) == "string" and err.message or ("HTTP " .. code)
    for _, d in ipairs(fields.details or {}) do
      if type(d) == "table" and type(d["@type"]) == "string"
        and d["@type"]:find("google.rpc.RetryInfo", 1, true) then
        fields.retry_after = duration(d.retryDelay)
      end
    end
  else
    local text = tostring(body or ""):gsub("<[^>]*>", " "):gsub("%s+", " ")
    text = text:match("^%s*(.-)%s*$")
    if #text > 300 then text = text:sub(1, 300) .. "..." end
    message = "HTTP " .. code .. (text ~= "" and (": " .. text) or "")
  end
  fields.retry_after = fields.retry_after or retry_after_header(headers and headers["retry-after"])
  return M.new("api", message, fields, secret)
end

--- Builds the error for an `{"error": {...}}` object met inside a stream.
function M.from_object(obj, secret)
  local e = obj.error
  local code = tonumber(e.code)
  -- An integral code is an integer (api error 503, never 503.0), whatever
  -- the JSON wrote (503.0, "503").
  code = code and math.tointeger and math.tointeger(code) or code
  local fields = { code = code, status = type(e.status) == "string" and e.status or STATUS_NAMES[code],
                   details = type(e.details) == "table" and e.details or nil }
  for _, d in ipairs(fields.details or {}) do
    if type(d) == "table" and d.retryDelay then fields.retry_after = duration(d.retryDelay) end
  end
  return M.new("api", type(e.message) == "string" and e.message or "error in stream", fields, secret)
end

-- ---- argument checks (programmer errors raise) ----------------------------

local function typename(v)
  return type(v) == "nil" and "no value" or type(v)
end

--- Raises `bad argument #n to 'fname' (expected expected, got type)` at the caller's caller.
function M.arg(fname, n, value, expected, optional)
  if optional and value == nil then return value end
  local t = type(value)
  for want in expected:gmatch("[^|]+") do
    if t == want then return value end
  end
  error(string.format("bad argument #%d to '%s' (%s expected, got %s)",
    n, fname, expected:gsub("|", " or "), typename(value)), 3)
end

--- Raises a programmer error about a field of an argument table.
function M.field(fname, field, value, expected, optional)
  if optional and value == nil then return value end
  local t = type(value)
  for want in expected:gmatch("[^|]+") do
    if t == want then return value end
  end
  error(string.format("bad field '%s' to '%s' (%s expected, got %s)",
    field, fname, expected:gsub("|", " or "), typename(value)), 3)
end

return M
