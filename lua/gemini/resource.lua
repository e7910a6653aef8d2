--- Resources that live in a collection of the API (`files/abc`,
-- `cachedContents/xyz`, and the same way batches, operations, file search
-- stores and their documents): one rule for their names, and the service
-- every collection has, with `get`, `delete` and `list`.
--
--    local Files = resource.service{ collection = "files", field = "files",
--                                    noun = "file name", expected = "file name or File" }
--    function Files:upload(args) ... end      -- what only this service does
--
-- A collection is a path whose `*` segments stand for the ids of parents
-- (`fileSearchStores/*/documents`). A resource is named by its full name
-- (`files/abc`), by its bare id (`abc`, in a collection without parents),
-- by a URI that holds its name (`https://host/v1beta/files/abc`, as the
-- API's `uri` fields give it) or by the resource table itself (its `name`).
-- Each id is one segment of letters, digits, `-`, `_` and `.` (never `..`),
-- so that no name can reach another path, a query or another host.
--
-- With the client's `loop`, each method of the service also takes a
-- trailing callback, `cb(err, result)` (for `list`, every resource in a
-- list), and returns a handle at once (gemini.async).
-- @module gemini.resource
local async = require("gemini.async")
local errors = require("gemini.errors")

local M = {}

--- The ids the API gives: a letter or digit, then letters, digits, `-`, `_`, `.`.
M.ID = "^[%w][%w%-_%.]*$"

-- The segments of a path ("a/*/b" -> {"a", "*", "b"}).
local function segments(path)
  local out = {}
  for s in (path .. "/"):gmatch("([^/]*)/") do out[#out + 1] = s end
  return out
end

--- Whether `path` is one or more ids (see `ID`) joined by `/`: a name that
-- can be a request's path as it is, whatever its collection (a model, an
-- operation of any kind), since no `..`, escape, query, fragment or host
-- can be in it.
function M.is_path(path)
  if type(path) ~= "string" or path:find("..", 1, true) then return false end
  for _, s in ipairs(segments(path)) do
    if not s:find(M.ID) then return false end
  end
  return true
end

-- Whether `path` names a resource of the collection whose segments are
-- `want`: one more segment than the collection, each `*` and the last an
-- id matching `id`, the others as written.
local function is_name(path, want, id)
  if path:find("..", 1, true) then return false end
  local got = segments(path)
  if #got ~= #want + 1 then return false end
  for i = 1, #got do
    local w = want[i]
    if w == nil or w == "*" then
      if not got[i]:find(id) then return false end
    elseif got[i] ~= w then
      return false
    end
  end
  return true
end

--- The name normaliser of a collection: `normalize(v, fname)` gives the
-- full name of `v` (see the module's doc) or raises, naming `fname`'s
-- argument #1, at the caller of the function that called it.
-- @tparam table spec `{ collection = "files", noun = "file name",
--   expected = "file name or File" (what the message says is expected;
--   default: noun), id = pattern of one id (default `ID`) }`
-- @treturn function
function M.normalizer(spec)
  local want = segments(spec.collection)
  local first, id = want[1], spec.id or M.ID
  local uri = "^https?://[^?#]-/(" .. first .. "/[^?#]*)$"
  return function(v, fname)
    fname = fname or "?"
    if type(v) == "table" then v = v.name end
    if type(v) ~= "string" or v == "" then
      error(string.format("bad argument #1 to '%s' (%s expected, got %s)", fname,
        spec.expected or spec.noun, v == "" and "empty string" or type(v)), 3)
    end
    local path = v:match(uri) or v
    if #want == 1 and not path:find("/", 1, true) then path = first .. "/" .. path end
    if not is_name(path, want, id) then
      error(string.format("bad argument #1 to '%s' (invalid %s %q)", fname, spec.noun, v), 3)
    end
    return path
  end
end

--- A service class for a collection, with `new`, `normalize_name`,
-- `check_self`, `get`, `delete` and (without parents) `list`; the caller
-- adds the methods that only its collection has.
-- @tparam table spec as for `normalizer`, and `field`: the client's field
--   that holds the service (`client.files`), for messages and callbacks;
--   optional `list_field`: the list's field in each page of `list` (default
--   the collection: "files"), and `wrap`: `wrap(client, answer)` gives what
--   `get` and each item of `list` return (default the answer as decoded)
-- @treturn table the class
function M.service(spec)
  local Service = {}
  Service.__index = Service
  local field = spec.field
  local wrap = spec.wrap
  local name_of = M.normalizer(spec)
  local want = segments(spec.collection)

  --- Creates the service; `client[field]` is one.
  function Service.new(client)
    return setmetatable({ client = client }, Service)
  end

  --- The full name of a resource (see the module's doc); raises for
  -- anything else.
  Service.normalize_name = name_of

  --- Raises unless called on the service with a colon.
  function Service.check_self(self, fname)
    if getmetatable(self) ~= Service then
      error(string.format("bad self to '%s' (call it as client.%s:%s(...))", fname, field, fname), 3)
    end
  end

  -- A method on one resource: with `cb`, run on the client's loop (a
  -- handle at once); else the answer of `_call`, through `answer` when
  -- given. The methods call it in tail position, so that its errors name
  -- their caller.
  local function on_one(self, fname, method, name, cb, answer)
    Service.check_self(self, fname)
    if cb ~= nil then
      return async.call(self.client, fname, 2, cb, function(c)
        local service = c[field]
        return service[fname](service, name)
      end)
    end
    local res, err = self.client:_call{ method = method, path = name_of(name, fname) }
    if res and answer then res = answer(res) end
    return res, err
  end

  local function deleted() return true end

  --- One resource.
  -- @tparam string|table name its name, id, URI or table
  -- @tparam[opt] function cb with the client's loop: `cb(err, resource)`
  -- @return the resource, or nil, `gemini.Error`
  function Service:get(name, cb)
    return on_one(self, "get", "GET", name, cb, wrap and function(r) return wrap(self.client, r) end)
  end

  --- Deletes a resource.
  -- @tparam string|table name as for `get`
  -- @tparam[opt] function cb with the client's loop: `cb(err, true)`
  -- @return true, or nil, `gemini.Error`
  function Service:delete(name, cb)
    return on_one(self, "delete", "DELETE", name, cb, deleted)
  end

  --- Iterates over every resource, page after page; raises the
  -- `gemini.Error` when a page fails. (A collection with parents has none
  -- of its own: it lists the resources of one parent.)
  -- @tparam[opt] table opts `{page_size=, page_token=}`
  -- @tparam[opt] function cb with the client's loop: `cb(err, list)`, every resource in a list
  local function list(self, opts, cb)
    Service.check_self(self, "list")
    if type(opts) == "function" and cb == nil then opts, cb = nil, opts end
    if cb ~= nil then
      return async.list(self.client, "list", 2, cb, function(c) return c[field]:list(opts) end)
    end
    errors.arg("list", 1, opts, "table", true)
    local client = self.client
    return client:_pages(spec.collection, spec.list_field or spec.collection, opts,
      wrap and function(item) return wrap(client, item) end)
  end
  if #want == 1 then Service.list = list end

  return Service
end

return M
