--- Errors: `gemini.Error` values and the checks for programmer errors.
-- Every failure of the API, the network or decoding reaches the caller as a
-- `gemini.Error` (a table with `kind`, `code`, `status`, `message`,
-- `details`, `retry_after`), never as a raised string (but for nginx's
-- error log, see `raise`). Programmer errors (wrong argument types, a
-- missing model) raise, naming the argument.
-- @module gemini.errors
local M = {}

--- The metatable of every `gemini.Error`.
-- Fields: `kind` ("api", "transport", "timeout", "decode", "stream",
-- "canceled"; "auth" when Vertex AI credentials give no access token, "io"
-- when `gemini.audio.read_wav` cannot read its file), `code` (HTTP status
-- for "api"; a Live session's close code for "stream"), `status` (e.g.
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
-- @tparam Error e the error
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

--- Concatenation: a string joined to an error, either way round, reads as
-- the line of `tostring(err)`, since a raised error is often concatenated
-- into a message.
-- @param a a string or an error
-- @param b a string or an error
function Error.__concat(a, b)
  return tostring(a) .. tostring(b)
end

-- ---- secrets ---------------------------------------------------------------
--
-- What a client must never show (the API key, the password of a URL) is
-- registered once, by `secrets`, and every error (`new`) and log line
-- (`redact`) goes through the same redaction. Two rules:
--   * a URL's userinfo (`scheme://user:password@`) is replaced wherever a
--     URL appears in the text, whatever its length;
--   * a secret is searched for as plain text only when it has at least
--     MIN_SECRET characters: a key of a few characters (a mistake, or a
--     placeholder for a proxy that ignores it) would match innocent text,
--     mangling every line and showing by the pattern of the replacements
--     what the key is. Credential headers are redacted by name, whatever
--     they hold (see client:_log_request).

-- Secrets shorter than this are not searched for in free text.
M.MIN_SECRET = 8

local MARK = "[REDACTED]"

-- Replaces every occurrence of `secret` in `s` (plain text, no patterns).
local function replace_plain(s, secret)
  local out, i = {}, 1
  while true do
    local a, b = string.find(s, secret, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = MARK
    i = b + 1
  end
  if i == 1 then return s end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

--- `s` with the secrets replaced by "[REDACTED]", and the userinfo of any
-- URL in it and the `upload_id` of an upload session URL. Non-strings are returned as they are.
-- @param s the text
-- @param[opt] secrets a list made by `secrets`, or one secret (a string)
local function redact(s, secrets)
  if type(s) ~= "string" then return s end
  if s:find("@", 1, true) then
    -- userinfo holds no '/', '?', '#' or space; up to the last '@' before them
    s = s:gsub("(%a[%w+.-]*://)[^/?#%s]*@", "%1" .. MARK .. "@")
  end
  if s:find("upload_id=", 1, true) then
    -- A resumable upload's session URL is a capability: whoever holds it
    -- may write to that upload, key or not.
    s = s:gsub("([?&]upload_id=)[^&#%s\"']+", "%1" .. MARK)
  end
  if type(secrets) == "string" then secrets = { secrets } end
  for _, secret in ipairs(secrets or {}) do
    if #secret >= M.MIN_SECRET then s = replace_plain(s, secret) end
  end
  return s
end
M.redact = redact

-- The credential in a URL's userinfo (the password, or the whole userinfo
-- when it has none: a token used as the user name), as written and
-- percent-decoded.
local function url_credentials(url, list)
  local userinfo = type(url) == "string" and url:match("^%a[%w+.-]*://([^/?#]*)@")
  if not userinfo then return end
  local secret = userinfo:match("^[^:]*:(.*)$") or userinfo
  list[#list + 1] = secret
  list[#list + 1] = secret:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
end

--- The secrets of a client, for `new`, `redact` and `from_http`: the API
-- key and the credentials of the given URLs (`base_url`, `proxy`). Those
-- shorter than MIN_SECRET are kept but never searched for (see above).
-- @tparam[opt] string key
-- @param ... URLs (strings or nil)
-- @treturn table a list of strings
-- @local
function M.secrets(key, ...)
  local list = {}
  if type(key) == "string" and key ~= "" then list[1] = key end
  for i = 1, select("#", ...) do url_credentials(select(i, ...), list) end
  return list
end

-- `v` with every string in it redacted, keys of tables too (in place for
-- tables: the error's own decoded details).
local function redact_all(v, secrets)
  if type(v) ~= "table" then return redact(v, secrets) end
  local renamed
  for k, x in pairs(v) do
    local nk = redact(k, secrets)
    x = redact_all(x, secrets)
    if nk ~= k then
      renamed = renamed or {}
      renamed[#renamed + 1] = { k, nk, x }
    else
      v[k] = x
    end
  end
  for _, r in ipairs(renamed or {}) do
    v[r[1]] = nil
    v[r[2]] = r[3]
  end
  return v
end

--- A quote of untrusted text (a server's page, a bad event) for a message:
-- redacted first, then cut to `max` bytes at a character boundary, "..."
-- added, so that no cut can leave a piece of a secret behind.
-- @tparam string text
-- @tparam number max
-- @param[opt] secrets as for `redact`
-- @local
function M.snippet(text, max, secrets)
  text = redact(tostring(text), secrets)
  if #text <= max then return text end
  local cut = max
  while cut > 0 do
    local b = text:byte(cut + 1)
    if b < 0x80 or b >= 0xC0 then break end   -- not in the middle of a character
    cut = cut - 1
  end
  return text:sub(1, cut) .. "..."
end

--- Makes a `gemini.Error`.
-- @tparam string kind
-- @tparam string message
-- @tparam[opt] table fields more fields (`code`, `status`, `details`, `retry_after`)
-- @param[opt] secrets what to redact from every string of the error, the
-- message, the status and each string inside `details` (see `secrets`; or
-- the API key alone)
-- @local
function M.new(kind, message, fields, secrets)
  local e = redact_all(fields or {}, secrets)
  e.kind = kind
  e.message = redact(message, secrets)
  return setmetatable(e, Error)
end

-- Whether a pcall or xpcall of the running coroutine is below the caller.
local function caught()
  local level = 3
  while true do
    local info = debug.getinfo(level, "f")
    if not info then return false end
    if info.func == pcall or info.func == xpcall then return true end
    level = level + 1
  end
end

--- Raises a `gemini.Error` (a failing `for` over a stream, a failed page
-- of a list, `res.parsed`): `pcall` and `xpcall` get the error itself.
-- Inside nginx, an error nothing catches ends the request or the timer,
-- and lua-nginx-module logs an error value that is not a string as
-- "unknown reason"; there, when no pcall or xpcall is on the stack of the
-- running coroutine, the error is raised as its text (`tostring(err)`),
-- which nginx logs. (A pcall in a coroutine that resumed this one is not
-- seen: it gets the text too.)
-- @local
function M.raise(err)
  if type(ngx) == "table" and type(ngx.get_phase) == "function" and not caught() then
    error(tostring(err), 0)
  end
  error(err, 0)
end

--- Whether `x` is a `gemini.Error`.
-- @local (gemini.is_error)
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
-- @param[opt] secret what to redact (see `new`)
-- @local
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
    -- Redacted before the tags go (they could split a secret) and before the cut.
    local text = redact(tostring(body or ""), secret):gsub("<[^>]*>", " "):gsub("%s+", " ")
    text = M.snippet(text:match("^%s*(.-)%s*$"), 300, secret)
    message = "HTTP " .. code .. (text ~= "" and (": " .. text) or "")
  end
  fields.retry_after = fields.retry_after or retry_after_header(headers and headers["retry-after"])
  return M.new("api", message, fields, secret)
end

--- Builds the error for an `{"error": {...}}` object met inside a stream.
-- @tparam table obj the decoded event, with its `error` table
-- @param[opt] secret what to redact (see `new`)
-- @local
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

-- google.rpc.Code (google/rpc/code.proto): number -> { name, HTTP status }.
local RPC = {
  [1] = { "CANCELLED", 499 }, [2] = { "UNKNOWN", 500 }, [3] = { "INVALID_ARGUMENT", 400 },
  [4] = { "DEADLINE_EXCEEDED", 504 }, [5] = { "NOT_FOUND", 404 }, [6] = { "ALREADY_EXISTS", 409 },
  [7] = { "PERMISSION_DENIED", 403 }, [8] = { "RESOURCE_EXHAUSTED", 429 },
  [9] = { "FAILED_PRECONDITION", 400 }, [10] = { "ABORTED", 409 }, [11] = { "OUT_OF_RANGE", 400 },
  [12] = { "UNIMPLEMENTED", 501 }, [13] = { "INTERNAL", 500 }, [14] = { "UNAVAILABLE", 503 },
  [15] = { "DATA_LOSS", 500 }, [16] = { "UNAUTHENTICATED", 401 },
}

--- Builds the error of a `google.rpc.Status` that is not an HTTP answer
-- (an operation's `error`, a batch item's `error`): `code` there is the
-- numeric gRPC code, so the error gets kind "api", `status` the code's name
-- (or the status the object names, if any) and `code` the HTTP status the
-- name maps to (wire-format-2 12.6; an unknown code: UNKNOWN, 500).
-- @tparam table st `{code=, message=, details=, status=?}`
-- @param[opt] secret what to redact (see `new`)
-- @local
function M.from_rpc(st, secret)
  local n = tonumber(st.code)
  local rpc = RPC[n] or RPC[2]
  return M.new("api", type(st.message) == "string" and st.message or ("error " .. tostring(st.code)),
    { status = type(st.status) == "string" and st.status or rpc[1], code = rpc[2],
      details = type(st.details) == "table" and st.details or nil }, secret)
end

-- ---- argument checks (programmer errors raise) ----------------------------

--- What a value is, for a message: its type, "no value" for nil.
-- @local
function M.typename(v)
  return v == nil and "no value" or type(v)
end

-- Whether `value` passes: of one of the `|`-separated types of
-- `expected` (e.g. "string|table"), or nil when `optional`.
local function passes(value, expected, optional)
  if optional and value == nil then return true end
  local t = type(value)
  for want in expected:gmatch("[^|]+") do
    if t == want then return true end
  end
  return false
end

-- The directory of the library's modules ("@lua/gemini/"), as their
-- chunk names start: every module is found through the same path entry.
local LIB_DIR = debug.getinfo(1, "S").source:match("^(@.*[/\\])[^/\\]*$")

-- The stack level (counted as `error` counts them from the function that
-- calls this one's caller) of the first function outside the library,
-- or 0 when a C function (pcall, a metamethod's caller) comes first or
-- none is found: then the message carries no position, as in Lua.
local function outside_level()
  local level = 3
  while true do
    local info = debug.getinfo(level, "S")
    if not info or info.what == "C" then return 0 end
    local src = info.source
    if info.what ~= "tail" and not (LIB_DIR and src:sub(1, #LIB_DIR) == LIB_DIR) then
      return level - 1
    end
    level = level + 1
  end
end

--- Raises a programmer error (a string) at the caller's line: the first
-- function on the stack outside lua/gemini/, however deep in the library
-- the check that found the mistake sits.
-- @tparam string message
-- @local
function M.misuse(message)
  error(message, outside_level())
end

--- Checks the keys of an options table: raises, naming the first key not
-- in `known`, "bad field 'where.key' to 'fname' (unknown field; known: ...)"
-- (a misspelt option would otherwise be dropped without a word).
-- @tparam string fname the call, for the message
-- @param tbl the table (anything else is left to the type checks)
-- @tparam table known the list of known keys (snake_case), as the message shows them
-- @tparam[opt] string where the table's place in the call ("config")
-- @tparam[opt] boolean camel whether the camelCase spelling of each is known too
-- @local
function M.known_fields(fname, tbl, known, where, camel)
  if type(tbl) ~= "table" then return tbl end
  local set = {}
  for _, k in ipairs(known) do
    set[k] = true
    if camel then set[(k:gsub("_(%l)", string.upper))] = true end
  end
  for k in pairs(tbl) do
    if not set[k] then
      M.misuse(string.format("bad field '%s%s' to '%s' (unknown field; known: %s)",
        where and (where .. ".") or "", tostring(k), fname, table.concat(known, ", ")))
    end
  end
  return tbl
end

-- Raises "bad <what> to 'fname' (<expected> expected, got <type>)" at the
-- caller (see `misuse`).
local function bad(what, fname, value, expected)
  M.misuse(string.format("bad %s to '%s' (%s expected, got %s)", what, fname,
    (expected:gsub("|", " or ")), M.typename(value)))
end

--- Checks argument #n of `fname`: returns it, or raises
-- `bad argument #n to 'fname' (expected expected, got type)` at the caller's line.
-- @local
function M.arg(fname, n, value, expected, optional)
  if not passes(value, expected, optional) then bad("argument #" .. n, fname, value, expected) end
  return value
end

--- Checks a field of an argument table: returns it, or raises
-- `bad field 'field' to 'fname' (expected expected, got type)` at the caller's line.
-- @local
function M.field(fname, field, value, expected, optional)
  if not passes(value, expected, optional) then bad("field '" .. field .. "'", fname, value, expected) end
  return value
end

return M
