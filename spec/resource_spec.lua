-- Resources in a collection (gemini.resource): one rule for their names and
-- one get / delete / list, shared by client.files and client.caches, through
-- the real HTTP stack against the mock; and the name rule of a collection
-- with parents (file search stores' documents), which the API's later
-- services take.
local mock = require("support.mock")

local KEY = "resource-key-41c9"
local MODEL = "gemini-2.5-flash"

describe("resources", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  before_each(function()
    client = m:client{ retry = false }
  end)

  it("are named the same way in files and caches: name, id, URI or the resource", function()
    local file = assert(client.files:upload{ data = "hello", mime_type = "text/plain" })
    local cache = assert(client.caches:create{ model = MODEL, config = { contents = "x" } })
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

  it("get, delete and list in files and caches alike, and say how to call them", function()
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
    local cache = assert(client.caches:create{ model = MODEL, config = { contents = "x" } })
    local n = 0
    for f in client.files:list() do n = n + 1; assert.equal(file.name, f.name) end
    for c in client.caches:list() do n = n + 1; assert.equal(cache.name, c.name) end
    assert.equal(2, n)
    assert.is_true(client.files:delete(file))
    assert.is_true(client.caches:delete(cache))
    assert.equal("DELETE", m:last().method)
    assert.equal("/v1beta/" .. cache.name, m:last().path)
  end)

  it("of a collection with parents are named by their full name or a URI, never by a bare id", function()
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
