--- Tool builders: the entries of `config.tools` and `config.tool_config`,
-- in the exact shape the REST API takes.
--
--    local T = gemini.tools
--    config = {
--      tools = { T.google_search(), T.functions{
--        { name = "get_weather", description = "Weather for a city",
--          parameters = S.object({ { "city", S.string() } }, { required = { "city" } }),
--          handler = function(args) return { temp_c = 21 } end },
--      } },
--      tool_config = T.tool_config{ mode = "ANY", allowed_function_names = { "get_weather" } },
--    }
--    config = { tools = { T.file_search{ file_search_store_names = { store.name } } } }
--
-- A Lua `handler` stays on its function declaration, where any copy of
-- the tool (a shallow one, a `pairs` one, a hand-written declaration with a
-- `handler`) keeps it: `handlers(config.tools)` finds it for the automatic
-- function calling loop, and `sendable(config.tools)` is the list as it goes
-- on the wire, without the handlers (JSON cannot carry a function).
-- @module gemini.tools
local json = require("gemini.json")
local camel = require("gemini.request").camel
local errors = require("gemini.errors")
local typename = errors.typename
local is_list = json.is_list

local M = {}

local function object(t)
  return setmetatable(t or {}, json.object_mt)
end

local function array(t)
  return setmetatable(t or {}, json.array_mt)
end

-- Reads an options table against `allowed` (camelCase name -> Lua type);
-- returns it keyed by the camelCase names. Raises at `level` (counted from
-- this function) on an unknown option or a value of the wrong type.
local function options(fname, opts, allowed, level)
  local out = {}
  if opts == nil then return out end
  if type(opts) ~= "table" then
    error(string.format("bad argument #1 to 'tools.%s' (table expected, got %s)", fname,
      typename(opts)), level)
  end
  for k, v in pairs(opts) do
    local ck = type(k) == "string" and camel(k) or k
    local want = allowed[ck]
    if not want then
      local names = {}
      for n in pairs(allowed) do names[#names + 1] = (n:gsub("%u", "_%0"):lower()) end
      table.sort(names)
      error(string.format("bad field '%s' to 'tools.%s' (unknown option; known: %s)", tostring(k),
        fname, #names > 0 and table.concat(names, ", ") or "none"), level)
    end
    if type(v) ~= want then
      error(string.format("bad field '%s' to 'tools.%s' (%s expected, got %s)", tostring(k), fname,
        want, typename(v)), level)
    end
    out[ck] = v
  end
  return out
end

--- Grounding with Google Search: `{googleSearch = {}}`.
-- @tparam[opt] table opts `time_range_filter = {start_time=, end_time=}`
-- (RFC 3339 timestamps) limits results to that interval
function M.google_search(opts)
  local o = options("google_search", opts, { timeRangeFilter = "table" }, 3)
  local t = o.timeRangeFilter
  if t then
    for k, v in pairs(t) do
      local ck = camel(k)
      if (ck ~= "startTime" and ck ~= "endTime") or type(v) ~= "string" then
        errors.misuse(string.format("bad field 'time_range_filter.%s' to 'tools.google_search'"
          .. " (start_time and end_time, RFC 3339 strings, expected)", tostring(k)))
      end
    end
  end
  return { googleSearch = object(o) }
end

--- Grounding with Google Maps: `{googleMaps = {}}`.
-- @tparam[opt] table opts `enable_widget = true` asks for a widget context token
-- (the place to search from goes in `tool_config{ retrieval_config = ... }`)
function M.google_maps(opts)
  local o = options("google_maps", opts, { enableWidget = "boolean" }, 3)
  return { googleMaps = object(o) }
end

--- The code execution tool: `{codeExecution = {}}`.
function M.code_execution()
  return { codeExecution = object() }
end

--- URL context (the model reads the URLs in the prompt): `{urlContext = {}}`.
function M.url_context()
  return { urlContext = object() }
end

--- File search (retrieval from file search stores): `{fileSearch = {...}}`,
-- exactly as the REST API takes it (wire-format-2 §15.6).
-- @tparam table opts `file_search_store_names` (required: a non-empty
-- list of stores, their names or ids), `metadata_filter` (an AIP-160
-- filter on the documents' custom metadata, e.g. `'author = "Graves"'`),
-- `top_k` (how many chunks to retrieve)
-- @treturn table e.g. `{ fileSearch = { fileSearchStoreNames = { "fileSearchStores/x" }, topK = 5 } }`
function M.file_search(opts)
  if opts == nil then
    errors.misuse("bad argument #1 to 'tools.file_search' (table expected, got no value)")
  end
  local o = options("file_search", opts, {
    fileSearchStoreNames = "table", metadataFilter = "string", topK = "number",
  }, 3)
  local names = o.fileSearchStoreNames
  if names == nil or #names == 0 or not is_list(names) then
    errors.misuse("bad field 'file_search_store_names' to 'tools.file_search' (non-empty list of file"
      .. " search store names expected)")
  end
  local normalize = require("gemini.file_search_stores").normalize_name
  local list = {}
  for i = 1, #names do
    list[i] = normalize(names[i], "tools.file_search", "field 'file_search_store_names[" .. i .. "]'")
  end
  o.fileSearchStoreNames = array(list)
  local k = o.topK
  if k ~= nil and (k < 1 or k ~= math.floor(k) or k >= 2 ^ 31) then
    errors.misuse("bad field 'top_k' to 'tools.file_search' (a positive integer expected)")
  end
  return { fileSearch = o }
end

-- Function names: what the API accepts.
local function check_name(name, where)
  if type(name) ~= "string" then
    errors.misuse(string.format("bad field '%s.name' to 'tools.functions' (string expected, got %s)",
      where, typename(name)))
  end
  if name == "" or #name > 64 or name:find("[^%w_:%.%-]") then
    errors.misuse(string.format("bad field '%s.name' to 'tools.functions' (%q: 1 to 64 characters of"
      .. " a-z, A-Z, 0-9, _ : . - expected)", where, name))
  end
end

local DECL_FIELDS = {
  name = "string", description = "string", parameters = "table",
  parametersJsonSchema = "table", response = "table", responseJsonSchema = "table",
  behavior = "string", handler = "function",
}

--- Function declarations, with optional Lua handlers for automatic
-- function calling.
-- @tparam table list a list of `{ name =, description =, parameters = <schema>
-- | parameters_json_schema = <raw JSON Schema>, response =, response_json_schema =,
-- handler = function(args) ... end }`
-- @treturn table the tool `{ functionDeclarations = {...} }`
function M.functions(list)
  if type(list) ~= "table" or #list == 0 then
    errors.misuse("bad argument #1 to 'tools.functions' (non-empty list of function declarations"
      .. " expected, got " .. (type(list) == "table" and "an empty table or a map" or typename(list))
      .. ")")
  end
  if not is_list(list) then
    errors.misuse("bad argument #1 to 'tools.functions' (a list of function declarations expected, got a"
      .. " table with other keys: write tools.functions{ {name = ...}, ... })")
  end
  local decls, seen = {}, {}
  for i = 1, #list do
    local d = list[i]
    local where = "[" .. i .. "]"
    if type(d) ~= "table" then
      errors.misuse(string.format("bad field '%s' to 'tools.functions' (table expected, got %s)", where,
        typename(d)))
    end
    local out = {}
    for k, v in pairs(d) do
      local ck = type(k) == "string" and camel(k) or k
      local want = DECL_FIELDS[ck]
      if not want then
        errors.misuse(string.format("bad field '%s.%s' to 'tools.functions' (unknown field; known: name,"
          .. " description, parameters, parameters_json_schema, response, response_json_schema,"
          .. " behavior, handler)", where, tostring(k)))
      end
      if type(v) ~= want then
        errors.misuse(string.format("bad field '%s.%s' to 'tools.functions' (%s expected, got %s)", where,
          tostring(k), want, typename(v)))
      end
      out[ck] = v
    end
    check_name(out.name, where)
    if seen[out.name] then
      errors.misuse(string.format("bad field '%s.name' to 'tools.functions' (duplicate name %q)", where,
        out.name))
    end
    seen[out.name] = true
    if out.parameters and out.parametersJsonSchema then
      errors.misuse(string.format("bad field '%s' to 'tools.functions' (%s: give parameters or"
        .. " parameters_json_schema, not both)", where, out.name))
    end
    if out.response and out.responseJsonSchema then
      errors.misuse(string.format("bad field '%s' to 'tools.functions' (%s: give response or"
        .. " response_json_schema, not both)", where, out.name))
    end
    local p = out.parameters
    if p and (type(p.type) ~= "string" or p.type:upper() ~= "OBJECT") then
      errors.misuse(string.format("bad field '%s.parameters' to 'tools.functions' (%s: an OBJECT schema"
        .. " expected, e.g. gemini.schema.object{...}; got type %s)", where, out.name,
        tostring(p.type)))
    end
    decls[i] = out
  end
  return { functionDeclarations = array(decls) }
end

-- The function declarations of one tool (either spelling), or nil.
local function declarations(tool)
  if type(tool) ~= "table" then return nil end
  local decls = tool.functionDeclarations
  if decls == nil then decls = tool.function_declarations end
  return type(decls) == "table" and decls or nil
end

-- Whether a declaration carries a Lua handler.
local function has_handler(d)
  return type(d) == "table" and type(d.handler) == "function"
end

--- The Lua handlers of the function declarations in a tools list (a
-- declaration's `handler` field, however the tool was built or copied).
-- @tparam[opt] table tools a `config.tools` list
-- @treturn table|nil map name -> handler, or nil when no declaration has one
function M.handlers(tools)
  if tools == nil then return nil end
  if type(tools) ~= "table" then
    errors.misuse("bad argument #1 to 'tools.handlers' (table expected, got " .. typename(tools) .. ")")
  end
  local out
  for i = 1, #tools do
    local decls = declarations(tools[i]) or {}
    for j = 1, #decls do
      local d = decls[j]
      if has_handler(d) then
        out = out or {}
        out[d.name] = d.handler
      end
    end
  end
  return out
end

-- `t` copied (one level, its JSON marker kept) without key `drop`.
local function copy_without(t, drop)
  local c = {}
  for k, v in pairs(t) do
    if k ~= drop then c[k] = v end
  end
  return setmetatable(c, getmetatable(t))
end

-- One tool as sent: the tool itself when no declaration has a handler,
-- else a copy whose declarations have none. The caller's tables are not
-- changed.
local function sendable_tool(tool)
  local decls = declarations(tool)
  if not decls then return tool end
  local out
  for j = 1, #decls do
    if has_handler(decls[j]) then
      out = out or copy_without(decls, nil)
      out[j] = copy_without(decls[j], "handler")
    end
  end
  if not out then return tool end
  local t = copy_without(tool, "function_declarations")
  t.functionDeclarations = out
  return t
end

--- A `config.tools` list as it goes on the wire: the Lua `handler` of each
-- function declaration left out (the rest as given). The list itself when
-- there is nothing to leave out; never changes the caller's tables. Every
-- request body with tools is built through it.
-- @param tools a `config.tools` list (anything else is returned as it is,
-- for the encoder to judge)
function M.sendable(tools)
  if type(tools) ~= "table" then return tools end
  local out
  for i = 1, #tools do
    local t = sendable_tool(tools[i])
    if t ~= tools[i] then
      out = out or copy_without(tools, nil)
      out[i] = t
    end
  end
  return out or tools
end

local MODES = { AUTO = true, ANY = true, NONE = true, VALIDATED = true }

--- `config.tool_config`: how the model may call functions, and where
-- Maps/Search grounding should search from.
-- @tparam[opt] table opts `mode` ("AUTO" | "ANY" | "NONE" | "VALIDATED"),
-- `allowed_function_names` (only with ANY or VALIDATED),
-- `retrieval_config = { lat_lng = { latitude =, longitude = }, language_code = }`
-- @treturn table e.g. `{ functionCallingConfig = { mode = "ANY", allowedFunctionNames = {...} } }`
function M.tool_config(opts)
  local o = options("tool_config", opts, {
    mode = "string", allowedFunctionNames = "table", retrievalConfig = "table",
  }, 3)
  local cfg = object()
  local mode = o.mode and o.mode:upper()
  if mode and not MODES[mode] then
    errors.misuse(string.format("bad field 'mode' to 'tools.tool_config' (AUTO, ANY, NONE or VALIDATED"
      .. " expected, got %q)", o.mode))
  end
  local names = o.allowedFunctionNames
  if names then
    if mode ~= "ANY" and mode ~= "VALIDATED" then
      errors.misuse("bad field 'allowed_function_names' to 'tools.tool_config' (only with mode ANY or"
        .. " VALIDATED, got mode " .. tostring(o.mode) .. ")")
    end
    if #names == 0 or not is_list(names) then
      errors.misuse("bad field 'allowed_function_names' to 'tools.tool_config' (non-empty list of names"
        .. " expected)")
    end
    for i = 1, #names do
      local v = names[i]
      if type(v) ~= "string" or v == "" then
        errors.misuse(string.format("bad field 'allowed_function_names[%d]' to 'tools.tool_config'"
          .. " (function name expected, got %s)", i, type(v) == "string" and "an empty string"
          or typename(v)))
      end
    end
  end
  if mode then
    local fcc = { mode = mode }
    if names then
      local copy = {}
      for i = 1, #names do copy[i] = names[i] end
      fcc.allowedFunctionNames = array(copy)
    end
    cfg.functionCallingConfig = fcc
  end
  local rc = o.retrievalConfig
  if rc then
    local out = {}
    for k, v in pairs(rc) do
      local ck = camel(k)
      if ck == "latLng" then
        if type(v) ~= "table" or type(v.latitude) ~= "number" or type(v.longitude) ~= "number" then
          errors.misuse("bad field 'retrieval_config.lat_lng' to 'tools.tool_config' ({latitude = number,"
            .. " longitude = number} expected)")
        end
        out.latLng = { latitude = v.latitude, longitude = v.longitude }
      elseif ck == "languageCode" and type(v) == "string" then
        out.languageCode = v
      else
        errors.misuse(string.format("bad field 'retrieval_config.%s' to 'tools.tool_config' (lat_lng"
          .. " table or language_code string expected)", tostring(k)))
      end
    end
    cfg.retrievalConfig = object(out)
  end
  return cfg
end

return M
