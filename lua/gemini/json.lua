--- JSON for the client: requests are encoded and answers decoded by the C
-- core (`gemini.core`): the encoder also converts snake_case keys to
-- camelCase, except in the user's data, as the key rules of gemini.keys
-- say (src/json.c); the decoder keeps integers as integers and marks empty
-- arrays and objects so that they go back exactly as they came
-- (src/json_decode.c).
-- @module gemini.json
local core = require("gemini.core")

-- The encoder's key rules are Lua's (lua/gemini/keys.lua): handed over
-- once, here, compiled by the core for its lookups.
core.json_key_rules(require("gemini.keys"))

local M = {}

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

--- Decodes JSON text: value, or nil and a message ("... at byte N").
M.decode = core.json_decode

local object_mt = M.object_mt

--- Whether a decoded value is a JSON object (not an array, not a scalar):
-- a decoded object has string keys or, when empty, the object marker; a
-- decoded array has neither.
function M.is_object(v)
  if type(v) ~= "table" then return false end
  local k = next(v)
  if k == nil then return getmetatable(v) == object_mt end
  return type(k) == "string"
end

--- Whether a Lua table is a list: no keys besides 1..#t (a builder's
-- argument written as `{ a, b }`, not as a map).
function M.is_list(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

return M
