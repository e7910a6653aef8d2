--- Turning the SDK-style arguments into REST request bodies.
-- Only the shape is changed here (contents shorthand, the flat config split
-- into top-level fields and `generationConfig`); key spelling (snake_case ->
-- camelCase, user data kept) is the encoder's job, in src/json.c.
-- @module gemini.request
local core = require("gemini.core")
local resource = require("gemini.resource")
local errors = require("gemini.errors")
local typename = errors.typename

local M = {}

-- Both spellings of a key: "max_output_tokens" and "maxOutputTokens" mean
-- the same field, so lookups go through the camelCase form: the encoder's
-- own converter (core.camel), so a key is looked up here under the name it
-- is sent as. Non-strings are returned as they are.
local camel_cache = setmetatable({}, { __mode = "k" })
local core_camel = core.camel
local function camel(k)
  if type(k) ~= "string" or not k:find("_", 2, true) then return k end
  local c = camel_cache[k]
  if not c then
    c = core_camel(k)
    camel_cache[k] = c
  end
  return c
end
M.camel = camel

--- Reads field `name` (camelCase) of `t` under either spelling.
local function get(t, name, snake)
  local v = t[name]
  if v == nil and snake then v = t[snake] end
  return v
end
M.get = get

--- `models/x` for a bare model id; a name with a `/` is used as given.
-- A name must be ids joined by `/` (`resource.is_path`), so the request
-- path is exactly `/{version}/{name}:{method}`.
function M.model(name, fname)
  if type(name) ~= "string" or name == "" then
    errors.misuse(string.format("bad field 'model' to '%s' (string expected, got %s)",
      fname or "?", name == "" and "empty string" or type(name)))
  end
  if not resource.is_path(name) then
    errors.misuse(string.format("bad field 'model' to '%s' (invalid model name %q)", fname or "?", name))
  end
  if name:find("/", 1, true) then return name end
  return "models/" .. name
end

-- Part data members, under both spellings.
local PART_KEYS = {
  "text", "inlineData", "inline_data", "fileData", "file_data", "functionCall", "function_call",
  "functionResponse", "function_response", "executableCode", "executable_code",
  "codeExecutionResult", "code_execution_result", "thought", "thoughtSignature",
  "thought_signature",
}

local function is_part(t)
  for i = 1, #PART_KEYS do
    if t[PART_KEYS[i]] ~= nil then return true end
  end
  return false
end

-- A File resource (from client.files) used directly as a part.
local function is_file(t)
  return type(t.uri) == "string" and type(t.name) == "string"
    and t.name:sub(1, 6) == "files/" and (t.mimeType or t.mime_type) ~= nil
end

local function is_content(t)
  return t.parts ~= nil or t.role ~= nil
end

local function has_call(part)
  return part.functionCall ~= nil or part.function_call ~= nil
end

--- One part from a string, a part table or a File.
function M.part(v, where)
  local t = type(v)
  if t == "string" then return { text = v } end
  if t == "table" then
    if is_file(v) then
      return { fileData = { fileUri = v.uri, mimeType = v.mimeType or v.mime_type } }
    end
    if is_part(v) then return v end
  end
  errors.misuse(string.format("bad %s (a string, a part or a file expected, got %s)", where, t))
end

-- Parts of a content: kept as they are unless one needs rewriting (a
-- string or a File), so a long history is not copied.
local function parts_of(list, where)
  if type(list) == "string" then return { { text = list } } end
  if type(list) ~= "table" then
    errors.misuse(string.format("bad %s.parts (list expected, got %s)", where, type(list)))
  end
  if is_part(list) or is_file(list) then return { M.part(list, where) } end
  local out
  for i = 1, #list do
    local p = list[i]
    local np = M.part(p, where .. ".parts[" .. i .. "]")
    if np ~= p and not out then
      out = {}
      for j = 1, i - 1 do out[j] = list[j] end
    end
    if out then out[i] = np end
  end
  return out or list
end

local function content(c, where)
  local parts = parts_of(c.parts or {}, where)
  if parts == c.parts then return c end
  local nc = {}
  for k, v in pairs(c) do nc[k] = v end
  nc.parts = parts
  return nc
end

--- The SDK's contents normalisation: a string, a part, a list of strings and
-- parts (grouped into one content; role "model" if any is a function call),
-- one content, or a list of contents. `field` is the caller's name for
-- them in errors ("contents" unless given: a Live session's "turns").
function M.contents(v, fname, field)
  local where = field or "contents"
  local t = type(v)
  if t == "string" then
    return { { role = "user", parts = { { text = v } } } }
  end
  if t ~= "table" then
    errors.misuse(string.format("bad field '%s' to '%s' (string or table expected, got %s)",
      where, fname or "?", typename(v)))
  end
  if is_content(v) then return { content(v, where) } end
  if is_part(v) or is_file(v) then
    return { { role = "user", parts = { M.part(v, where) } } }
  end
  if #v == 0 then
    errors.misuse(string.format("bad field '%s' to '%s' (empty)", where, fname or "?"))
  end
  local out, pending, model_role = {}, nil, false
  local function flush()
    if pending then
      out[#out + 1] = { role = model_role and "model" or "user", parts = pending }
      pending, model_role = nil, false
    end
  end
  for i = 1, #v do
    local item = v[i]
    if type(item) == "table" and is_content(item) then
      flush()
      out[#out + 1] = content(item, where .. "[" .. i .. "]")
    else
      local p = M.part(item, where .. "[" .. i .. "]")
      pending = pending or {}
      pending[#pending + 1] = p
      model_role = model_role or has_call(p)
    end
  end
  flush()
  return out
end

--- A system instruction from a string, parts or a content.
function M.system_instruction(v)
  if type(v) == "string" then return { parts = { { text = v } } } end
  if type(v) == "table" then
    if is_content(v) then return content(v, "system_instruction") end
    return { parts = parts_of(v, "system_instruction") }
  end
  errors.misuse("bad config.system_instruction (string or table expected, got " .. type(v) .. ")")
end

-- Flat-config keys that go to the top level of the request (camelCase).
local TOP_LEVEL = {
  systemInstruction = true, safetySettings = true, tools = true, toolConfig = true,
  cachedContent = true, serviceTier = true, labels = true,
}
-- SDK-only keys, never sent.
local LOCAL_ONLY = {
  httpOptions = true, automaticFunctionCalling = true, shouldReturnHttpResponse = true,
  checkThinking = true,
}

-- A record of where each field (camelCase name) was given, for one
-- call's arguments: `note(ck, where)` remembers it, and a field given again
-- is a clash; `check()` then raises the first clash in sorted order (found
-- in pairs' order, which of several is named must not change from run to
-- run, nor the order of the two places in it). `quote` writes a place.
-- Returns seen (ck -> where), note, check.
local function field_record(fname, quote)
  local seen, clashes = {}, {}
  local function note(ck, where)
    local before = seen[ck]
    if before then
      local a, b = before, where
      if b < a then a, b = b, a end
      clashes[#clashes + 1] = string.format("bad field '%s' to '%s' (given twice: as %s and as %s)",
        ck, fname, quote(a), quote(b))
    end
    seen[ck] = where
  end
  local function check()
    if #clashes > 0 then
      table.sort(clashes)
      errors.misuse(clashes[1])
    end
  end
  return seen, note, check
end

local function as_is(s) return s end
local function quoted(s) return "'" .. s .. "'" end

--- Splits the SDK's flat config into request fields: returns a table of
-- top-level fields (camelCase names) with `generationConfig` among them.
-- A field given twice (under both spellings, or both flat and inside
-- `generationConfig`) raises: which one wins would be left to chance.
-- @tparam[opt] table top the set of top-level fields (camelCase; default:
--   those of a generate request)
function M.split_config(config, fname, top)
  fname = fname or "?"
  top = top or TOP_LEVEL
  local body, gen = {}, nil
  if config == nil then return body end
  if type(config) ~= "table" then
    errors.misuse(string.format("bad field 'config' to '%s' (table expected, got %s)", fname, type(config)))
  end
  local _, once, check_once = field_record(fname, as_is)
  for k, v in pairs(config) do
    local ck = camel(k)
    once(ck, "config." .. tostring(k))
    if top[ck] then
      body[ck] = v
    elseif ck == "generationConfig" then
      if type(v) ~= "table" then
        errors.misuse(string.format("bad field 'generationConfig' to '%s' (table expected, got %s)",
          fname, type(v)))
      end
      gen = gen or {}
      for gk, gv in pairs(v) do
        once(camel(gk), tostring(k) .. "." .. tostring(gk))
        gen[gk] = gv
      end
    elseif not LOCAL_ONLY[ck] then
      gen = gen or {}
      gen[k] = v
    end
  end
  check_once()
  if body.systemInstruction ~= nil then
    body.systemInstruction = M.system_instruction(body.systemInstruction)
  end
  -- Function declarations carry their Lua handlers, which stay here.
  body.tools = require("gemini.tools").sendable(body.tools)
  local cc = body.cachedContent
  if type(cc) == "string" and not cc:find("/", 1, true) then
    body.cachedContent = "cachedContents/" .. cc
  end
  body.generationConfig = gen
  return body
end

-- The fields of a Live API config (LiveConnectConfig) that are fields of
-- the `setup` message itself; the others (response_modalities,
-- temperature, speech_config, ...) go to its `generationConfig`, as for a
-- generate request. From python-genai's _live_converters.py /
-- _tokens_converters.py (_LiveConnectConfig_to_mldev).
local LIVE_SETUP_FIELDS = {
  systemInstruction = true, tools = true, sessionResumption = true, inputAudioTranscription = true,
  outputAudioTranscription = true, realtimeInputConfig = true, contextWindowCompression = true,
  proactivity = true, historyConfig = true, avatarConfig = true, safetySettings = true,
}
M.LIVE_SETUP_FIELDS = LIVE_SETUP_FIELDS

--- The Live API's setup (BidiGenerateContentSetup, camelCase, without the
-- `{setup = ...}` envelope) of a model and a flat Live config, split by
-- the rules of `split_config`: `model` ("models/..."), `generationConfig`,
-- `systemInstruction`, `tools` (without Lua handlers), ...
-- @tparam[opt] string model (an ephemeral token's constraints may leave it out)
-- @tparam[opt] table config
-- @tparam string fname the call, for messages
function M.live_setup(model, config, fname)
  local setup = M.split_config(config, fname, LIVE_SETUP_FIELDS)
  if model ~= nil then setup.model = M.model(model, fname) end
  return setup
end

--- An RFC 3339 timestamp (UTC) from epoch seconds; a string is kept as given.
function M.timestamp(v)
  if type(v) == "number" then
    return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(v))
  end
  return v
end

-- ---- the top-level keys of a request ----------------------------------------

-- REST request fields that a generate call also takes at the top level,
-- next to `config`, as a REST body has them (a curl body pasted into Lua).
local REST_FIELDS = { "generationConfig", "systemInstruction", "safetySettings", "tools",
                      "toolConfig", "cachedContent", "serviceTier", "labels" }

-- The top-level keys each kind of request knows, in the order error
-- messages list them (camelCase; the snake_case spelling is as good). Any
-- other key raises: a misspelt `confg` would otherwise be dropped silently.
local REQUEST_KEYS = {
  generate = { "model", "contents", "config" },    -- and REST_FIELDS
  embed = { "model", "contents", "config" },
  chat = { "model", "config", "history" },
}
for _, k in ipairs(REST_FIELDS) do table.insert(REQUEST_KEYS.generate, k) end

local function set_of(list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end
local IS_REST_FIELD = set_of(REST_FIELDS)
local KNOWN = {}
for kind, list in pairs(REQUEST_KEYS) do KNOWN[kind] = set_of(list) end

--- Checks the top-level keys of a request table: raises, naming the key,
-- for one that `kind` ("generate", "embed" or "chat") does not know, or
-- for a field given under both spellings. Returns a map camelCase name ->
-- the key as written.
function M.check_keys(req, kind, fname)
  local seen, note, check = field_record(fname, quoted)
  for k in pairs(req) do
    local ck = camel(k)
    if not KNOWN[kind][ck] then
      local hint = ck == "httpOptions" and "per-call options go in config.http_options"
        or "known: " .. table.concat(REQUEST_KEYS[kind], ", ")
      errors.misuse(string.format("bad field '%s' to '%s' (unknown field; %s)", tostring(k), fname, hint))
    end
    note(ck, k)
  end
  check()
  return seen
end

--- The flat config of a generate request: `req.config`, with the REST
-- fields given at the top level of `req` merged in (a new table; the
-- caller's are not changed). Raises for an unknown top-level key and for a
-- field given both at the top level and in `config`.
function M.generate_config(req, fname)
  local keys = M.check_keys(req, "generate", fname)
  local config = req.config
  if config ~= nil and type(config) ~= "table" then
    errors.misuse(string.format("bad field 'config' to '%s' (table expected, got %s)", fname, type(config)))
  end
  local merged, in_config
  for ck, k in pairs(keys) do
    if IS_REST_FIELD[ck] then
      if not merged then
        merged, in_config = {}, {}
        for k2, v in pairs(config or {}) do
          merged[k2] = v
          in_config[camel(k2)] = k2
        end
      end
      if in_config[ck] then
        errors.misuse(string.format("bad field '%s' to '%s' (given both at the top level and in config as '%s')",
          tostring(k), fname, tostring(in_config[ck])))
      end
      merged[k] = req[k]
    end
  end
  return merged or config
end

--- Whether the answer is expected as JSON (so `res.parsed` decodes it).
function M.json_mode(config)
  if type(config) ~= "table" then return false end
  local gen = get(config, "generationConfig", "generation_config") or config
  local mime = get(config, "responseMimeType", "response_mime_type")
    or get(gen, "responseMimeType", "response_mime_type")
  return mime == "application/json"
    or get(config, "responseSchema", "response_schema") ~= nil
    or get(config, "responseJsonSchema", "response_json_schema") ~= nil
end

return M
