--- `client.caches`: context caches (`cachedContents`): create, get, update
-- the expiration, delete, list. A cache is used in a generate call with
-- `config.cached_content = cache.name`. With the client's `loop`, each
-- method also takes a trailing callback, `cb(err, result)` (for `list`,
-- every cache in a list), and returns a handle at once (gemini.async).
-- @module gemini.caches
local async = require("gemini.async")
local errors = require("gemini.errors")
local json = require("gemini.json")
local request = require("gemini.request")

local Caches = {}
Caches.__index = Caches

--- Creates the service; `client.caches` is one.
function Caches.new(client)
  return setmetatable({ client = client }, Caches)
end

local function check_self(self, fname)
  if getmetatable(self) ~= Caches then
    error(string.format("bad self to '%s' (call it as client.caches:%s(...))", fname, fname), 3)
  end
end

--- `cachedContents/x` from `cachedContents/x`, `x` or a CachedContent
-- table; raises for anything else.
function Caches.normalize_name(v, fname)
  fname = fname or "?"
  if type(v) == "table" then v = v.name end
  if type(v) ~= "string" or v == "" then
    error(string.format("bad argument #1 to '%s' (cache name expected, got %s)",
      fname, v == "" and "empty string" or type(v)), 3)
  end
  local id = v:match("^cachedContents/(.*)$") or v
  if not id:match("^[%w][%w%-_%.]*$") or id:find("..", 1, true) then
    error(string.format("bad argument #1 to '%s' (invalid cache name %q)", fname, v), 3)
  end
  return "cachedContents/" .. id
end

-- A Duration string from seconds, or a string kept as given.
local function duration(v, fname)
  if type(v) == "number" then
    if v ~= v or v <= 0 or v == math.huge then
      error(string.format("bad field 'ttl' to '%s' (a positive number of seconds expected)", fname), 4)
    end
    if v == math.floor(v) then return string.format("%ds", v) end
    return (string.format("%.9f", v):gsub("0+$", "")) .. "s"
  end
  return v
end

-- An RFC 3339 timestamp from epoch seconds, or a string kept as given.
local function timestamp(v)
  if type(v) == "number" then
    return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(v))
  end
  return v
end

-- Reads the config's expiration: ttl (seconds or "300s") or expire_time
-- (epoch seconds or RFC 3339), at most one of them.
local function expiration(config, fname)
  local ttl = request.get(config, "ttl")
  local exp = request.get(config, "expireTime", "expire_time")
  errors.field(fname, "ttl", ttl, "number|string", true)
  errors.field(fname, "expire_time", exp, "number|string", true)
  if ttl ~= nil and exp ~= nil then
    error(string.format("bad argument #1 to '%s' (ttl and expire_time exclude each other)", fname), 3)
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
  local model = request.model(args.model, fname)
  local config = errors.field(fname, "config", args.config, "table", true) or {}
  for k in pairs(config) do
    if not CREATE_KEYS[request.camel(k)] then
      error(string.format("bad field 'config.%s' to 'create' (unknown; expected contents,"
        .. " system_instruction, tools, tool_config, ttl, expire_time, display_name,"
        .. " http_options)", tostring(k)), 2)
    end
  end
  local ttl, exp = expiration(config, fname)
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

--- One cache.
-- @tparam string|table name `cachedContents/x`, `x` or a CachedContent
-- @tparam[opt] function cb with the client's loop: `cb(err, cache)`, and a handle is returned at once
-- @return the CachedContent, or nil, `gemini.Error`
function Caches:get(name, cb)
  check_self(self, "get")
  if cb ~= nil then
    return async.call(self.client, "get", 2, cb, function(c) return c.caches:get(name) end)
  end
  return self.client:_call{ method = "GET", path = Caches.normalize_name(name, "get") }
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
  local name = Caches.normalize_name(args.name, "update")
  local config = errors.field("update", "config", args.config, "table")
  for k in pairs(config) do
    local ck = request.camel(k)
    if ck ~= "ttl" and ck ~= "expireTime" and ck ~= "httpOptions" then
      error(string.format("bad field 'config.%s' to 'update' (only ttl or expire_time can be"
        .. " updated; a cache's contents, model, tools and display name are fixed)", tostring(k)), 2)
    end
  end
  local ttl, exp = expiration(config, "update")
  if ttl == nil and exp == nil then
    error("bad field 'config' to 'update' (ttl or expire_time expected)", 2)
  end
  return self.client:_call{
    method = "PATCH", path = name, body = json.encode({ ttl = ttl, expireTime = exp }),
    http_options = request.get(config, "httpOptions", "http_options"),
  }
end

--- Deletes a cache.
-- @tparam string|table name as for `get`
-- @tparam[opt] function cb with the client's loop: `cb(err, true)`, and a handle is returned at once
-- @return true, or nil, `gemini.Error`
function Caches:delete(name, cb)
  check_self(self, "delete")
  if cb ~= nil then
    return async.call(self.client, "delete", 2, cb, function(c) return c.caches:delete(name) end)
  end
  local res, err = self.client:_call{ method = "DELETE", path = Caches.normalize_name(name, "delete") }
  if not res then return nil, err end
  return true
end

--- Iterates over every cache, page after page; raises the `gemini.Error`
-- when a page fails.
-- @tparam[opt] table opts `{page_size=, page_token=}`
-- @tparam[opt] function cb with the client's loop: `cb(err, caches)`, and a handle is returned at once
function Caches:list(opts, cb)
  check_self(self, "list")
  if type(opts) == "function" and cb == nil then opts, cb = nil, opts end
  if cb ~= nil then
    return async.list(self.client, "list", 2, cb, function(c) return c.caches:list(opts) end)
  end
  errors.arg("list", 1, opts, "table", true)
  return self.client:_pages("cachedContents", "cachedContents", opts)
end

return Caches
