--- `client.auth_tokens`: ephemeral tokens for the Live API.
--
-- A server that holds the API key mints a short-lived token and hands it
-- to a browser or a device, which connects to the Live API with it
-- (`gemini.Client{ api_key = token.name }`) and never sees the key:
--
--    local token, err = client.auth_tokens:create{ config = {
--      uses = 1, expire_time = os.time() + 60,
--      live_connect_constraints = { model = "gemini-2.5-flash-native-audio-latest",
--                                   config = { response_modalities = { "AUDIO" } } } } }
--    -- token.name == "auth_tokens/..."
--
-- The wire format is that of python-genai's `tokens.py` and
-- `_tokens_converters.py` (js-genai `src/tokens.ts`):
-- `POST v1alpha/auth_tokens` (always v1alpha, whatever the client's
-- `api_version`: the service exists only there) with a body of `uses`,
-- `expireTime`, `newSessionExpireTime`, `bidiGenerateContentSetup` (the
-- Live setup of the constraints: `model` and the config split as
-- `client.live:connect` sends it, see `request.live_setup`) and
-- `fieldMask`. The SDKs' locking rules:
--
-- * constraints and no `lock_additional_fields`: no field mask, the whole
--   setup is locked;
-- * constraints and `lock_additional_fields = {}`: the mask names the
--   fields the constraints set ("generationConfig.temperature",
--   "systemInstruction.parts", "model", ...): those are locked, the rest
--   is the token user's;
-- * constraints and a list of names: those fields as well, a field of the
--   generation config given by its bare name ("temperature" ->
--   "generationConfig.temperature");
-- * no constraints: the names, as given, joined.
--
-- Names are sent in camelCase (the JSON form of a FieldMask; the SDKs
-- pass them on as the caller spelt them).
-- @module gemini.auth_tokens
local async = require("gemini.async")
local errors = require("gemini.errors")
local json = require("gemini.json")
local request = require("gemini.request")

local AuthTokens = {}
AuthTokens.__index = AuthTokens

--- Creates the service; `client.auth_tokens` is one.
-- @local
function AuthTokens.new(client)
  return setmetatable({ client = client }, AuthTokens)
end

local function check_self(self, fname)
  if getmetatable(self) ~= AuthTokens then
    errors.misuse(string.format("bad self to '%s' (call it as client.auth_tokens:%s{...})", fname, fname))
  end
end

local FNAME = "create"
local CONFIG_FIELDS = { "uses", "expire_time", "new_session_expire_time", "live_connect_constraints",
                        "lock_additional_fields", "http_options" }

local function field(name, v, expected)
  return errors.field(FNAME, "config." .. name, v, expected, true)
end

-- Each of a path's dot-separated names in camelCase.
local function camel_path(name)
  return (name:gsub("[^.]+", request.camel))
end

-- The field mask of the fields a setup sets: a field holding an object
-- gives one path per key of it ("generationConfig.temperature"), any
-- other field its name (python-genai tokens.py `_get_field_masks`), in
-- sorted order.
local function setup_paths(setup)
  local paths = {}
  for k, v in pairs(setup) do
    if type(v) == "table" and next(v) ~= nil and not json.is_list(v) then
      for kk in pairs(v) do paths[#paths + 1] = k .. "." .. request.camel(kk) end
    else
      paths[#paths + 1] = k
    end
  end
  table.sort(paths)
  return paths
end

-- A name of `lock_additional_fields` as a path of the setup: a field of
-- the generation config by its bare name gets its "generationConfig."
-- (the SDKs' rule); a field of the setup itself, or a path, as it is.
local function lock_path(name)
  local path = camel_path(name)
  if path:find(".", 1, true) or path == "model" or path == "generationConfig"
    or request.LIVE_SETUP_FIELDS[path] then
    return path
  end
  return "generationConfig." .. path
end

-- The `fieldMask` of a setup (or nil) and `lock_additional_fields`, by the
-- rules in the module's comment; nil when none is sent.
local function field_mask(setup, lock)
  local paths = {}
  if setup then
    if lock == nil then return nil end
    paths = setup_paths(setup)
    for _, name in ipairs(lock) do paths[#paths + 1] = lock_path(name) end
  elseif lock then
    for i, name in ipairs(lock) do paths[i] = camel_path(name) end
  end
  return #paths > 0 and table.concat(paths, ",") or nil
end

-- The Live setup of `live_connect_constraints`, or nil when they set nothing.
local function constraints_setup(lc)
  if lc == nil then return nil end
  errors.known_fields(FNAME, lc, { "model", "config" }, "config.live_connect_constraints")
  field("live_connect_constraints.model", lc.model, "string")
  field("live_connect_constraints.config", lc.config, "table")
  local setup = request.live_setup(lc.model, lc.config, FNAME)
  if next(setup) == nil then return nil end
  return setup
end

--- The request body of `create` from its config, checked.
local function body_of(config)
  errors.known_fields(FNAME, config, CONFIG_FIELDS, "config", true)
  local get = function(name) return request.get(config, request.camel(name), name) end
  local uses = field("uses", get("uses"), "number")
  if uses ~= nil and not (uses >= 0 and uses == math.floor(uses) and uses < 2 ^ 31) then
    errors.misuse(string.format("bad field 'config.uses' to '%s' (an integer >= 0 expected, got %s)", FNAME,
      tostring(uses)))
  end
  local lock = field("lock_additional_fields", get("lock_additional_fields"), "table")
  for i, name in ipairs(lock or {}) do
    field("lock_additional_fields[" .. i .. "]", name, "string")
  end
  local setup = constraints_setup(field("live_connect_constraints", get("live_connect_constraints"), "table"))
  return {
    uses = uses,
    expireTime = request.timestamp(field("expire_time", get("expire_time"), "number|string")),
    newSessionExpireTime = request.timestamp(field("new_session_expire_time", get("new_session_expire_time"),
      "number|string")),
    bidiGenerateContentSetup = setup,
    fieldMask = field_mask(setup, lock),
  }
end

--- Creates an ephemeral token.
-- @tparam table args `{config = {uses=, expire_time=, new_session_expire_time=,
--   live_connect_constraints = {model=, config={...}}, lock_additional_fields = {...},
--   http_options=}}`; the times are RFC 3339 strings or epoch seconds;
--   `config` (a Live config, as `client.live:connect` takes it) may be
--   spelt either way
-- @tparam[opt] function cb with the client's loop: `cb(err, token)`, and a handle is returned at once
-- @return the AuthToken (`token.name` = "auth_tokens/..."), or nil, `gemini.Error`
function AuthTokens:create(args, cb)
  check_self(self, FNAME)
  if cb ~= nil then
    return async.call(self.client, FNAME, 2, cb, function(c) return c.auth_tokens:create(args) end)
  end
  errors.arg(FNAME, 1, args, "table")
  errors.known_fields(FNAME, args, { "config" })
  local config = errors.field(FNAME, "config", args.config, "table", true) or {}
  local body = body_of(config)
  return self.client:_call{
    path = "v1alpha/auth_tokens", raw_path = true, body = json.encode(body, { root = "request" }),
    http_options = self.client:_http_options(config, FNAME),
  }
end

return AuthTokens
