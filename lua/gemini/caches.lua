--- `client.caches`: context caches (`cachedContents`): create, get, update
-- the expiration, delete, list. A cache is used in a generate call with
-- `config.cached_content = cache.name`. `get`, `delete` and `list`, and the
-- cache names they take (`cachedContents/x`, `x` or the CachedContent), are
-- those of every collection (gemini.resource). With the client's `loop`,
-- each method also takes a trailing callback, `cb(err, result)` (for
-- `list`, every cache in a list), and returns a handle at once
-- (gemini.async).
-- @module gemini.caches
local async = require("gemini.async")
local errors = require("gemini.errors")
local json = require("gemini.json")
local request = require("gemini.request")
local resource = require("gemini.resource")

local Caches = resource.service{ collection = "cachedContents", field = "caches",
                                 noun = "cache name" }
local check_self = Caches.check_self

-- A Duration string from seconds, or a string kept as given.
local function duration(v, fname)
  if type(v) == "number" then
    if v ~= v or v <= 0 or v == math.huge then
      errors.misuse(string.format("bad field 'ttl' to '%s' (a positive number of seconds expected)", fname))
    end
    if v == math.floor(v) then return string.format("%ds", v) end
    return (string.format("%.9f", v):gsub("0+$", "")) .. "s"
  end
  return v
end

local timestamp = request.timestamp

-- Reads the config's expiration: ttl (seconds or "300s") or expire_time
-- (epoch seconds or RFC 3339), at most one of them.
local function expiration(config, fname)
  local ttl = request.get(config, "ttl")
  local exp = request.get(config, "expireTime", "expire_time")
  errors.field(fname, "ttl", ttl, "number|string", true)
  errors.field(fname, "expire_time", exp, "number|string", true)
  if ttl ~= nil and exp ~= nil then
    errors.misuse(string.format("bad argument #1 to '%s' (ttl and expire_time exclude each other)", fname))
  end
  return duration(ttl, fname), timestamp(exp)
end

local CREATE_KEYS = {
  contents = true, systemInstruction = true, tools = true, toolConfig = true, ttl = true,
  expireTime = true, displayName = true, httpOptions = true,
}

--- Creates a cache.
-- @tparam table args `{model=, config={contents=, system_instruction=,
--   tools=, tool_config=, ttl= (seconds or "300s") | expire_time= (epoch
--   seconds or RFC 3339), display_name=, http_options=}}`
-- @tparam[opt] function cb with the client's loop: `cb(err, cache)`, and a handle is returned at once
-- @return the CachedContent (`name`, `expireTime`, `usageMetadata`, ...), or
--   nil, `gemini.Error`
function Caches:create(args, cb)
  check_self(self, "create")
  if cb ~= nil then
    return async.call(self.client, "create", 2, cb, function(c) return c.caches:create(args) end)
  end
  local fname = "create"
  errors.arg(fname, 1, args, "table")
  errors.known_fields(fname, args, { "model", "config" })
  local model = self.client:_model(args.model, fname)
  local config = errors.field(fname, "config", args.config, "table", true) or {}
  for k in pairs(config) do
    if not CREATE_KEYS[request.camel(k)] then
      errors.misuse(string.format("bad field 'config.%s' to 'create' (unknown; expected contents,"
        .. " system_instruction, tools, tool_config, ttl, expire_time, display_name,"
        .. " http_options)", tostring(k)))
    end
  end
  local ttl, exp = expiration(config, fname)
  -- Vertex AI takes a cache's model by its full name (t_caches_model): its project
  -- first (the metadata server's may be unknown yet).
  if self.client._vertex then
    local _, err = self.client:_vertex_project()
    if err then return nil, err end
    model = require("gemini.vertex").full_model(self.client._vertex, model)
  end
  local body = { model = model, ttl = ttl, expireTime = exp }
  local contents = request.get(config, "contents")
  if contents ~= nil then body.contents = request.contents(contents, fname) end
  local si = request.get(config, "systemInstruction", "system_instruction")
  if si ~= nil then body.systemInstruction = request.system_instruction(si) end
  body.tools = require("gemini.tools").sendable(request.get(config, "tools"))
  body.toolConfig = request.get(config, "toolConfig", "tool_config")
  body.displayName = errors.field(fname, "display_name",
    request.get(config, "displayName", "display_name"), "string", true)
  return self.client:_call{
    method = "POST", path = "cachedContents", body = json.encode(body, { root = "request" }),
    http_options = request.get(config, "httpOptions", "http_options"),
  }
end

--- Changes a cache's expiration, the one thing the API lets change.
-- @tparam table args `{name=, config={ttl= | expire_time=, http_options=}}`
-- @tparam[opt] function cb with the client's loop: `cb(err, cache)`, and a handle is returned at once
-- @return the updated CachedContent, or nil, `gemini.Error`
function Caches:update(args, cb)
  check_self(self, "update")
  if cb ~= nil then
    return async.call(self.client, "update", 2, cb, function(c) return c.caches:update(args) end)
  end
  errors.arg("update", 1, args, "table")
  errors.known_fields("update", args, { "name", "config" })
  local name = Caches.normalize_name(args.name, "update")
  local config = errors.field("update", "config", args.config, "table")
  for k in pairs(config) do
    local ck = request.camel(k)
    if ck ~= "ttl" and ck ~= "expireTime" and ck ~= "httpOptions" then
      errors.misuse(string.format("bad field 'config.%s' to 'update' (only ttl or expire_time can be"
        .. " updated; a cache's contents, model, tools and display name are fixed)", tostring(k)))
    end
  end
  local ttl, exp = expiration(config, "update")
  if ttl == nil and exp == nil then
    errors.misuse("bad field 'config' to 'update' (ttl or expire_time expected)")
  end
  return self.client:_call{
    method = "PATCH", path = name, body = json.encode({ ttl = ttl, expireTime = exp }),
    http_options = request.get(config, "httpOptions", "http_options"),
  }
end

return Caches
