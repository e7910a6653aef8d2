-- client.caches against the mock server, through the real HTTP stack:
-- create, get, update (expiration only), delete, list, and a cache used in
-- a generate call.
local mock = require("support.mock")

local KEY = "caches-spec-key"

-- Epoch seconds of "YYYY-MM-DDTHH:MM:SS[.frac]Z".
local function epoch(ts)
  local y, mo, d, h, mi, s = ts:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  local t = os.time{ year = tonumber(y), month = tonumber(mo), day = tonumber(d),
                     hour = tonumber(h), min = tonumber(mi), sec = tonumber(s) }
  local now = os.time()
  return t - (os.time(os.date("!*t", now)) - now)
end

describe("client.caches", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  setup(function()
    client = m:client{ retry = { attempts = 3, initial_delay = 0.01, max_delay = 0.05, jitter = 0 } }
  end)

  local function create(extra)
    local config = { contents = "A long document about lighthouses.", ttl = 300 }
    for k, v in pairs(extra or {}) do config[k] = v end
    return client.caches:create{ model = "gemini-2.5-flash", config = config }
  end

  describe("create", function()
    it("sends the CachedContent itself, in REST form", function()
      local cache, err = client.caches:create{
        model = "gemini-2.5-flash",
        config = {
          contents = { "Document text, part one.", "Part two." },
          system_instruction = "Answer from the document only.",
          tools = { { google_search = {} } },
          tool_config = { function_calling_config = { mode = "AUTO" } },
          ttl = 300,
          display_name = "lighthouses",
        },
      }
      assert.is_nil(err)
      local req = m:last()
      assert.equal("POST", req.method)
      assert.equal("/v1beta/cachedContents", req.path)
      assert.equal(KEY, req.headers["x-goog-api-key"])
      assert.same({
        model = "models/gemini-2.5-flash",
        contents = { { role = "user", parts = { { text = "Document text, part one." },
                                                { text = "Part two." } } } },
        systemInstruction = { parts = { { text = "Answer from the document only." } } },
        tools = { { googleSearch = {} } },
        toolConfig = { functionCallingConfig = { mode = "AUTO" } },
        ttl = "300s",
        displayName = "lighthouses",
      }, req.json)
      assert.matches("^cachedContents/", cache.name)
      assert.equal("models/gemini-2.5-flash", cache.model)
      assert.equal("lighthouses", cache.displayName)
      assert.is_number(cache.usageMetadata.totalTokenCount)
      local left = epoch(cache.expireTime) - os.time()
      assert.is_true(left > 290 and left <= 301, "expires in " .. left .. "s")
    end)

    it("keeps a full model name and a ttl string; formats a fractional ttl", function()
      assert(client.caches:create{ model = "models/gemini-2.5-pro",
        config = { contents = "doc", ttl = "1.5s" } })
      assert.equal("models/gemini-2.5-pro", m:last().json.model)
      assert.equal("1.5s", m:last().json.ttl)
      assert(create{ ttl = 2.25 })
      assert.equal("2.25s", m:last().json.ttl)
    end)

    it("takes expire_time as RFC 3339 or as epoch seconds", function()
      local at = os.time() + 3600
      local stamp = os.date("!%Y-%m-%dT%H:%M:%SZ", at)
      local cache = assert(client.caches:create{ model = "gemini-2.5-flash",
        config = { contents = "doc", expire_time = stamp } })
      assert.equal(stamp, m:last().json.expireTime)
      assert.is_nil(m:last().json.ttl)
      assert.equal(at, epoch(cache.expireTime))
      assert(client.caches:create{ model = "gemini-2.5-flash",
        config = { contents = "doc", expire_time = at } })
      assert.equal(stamp, m:last().json.expireTime)
    end)

    it("puts a File of the contents in as fileData", function()
      local f = assert(client.files:upload{ data = "%PDF-1.4", mime_type = "application/pdf" })
      assert(client.caches:create{ model = "gemini-2.5-flash",
        config = { contents = { f }, ttl = "60s" } })
      assert.same({ { role = "user", parts = { { fileData = { fileUri = f.uri,
        mimeType = "application/pdf" } } } } }, m:last().json.contents)
    end)

    it("returns the server's refusal of a bad ttl string", function()
      local cache, err = create{ ttl = "five minutes" }
      assert.is_nil(cache)
      assert.equal("api", err.kind)
      assert.equal(400, err.code)
      assert.matches("ttl", err.message)
    end)

    it("raises for programmer errors, before any request", function()
      assert.has_error(function() client.caches:create() end,
        "bad argument #1 to 'create' (table expected, got no value)")
      assert.has_error(function() client.caches:create{ config = {} } end,
        "bad field 'model' to 'create' (string expected, got nil)")
      assert.has_error(function() client.caches:create{ model = "gemini-2.5-flash", ttl = 60 } end,
        "bad field 'ttl' to 'create' (unknown field; known: model, config)")
      assert.has_error(function() client.caches:create{ modle = "gemini-2.5-flash", config = {} } end,
        "bad field 'modle' to 'create' (unknown field; known: model, config)")
      assert.has_error(function()
        client.caches:create{ model = "gemini-2.5-flash", config = { ttl = 1, expire_time = "x" } }
      end, "bad argument #1 to 'create' (ttl and expire_time exclude each other)")
      assert.has_error(function()
        client.caches:create{ model = "gemini-2.5-flash", config = { temperature = 1 } }
      end, "bad field 'config.temperature' to 'create' (unknown; expected contents, system_instruction,"
        .. " tools, tool_config, ttl, expire_time, display_name, http_options)")
      assert.has_error(function()
        client.caches:create{ model = "gemini-2.5-flash", config = { ttl = -5 } }
      end, "bad field 'ttl' to 'create' (a positive number of seconds expected)")
      assert.has_error(function()
        client.caches:create{ model = "gemini-2.5-flash", config = { ttl = {} } }
      end, "bad field 'ttl' to 'create' (number or string expected, got table)")
      assert.equal(0, #m:log())
    end)
  end)

  describe("get, update, delete", function()
    it("get accepts cachedContents/x, x and the cache", function()
      local cache = assert(create())
      for _, name in ipairs({ cache.name, cache.name:match("/(.*)$"), cache }) do
        local got, err = client.caches:get(name)
        assert.is_nil(err)
        assert.equal(cache.name, got.name)
        assert.equal("GET", m:last().method)
        assert.equal("/v1beta/" .. cache.name, m:last().path)
      end
    end)

    it("get of an unknown cache is an API error", function()
      local got, err = client.caches:get("nope")
      assert.is_nil(got)
      assert.equal("api", err.kind)
      assert.equal(403, err.code)
      assert.equal("PERMISSION_DENIED", err.status)
    end)

    it("update PATCHes only the ttl or the expire time", function()
      local cache = assert(create())
      local updated, err = client.caches:update{ name = cache.name, config = { ttl = "7200s" } }
      assert.is_nil(err)
      local req = m:last()
      assert.equal("PATCH", req.method)
      assert.equal("/v1beta/" .. cache.name, req.path)
      assert.same({ ttl = "7200s" }, req.json)
      assert.same({}, req.query)
      local left = epoch(updated.expireTime) - os.time()
      assert.is_true(left > 7000, "expires in " .. left .. "s")

      local stamp = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + 86400)
      updated = assert(client.caches:update{ name = cache.name:match("/(.*)$"),
                                             config = { expire_time = stamp } })
      assert.same({ expireTime = stamp }, m:last().json)
      assert.equal(epoch(stamp), epoch(updated.expireTime))
      assert(client.caches:update{ name = cache, config = { ttl = 60 } })
      assert.same({ ttl = "60s" }, m:last().json)
    end)

    it("update refuses anything but the expiration", function()
      local cache = assert(create())
      local before = #m:log()
      for _, bad in ipairs({ { contents = "new" }, { display_name = "x" },
                             { system_instruction = "x" }, { model = "gemini-2.5-pro" },
                             { tools = {} } }) do
        local k = next(bad)
        assert.has_error(function() client.caches:update{ name = cache.name, config = bad } end,
          "bad field 'config." .. k .. "' to 'update' (only ttl or expire_time can be updated;"
          .. " a cache's contents, model, tools and display name are fixed)")
      end
      assert.has_error(function() client.caches:update{ name = cache.name, config = {} } end,
        "bad field 'config' to 'update' (ttl or expire_time expected)")
      assert.has_error(function() client.caches:update{ name = cache.name } end,
        "bad field 'config' to 'update' (table expected, got no value)")
      assert.has_error(function() client.caches:update{ name = cache.name, config = { ttl = 60 }, ttl = 5 } end,
        "bad field 'ttl' to 'update' (unknown field; known: name, config)")
      assert.has_error(function()
        client.caches:update{ name = cache.name, config = { ttl = 1, expire_time = 2 } }
      end, "bad argument #1 to 'update' (ttl and expire_time exclude each other)")
      assert.has_error(function() client.caches:update{ config = { ttl = 1 } } end,
        "bad argument #1 to 'update' (cache name expected, got nil)")
      assert.equal(before, #m:log())
    end)

    it("update of an unknown cache is an API error", function()
      local res, err = client.caches:update{ name = "nope", config = { ttl = "10s" } }
      assert.is_nil(res)
      assert.equal(403, err.code)
    end)

    it("delete removes the cache", function()
      local cache = assert(create())
      assert.is_true(client.caches:delete(cache.name))
      assert.equal("DELETE", m:last().method)
      assert.equal("/v1beta/" .. cache.name, m:last().path)
      local got, err = client.caches:get(cache.name)
      assert.is_nil(got)
      assert.equal(403, err.code)
      local ok, derr = client.caches:delete(cache)
      assert.is_nil(ok)
      assert.equal(403, derr.code)
    end)

    it("raises for names that are not cache names", function()
      assert.has_error(function() client.caches:get("") end,
        "bad argument #1 to 'get' (cache name expected, got empty string)")
      assert.has_error(function() client.caches:get("cachedContents/a/b") end,
        "bad argument #1 to 'get' (invalid cache name \"cachedContents/a/b\")")
      assert.has_error(function() client.caches:delete("a b") end,
        "bad argument #1 to 'delete' (invalid cache name \"a b\")")
      assert.has_error(function() client.caches.get({}, "x") end,
        "bad self to 'get' (call it as client.caches:get(...))")
      assert.equal(0, #m:log())
    end)
  end)

  describe("list", function()
    it("walks every page", function()
      local names = {}
      for i = 1, 5 do names[i] = assert(create{ display_name = "c" .. i }).name end
      local before = #m:log()
      local seen = {}
      for c in client.caches:list{ page_size = 2 } do seen[#seen + 1] = c.name end
      assert.same(names, seen)
      local log = m:log()
      assert.equal(before + 3, #log)
      assert.equal("/v1beta/cachedContents", log[before + 1].path)
      assert.equal("2", log[before + 1].query.pageSize)
      assert.is_nil(log[before + 1].query.pageToken)
      assert.equal("mockpage-2", log[before + 2].query.pageToken)
      assert.equal("mockpage-4", log[before + 3].query.pageToken)
    end)

    it("of nothing ends at once", function()
      local n = 0
      for _ in client.caches:list() do n = n + 1 end
      assert.equal(0, n)
      assert.equal(1, #m:log())
    end)
  end)

  describe("in a generate call", function()
    it("config.cached_content = cache.name sends cachedContent", function()
      local cache = assert(create())
      local res, err = client.models:generate_content{ model = "gemini-2.5-flash",
        contents = "What is the document about?", config = { cached_content = cache.name } }
      assert.is_nil(err)
      assert.equal(cache.name, m:last().json.cachedContent)
      assert.is_nil(m:last().json.generationConfig)
      assert.equal(cache.usageMetadata.totalTokenCount, res.usageMetadata.cachedContentTokenCount)
      -- a bare id gets its prefix
      assert(client.models:generate_content{ model = "gemini-2.5-flash", contents = "And?",
        config = { cached_content = cache.name:match("/(.*)$") } })
      assert.equal(cache.name, m:last().json.cachedContent)
    end)

    it("an expired or deleted cache is the API's error", function()
      local cache = assert(create())
      assert(client.caches:delete(cache))
      local res, err = client.models:generate_content{ model = "gemini-2.5-flash",
        contents = "Hi", config = { cached_content = cache.name } }
      assert.is_nil(res)
      assert.equal(403, err.code)
      assert.matches("CachedContent not found", err.message, 1, true)
    end)
  end)

  -- What every collection shares (gemini.resource): one rule for names and
  -- one get / delete / list, in caches and files alike; and the name rule
  -- of a collection with parents (file search stores' documents).
  describe("as every collection (gemini.resource)", function()
    it("takes a name, an id, a URI or the resource, as files do", function()
      local file = assert(client.files:upload{ data = "hello", mime_type = "text/plain" })
      local cache = assert(client.caches:create{ model = "gemini-2.5-flash", config = { contents = "x" } })
      for _, case in ipairs({ { client.files, file }, { client.caches, cache } }) do
        local service, res = case[1], case[2]
        local id = res.name:match("/(.*)$")
        local collection = res.name:match("^(.-)/")
        for _, name in ipairs({ res.name, id, m.url .. "/v1beta/" .. res.name, res }) do
          local got = assert(service:get(name))
          assert.equal(res.name, got.name)
          assert.equal("GET", m:last().method)
          assert.equal("/v1beta/" .. res.name, m:last().path)
        end
        local before = #m:log()
        for _, bad in ipairs({ collection .. "/a/b", "../x", "a?b=c", "a b", collection .. "/%2e%2e",
                               m.url .. "/v1beta/" .. collection .. "/a/b" }) do
          local ok, msg = pcall(service.get, service, bad)
          assert.is_false(ok, bad)
          assert.matches("bad argument #1 to 'get' %(invalid %a+ name ", msg)
        end
        assert.equal(before, #m:log())
      end
    end)

    it("gets, deletes and lists as files do, and says how to call it", function()
      for _, service in ipairs({ client.files, client.caches }) do
        local field = service == client.files and "files" or "caches"
        assert.has_error(function() service.get({}, "x") end,
          "bad self to 'get' (call it as client." .. field .. ":get(...))")
        assert.has_error(function() service.list(nil) end,
          "bad self to 'list' (call it as client." .. field .. ":list(...))")
        assert.has_error(function() service:list("x") end,
          "bad argument #1 to 'list' (table expected, got string)")
      end
      local file = assert(client.files:upload{ data = "hello", mime_type = "text/plain" })
      local cache = assert(client.caches:create{ model = "gemini-2.5-flash", config = { contents = "x" } })
      local n = 0
      for f in client.files:list() do n = n + 1; assert.equal(file.name, f.name) end
      for c in client.caches:list() do n = n + 1; assert.equal(cache.name, c.name) end
      assert.equal(2, n)
      assert.is_true(client.files:delete(file))
      assert.is_true(client.caches:delete(cache))
      assert.equal("DELETE", m:last().method)
      assert.equal("/v1beta/" .. cache.name, m:last().path)
    end)

    it("names a resource of a collection with parents by its full name or a URI, never by a bare id", function()
      local name_of = require("gemini.resource").normalizer{ collection = "fileSearchStores/*/documents",
                                           noun = "document name" }
      assert.equal("fileSearchStores/s-1/documents/d.2", name_of("fileSearchStores/s-1/documents/d.2", "get"))
      assert.equal("fileSearchStores/s/documents/d",
        name_of("https://h.test/v1beta/fileSearchStores/s/documents/d", "get"))
      assert.equal("fileSearchStores/s/documents/d", name_of({ name = "fileSearchStores/s/documents/d" }, "get"))
      for _, bad in ipairs({ "d", "fileSearchStores/s", "fileSearchStores/s/files/d",
                             "fileSearchStores/../documents/d", "fileSearchStores/s/documents/d/e",
                             "fileSearchStores//documents/d" }) do
        assert.has_error(function() name_of(bad, "get") end,
          string.format("bad argument #1 to 'get' (invalid document name %q)", bad))
      end
      assert.has_error(function() name_of(nil, "delete") end,
        "bad argument #1 to 'delete' (document name expected, got nil)")
    end)
  end)
end)
