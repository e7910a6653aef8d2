--- `client.file_search_stores`: managed retrieval. A file search store
-- holds documents, chunked and embedded by Google; a generate call with
-- the `gemini.tools.file_search{...}` tool answers from them, and the
-- chunks it used come back as grounding (`res.sources`, `res.cited_text`).
--
--    local store = client.file_search_stores:create{ config = { display_name = "manuals" } }
--    local op = client.file_search_stores:upload_to_file_search_store{
--      file_search_store_name = store.name, file = "manual.pdf",
--      config = { display_name = "manual", custom_metadata = { author = "R. Graves" } } }
--    op = client.operations:wait(op)           -- op.response.documentName
--    for d in client.file_search_stores.documents:list{ parent = store.name } do ... end
--
-- Stores (`fileSearchStores/x`) and their documents
-- (`fileSearchStores/x/documents/y`) are collections of gemini.resource:
-- `get`, `delete` and `list`, and the names they take, are those of every
-- collection; a document is named by its full name or URI (a bare id says
-- nothing of its store), and `documents:list` needs its `parent` store.
-- `delete` takes `{ force = true }`: without it the API refuses to delete
-- a store that holds documents, or a document that holds chunks
-- (400 FAILED_PRECONDITION, wire-format-2 §15.1, §15.4).
--
-- Putting a document into a store is a long-running operation: both
-- `upload_to_file_search_store` (the bytes, with the resumable protocol of
-- `files:upload`) and `import_file` (a file of the Files API) return the
-- operation (`fileSearchStores/x/upload/operations/y`,
-- `fileSearchStores/x/operations/y`, wire-format-2 §15.5), a plain table,
-- whose `response.documentName` names the document once it is `done`.
--
-- With the client's `loop`, each method also takes a trailing callback,
-- `cb(err, result)` (for `list`, every resource in a list), and returns a
-- handle at once (gemini.async).
-- @module gemini.file_search_stores
local async = require("gemini.async")
local defaults = require("gemini.defaults")
local errors = require("gemini.errors")
local json = require("gemini.json")
local parts = require("gemini.parts")
local request = require("gemini.request")
local resource = require("gemini.resource")
local upload = require("gemini.upload")

local STORE_NAME = { noun = "file search store name", expected = "file search store name or FileSearchStore" }

local Stores = resource.service{ collection = "fileSearchStores", field = "file_search_stores",
                                 noun = STORE_NAME.noun, expected = STORE_NAME.expected,
                                 delete_options = { force = "boolean" } }
local check_self = Stores.check_self

--- `client.file_search_stores.documents`: the documents of a store (get,
-- delete, list; see gemini.resource).
local Documents = resource.service{ collection = "fileSearchStores/*/documents",
                                    field = "file_search_stores.documents",
                                    noun = "document name", expected = "document name or Document",
                                    parent = STORE_NAME, delete_options = { force = "boolean" } }
Stores.Documents = Documents

local new = Stores.new
--- Creates the service (and its `documents`); `client.file_search_stores` is one.
-- @local
function Stores.new(client)
  local self = new(client)
  self.documents = Documents.new(client)
  return self
end

-- The checks below return nil, or the message of what is wrong; the
-- public methods raise it, so that it names their caller's line.

-- A key of `config` that is not one of `known` (camelCase names; either
-- spelling is taken): the message naming them all.
local function unknown_config(fname, config, known)
  local names = {}
  for _, k in ipairs(known) do names[k] = true end
  for k in pairs(config) do
    if not names[request.camel(k)] then
      local list = {}
      for i, n in ipairs(known) do list[i] = (n:gsub("%u", "_%0"):lower()) end
      return string.format("bad field 'config.%s' to '%s' (unknown; expected %s)", tostring(k),
        fname, table.concat(list, ", "))
    end
  end
end

-- One value of the map form of custom metadata as the API's
-- CustomMetadata, or nil and a message.
local function metadata_entry(fname, key, v)
  if type(v) == "string" then return { key = key, stringValue = v } end
  if type(v) == "number" then return { key = key, numericValue = v } end
  local ok = type(v) == "table" and #v > 0 and json.is_list(v)
  local values = setmetatable({}, json.array_mt)
  for i = 1, ok and #v or 0 do
    ok = type(v[i]) == "string"
    values[i] = v[i]
  end
  if not ok then
    return nil, string.format("bad field 'config.custom_metadata.%s' to '%s' (a string, a number or"
      .. " a list of strings expected, got %s)", key, fname,
      type(v) == "table" and "another table" or errors.typename(v))
  end
  return { key = key, stringListValue = { values = values } }
end

-- `customMetadata` (wire-format-2 §15.2): the API's list of
-- `{key=, string_value= | numeric_value= | string_list_value={values=}}`
-- (either spelling) as given, or a Lua map `{ author = "x", year = 1934,
-- tags = {"a", "b"} }` made into that list (by key, for a stable order).
-- Returns it (nil when absent), or nil and a message.
local function custom_metadata(fname, v)
  if v == nil then return nil end
  if type(v) ~= "table" then
    return nil, string.format("bad field 'config.custom_metadata' to '%s' (table expected, got %s)",
      fname, errors.typename(v))
  end
  if #v > 0 then
    for i = 1, #v do
      local e = v[i]
      if type(e) ~= "table" or type(e.key) ~= "string" then
        return nil, string.format("bad field 'config.custom_metadata[%d]' to '%s' ({key = string,"
          .. " and string_value, numeric_value or string_list_value} expected)", i, fname)
      end
    end
    return v
  end
  local keys = {}
  for k in pairs(v) do
    if type(k) ~= "string" then
      return nil, string.format("bad field 'config.custom_metadata' to '%s' (a list of"
        .. " CustomMetadata or a map with string keys expected)", fname)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local out = setmetatable({}, json.array_mt)
  for i, k in ipairs(keys) do
    local e, msg = metadata_entry(fname, k, v[k])
    if not e then return nil, msg end
    out[i] = e
  end
  return out
end

-- The config of a document (upload, import) into `body`: its
-- `known` keys, customMetadata and chunkingConfig; the body, or nil and
-- a message.
local function document_body(fname, config, known, body)
  local bad = unknown_config(fname, config, known)
  if bad then return nil, bad end
  local cm, msg = custom_metadata(fname, request.get(config, "customMetadata", "custom_metadata"))
  if msg then return nil, msg end
  local chunking = request.get(config, "chunkingConfig", "chunking_config")
  if chunking ~= nil and type(chunking) ~= "table" then
    return nil, string.format("bad field 'config.chunking_config' to '%s' (table expected, got %s)",
      fname, errors.typename(chunking))
  end
  body.customMetadata, body.chunkingConfig = cm, chunking
  return setmetatable(body, json.object_mt)
end

local CREATE_CONFIG = { "displayName", "embeddingModel", "httpOptions" }

--- Creates a store.
-- @tparam[opt] table args `{config={display_name=, embedding_model=
--   ("gemini-embedding-001" or "models/..."), http_options=}}`
-- @tparam[opt] function cb with the client's loop: `cb(err, store)`, and a handle is returned at once
-- @return the FileSearchStore (`name`, `displayName`, `createTime`,
--   `activeDocumentsCount`, ...; counts are int64 strings), or nil,
--   `gemini.Error`
function Stores:create(args, cb)
  check_self(self, "create")
  if type(args) == "function" and cb == nil then args, cb = nil, args end
  if cb ~= nil then
    return async.call(self.client, "create", 2, cb, function(c) return c.file_search_stores:create(args) end)
  end
  local fname = "create"
  errors.arg(fname, 1, args, "table", true)
  errors.known_fields(fname, args, { "config" })
  local config = errors.field(fname, "config", (args or {}).config, "table", true) or {}
  local bad = unknown_config(fname, config, CREATE_CONFIG)
  if bad then errors.misuse(bad) end
  local display = errors.field(fname, "config.display_name",
    request.get(config, "displayName", "display_name"), "string", true)
  local model = errors.field(fname, "config.embedding_model",
    request.get(config, "embeddingModel", "embedding_model"), "string", true)
  if model and not (model:find("^[%w][%w%-%._]*$") or model:find("^models/[%w][%w%-%._]*$")) then
    errors.misuse(string.format("bad field 'config.embedding_model' to '%s' (invalid model name %q)", fname,
      model))
  end
  -- the SDKs give the model its models/ prefix (t_model, wire-format-2 §15.1)
  if model and not model:find("/", 1, true) then model = "models/" .. model end
  return self.client:_call{
    method = "POST", path = "fileSearchStores",
    body = json.encode(setmetatable({ displayName = display, embeddingModel = model }, json.object_mt)),
    http_options = self.client:_http_options(config, fname),
  }
end

-- What a finished upload to a store answers: the operation itself, not
-- `{"file": ...}` (wire-format-2 §15.2).
local function operation_of(v)
  if not (json.is_object(v) and type(v.name) == "string") then
    return nil, "the finished upload's answer is no operation"
  end
  return v
end

local UPLOAD_CONFIG = { "displayName", "mimeType", "customMetadata", "chunkingConfig", "httpOptions" }

--- Uploads a file into a store with the resumable protocol of
-- `files:upload` (from a path, chunk by chunk, resumed after a failure).
-- @tparam table args `{file_search_store_name= (a store, its name or id),
--   file= (a path) | data= (the bytes), config={display_name=, mime_type=,
--   custom_metadata=, chunking_config=, http_options=}, on_progress=
--   function(done, total), chunk_size=}`. `custom_metadata` is the API's
--   list of `{key=, string_value= | numeric_value= | string_list_value=}`
--   or a map `{ author = "x", year = 1934, tags = {"a", "b"} }`;
--   `chunking_config` e.g. `{ white_space_config = { max_tokens_per_chunk
--   = 200, max_overlap_tokens = 20 } }`. The MIME type is guessed from the
--   file name (or `display_name`) unless `mime_type` is given; only a given
--   one goes into the metadata, as in the SDKs.
-- @tparam[opt] function cb with the client's loop: `cb(err, operation)`, and a handle is returned at once
-- @return the operation (`name`, `done`; once done, `response.documentName`
--   or `error`), or nil, `gemini.Error`
function Stores:upload_to_file_search_store(args, cb)
  check_self(self, "upload_to_file_search_store")
  local fname = "upload_to_file_search_store"
  if cb ~= nil then
    return async.call(self.client, fname, 2, cb,
      function(c) return c.file_search_stores:upload_to_file_search_store(args) end)
  end
  errors.arg(fname, 1, args, "table")
  errors.known_fields(fname, args, { "file_search_store_name", "file", "data", "config", "on_progress",
    "chunk_size" }, nil, true)
  local F = function(k, t) return errors.field(fname, k, args[k], t, true) end
  local store = Stores.normalize_name(args.file_search_store_name or args.fileSearchStoreName, fname,
    "field 'file_search_store_name'")
  local path, data = F("file", "string"), F("data", "string")
  local on_progress = F("on_progress", "function")
  local chunk = F("chunk_size", "number") or defaults.chunk_size
  local config = F("config", "table") or {}
  if (path == nil) == (data == nil) then
    errors.misuse("bad argument #1 to '" .. fname .. "' (exactly one of 'file' and 'data' expected)")
  end
  if chunk < 1 or chunk ~= math.floor(chunk) then
    errors.misuse("bad field 'chunk_size' to '" .. fname .. "' (a positive integer expected)")
  end
  local display = errors.field(fname, "config.display_name",
    request.get(config, "displayName", "display_name"), "string", true)
  local given = errors.field(fname, "config.mime_type",
    request.get(config, "mimeType", "mime_type"), "string", true)
  local mime = given or parts.guess_mime_type(path or display)
  if not mime then
    errors.misuse(string.format("bad argument #1 to '%s' (cannot guess the MIME type of %s; pass"
      .. " config.mime_type, e.g. mime_type = \"text/plain\")", fname,
      path and string.format("%q", path) or "data"))
  end
  local body, bad = document_body(fname, config, UPLOAD_CONFIG, { displayName = display, mimeType = given })
  if not body then errors.misuse(bad) end
  local ho = self.client:_http_options(config, fname)
  local total = path and upload.file_size(path, "file_search_stores:" .. fname) or #data
  local u, err = upload.start(self.client, {
    path = path, data = data, total = total, mime_type = mime, chunk_size = chunk,
    http_options = ho, on_progress = on_progress, result = operation_of,
    start = { path = store .. ":uploadToFileSearchStore",
              body = json.encode(body) },
  })
  if not u then return nil, err end
  return u:run()
end

local IMPORT_CONFIG = { "customMetadata", "chunkingConfig", "httpOptions" }

--- Imports a file of the Files API into a store (the file stays where it
-- is; the store gets a document made from it).
-- @tparam table args `{file_search_store_name= (a store, its name or id),
--   file_name= (a File, its name, id or URI), config={custom_metadata=,
--   chunking_config=, http_options=}}` (the config as for
--   `upload_to_file_search_store`)
-- @tparam[opt] function cb with the client's loop: `cb(err, operation)`, and a handle is returned at once
-- @return the operation (`name`, `done`; once done, `response.documentName`
--   or `error`), or nil, `gemini.Error`
function Stores:import_file(args, cb)
  check_self(self, "import_file")
  local fname = "import_file"
  if cb ~= nil then
    return async.call(self.client, fname, 2, cb, function(c) return c.file_search_stores:import_file(args) end)
  end
  errors.arg(fname, 1, args, "table")
  errors.known_fields(fname, args, { "file_search_store_name", "file_name", "config" }, nil, true)
  local store = Stores.normalize_name(args.file_search_store_name or args.fileSearchStoreName, fname,
    "field 'file_search_store_name'")
  local file = require("gemini.files").normalize_name(args.file_name or args.fileName, fname,
    "field 'file_name'")
  local config = errors.field(fname, "config", args.config, "table", true) or {}
  local body, bad = document_body(fname, config, IMPORT_CONFIG, { fileName = file })
  if not body then errors.misuse(bad) end
  return self.client:_call{
    method = "POST", path = store .. ":importFile", body = json.encode(body),
    http_options = self.client:_http_options(config, fname),
  }
end

return Stores
