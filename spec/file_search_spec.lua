-- client.file_search_stores and its documents against the mock server,
-- through the real HTTP stack: stores (create, get, list with pages,
-- delete with force), uploads into a store (the resumable protocol, the
-- answer an operation), imports of files, the documents an operation makes,
-- the fileSearch tool and the retrieved chunks in a grounded answer; the
-- same on a luv loop and inside nginx.
local gemini = require("gemini")
local cjson = require("cjson")
local mock = require("support.mock")

local KEY = "file-search-spec-key"
local K = 1024
local MODEL = "gemini-2.5-flash"

local T1 = "The lighthouse keeper logged 14 storms in 1934. His cat slept through all of them."
local T2 = "Café Odeon serves coffee at 5 €. It opened in 1911."

describe("client.file_search_stores", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client, fss, tmpfiles

  setup(function()
    client = m:client{ retry = { attempts = 5, initial_delay = 0.01, max_delay = 0.05, jitter = 0 } }
    fss = client.file_search_stores
    tmpfiles = {}
  end)

  teardown(function()
    for _, p in ipairs(tmpfiles) do os.remove(p) end
  end)

  local function tmpfile(ext, data)
    local path = os.tmpname() .. ext
    tmpfiles[#tmpfiles + 1] = path
    mock.write_file(path, data)
    return path
  end

  -- Waits for an operation to be done (client.operations:wait, polling
  -- every 10 ms).
  local function wait(op)
    return assert(client.operations:wait(op, { interval = 0.01, max_interval = 0.01 }))
  end

  -- The requests logged from now on: `local sent = since()` ... `log()`.
  -- (m:reset() would also clear the mock's stores.)
  local function since()
    local n = #m:log()
    return function()
      local all, out = m:log(), {}
      for i = n + 1, #all do out[#out + 1] = all[i] end
      return out
    end
  end

  local function store(name)
    return assert(fss:create{ config = { display_name = name or "manuals" } })
  end

  -- A store with two documents, both done (ACTIVE).
  local function two_documents()
    local s = store()
    local op1 = assert(fss:upload_to_file_search_store{ file_search_store_name = s.name, data = T1,
      config = { display_name = "log.txt", custom_metadata = { author = "Graves", year = 1934 } } })
    local op2 = assert(fss:upload_to_file_search_store{ file_search_store_name = s.name, data = T2,
      config = { display_name = "cafe.md", custom_metadata = { author = "Odeon" } } })
    return s, wait(op1), wait(op2)
  end

  describe("stores", function()
    it("create sends the display name and the embedding model, models/ added", function()
      local s = assert(fss:create{ config = { display_name = "manuals", embedding_model = "gemini-embedding-001" } })
      assert.matches("^fileSearchStores/manuals%-[%w]+$", s.name)
      assert.equal("manuals", s.displayName)
      assert.equal("0", s.activeDocumentsCount)
      local e = m:last()
      assert.equal("POST", e.method)
      assert.equal("/v1beta/fileSearchStores", e.path)
      assert.same({ displayName = "manuals", embeddingModel = "models/gemini-embedding-001" }, e.json)
      -- without any config: an empty object
      assert(fss:create())
      assert.equal("{}", m:last().body)
      assert(fss:create{ config = { displayName = "camel", embeddingModel = "models/gemini-embedding-2" } })
      assert.same({ displayName = "camel", embeddingModel = "models/gemini-embedding-2" }, m:last().json)
    end)

    it("create raises for programmer errors, before any request", function()
      assert.has_error(function() fss:create("manuals") end,
        "bad argument #1 to 'create' (table expected, got string)")
      assert.has_error(function() fss:create{ config = { name = "x" } } end,
        "bad field 'config.name' to 'create' (unknown; expected display_name, embedding_model, http_options)")
      assert.has_error(function() fss:create{ config = { display_name = 1 } } end,
        "bad field 'config.display_name' to 'create' (string expected, got number)")
      assert.has_error(function() fss:create{ config = { embedding_model = "../x" } } end,
        "bad field 'config.embedding_model' to 'create' (invalid model name \"../x\")")
      assert.has_error(function() fss.create({}, {}) end,
        "bad self to 'create' (call it as client.file_search_stores:create(...))")
      assert.equal(0, #m:log())
    end)

    it("get takes a name, an id, a URI or the store", function()
      local s = store()
      local id = s.name:match("/(.*)$")
      for _, name in ipairs({ s.name, id, m.url .. "/v1beta/" .. s.name, s }) do
        local got = assert(fss:get(name))
        assert.equal(s.name, got.name)
        assert.equal("/v1beta/" .. s.name, m:last().path)
      end
      local none, err = fss:get("fileSearchStores/nothing-here")
      assert.is_nil(none)
      assert.equal("api", err.kind)
      assert.equal(404, err.code)
      assert.equal("NOT_FOUND", err.status)
      assert.has_error(function() fss:get("fileSearchStores/a/b") end,
        "bad argument #1 to 'get' (invalid file search store name \"fileSearchStores/a/b\")")
    end)

    it("list walks every page", function()
      local names = {}
      for i = 1, 5 do names[i] = store("s" .. i).name end
      local sent = since()
      local got = {}
      for s in fss:list{ page_size = 2 } do got[#got + 1] = s.name end
      assert.same(names, got)
      local log = sent()
      assert.equal(3, #log)
      assert.equal("/v1beta/fileSearchStores", log[1].path)
      assert.same({ pageSize = "2" }, log[1].query)
      assert.same({ pageSize = "2", pageToken = "mockpage-2" }, log[2].query)
    end)

    it("delete refuses a store with documents without force, as the API does", function()
      local s = two_documents()
      local ok, err = fss:delete(s.name)
      assert.is_nil(ok)
      assert.equal("api", err.kind)
      assert.equal(400, err.code)
      assert.equal("FAILED_PRECONDITION", err.status)
      assert.equal("Cannot delete non-empty FileSearchStore", err.message)
      assert.same({}, m:last().query)
      assert.is_true(fss:delete(s, { force = true }))
      local e = m:last()
      assert.equal("DELETE", e.method)
      assert.equal("/v1beta/" .. s.name, e.path)
      assert.same({ force = "true" }, e.query)
      assert.is_nil((fss:get(s)))
      -- an empty store goes without force
      assert.is_true(fss:delete(store(), {}))
    end)

    it("delete raises for options it does not know", function()
      assert.has_error(function() fss:delete("fileSearchStores/x", { forced = true }) end,
        "bad field 'forced' to 'delete' (unknown option; known: force)")
      assert.has_error(function() fss:delete("fileSearchStores/x", { force = "yes" }) end,
        "bad field 'force' to 'delete' (boolean expected, got string)")
      assert.has_error(function() fss:delete("fileSearchStores/x", "force") end,
        "bad argument #2 to 'delete' (table expected, got string)")
      -- a collection without delete options still wants a callback there
      assert.has_error(function() client.files:delete("files/x", { force = true }) end,
        "bad argument #2 to 'delete' (function expected, got table)")
      assert.equal(0, #m:log())
    end)
  end)

  describe("upload_to_file_search_store", function()
    it("starts with the flat metadata and answers with the operation", function()
      local s = store()
      local sent = since()
      local op, err = fss:upload_to_file_search_store{ file_search_store_name = s.name, data = T1,
        config = { display_name = "log", mime_type = "text/plain",
                   custom_metadata = { author = "Graves", year = 1934, tags = { "sea", "storm" } },
                   chunking_config = { white_space_config = { max_tokens_per_chunk = 200, max_overlap_tokens = 20 } } } }
      assert.is_nil(err)
      assert.matches("^" .. s.name:gsub("%-", "%%-") .. "/upload/operations/log%-%w+$", op.name)
      assert.is_nil(op.done)
      local log = sent()
      assert.equal(2, #log)
      local start, chunk = log[1], log[2]
      assert.equal("POST", start.method)
      assert.equal("/upload/v1beta/" .. s.name .. ":uploadToFileSearchStore", start.path)
      local h = start.headers
      assert.equal("resumable", h["x-goog-upload-protocol"])
      assert.equal("start", h["x-goog-upload-command"])
      assert.equal(tostring(#T1), h["x-goog-upload-header-content-length"])
      assert.equal("text/plain", h["x-goog-upload-header-content-type"])
      assert.equal(KEY, h["x-goog-api-key"])
      -- flat: no "file" wrapper (wire-format-2 §15.2); custom metadata by key
      assert.same({ displayName = "log", mimeType = "text/plain",
        customMetadata = {
          { key = "author", stringValue = "Graves" },
          { key = "tags", stringListValue = { values = { "sea", "storm" } } },
          { key = "year", numericValue = 1934 } },
        chunkingConfig = { whiteSpaceConfig = { maxTokensPerChunk = 200, maxOverlapTokens = 20 } } }, start.json)
      assert.equal("/upload/v1beta/" .. s.name .. ":uploadToFileSearchStore", chunk.path)
      assert.equal("upload, finalize", chunk.headers["x-goog-upload-command"])
      assert.equal(T1, chunk.body)
      -- the document is there, pending until its operation is done
      local docs = {}
      for d in fss.documents:list{ parent = s } do docs[#docs + 1] = d end
      assert.equal(1, #docs)
      assert.equal("STATE_PENDING", docs[1].state)
      assert.equal(op.name:gsub("/upload/operations/", "/documents/"), docs[1].name)
    end)

    it("from a path: the file name goes along, the type guessed; a guessed type stays out of the body", function()
      local s = store()
      local path = tmpfile(".md", "# Notes\n\nThe cat is called Lua.\n")
      local sent = since()
      local op = assert(fss:upload_to_file_search_store{ file_search_store_name = s.name:match("/(.*)$"),
        file = path })
      assert.matches("^fileSearchStores/", op.name)
      local start = sent()[1]
      assert.equal(path:match("[^/]+$"), start.headers["x-goog-upload-file-name"])
      assert.equal("text/markdown", start.headers["x-goog-upload-header-content-type"])
      assert.equal("{}", start.body)
      local done = wait(op)
      assert.equal("text/markdown", done.response.mimeType)
      assert.equal(tostring(#"# Notes\n\nThe cat is called Lua.\n"), done.response.sizeBytes)
    end)

    it("sends a large file in chunks and resumes after a dropped chunk", function()
      local s = store()
      local data = string.rep("0123456789abcdef", 40 * K)      -- 640 KiB
      local sent = since()
      -- cut twice: libcurl's own re-send is cut too, so the client sees it
      m:faults{ { type = "upload_cut", offset = 256 * K, bytes = 1000, times = 2 } }
      local seen = {}
      local op, err = fss:upload_to_file_search_store{ file_search_store_name = s.name, data = data,
        config = { mime_type = "text/plain" }, chunk_size = 256 * K,
        on_progress = function(done, total) seen[#seen + 1] = { done, total } end }
      assert.is_nil(err)
      assert.matches("/upload/operations/", op.name)
      local commands = {}
      for _, e in ipairs(sent()) do
        if e.query.upload_id then commands[#commands + 1] = e.headers["x-goog-upload-command"] end
      end
      assert.same({ "upload", "upload", "upload", "query", "upload", "upload, finalize" }, commands)
      local last = sent()[#sent()]
      assert.equal(tostring(512 * K + 1000), last.headers["x-goog-upload-offset"])
      assert.is_true(seen[#seen][1] == #data and seen[#seen][2] == #data)
      assert.equal(tostring(#data), wait(op).response.sizeBytes)
    end)

    it("fails clearly when the finished upload's answer is no operation", function()
      local s = store()
      m:faults{ { type = "fss_operation", answer = { file = { name = "files/x" } } } }
      local op, err = fss:upload_to_file_search_store{ file_search_store_name = s.name, data = "x",
        config = { mime_type = "text/plain" } }
      assert.is_nil(op)
      assert.equal("decode", err.kind)
      assert.equal("the finished upload's answer is no operation", err.message)
    end)

    it("returns the API's refusal of an unknown store", function()
      local op, err = fss:upload_to_file_search_store{ file_search_store_name = "fileSearchStores/nope",
        data = "x", config = { mime_type = "text/plain" } }
      assert.is_nil(op)
      assert.equal(404, err.code)
      assert.equal(1, #m:log())
    end)

    it("raises for programmer errors, before any request", function()
      local up = function(args) return function() fss:upload_to_file_search_store(args) end end
      local S = "fileSearchStores/s"
      assert.has_error(up(nil), "bad argument #1 to 'upload_to_file_search_store' (table expected, got no value)")
      assert.has_error(up{ data = "x" }, "bad field 'file_search_store_name' to 'upload_to_file_search_store'"
        .. " (file search store name or FileSearchStore expected, got nil)")
      assert.has_error(up{ file_search_store_name = S },
        "bad argument #1 to 'upload_to_file_search_store' (exactly one of 'file' and 'data' expected)")
      assert.has_error(up{ file_search_store_name = S, file = "a.txt", data = "x" },
        "bad argument #1 to 'upload_to_file_search_store' (exactly one of 'file' and 'data' expected)")
      assert.has_error(up{ file_search_store_name = S, data = "x" },
        "bad argument #1 to 'upload_to_file_search_store' (cannot guess the MIME type of data;"
        .. " pass config.mime_type, e.g. mime_type = \"text/plain\")")
      assert.has_error(up{ file_search_store_name = S, data = "x", config = { display_name = "a.txt", file = {} } },
        "bad field 'config.file' to 'upload_to_file_search_store' (unknown; expected display_name,"
        .. " mime_type, custom_metadata, chunking_config, http_options)")
      assert.has_error(up{ file_search_store_name = S, data = "x", config = { mime_type = "text/plain",
        custom_metadata = { year = true } } },
        "bad field 'config.custom_metadata.year' to 'upload_to_file_search_store' (a string, a number"
        .. " or a list of strings expected, got boolean)")
      assert.has_error(up{ file_search_store_name = S, data = "x", config = { mime_type = "text/plain",
        custom_metadata = { { string_value = "no key" } } } },
        "bad field 'config.custom_metadata[1]' to 'upload_to_file_search_store' ({key = string, and"
        .. " string_value, numeric_value or string_list_value} expected)")
      assert.has_error(up{ file_search_store_name = S, data = "x", config = { mime_type = "text/plain",
        chunking_config = 200 } },
        "bad field 'config.chunking_config' to 'upload_to_file_search_store' (table expected, got number)")
      assert.has_error(up{ file_search_store_name = S, data = "x", chunk_size = 0, config = { mime_type = "text/plain" } },
        "bad field 'chunk_size' to 'upload_to_file_search_store' (a positive integer expected)")
      local ok, msg = pcall(fss.upload_to_file_search_store, fss,
        { file_search_store_name = S, file = "/nonexistent/dir/a.txt" })
      assert.is_false(ok)
      assert.matches("gemini: file_search_stores:upload_to_file_search_store: cannot open /nonexistent/dir/a.txt",
        msg, 1, true)
      assert.equal(0, #m:log())
    end)
  end)

  describe("import_file", function()
    it("imports a file of the Files API: the body, the operation, then the document", function()
      local s = store()
      local file = assert(client.files:upload{ data = T2, mime_type = "text/plain", display_name = "cafe" })
      local op = assert(fss:import_file{ file_search_store_name = s, file_name = file,
        config = { custom_metadata = { { key = "year", numeric_value = 1911 } },
                   chunking_config = { white_space_config = { max_tokens_per_chunk = 100 } } } })
      assert.matches("^" .. s.name:gsub("%-", "%%-") .. "/operations/cafe%-%w+$", op.name)
      local e = m:last()
      assert.equal("/v1beta/" .. s.name .. ":importFile", e.path)
      assert.same({ fileName = file.name, customMetadata = { { key = "year", numericValue = 1911 } },
                    chunkingConfig = { whiteSpaceConfig = { maxTokensPerChunk = 100 } } }, e.json)
      local done = wait(op)
      assert.equal(s.name, done.response.parent)
      local doc = assert(fss.documents:get(done.response.documentName))
      assert.equal("STATE_ACTIVE", doc.state)
      assert.equal("cafe", doc.displayName)
      assert.same({ { key = "year", numericValue = 1911 } }, doc.customMetadata)
      -- a file's id or URI names it too
      assert(fss:import_file{ file_search_store_name = s.name, file_name = file.name:match("/(.*)$") })
      assert.same({ fileName = file.name }, m:last().json)
      assert(fss:import_file{ file_search_store_name = s.name, file_name = file.uri })
      assert.same({ fileName = file.name }, m:last().json)
    end)

    it("returns the API's error for a file that does not exist", function()
      local s = store()
      local op, err = fss:import_file{ file_search_store_name = s.name, file_name = "files/gone" }
      assert.is_nil(op)
      assert.equal("api", err.kind)
      assert.equal(404, err.code)
    end)

    it("raises for programmer errors, before any request", function()
      assert.has_error(function() fss:import_file{ file_search_store_name = "fileSearchStores/s" } end,
        "bad field 'file_name' to 'import_file' (file name or File expected, got nil)")
      assert.has_error(function() fss:import_file{ file_search_store_name = "fileSearchStores/s", file_name = "a/b" } end,
        "bad field 'file_name' to 'import_file' (invalid file name \"a/b\")")
      assert.has_error(function() fss:import_file{ file_search_store_name = "fileSearchStores/s",
        file_name = "files/a", config = { display_name = "x" } } end,
        "bad field 'config.display_name' to 'import_file' (unknown; expected custom_metadata,"
        .. " chunking_config, http_options)")
      assert.equal(0, #m:log())
    end)
  end)

  describe("operations and documents", function()
    it("upload, wait, and the document is listed ACTIVE; its operation polled by name", function()
      local s = store()
      local op = assert(fss:upload_to_file_search_store{ file_search_store_name = s.name, data = T1,
        config = { display_name = "log.txt" } })
      local doc = op.name:gsub("/upload/operations/", "/documents/")
      assert.equal("STATE_PENDING", assert(fss.documents:get(doc)).state)
      assert.equal("1", assert(fss:get(s)).pendingDocumentsCount)
      -- two polls not done (the mock's default), then done
      local sent = since()
      assert.is_nil(assert(client.operations:get(op)).done)
      assert.is_nil(assert(client.operations:get(op.name)).done)
      assert.equal("STATE_PENDING", assert(fss.documents:get(doc)).state)
      local done = wait(op)
      assert.is_true(done.done)
      assert.equal(doc, done.response.documentName)
      assert.equal("/v1beta/" .. op.name, sent()[1].path)
      local listed = {}
      for d in fss.documents:list{ parent = s } do listed[#listed + 1] = d.name .. " " .. d.state end
      assert.same({ doc .. " STATE_ACTIVE" }, listed)
      assert.equal("1", assert(fss:get(s)).activeDocumentsCount)
    end)

    it("import, wait, and the document is ACTIVE; bare ids in the response pass through", function()
      local s = store()
      local file = assert(client.files:upload{ data = T2, mime_type = "text/plain", display_name = "cafe" })
      local op = assert(fss:import_file{ file_search_store_name = s, file_name = file })
      local done = wait(op)
      assert.equal("type.googleapis.com/google.ai.generativelanguage.v1main.ImportFileResponse",
        done.response["@type"])
      assert.equal("STATE_ACTIVE", assert(fss.documents:get(done.response.documentName)).state)
      m:faults{ { type = "fss_operation", bare_ids = true, done = true } }
      op = assert(fss:import_file{ file_search_store_name = s, file_name = file })
      assert.is_true(op.done)        -- done at once
      assert.equal(s.name:match("/(.*)$"), op.response.parent)
      assert.equal(op.name:match("([^/]+)$"), op.response.documentName)
    end)

    it("an operation is done after its polls, and its document ACTIVE", function()
      local s, op1, op2 = two_documents()
      for _, op in ipairs({ op1, op2 }) do
        assert.is_true(op.done)
        assert.equal("type.googleapis.com/google.ai.generativelanguage.v1main.UploadToFileSearchStoreResponse",
          op.response["@type"])
        assert.equal(s.name, op.response.parent)
      end
      local names = {}
      for d in fss.documents:list{ parent = s.name } do
        assert.equal("STATE_ACTIVE", d.state)
        names[#names + 1] = d.displayName
      end
      assert.same({ "log.txt", "cafe.md" }, names)
      assert.equal("/v1beta/" .. s.name .. "/documents", m:last().path)
      local got = assert(fss:get(s))
      assert.equal("2", got.activeDocumentsCount)
      assert.equal(tostring(#T1 + #T2), got.sizeBytes)
    end)

    it("a failed operation carries its error, its document FAILED", function()
      local s = store()
      m:faults{ { type = "fss_operation", polls = 0, fail = "unsupported document" } }
      local op = assert(fss:upload_to_file_search_store{ file_search_store_name = s.name, data = "x",
        config = { mime_type = "text/plain" } })
      op = wait(op)
      assert.same({ code = 3, message = "unsupported document" }, op.error)
      local d = fss.documents:list{ parent = s }()
      assert.equal("STATE_FAILED", d.state)
    end)

    it("list takes the parent as a name, id, URI or store, and walks every page", function()
      local s = store()
      for i = 1, 3 do
        assert(fss:upload_to_file_search_store{ file_search_store_name = s.name, data = "doc " .. i,
          config = { mime_type = "text/plain", display_name = "d" .. i } })
      end
      for _, parent in ipairs({ s.name, s.name:match("/(.*)$"), m.url .. "/v1beta/" .. s.name, s }) do
        local sent = since()
        local n = 0
        for _ in fss.documents:list{ parent = parent, page_size = 2 } do n = n + 1 end
        assert.equal(3, n)
        local log = sent()
        assert.equal(2, #log)
        assert.equal("/v1beta/" .. s.name .. "/documents", log[2].path)
        assert.same({ pageSize = "2", pageToken = "mockpage-2" }, log[2].query)
      end
    end)

    it("list needs its parent; names of documents are full names or URIs", function()
      local docs = fss.documents
      assert.has_error(function() docs:list() end, "bad argument #1 to 'list' (table expected, got no value)")
      assert.has_error(function() docs:list{} end,
        "bad field 'parent' to 'list' (file search store name or FileSearchStore expected, got nil)")
      assert.has_error(function() docs:list{ parent = "fileSearchStores/a/documents" } end,
        "bad field 'parent' to 'list' (invalid file search store name \"fileSearchStores/a/documents\")")
      assert.has_error(function() docs:get("abc") end,
        "bad argument #1 to 'get' (invalid document name \"abc\")")
      assert.has_error(function() docs.get(fss, "abc") end,
        "bad self to 'get' (call it as client.file_search_stores.documents:get(...))")
      assert.equal(0, #m:log())
    end)

    it("get and delete a document; an ACTIVE one only with force", function()
      local s, op1, op2 = two_documents()
      local name = op1.response.documentName
      local doc = assert(fss.documents:get(name))
      assert.equal("log.txt", doc.displayName)
      assert.same({ { key = "author", stringValue = "Graves" }, { key = "year", numericValue = 1934 } },
        doc.customMetadata)
      assert(fss.documents:get(m.url .. "/v1beta/" .. name))
      local ok, err = fss.documents:delete(doc)
      assert.is_nil(ok)
      assert.equal(400, err.code)
      assert.equal("FAILED_PRECONDITION", err.status)
      assert.equal("Cannot delete non-empty Document", err.message)
      assert.is_true(fss.documents:delete(doc, { force = true }))
      assert.same({ force = "true" }, m:last().query)
      assert.equal("/v1beta/" .. name, m:last().path)
      local gone, err2 = fss.documents:get(name)
      assert.is_nil(gone)
      assert.equal(404, err2.code)
      -- a pending document has no chunks yet: no force needed
      local op3 = assert(fss:upload_to_file_search_store{ file_search_store_name = s.name, data = "x",
        config = { mime_type = "text/plain" } })
      assert.is_true(fss.documents:delete((op3.name:gsub("/upload/operations/", "/documents/"))))
      local left = {}
      for d in fss.documents:list{ parent = s } do left[#left + 1] = d.name end
      assert.same({ op2.response.documentName }, left)
    end)
  end)

  describe("the fileSearch tool and the retrieved chunks", function()
    it("gemini.tools.file_search builds the tool as the REST API takes it", function()
      assert.same({ fileSearch = { fileSearchStoreNames = { "fileSearchStores/a", "fileSearchStores/b" },
                                   metadataFilter = 'author = "x"', topK = 3 } },
        gemini.tools.file_search{ file_search_store_names = { "fileSearchStores/a", { name = "fileSearchStores/b" } },
                                  metadata_filter = 'author = "x"', top_k = 3 })
      assert.same({ fileSearch = { fileSearchStoreNames = { "fileSearchStores/a" } } },
        gemini.tools.file_search{ fileSearchStoreNames = { "a" } })
      local F = gemini.tools.file_search
      assert.has_error(function() F() end, "bad argument #1 to 'tools.file_search' (table expected, got no value)")
      assert.has_error(function() F{} end, "bad field 'file_search_store_names' to 'tools.file_search'"
        .. " (non-empty list of file search store names expected)")
      assert.has_error(function() F{ file_search_store_names = {} } end, "bad field 'file_search_store_names'"
        .. " to 'tools.file_search' (non-empty list of file search store names expected)")
      assert.has_error(function() F{ file_search_store_names = { "a/b" } } end,
        "bad field 'file_search_store_names[1]' to 'tools.file_search' (invalid file search store name \"a/b\")")
      assert.has_error(function() F{ file_search_store_names = { "a" }, top_k = 0 } end,
        "bad field 'top_k' to 'tools.file_search' (a positive integer expected)")
      assert.has_error(function() F{ file_search_store_names = { "a" }, filter = "x" } end,
        "bad field 'filter' to 'tools.file_search' (unknown option; known: file_search_store_names,"
        .. " metadata_filter, top_k)")
    end)

    it("an answer from a store cites its chunks: sources and cited_text", function()
      local s = two_documents()
      local res = assert(client.models:generate_content{ model = MODEL, contents = "What about storms?",
        config = { tools = { gemini.tools.file_search{ file_search_store_names = { s } } } } })
      assert.same({ fileSearch = { fileSearchStoreNames = { s.name } } }, m:last().json.tools[1])
      local src = res.sources
      assert.equal(2, #src)
      assert.same({ title = "log.txt", text = T1, file_search_store = s.name,
        custom_metadata = { { key = "author", stringValue = "Graves" }, { key = "year", numericValue = 1934 } } },
        src[1])
      assert.equal("cafe.md", src[2].title)
      assert.equal(T2, src[2].text)
      assert.is_nil(src[2].uri)
      -- a marker without a link after each grounded sentence (file search chunks have no URI)
      assert.equal('The documents answer “What about storms?”. log.txt: The lighthouse keeper logged 14 storms'
        .. ' in 1934.[1] cafe.md: Café Odeon serves coffee at 5 €.[2]', res.cited_text)
      assert.equal(res.candidates[1].groundingMetadata.groundingChunks[1].retrievedContext.text, T1)
    end)

    it("metadata_filter and top_k narrow the chunks; page numbers come with PDFs", function()
      local s = two_documents()
      local res = assert(client.models:generate_content{ model = MODEL, contents = "q",
        config = { tools = { gemini.tools.file_search{ file_search_store_names = { s.name },
          metadata_filter = 'author = "Odeon"' } } } })
      assert.equal(1, #res.sources)
      assert.equal("cafe.md", res.sources[1].title)
      res = assert(client.models:generate_content{ model = MODEL, contents = "q",
        config = { tools = { gemini.tools.file_search{ file_search_store_names = { s.name }, top_k = 1 } } } })
      assert.equal(1, #res.sources)
      assert.equal("log.txt", res.sources[1].title)
      local op = wait(assert(fss:upload_to_file_search_store{ file_search_store_name = s.name,
        data = "%PDF-1.4 A manual.", config = { display_name = "manual.pdf" } }))
      assert.equal("application/pdf", op.response.mimeType)
      res = assert(client.models:generate_content{ model = MODEL, contents = "q",
        config = { tools = { gemini.tools.file_search{ file_search_store_names = { s.name } } } } })
      assert.equal(1, res.sources[3].page_number)
      assert.is_nil(res.sources[1].page_number)
    end)

    it("a streamed answer carries the chunks once merged", function()
      local s = two_documents()
      local st = client.models:generate_content_stream{ model = MODEL, contents = "stream it",
        config = { tools = { gemini.tools.file_search{ file_search_store_names = { s.name } } } } }
      local n = 0
      for _ in st do n = n + 1 end
      assert.is_true(n > 1)
      assert.equal(2, #st.response.sources)
      assert.matches("%[2%]$", st.response.cited_text)
    end)

    it("sources keep every field of a retrieved chunk; an empty URI makes no link", function()
      local meta = { { key = "tags", stringListValue = { values = { "a" } } } }
      m:script{ { body = { candidates = { { index = 0, finishReason = "STOP",
        content = { role = "model", parts = { { text = "One. Two." } } },
        groundingMetadata = {
          groundingChunks = {
            { retrievedContext = { title = "scan", text = "page text", uri = "", pageNumber = 12,
                                   fileSearchStore = "fileSearchStores/s", customMetadata = meta,
                                   mediaId = "fileSearchStores/s/media/BlobId-456" } },
            { retrievedContext = { title = "web copy", uri = "https://docs.example/manual" } },
          },
          groundingSupports = {
            { segment = { endIndex = 4 }, groundingChunkIndices = { 0 } },
            { segment = { startIndex = 5, endIndex = 9 }, groundingChunkIndices = { 0, 1 } },
          } } } } } } }
      local res = assert(client.models:generate_content{ model = MODEL, contents = "q" })
      assert.same({
        { title = "scan", uri = "", text = "page text", page_number = 12, file_search_store = "fileSearchStores/s",
          custom_metadata = meta, media_id = "fileSearchStores/s/media/BlobId-456" },
        { title = "web copy", uri = "https://docs.example/manual" },
      }, res.sources)
      assert.equal("One.[1] Two.[1], [2](https://docs.example/manual)", res.cited_text)
    end)

    it("a store that does not exist is the API's error", function()
      local res, err = client.models:generate_content{ model = MODEL, contents = "q",
        config = { tools = { gemini.tools.file_search{ file_search_store_names = { "fileSearchStores/none" } } } } }
      assert.is_nil(res)
      assert.equal(404, err.code)
    end)
  end)
end)

-- The callback API on a luv loop: the same calls, each with a trailing
-- callback, the loop never blocked.
local ok_uv, uv = pcall(require, "luv")
local loop = require("support.loop")

;(ok_uv and describe or pending)("client.file_search_stores on a luv loop", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local c

  setup(function()
    c = m:client{ loop = uv, retry = { initial_delay = 0.01, jitter = 0 } }
  end)

  teardown(function()
    if c then c:close() end
    uv.run()
  end)

  it("creates, uploads, imports, lists, gets and deletes with callbacks", function()
    local fss = c.file_search_stores
    local r = {}
    local h = fss:create({ config = { display_name = "loop" } }, function(err, s)
      r.create = { err, s }
      fss:upload_to_file_search_store({ file_search_store_name = s, data = T1,
        config = { mime_type = "text/plain", display_name = "log" } }, function(err2, op)
        r.upload = { err2, op }
        c.operations:wait(op, { interval = 0.01 }, function(errw, done) r.wait = { errw, done } end)
        c.files:upload({ data = T2, mime_type = "text/plain" }, function(err3, file)
          fss:import_file({ file_search_store_name = s.name, file_name = file }, function(err4, op2)
            r.import = { err3 or err4, op2 }
            fss.documents:list({ parent = s }, function(err5, docs)
              r.docs = { err5, docs }
              fss.documents:get(docs[1].name, function(err6, d) r.get = { err6, d } end)
              fss:list(function(err6, stores) r.list = { err6, stores } end)
              fss:delete(s, function(err6, gone)
                r.refused = { err6, gone }
                fss:delete(s, { force = true }, function(err7, gone2) r.delete = { err7, gone2 } end)
              end)
            end)
          end)
        end)
      end)
    end)
    assert.is_nil(r.create)           -- returned at once
    assert.is_function(h.cancel)
    loop.run(uv, 10)
    assert.is_nil(r.create[1]); assert.matches("^fileSearchStores/loop%-", r.create[2].name)
    assert.is_nil(r.upload[1]); assert.matches("/upload/operations/log%-", r.upload[2].name)
    assert.is_nil(r.wait[1]); assert.is_true(r.wait[2].done)
    assert.equal(r.upload[2].name:gsub("/upload/operations/", "/documents/"), r.wait[2].response.documentName)
    assert.is_nil(r.import[1]); assert.matches("/operations/", r.import[2].name)
    assert.is_nil(r.docs[1]); assert.equal(2, #r.docs[2])
    assert.is_nil(r.get[1]); assert.equal("log", r.get[2].displayName)
    assert.is_nil(r.list[1]); assert.equal(1, #r.list[2])
    assert.equal(400, r.refused[1].code); assert.is_nil(r.refused[2])
    assert.is_nil(r.delete[1]); assert.is_true(r.delete[2])
    local deletes = {}
    for _, e in ipairs(m:log()) do
      if e.method == "DELETE" then deletes[#deletes + 1] = e.query.force or "none" end
    end
    assert.same({ "none", "true" }, deletes)
  end)

  it("raises programmer errors at once, and needs a loop for a callback", function()
    local fss = c.file_search_stores
    assert.has_error(function() fss:upload_to_file_search_store({ data = "x" }, function() end) end,
      "bad field 'file_search_store_name' to 'upload_to_file_search_store' (file search store name"
      .. " or FileSearchStore expected, got nil)")
    assert.has_error(function() fss:delete("fileSearchStores/x", { force = true }, "cb") end,
      "bad argument #3 to 'delete' (function expected, got string)")
    local plain = gemini.Client{ api_key = KEY, base_url = m.url }
    local okc, err = pcall(plain.file_search_stores.documents.list, plain.file_search_stores.documents,
      { parent = "fileSearchStores/x" }, function() end)
    assert.is_false(okc)
    assert.matches("'list' with a callback needs an event loop", err, 1, true)
    assert.equal(0, #m:log())
  end)
end)

-- Inside nginx (cosockets): a store, an upload into it, waiting for its
-- operation (ngx.sleep) and the lists of stores and documents from one
-- content handler.
local nginx = require("support.nginx")

;(nginx.available and describe or pending)("client.file_search_stores in OpenResty", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local n

  setup(function()
    n = nginx.new()
    n:start(string.format([[
  server {
    listen 127.0.0.1:%d;
    location /ping { return 204; }
    location /fss {
      content_by_lua_block {
        local c = require("gemini").Client{ api_key = %q, base_url = %q }
        local fss = c.file_search_stores
        local s, err = fss:create{ config = { display_name = "nginx" } }
        if not s then ngx.say("ERROR ", tostring(err)) return end
        local op, err2 = fss:upload_to_file_search_store{ file_search_store_name = s.name,
          data = "from nginx", config = { mime_type = "text/plain" } }
        if not op then ngx.say("ERROR ", tostring(err2)) return end
        ngx.say("STORE ", s.name)
        ngx.say("OP ", op.name)
        op = assert(c.operations:wait(op, { interval = 0.01 }))
        for d in fss.documents:list{ parent = s } do ngx.say("DOCUMENT ", d.name, " ", d.state) end
        for st in fss:list() do ngx.say("LISTED ", st.name) end
      }
    }
  }
]], n.port, KEY, m.url))
  end)

  teardown(function()
    if n then n:stop() end
  end)

  it("creates, uploads and lists over cosockets", function()
    local body = n:get("/fss")
    local name = body:match("STORE (%S+)")
    assert.is_truthy(name, body .. n:error_log())
    assert.matches("OP " .. name:gsub("%-", "%%-") .. "/upload/operations/", body)
    assert.matches("LISTED " .. name:gsub("%-", "%%-"), body)
    assert.matches("DOCUMENT " .. name:gsub("%-", "%%-") .. "/documents/%S+ STATE_ACTIVE", body)
    local upload = 0
    for _, e in ipairs(m:log()) do
      if e.query.upload_id then upload = upload + 1; assert.equal("from nginx", e.body) end
    end
    assert.equal(1, upload)
  end)
end)
