--- gemini: the Google Gemini API for Lua.
--
--    local gemini = require("gemini")
--    local client = gemini.Client{ api_key = os.getenv("GEMINI_API_KEY") }
--    local res, err = client.models:generate_content{ model = "gemini-2.5-flash", contents = "Hi" }
--
-- Everything here loads on first use: the C core (and with it libcurl and
-- the ~30 libraries it links, ~20 ms of dynamic loading) is mapped when the
-- first client, marker or `null` is asked for, and the builders (`tools`,
-- `thinking`, `schema`, `parts`, `audio`) when first touched. So `require("gemini")`
-- stays cheap for a Neovim plugin or a script that may never call the API.
-- @module gemini
local errors = require("gemini.errors")

local M = {
  _VERSION = "gemini 0.1.0",
  --- The metatable of every `gemini.Error`.
  Error = errors.Error,
  --- Whether a value is a `gemini.Error`.
  is_error = errors.is_error,
}

--- Creates a client; see `gemini.client`.
function M.Client(opts)
  return require("gemini.client").new(opts)
end

--- Marks `t` (or a new table) as a JSON object: `{}` when empty.
function M.object(t)
  errors.arg("object", 1, t, "table", true)
  return setmetatable(t or {}, require("gemini.json").object_mt)
end

--- Marks `t` (or a new table) as a JSON array: `[]` when empty.
function M.array(t)
  errors.arg("array", 1, t, "table", true)
  return setmetatable(t or {}, require("gemini.json").array_mt)
end

-- Fields loaded on first use: submodules, and values of the C core.
-- `gemini.null` is JSON null for request tables (the same value as
-- `cjson.null`); `gemini.core` is the C module itself.
local LAZY = {
  tools = function() return require("gemini.tools") end,
  thinking = function() return require("gemini.thinking") end,
  schema = function() return require("gemini.schema") end,
  parts = function() return require("gemini.parts") end,
  audio = function() return require("gemini.audio") end,
  null = function() return require("gemini.json").null end,
  core = function() return require("gemini.core") end,
}
setmetatable(M, {
  __index = function(t, k)
    local load = LAZY[k]
    if load then
      local v = load()
      rawset(t, k, v)
      return v
    end
  end,
})

return M
