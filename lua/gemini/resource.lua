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

--- The name normaliser of a collection: `normalize(v, fname, what)` gives
-- the full name of `v` (see the module's doc) or raises, naming `what` of
-- `fname` (default "argument #1"; e.g. "field 'parent'"), at the caller of
-- the function that called it.
-- @tparam table spec `{ collection = "files", noun = "file name",
--   expected = "file name or File" (what the message says is expected;
--   default: noun), id = pattern of one id (default `ID`) }`
-- @treturn function
function M.normalizer(spec)
  local want = segments(spec.collection)
  local first, id = want[1], spec.id or M.ID
  local uri = "^https?://[^?#]-/(" .. first .. "/[^?#]*)$"
  return function(v, fname, what)
    fname, what = fname or "?", what or "argument #1"
    if type(v) == "table" then v = v.name end
    if type(v) ~= "string" or v == "" then
      errors.misuse(string.format("bad %s to '%s' (%s expected, got %s)", what, fname,
        spec.expected or spec.noun, v == "" and "empty string" or type(v)))
    end
    local path = v:match(uri) or v
    -- A Vertex AI name ("projects/p/locations/l/cachedContents/x") is kept
    -- whole: its scope is checked as ids, the rest as any name.
    local p, l, rest = path:match("^projects/([^/]+)/locations/([^/]+)/(.*)$")
    local scope = p and p:find(M.ID) and l:find(M.ID) and "projects/" .. p .. "/locations/" .. l .. "/"
    if scope then path = rest end
    if #want == 1 and not path:find("/", 1, true) then path = first .. "/" .. path end
    if not is_name(path, want, id) then
      errors.misuse(string.format("bad %s to '%s' (invalid %s %q)", what, fname, spec.noun, v))
    end
    return (scope or "") .. path
  end
end

--- A service class for a collection, with `new`, `normalize_name`,
-- `check_self`, `get`, `delete` and `list`; the caller adds the methods
-- that only its collection has.
-- @tparam table spec as for `normalizer`, and:
--   `field`: where the client holds the service (`files`, or a path such
--   as `file_search_stores.documents`), for messages and callbacks;
--   `parent`: for a collection with parents, `{ noun =, expected = }` of
--   the parent's name, as for `normalizer` (`list` then lists the
--   resources of one parent, `list{ parent = ... }`);
--   `delete_options`: the options `delete` takes (name -> Lua type), each
--   sent as the query parameter of its name (`{ force = "boolean" }`)
--   `list_field`: the list's field in each page of `list` (default the
--   collection's last segment: "files"), and `wrap`: `wrap(client, answer)`
--   gives what `get` and each item of `list` return (default the answer as
--   decoded); `cancel = true`: the collection's resources have `:cancel`
--   (a `cancel` method)
-- @treturn table the class
function M.service(spec)
  local Service = {}
  Service.__index = Service
  local field = spec.field
  local wrap = spec.wrap
  local name_of = M.normalizer(spec)
  local want = segments(spec.collection)
  local last = want[#want]
  local parent_of = spec.parent and M.normalizer{
    collection = table.concat(want, "/", 1, #want - 2), id = spec.id,
    noun = spec.parent.noun, expected = spec.parent.expected,
  }
  local delete_options = spec.delete_options

  -- The service on a client (the client's twin, in a callback).
  local function service_of(client)
    local s = client
    for k in field:gmatch("[^.]+") do s = s[k] end
    return s
  end

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
      errors.misuse(string.format("bad self to '%s' (call it as client.%s:%s(...))", fname, field, fname))
    end
  end

  -- A method on one resource: with `cb`, run on the client's loop (a
  -- handle at once); else the answer of `_call`, through `answer` when
  -- given. `opts` (checked by the caller) are sent as the query; `verb`
  -- makes it a custom method (`POST {name}:{verb}` with `{}`). The methods
  -- call it in tail position, so that its errors name their caller.
  local function on_one(self, fname, method, name, opts, cb, answer, verb)
    Service.check_self(self, fname)
    if cb ~= nil then
      return async.call(self.client, fname, opts == nil and 2 or 3, cb, function(c)
        local service = service_of(c)
        return service[fname](service, name, opts)
      end)
    end
    local res, err = self.client:_call{ method = method, query = opts, body = verb and "{}" or nil,
                                        path = name_of(name, fname) .. (verb and ":" .. verb or "") }
    if res and answer then res = answer(res) end
    return res, err
  end

  local function deleted() return true end

  --- One resource.
  -- @tparam string|table name its name, id, URI or table
  -- @tparam[opt] function cb with the client's loop: `cb(err, resource)`
  -- @return the resource, or nil, `gemini.Error`
  function Service:get(name, cb)
    return on_one(self, "get", "GET", name, nil, cb, wrap and function(r) return wrap(self.client, r) end)
  end

  --- Deletes a resource.
  -- @tparam string|table name as for `get`
  -- @tparam[opt] table opts the collection's delete options, if it has
  --   any (file search stores and documents: `{ force = true }`)
  -- @tparam[opt] function cb with the client's loop: `cb(err, true)`
  -- @return true, or nil, `gemini.Error`
  function Service:delete(name, opts, cb)
    if type(opts) == "function" and cb == nil then opts, cb = nil, opts end
    if not delete_options then
      errors.arg("delete", 2, opts, "function", true)   -- no options here
    elseif errors.arg("delete", 2, opts, "table", true) then
      for k, v in pairs(opts) do
        local t = delete_options[k]
        if not t then
          local known = {}
          for n in pairs(delete_options) do known[#known + 1] = n end
          table.sort(known)
          errors.misuse(string.format("bad field '%s' to 'delete' (unknown option; known: %s)",
            tostring(k), table.concat(known, ", ")))
        end
        errors.field("delete", k, v, t)
      end
    end
    return on_one(self, "delete", "DELETE", name, opts, cb, deleted)
  end

  if spec.cancel then
    --- Asks the service to cancel a resource (`:cancel`, a job); `get`
    -- then shows it canceled.
    -- @tparam string|table name as for `get`
    -- @tparam[opt] function cb with the client's loop: `cb(err, true)`
    -- @return true, or nil, `gemini.Error`
    function Service:cancel(name, cb)
      return on_one(self, "cancel", "POST", name, nil, cb, deleted, "cancel")
    end
  end

  --- Iterates over every resource, page after page; raises the
  -- `gemini.Error` when a page fails. In a collection with parents, those
  -- of one parent: `opts.parent` (its name, id, URI or table) is required.
  -- @tparam[opt] table opts `{page_size=, page_token=, parent=}`
  -- @tparam[opt] function cb with the client's loop: `cb(err, list)`, every resource in a list
  function Service:list(opts, cb)
    Service.check_self(self, "list")
    if type(opts) == "function" and cb == nil then opts, cb = nil, opts end
    if cb ~= nil then
      return async.list(self.client, "list", 2, cb, function(c) return service_of(c):list(opts) end)
    end
    errors.arg("list", 1, opts, "table", parent_of == nil)
    local client = self.client
    local path = spec.collection
    if parent_of then path = parent_of(opts.parent, "list", "field 'parent'") .. "/" .. last end
    return client:_pages(path, spec.list_field or last, opts,
      wrap and function(item) return wrap(client, item) end)
  end

  return Service
end

return M
