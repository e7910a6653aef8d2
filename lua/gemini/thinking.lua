--- Thinking configuration builders, and the check that the knob suits the
-- model.
--
--    config = { thinking_config = gemini.thinking.level("low") }            -- Gemini 3
--    config = { thinking_config = gemini.thinking.budget(1024, { include_thoughts = true }) } -- 2.5
--
-- Gemini 3 models take `thinkingLevel`; Gemini 2.5 models take
-- `thinkingBudget` (a level sent to 2.5 is a 400 from the server, and a
-- budget sent to 3 is accepted but discouraged). `check` catches the
-- mismatch before any request, naming the right parameter.
-- @module gemini.thinking
local request = require("gemini.request")
local errors = require("gemini.errors")
local typename = errors.typename

local M = {}

local LEVELS = { MINIMAL = true, LOW = true, MEDIUM = true, HIGH = true }

-- The `include_thoughts` option (either spelling) of `opts`, checked.
local function include_thoughts(fname, opts)
  if opts == nil then return nil end
  if type(opts) ~= "table" then
    errors.misuse(string.format("bad argument #2 to 'thinking.%s' (table expected, got %s)", fname,
      typename(opts)))
  end
  local v
  for k, val in pairs(opts) do
    if k == "include_thoughts" or k == "includeThoughts" then
      v = val
    else
      errors.misuse(string.format("bad field '%s' to 'thinking.%s' (unknown option; known: include_thoughts)",
        tostring(k), fname))
    end
  end
  if v ~= nil and type(v) ~= "boolean" then
    errors.misuse(string.format("bad field 'include_thoughts' to 'thinking.%s' (boolean expected, got %s)",
      fname, typename(v)))
  end
  return v
end

--- A thinking level, for Gemini 3 models.
-- @tparam string level "MINIMAL", "LOW", "MEDIUM" or "HIGH" (any case)
-- @tparam[opt] table opts `include_thoughts = true` returns thought summaries
-- (`res.thoughts`)
-- @treturn table `{thinkingLevel = "LOW"[, includeThoughts = true]}`
function M.level(level, opts)
  local up = type(level) == "string" and level:upper()
  if not up or not LEVELS[up] then
    errors.misuse(string.format("bad argument #1 to 'thinking.level' (MINIMAL, LOW, MEDIUM or HIGH"
      .. " expected, got %s)", type(level) == "string" and string.format("%q", level)
      or typename(level)))
  end
  local t = { thinkingLevel = up }
  t.includeThoughts = include_thoughts("level", opts)
  return t
end

--- A thinking budget in tokens, for Gemini 2.5 models.
-- @tparam integer n tokens; 0 turns thinking off (where the model allows),
-- -1 lets the model decide
-- @tparam[opt] table opts `include_thoughts = true` returns thought summaries
-- @treturn table `{thinkingBudget = n[, includeThoughts = true]}`
function M.budget(n, opts)
  if type(n) ~= "number" or n ~= math.floor(n) or n < -1 or n >= 2 ^ 31 then
    errors.misuse(string.format("bad argument #1 to 'thinking.budget' (integer >= -1 expected:"
      .. " 0 turns thinking off, -1 is dynamic; got %s)", type(n) == "number" and tostring(n)
      or typename(n)))
  end
  -- An integral float (1024.0 on 5.3+) is sent as an integer: int32 field.
  if math.tointeger then n = math.tointeger(n) or n end
  local t = { thinkingBudget = n }
  t.includeThoughts = include_thoughts("budget", opts)
  return t
end

-- Gemini generation of a model name ("models/gemini-2.5-flash" -> 2), or
-- nil for anything else (tuned models, other families, future generations).
local function generation(model)
  if type(model) ~= "string" then return nil end
  local id = model:match("([^/]*)$")
  local major = tonumber(id:match("^gemini%-(%d+)[%.%-]"))
  if major == 2 or major == 3 then return major end
  return nil
end
M.generation = generation

-- request.get, for a value that may not be a table.
local function get(t, camel, snake)
  if type(t) ~= "table" then return nil end
  return request.get(t, camel, snake)
end

-- The thinking configs of a flat config: at the top and inside
-- generation_config (either spelling of each).
local function thinking_configs(config)
  local out = {}
  local tc = get(config, "thinkingConfig", "thinking_config")
  if type(tc) == "table" then out[#out + 1] = tc end
  local gen = get(config, "generationConfig", "generation_config")
  tc = get(gen, "thinkingConfig", "thinking_config")
  if type(tc) == "table" then out[#out + 1] = tc end
  return out
end

--- Raises (a programmer error, before any request) when the thinking
-- config does not suit the model: a level for Gemini 2.x, a budget for
-- Gemini 3. Unknown model families pass.
-- @tparam string model the model name (with or without `models/`)
-- @tparam[opt] table config the flat config of the request
-- @tparam[opt] boolean enabled false skips the check (client option `check_thinking = false`)
function M.check(model, config, enabled)
  if enabled == false or type(config) ~= "table" then return end
  local gen = generation(model)
  if not gen then return end
  local id = model:match("([^/]*)$")
  for _, tc in ipairs(thinking_configs(config)) do
    if gen == 2 and get(tc, "thinkingLevel", "thinking_level") ~= nil then
      errors.misuse(string.format("thinking_level is for Gemini 3 models; use thinking_budget"
        .. " (gemini.thinking.budget) with %s (client option check_thinking = false skips"
        .. " this check)", id))
    end
    if gen == 3 and get(tc, "thinkingBudget", "thinking_budget") ~= nil then
      errors.misuse(string.format("thinking_budget is for Gemini 2.5 models; use thinking_level"
        .. " (gemini.thinking.level) with %s (client option check_thinking = false skips"
        .. " this check)", id))
    end
  end
end

return M
