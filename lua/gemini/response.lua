--- Responses: the decoded REST JSON (camelCase keys, exactly as sent) with
-- read-only helpers computed on access through the metatable:
-- `text`, `thoughts`, `function_calls`, `parsed`, `inline_data`.
-- @module gemini.response
local core = require("gemini.core")
local errors = require("gemini.errors")
local json = require("gemini.json")

local M = {}

-- Responses whose answer is expected as JSON (weak: no hidden field in the
-- response table itself, which stays exactly the decoded JSON).
local json_mode = setmetatable({}, { __mode = "k" })

local function parts0(res)
  local c = res.candidates
  c = type(c) == "table" and c[1]
  c = type(c) == "table" and c.content
  local p = type(c) == "table" and c.parts
  return type(p) == "table" and p or nil
end
M.parts = parts0

-- Text of candidate 0, thought parts (want_thought) or answer parts.
local function joined_text(res, want_thought)
  local parts = parts0(res)
  if not parts then return nil end
  local out, seen = {}, false
  for i = 1, #parts do
    local p = parts[i]
    if type(p.text) == "string" and (p.thought == true) == want_thought then
      out[#out + 1] = p.text
      seen = true
    end
  end
  return seen and table.concat(out) or nil
end

local getters = {}

--- The non-thought text parts of the first candidate, joined; nil when none.
function getters.text(res) return joined_text(res, false) end

--- The thought-summary text (`thought = true` parts), joined; nil when none.
function getters.thoughts(res) return joined_text(res, true) end

--- List of `{name=, args=, id=}` of the first candidate, or nil.
function getters.function_calls(res)
  local parts = parts0(res)
  if not parts then return nil end
  local out
  for i = 1, #parts do
    local fc = parts[i].functionCall
    if type(fc) == "table" then
      out = out or {}
      out[#out + 1] = { name = fc.name, args = fc.args or {}, id = fc.id }
    end
  end
  return out
end

--- The JSON-mode answer decoded, or nil (not JSON mode, or no text).
-- An answer that is not valid JSON raises a `gemini.Error` of kind "decode".
function getters.parsed(res)
  if not json_mode[res] then return nil end
  local text = joined_text(res, false)
  if text == nil then return nil end
  local v, msg = json.decode(text)
  if v == nil then
    error(errors.new("decode", "the JSON-mode answer is not valid JSON: " .. tostring(msg)), 2)
  end
  return v
end

--- List of `{mime_type=, data=<raw bytes>}` for the inline data parts, or nil.
function getters.inline_data(res)
  local parts = parts0(res)
  if not parts then return nil end
  local out
  for i = 1, #parts do
    local d = parts[i].inlineData
    if type(d) == "table" and type(d.data) == "string" then
      local bytes, msg = core.b64decode(d.data)
      if bytes == nil then
        error(errors.new("decode", "inline data is not valid base64: " .. tostring(msg)), 2)
      end
      out = out or {}
      out[#out + 1] = { mime_type = d.mimeType, data = bytes }
    end
  end
  return out
end

M.getters = getters

local mt = {
  __index = function(res, k)
    local g = getters[k]
    if g then return g(res) end
    return nil
  end,
}
M.mt = mt

--- Gives a decoded response its helpers.
-- @tparam table t the decoded JSON
-- @tparam[opt] boolean is_json the request asked for a JSON answer
function M.wrap(t, is_json)
  if is_json then json_mode[t] = true end
  return setmetatable(t, mt)
end

--- Whether `t` is a wrapped response.
function M.is_response(t)
  return getmetatable(t) == mt
end

return M
