--- gemini: the Google Gemini API for Lua.
--
--    local gemini = require("gemini")
--    local client = gemini.Client{ api_key = os.getenv("GEMINI_API_KEY") }
--    local res, err = client.models:generate_content{ model = "gemini-2.5-flash", contents = "Hi" }
--
-- The builders (`tools`, `thinking`, `schema`, `parts`) load on first use,
-- so `require("gemini")` stays cheap.
-- @module gemini
local core = require("gemini.core")
local errors = require("gemini.errors")
local json = require("gemini.json")

local M = {
  _VERSION = "gemini 0.1.0",
  --- JSON null, for request tables (the same value as `cjson.null`).
  null = json.null,
  --- The metatable of every `gemini.Error`.
  Error = errors.Error,
  is_error = errors.is_error,
}

--- Creates a client; see `gemini.client`.
function M.Client(opts)
  return require("gemini.client").new(opts)
end

--- Marks `t` (or a new table) as a JSON object: `{}` when empty.
function M.object(t)
  return setmetatable(t or {}, json.object_mt)
end

--- Marks `t` (or a new table) as a JSON array: `[]` when empty.
function M.array(t)
  return setmetatable(t or {}, json.array_mt)
end

-- Lazily loaded submodules.
local LAZY = { tools = true, thinking = true, schema = true, parts = true }
setmetatable(M, {
  __index = function(t, k)
    if LAZY[k] then
      local mod = require("gemini." .. k)
      rawset(t, k, mod)
      return mod
    end
  end,
})

M.core = core
return M
