--- JSON for the client: requests are encoded by the C encoder of
-- `gemini.core` (which also applies the snake_case -> camelCase key rules of
-- the public API), answers are decoded by lua-cjson.
-- @module gemini.json
local core = require("gemini.core")

local M = {}

-- A private cjson instance, so settings a program makes on the global one
-- (or we make here) do not leak either way.
local ok, cjson = pcall(require, "cjson")
local decoder
if ok then
  decoder = cjson.new()
  decoder.decode_max_depth(200)
  decoder.decode_invalid_numbers(false)
  M.decode_raw = decoder.decode
elseif type(vim) == "table" and vim.json then
  -- Neovim's LuaJIT may come without lua-cjson; vim.json is cjson inside.
  M.decode_raw = function(s) return vim.json.decode(s, { luanil = { object = false, array = false } }) end
else
  error("gemini: lua-cjson is required (Debian: apt-get install lua-cjson)")
end

M.null = core.json_null
M.object_mt = core.json_object_mt
M.array_mt = core.json_array_mt

--- Encodes a request table (keys converted, see src/json.c). Raises with
-- the path of a bad value.
M.encode = core.json_encode

--- Encodes without touching keys.
function M.encode_verbatim(v)
  return core.json_encode(v, { convert_keys = false })
end

--- Decodes JSON text: value, or nil and a message.
function M.decode(s)
  local okd, v = pcall(M.decode_raw, s)
  if okd then return v end
  return nil, tostring(v)
end

return M
