-- A busted helper (busted --helper=spec/support/secret_audit.lua) that
-- watches a whole suite run for the API key leaking. spec/secrets_spec.lua
-- runs the other spec files under it; it is not meant for other use.
--
-- It records the API key of every client made (gemini.Client), gives every
-- client a log callback (wrapping the spec's own, so each spec's output is
-- unchanged) and then checks each of these against every key seen so far:
--   * every debug log line,
--   * every gemini.Error made (its message and its tostring),
--   * every string raised with error() (argument errors, raised
--     gemini.Errors, busted's own assertion messages),
--   * every request URL.
-- A hit is written at once to the file named by $GEMINI_SECRET_AUDIT as
-- "LEAK <what>: <text with the key replaced by <KEY>>"; at exit a line
-- "COUNTS log=N error=N raised=N url=N keys=N" says how much was checked.
local out_path = assert(os.getenv("GEMINI_SECRET_AUDIT"), "GEMINI_SECRET_AUDIT is not set")

-- Keys shorter than this are too likely to match innocent text ("x"): the
-- library does not search messages for them either (see gemini.errors).
local MIN_KEY = require("gemini.errors").MIN_SECRET

local keys, counts = {}, { log = 0, error = 0, raised = 0, url = 0, keys = 0 }

local function append(line)
  local f = io.open(out_path, "ab")
  if f then
    f:write(line, "\n")
    f:close()
  end
end

local function check(what, s)
  if type(s) ~= "string" then return end
  counts[what] = counts[what] + 1
  for k in pairs(keys) do
    if s:find(k, 1, true) then
      local shown = s:gsub(k:gsub("%W", "%%%0"), "<KEY>"):gsub("\n", "\\n")
      append("LEAK " .. what .. ": " .. shown:sub(1, 500))
    end
  end
end

local function add_key(k)
  if type(k) == "string" and #k >= MIN_KEY and not keys[k] then
    keys[k] = true
    counts.keys = counts.keys + 1
  end
end

-- Modules are reloaded for each spec file (busted insulates files), so each
-- fresh module table is patched once.
local patched = setmetatable({}, { __mode = "k" })

local function patch_client(Client)
  local new, spec = Client.new, Client._spec
  Client.new = function(...)
    local c = new(...)
    add_key(rawget(c, "_key"))
    local own = c.log
    c.log = function(line)
      check("log", line)
      if own then return own(line) end
    end
    return c
  end
  if spec then
    Client._spec = function(self, call)
      local s = spec(self, call)
      check("url", s.url)
      return s
    end
  end
end

local function patch_errors(errors)
  local new = errors.new
  errors.new = function(...)
    local e = new(...)
    check("error", e.message)
    check("error", tostring(e))
    return e
  end
end

local real_require = require
_G.require = function(name, ...)
  local m = real_require(name, ...)
  if type(m) == "table" and not patched[m] then
    if name == "gemini.client" then
      patched[m] = true
      patch_client(m)
    elseif name == "gemini.errors" then
      patched[m] = true
      patch_errors(m)
    end
  end
  return m
end

local real_error = error
_G.error = function(msg, level)
  if type(msg) == "string" then
    check("raised", msg)
  elseif type(msg) == "table" and getmetatable(msg) and getmetatable(msg).__tostring then
    check("raised", tostring(msg))
  end
  -- Not a tail call, so that the level still counts from the caller.
  if level == 0 then real_error(msg, 0) end
  real_error(msg, (level or 1) + 1)
end

-- The summary is written when the state closes (busted ends with
-- os.exit(code, true)).
_G.__gemini_secret_audit = setmetatable({}, { __gc = function()
  append(string.format("COUNTS log=%d error=%d raised=%d url=%d keys=%d",
    counts.log, counts.error, counts.raised, counts.url, counts.keys))
end })
