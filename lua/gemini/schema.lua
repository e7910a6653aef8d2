--- Schema builders: the Gemini API's `Schema` object (OpenAPI subset) for
-- `response_schema` (JSON mode) and function `parameters`.
--
--    local S = gemini.schema
--    local person = S.object({
--      { "name", S.string{ description = "full name" } },
--      { "age",  S.integer{ minimum = 0 } },
--      { "tags", S.array(S.string{ enum = { "a", "b" } }, { max_items = 3 }) },
--    }, { required = { "name" } })
--
-- The tables built here are plain request tables in the API's spelling
-- (camelCase keys, upper-case types), so they can be printed, compared and
-- edited. Options may be written snake_case or camelCase (`min_items` or
-- `minItems`). Every mistake (an unknown option, a value of the wrong type,
-- a duplicate property, `minimum > maximum`, a `required` name that is not a
-- property) raises at build time, naming the builder and the option: a
-- malformed schema would otherwise only fail later, as a 400 from the
-- server or as a model that ignores it.
-- @module gemini.schema
local json = require("gemini.json")
local camel = require("gemini.request").camel
local errors = require("gemini.errors")
local typename = errors.typename
local is_list = json.is_list

local M = {}

-- Options every builder takes, with their checks.
local COMMON = { description = "string", nullable = "boolean", title = "string",
                 example = "any", default = "any" }

local function fail(fname, field, what)
  errors.misuse(string.format("bad field '%s' to 'schema.%s' (%s)", field, fname, what))
end

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v) and v > -math.huge and v < math.huge
end

-- Checks one option value against its kind; kinds are Lua type names,
-- "any", "count" (integer >= 0), "integer" and "strings" (a non-empty list
-- of strings).
local function check_value(fname, field, v, kind)
  if kind == "any" then return end
  if kind == "count" then
    if not is_integer(v) or v < 0 then
      fail(fname, field, "non-negative integer expected, got " .. tostring(v))
    end
  elseif kind == "integer" then
    if not is_integer(v) then
      fail(fname, field, "integer expected, got " .. tostring(v))
    end
  elseif kind == "strings" then
    if type(v) ~= "table" or #v == 0 then
      fail(fname, field, "non-empty list of strings expected, got " .. typename(v))
    end
    local seen = {}
    for i = 1, #v do
      if type(v[i]) ~= "string" then
        fail(fname, field, string.format("item %d: string expected, got %s", i, typename(v[i])))
      end
      if seen[v[i]] then
        fail(fname, field, string.format("duplicate value %q", v[i]))
      end
      seen[v[i]] = true
    end
    if not is_list(v) then fail(fname, field, "a list expected, got a table with other keys") end
  elseif type(v) ~= kind then
    fail(fname, field, kind .. " expected, got " .. typename(v))
  end
end

-- Reads `opts` against `allowed` (camelCase name -> kind) plus the common
-- options; returns a new table with the camelCase names. Raises on an
-- unknown option or a bad value, at the builder's caller.
local function options(fname, opts, allowed)
  local out = {}
  if opts == nil then return out end
  if type(opts) ~= "table" then
    errors.misuse(string.format("bad argument to 'schema.%s' (options table expected, got %s)",
      fname, typename(opts)))
  end
  for k, v in pairs(opts) do
    local ck = type(k) == "string" and camel(k) or k
    local kind = allowed[ck] or COMMON[ck]
    if not kind then
      local names = {}
      -- Listed in the Lua spelling, the one the docs use.
      for n in pairs(allowed) do names[#names + 1] = (n:gsub("%u", "_%0"):lower()) end
      for n in pairs(COMMON) do names[#names + 1] = n end
      table.sort(names)
      fail(fname, tostring(k), "unknown option; known: " .. table.concat(names, ", "))
    end
    if out[ck] ~= nil then
      fail(fname, tostring(k), "given twice (snake_case and camelCase)")
    end
    check_value(fname, tostring(k), v, kind)
    out[ck] = v
  end
  return out
end

-- Checks that `lo <= hi` when both are set.
local function check_range(fname, s, lo, hi)
  if s[lo] ~= nil and s[hi] ~= nil and s[lo] > s[hi] then
    fail(fname, lo, string.format("%s (%s) is greater than %s (%s)", lo, tostring(s[lo]), hi,
      tostring(s[hi])))
  end
end

-- Whether `v` looks like a Schema (a built one or one written by hand).
local function is_schema(v)
  return type(v) == "table" and (v.type ~= nil or v.anyOf ~= nil or v.any_of ~= nil)
end

local function check_schema_arg(fname, what, v)
  if not is_schema(v) then
    errors.misuse(string.format("bad argument %s to 'schema.%s' (a schema expected, got %s)",
      what, fname, type(v) == "table" and "a table without 'type' or 'anyOf'" or typename(v)))
  end
end

local function copy_list(t)
  local out = {}
  for i = 1, #t do out[i] = t[i] end
  return setmetatable(out, json.array_mt)
end

-- Builds a scalar schema: `typ` plus the checked options.
local function scalar(fname, typ, opts, allowed)
  local s = options(fname, opts, allowed)
  s.type = typ
  if s.enum then s.enum = copy_list(s.enum) end
  check_range(fname, s, "minimum", "maximum")
  check_range(fname, s, "minLength", "maxLength")
  return s
end

--- A string. Options: `enum` (list of strings), `format` (e.g. "date-time",
-- "enum"), `min_length`, `max_length`, `pattern`, and the common ones:
-- `description`, `nullable`, `title`, `example`, `default`.
-- @tparam[opt] table opts the options above
-- @treturn table `{type="STRING", ...}`
function M.string(opts)
  local s = scalar("string", "STRING", opts, {
    enum = "strings", format = "string", minLength = "count", maxLength = "count",
    pattern = "string",
  })
  return s
end

--- A number (float). Options: `minimum`, `maximum`, `format` ("float",
-- "double"), `enum` (list of strings, as the API wants), and the common ones.
-- @tparam[opt] table opts the options above
function M.number(opts)
  local s = scalar("number", "NUMBER", opts, {
    minimum = "number", maximum = "number", format = "string", enum = "strings",
  })
  return s
end

--- An integer. Options: `minimum`, `maximum` (integers), `format` ("int32",
-- "int64"), `enum` (list of strings), and the common ones.
-- @tparam[opt] table opts the options above
function M.integer(opts)
  local s = scalar("integer", "INTEGER", opts, {
    minimum = "integer", maximum = "integer", format = "string", enum = "strings",
  })
  return s
end

--- A boolean. Options: the common ones.
-- @tparam[opt] table opts the options above
function M.boolean(opts)
  local s = scalar("boolean", "BOOLEAN", opts, {})
  return s
end

--- An array of `items`. Options: `min_items`, `max_items`, and the common ones.
-- @tparam table items the schema of every item
-- @tparam[opt] table opts the options above
function M.array(items, opts)
  check_schema_arg("array", "#1 (items)", items)
  local s = options("array", opts, { minItems = "count", maxItems = "count" })
  check_range("array", s, "minItems", "maxItems")
  s.type = "ARRAY"
  s.items = items
  return s
end

--- An object with properties in the given order.
-- @tparam table props an ordered list of `{name, schema}` pairs; names are
-- kept exactly as written (they are the user's, not API fields)
-- @tparam[opt] table opts `required` (list of property names),
-- `min_properties`, `max_properties`, and the common ones
-- @treturn table `{type="OBJECT", properties=, required=, propertyOrdering=}`
function M.object(props, opts)
  if props == nil then props = {} end
  if type(props) ~= "table" then
    errors.misuse("bad argument #1 to 'schema.object' (list of {name, schema} pairs expected, got "
      .. typename(props) .. ")")
  end
  if not is_list(props) then
    errors.misuse("bad argument #1 to 'schema.object' (an ordered list of {name, schema} pairs expected;"
      .. " a map has no order: write { {\"name\", S.string()}, ... })")
  end
  local s = options("object", opts, {
    required = "strings", minProperties = "count", maxProperties = "count",
  })
  check_range("object", s, "minProperties", "maxProperties")
  local properties, order = {}, {}
  for i = 1, #props do
    local pair = props[i]
    if type(pair) ~= "table" or type(pair[1]) ~= "string" or pair[1] == "" then
      errors.misuse(string.format("bad property #%d to 'schema.object' ({name, schema} expected, with a"
        .. " non-empty string name)", i))
    end
    local name = pair[1]
    if properties[name] ~= nil then
      errors.misuse(string.format("bad property #%d to 'schema.object' (duplicate name %q)", i, name))
    end
    if not is_schema(pair[2]) then
      errors.misuse(string.format("bad property %q to 'schema.object' (a schema expected, got %s)",
        name, type(pair[2]) == "table" and "a table without 'type' or 'anyOf'" or typename(pair[2])))
    end
    properties[name] = pair[2]
    order[i] = name
  end
  if s.required then
    for _, r in ipairs(s.required) do
      if properties[r] == nil then
        fail("object", "required", string.format("%q is not a property", r), 3)
      end
    end
    s.required = copy_list(s.required)
  end
  s.type = "OBJECT"
  s.properties = setmetatable(properties, json.object_mt)
  if #order > 0 then s.propertyOrdering = copy_list(order) end
  return s
end

--- A value matching any of the given schemas (`anyOf`).
-- @tparam table list a non-empty list of schemas
-- @tparam[opt] table opts the common options
function M.any_of(list, opts)
  if type(list) ~= "table" or #list == 0 then
    errors.misuse("bad argument #1 to 'schema.any_of' (non-empty list of schemas expected, got "
      .. (type(list) == "table" and "an empty table" or typename(list)) .. ")")
  end
  for i = 1, #list do check_schema_arg("any_of", "#1 (item " .. i .. ")", list[i]) end
  local s = options("any_of", opts, {})
  s.anyOf = copy_list(list)
  return s
end

--- A string that is one of `values` (the same as `S.string` with
-- `enum = values` and `format = "enum"`, and `opts`).
-- @tparam table values the allowed strings
-- @tparam[opt] table opts more string options
function M.enum(values, opts)
  check_value("enum", "#1", values, "strings")
  local o = { enum = values, format = "enum" }
  if opts ~= nil then
    if type(opts) ~= "table" then
      errors.misuse("bad argument #2 to 'schema.enum' (options table expected, got " .. typename(opts) .. ")")
    end
    for k, v in pairs(opts) do o[k] = v end
  end
  local s = scalar("enum", "STRING", o, {
    enum = "strings", format = "string", minLength = "count", maxLength = "count",
    pattern = "string",
  })
  return s
end

M.is_schema = is_schema

return M
