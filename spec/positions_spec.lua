-- Programmer errors raise at the caller's line (the first function outside
-- lua/gemini/), however deep in the library the check that found them sits;
-- and unknown options raise instead of being dropped.
local gemini = require("gemini")

-- The message of what `fn` raised.
local function raised(fn)
  local ok, msg = pcall(fn)
  assert.is_false(ok)
  return tostring(msg)
end

-- Asserts that `msg` points at line `line` of this file and says `text`.
local function at(line, msg, text)
  assert.are.equal("spec/positions_spec.lua:" .. line .. ": ", msg:sub(1, #("spec/positions_spec.lua:" .. line .. ": ")))
  assert.truthy(msg:find(text, 1, true), msg)
end

describe("a programmer error", function()
  -- No request is ever sent: every call below fails its checks first.
  local c = gemini.Client{ api_key = "k", base_url = "http://127.0.0.1:9" }
  local L

  it("in Client{} points at the caller", function()
    local msg = raised(function() L = debug.getinfo(1, "l").currentline; gemini.Client{ api_key = "k", timout = 5 } end)
    at(L, msg, "bad field 'timout' to 'Client' (unknown field; known: api_key, base_url,")
    msg = raised(function() L = debug.getinfo(1, "l").currentline; gemini.Client{ api_key = "k", base_url = "ftp://x" } end)
    at(L, msg, "bad field 'base_url' to 'Client' (an http:// or https:// URL expected)")
    msg = raised(function() L = debug.getinfo(1, "l").currentline; gemini.Client{ api_key = "k", debug = "yes" } end)
    at(L, msg, "bad field 'debug' to 'Client' (boolean expected, got string)")
  end)

  it("in a model call points at the caller", function()
    local msg = raised(function() L = debug.getinfo(1, "l").currentline; c.models:generate_content{ model = "m", contents = "x", confg = {} } end)
    at(L, msg, "bad field 'confg' to 'generate_content' (unknown field;")
    msg = raised(function() L = debug.getinfo(1, "l").currentline; c.models:generate_content{ contents = "x" } end)
    at(L, msg, "bad field 'model' to 'generate_content'")
    msg = raised(function() L = debug.getinfo(1, "l").currentline; c.models:generate_content_stream{ contents = "x" } end)
    at(L, msg, "bad field 'model' to 'generate_content_stream'")
    msg = raised(function() L = debug.getinfo(1, "l").currentline; c.models:generate_videos{ model = "veo", prompt = "x", config = 5 } end)
    at(L, msg, "to 'generate_videos'")
  end)

  it("in a chat, a batch, a download, an operation and a builder points at the caller", function()
    local chat = c.chats:create{ model = "m" }
    local msg = raised(function() L = debug.getinfo(1, "l").currentline; chat:send_message("x", { http_options = { timout = 1 } }) end)
    at(L, msg, "bad field 'http_options.timout' to 'send_message' (unknown field;")
    msg = raised(function() L = debug.getinfo(1, "l").currentline; c.batches:create{ model = "m", src = { 5 } } end)
    at(L, msg, "bad field 'src[1]' to 'create' (a request table or a string expected, got number)")
    assert.is_nil(msg:find("in src[1]", 1, true))
    msg = raised(function() L = debug.getinfo(1, "l").currentline; c.batches:create{ model = "m", src = { path = "nope.jsonl" } } end)
    at(L, msg, "gemini: batches:create: cannot open nope.jsonl")
    msg = raised(function() L = debug.getinfo(1, "l").currentline; c.files:download{ file = "files/abc", path = "/nonexistent/dir/out" } end)
    at(L, msg, "gemini: files:download: cannot write")
    msg = raised(function() L = debug.getinfo(1, "l").currentline; c.operations:wait("operations/x", { tiemout = 0.1 }) end)
    at(L, msg, "bad field 'tiemout' to 'wait' (unknown field; known: timeout, interval, max_interval, on_progress)")
    msg = raised(function() L = debug.getinfo(1, "l").currentline; gemini.tools.functions(5) end)
    at(L, msg, "bad argument #1 to 'tools.functions'")
  end)

  it("has no position when a C function (pcall) called the library", function()
    local ok, msg = pcall(c.models.generate_content, c.models, { contents = "x" })
    assert.is_false(ok)
    assert.are.equal("bad field 'model' to 'generate_content'", msg:match("^bad field 'model' to 'generate_content'"))
  end)
end)

describe("an unknown option", function()
  local c = gemini.Client{ api_key = "k", base_url = "http://127.0.0.1:9" }
  it("raises, naming it and the known ones", function()
    assert.has_error(function() c.batches:wait("batches/x", { intervall = 0.05 }) end,
      "bad field 'intervall' to 'wait' (unknown field; known: timeout, interval, max_interval, on_progress)")
    assert.has_error(function() for _ in c.batches:list{ pagesize = 2 } do end end,
      "bad field 'pagesize' to 'list' (unknown field; known: page_size, page_token)")
    assert.has_error(function() c.file_search_stores:create{ display_name = "x" } end,
      "bad field 'display_name' to 'create' (unknown field; known: config)")
    assert.has_error(function() c.file_search_stores:upload_to_file_search_store{ store = "fileSearchStores/s", data = "x" } end,
      "bad field 'store' to 'upload_to_file_search_store' (unknown field; known: file_search_store_name, file, data,"
      .. " config, on_progress, chunk_size)")
    assert.has_error(function() c.files:upload{ data = "x", mime_type = "text/plain", displayname = "a" } end,
      "bad field 'displayname' to 'upload' (unknown field; known: path, data, mime_type, display_name, name,"
      .. " on_progress, chunk_size, http_options)")
    assert.has_error(function() gemini.Client{ api_key = "k", check_thinking = "no" } end,
      "bad field 'check_thinking' to 'Client' (boolean expected, got string)")
  end)

  it("is reported before a missing API key", function()
    -- api_key = nil and no key in the environment would raise "no API key";
    -- the bad option is what is reported.
    assert.has_error(function() gemini.Client{ timeout = 0 } end,
      "bad field 'timeout' to 'Client' (a positive finite number of seconds expected, got 0)")
  end)
end)
