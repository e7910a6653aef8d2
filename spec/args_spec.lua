-- Bad input from the caller: every public function checks its arguments
-- and raises an error that names the function and the argument (or field),
-- in the style "bad argument #1 to 'generate_content' (table expected, got
-- string)" -- never a crash and never an "attempt to index a nil value"
-- from deep inside. Each public function is called with values of every
-- wrong type in each of its argument positions.
local gemini = require("gemini")
local core = require("gemini.core")

local KEY = "args-key-0b7e"
-- Nothing is sent: each call must fail before any request.
local BASE = "http://127.0.0.1:1"

-- One value of each type (nil too) to try where another type is expected.
local SAMPLES = {
  ["nil"] = nil, string = "x", number = 42, boolean = true, table = { 1 },
  ["function"] = print, thread = coroutine.create(function() end), userdata = io.stdout,
}
local TYPES = { "nil", "string", "number", "boolean", "table", "function", "thread", "userdata" }

local function got(t)
  return t == "nil" and "no value" or t
end

-- Calls f(...) protected: the error message, or fails the test if none.
local function raise_of(f, ...)
  local ok, msg = pcall(f, ...)
  assert(not ok, "no error was raised")
  assert(type(msg) == "string", "raised a " .. type(msg) .. ", not a message")
  assert(not msg:find("attempt to", 1, true), "unchecked argument: " .. msg)
  return msg
end

local function expect(msg, want)
  assert(msg:find(want, 1, true), ("expected %q in the error, got %q"):format(want, msg))
end

-- For each wrong type of argument n of fname: call(v) must raise with
-- "bad argument #n to 'fname'" (and " (<what> expected, got <type>)" when
-- `what` is given). `ok` lists the accepted types.
local function walk(fname, n, ok, call, what)
  local accepted = {}
  for t in ok:gmatch("[^|]+") do accepted[t] = true end
  for _, t in ipairs(TYPES) do
    if not accepted[t] then
      local msg = raise_of(call, SAMPLES[t])
      expect(msg, ("bad argument #%d to '%s'"):format(n, fname))
      if what then expect(msg, ("(%s expected, got %s)"):format(what, got(t))) end
    end
  end
end

-- For each wrong type of field `field`: "bad field 'field' to 'fname'".
local function walk_field(fname, field, ok, call, what)
  local accepted = { ["nil"] = true }
  for t in ok:gmatch("[^|]+") do accepted[t] = true end
  for _, t in ipairs(TYPES) do
    if not accepted[t] then
      local msg = raise_of(call, SAMPLES[t])
      expect(msg, ("bad field '%s' to '%s'"):format(field, fname))
      if what then expect(msg, ("(%s expected, got %s)"):format(what, t)) end
    end
  end
end

local function client(extra)
  local o = { api_key = KEY, base_url = BASE, retry = false }
  for k, v in pairs(extra or {}) do o[k] = v end
  return gemini.Client(o)
end

describe("argument checks", function()
  describe("gemini.Client", function()
    it("takes a table or nothing", function()
      walk("Client", 1, "nil|table", gemini.Client, "table")
    end)

    it("checks the type of every option, naming it", function()
      local FIELDS = {
        api_key = "string|boolean", base_url = "string", api_version = "string", auth = "string",
        headers = "table", timeout = "number", connect_timeout = "number",
        stall_timeout = "number", retry = "table|boolean", proxy = "string", ca_file = "string",
        verify = "boolean", max_response_size = "number", max_event_size = "number",
        log = "function",
      }
      for field, ok in pairs(FIELDS) do
        walk_field("Client", field, ok, function(v)
          local o = { api_key = KEY, base_url = BASE }
          o[field] = v
          if field == "api_key" and v == nil then o.api_key = 1 end
          return gemini.Client(o)
        end)
      end
      for _, bad in ipairs({ { auth = "basic" }, { base_url = "ftp://x" }, { transport = 1 },
                             { loop = "uv" }, { headers = { X = "a\nb" } } }) do
        bad.api_key = KEY
        local msg = raise_of(gemini.Client, bad)
        assert.matches("'Client'", msg)
      end
    end)
  end)

  describe("client.models", function()
    local c = client()
    local M = c.models
    local REQ = function() return { model = "gemini-2.5-flash", contents = "hi" } end

    for _, fname in ipairs({ "generate_content", "generate_content_stream", "count_tokens",
                             "embed_content" }) do
      it(fname .. " takes a request table with a model", function()
        walk(fname, 1, "table", function(v) return M[fname](M, v) end, "table")
        walk(fname, 1, "table|function", function(v) return M[fname](M, v) end)
        -- the model: a string
        local msg = raise_of(M[fname], M, { contents = "x" })
        expect(msg, "'model'")
        expect(msg, "'" .. fname .. "'")
        msg = raise_of(M[fname], M, { model = 1, contents = "x" })
        expect(msg, "'model'")
        -- contents of a wrong type
        msg = raise_of(M[fname], M, { model = "m", contents = 1 })
        expect(msg, "'" .. fname .. "'")
        -- config of a wrong type
        local r = REQ()
        r.config = "fast"
        msg = raise_of(M[fname], M, r)
        expect(msg, "'" .. fname .. "'")
        expect(msg, "config")
        -- called with '.' instead of ':'
        msg = raise_of(M[fname], REQ())
        expect(msg, "'" .. fname .. "'")
      end)
    end

    it("get takes a model name", function()
      walk("get", 1, "string|function", function(v) return M:get(v) end, nil)
      expect(raise_of(M.get, "gemini-2.5-flash"), "'get'")
    end)

    it("list takes an options table or nothing", function()
      walk("list", 1, "nil|table|function", function(v) return M:list(v) end, "table")
      expect(raise_of(M.list, {}), "'list'")
    end)

    if M.generate_content_all then
      it("generate_content_all takes a list of requests", function()
        for _, t in ipairs({ "string", "number", "boolean" }) do
          expect(raise_of(M.generate_content_all, M, SAMPLES[t]), "'generate_content_all'")
        end
        expect(raise_of(M.generate_content_all, M, { "not a request" }), "'generate_content_all'")
        expect(raise_of(M.generate_content_all, M, { REQ() }, "fast"), "'generate_content_all'")
      end)
    end
  end)

  describe("client.chats", function()
    local c = client()
    it("create takes an options table with a model", function()
      walk("create", 1, "table", function(v) return c.chats:create(v) end, "table")
      expect(raise_of(c.chats.create, c.chats, {}), "'model'")
      expect(raise_of(c.chats.create, c.chats, { model = "m", config = "x" }), "'config'")
      expect(raise_of(c.chats.create, c.chats, { model = "m", history = "x" }), "'history'")
      expect(raise_of(c.chats.create, { model = "m" }), "'create'")
    end)

    it("send_message and send_message_stream check the message and config", function()
      local chat = c.chats:create{ model = "gemini-2.5-flash" }
      for _, fname in ipairs({ "send_message", "send_message_stream" }) do
        walk(fname, 1, "string|table", function(v) return chat[fname](chat, v) end)
        walk(fname, 2, "nil|table|function", function(v) return chat[fname](chat, "hi", v) end)
        expect(raise_of(chat[fname], "hi"), "'" .. fname .. "'")
      end
    end)
  end)

  describe("client.files", function()
    local c = client()
    it("checks upload, get, delete, list and wait_active", function()
      local F = c.files
      walk("upload", 1, "table|function", function(v) return F:upload(v) end)
      expect(raise_of(F.upload, F, { path = 1 }), "'path'")
      expect(raise_of(F.upload, F, {}), "'upload'")
      for _, fname in ipairs({ "get", "delete" }) do
        walk(fname, 1, "string|table|function", function(v) return F[fname](F, v) end)
      end
      walk("list", 1, "nil|table|function", function(v) return F:list(v) end)
      expect(raise_of(F.wait_active, F, "files/abc", "soon"), "'wait_active'")
    end)
  end)

  describe("client.caches", function()
    local c = client()
    it("checks create, get, update, delete and list", function()
      local C = c.caches
      walk("create", 1, "table|function", function(v) return C:create(v) end)
      walk("update", 1, "table|function", function(v) return C:update(v) end)
      expect(raise_of(C.update, C, { name = "cachedContents/x" }), "'config'")
      for _, fname in ipairs({ "get", "delete" }) do
        walk(fname, 1, "string|table|function", function(v) return C[fname](C, v) end)
      end
      walk("list", 1, "nil|table|function", function(v) return C:list(v) end)
    end)
  end)

  describe("client.file_search_stores", function()
    local c = client()
    it("checks create, upload_to_file_search_store, import_file, get, delete and list", function()
      local S, D = c.file_search_stores, c.file_search_stores.documents
      walk("create", 1, "nil|table|function", function(v) return S:create(v) end)
      for _, fname in ipairs({ "upload_to_file_search_store", "import_file" }) do
        walk(fname, 1, "table|function", function(v) return S[fname](S, v) end)
        expect(raise_of(S[fname], S, {}), "bad field 'file_search_store_name' to '" .. fname .. "'")
      end
      walk_field("upload_to_file_search_store", "file", "string", function(v)
        return S:upload_to_file_search_store{ file_search_store_name = "s", file = v }
      end)
      walk_field("import_file", "file_name", "string|table", function(v)
        return S:import_file{ file_search_store_name = "s", file_name = v }
      end)
      for _, service in ipairs({ S, D }) do
        for _, fname in ipairs({ "get", "delete" }) do
          walk(fname, 1, "string|table|function", function(v) return service[fname](service, v) end)
        end
        walk("delete", 2, "nil|table|function", function(v)
          return service:delete("fileSearchStores/s/documents/d", v)
        end)
      end
      walk("list", 1, "nil|table|function", function(v) return S:list(v) end)
      walk("list", 1, "table|function", function(v) return D:list(v) end)
    end)
  end)

  describe("client.batches", function()
    local c = client()
    it("checks create, create_embeddings, write_requests, get, list, cancel, delete, wait and results", function()
      local B = c.batches
      walk("create", 1, "table", function(v) return B:create(v) end)
      walk("create_embeddings", 1, "table", function(v) return B:create_embeddings(v) end)
      expect(raise_of(B.create, B, { model = "gemini-2.5-flash", src = 5 }), "bad field 'src' to 'create'")
      walk("write_requests", 1, "string", function(v) return B:write_requests(v, { "a" }) end)
      walk("write_requests", 2, "table|function", function(v) return B:write_requests("/nonexistent/x", v) end)
      for _, fname in ipairs({ "get", "delete", "cancel", "wait", "results" }) do
        walk(fname, 1, "string|table", function(v) return B[fname](B, v) end)
      end
      walk("wait", 2, "nil|table|function", function(v) return B:wait("batches/x", v) end)
      walk("results", 2, "nil|table|function", function(v) return B:results("batches/x", v) end)
      walk("list", 1, "nil|table|function", function(v) return B:list(v) end)
    end)
  end)

  describe("builders", function()
    it("gemini.tools", function()
      local T = gemini.tools
      walk("tools.google_search", 1, "nil|table", T.google_search)
      walk("tools.google_maps", 1, "nil|table", T.google_maps)
      walk("tools.functions", 1, "table", T.functions)
      expect(raise_of(T.functions, { { name = 1 } }), "'tools.functions'")
      walk("tools.handlers", 1, "nil|table", T.handlers)
      walk("tools.tool_config", 1, "nil|table", T.tool_config)
      walk("tools.file_search", 1, "table", T.file_search)
    end)

    it("gemini.thinking", function()
      local TH = gemini.thinking
      walk("thinking.level", 1, "string", TH.level)
      expect(raise_of(TH.level, "EXTREME"), "'thinking.level'")
      walk("thinking.budget", 1, "number", TH.budget)
      walk("thinking.level", 2, "nil|table", function(v) return TH.level("LOW", v) end)
      walk("thinking.budget", 2, "nil|table", function(v) return TH.budget(10, v) end)
    end)

    it("gemini.schema", function()
      local S = gemini.schema
      for _, fname in ipairs({ "string", "number", "integer", "boolean" }) do
        for _, t in ipairs({ "string", "number", "boolean", "function" }) do
          expect(raise_of(S[fname], SAMPLES[t]), "'schema." .. fname .. "'")
        end
      end
      walk("schema.object", 1, "nil|table", S.object)
      walk("schema.any_of", 1, "table", S.any_of)
      for _, t in ipairs({ "string", "number", "boolean", "nil" }) do
        expect(raise_of(S.array, SAMPLES[t]), "'schema.array'")
        expect(raise_of(S.enum, SAMPLES[t]), "'schema.enum'")
      end
    end)

    it("gemini.parts", function()
      local P = gemini.parts
      walk("parts.text", 1, "string", P.text)
      walk("parts.from_bytes", 1, "string", P.from_bytes)
      walk("parts.from_bytes", 2, "nil|string", function(v) return P.from_bytes("x", v) end)
      walk("parts.from_file", 1, "string", P.from_file)
      walk("parts.from_uri", 1, "string", P.from_uri)
      walk("parts.function_response", 1, "string", function(v) return P.function_response(v, {}) end)
      walk("parts.function_response", 2, "table", function(v) return P.function_response("f", v) end)
      walk("parts.content", 1, "string", function(v) return P.content(v, "hi") end)
      walk("parts.content", 2, "string|table", function(v) return P.content("user", v) end)
    end)

    it("gemini.object and gemini.array raise on anything but a table or nothing", function()
      for _, fname in ipairs({ "object", "array" }) do
        assert.is_table(gemini[fname]())
        for _, t in ipairs({ "string", "number", "boolean", "function" }) do
          expect(raise_of(gemini[fname], SAMPLES[t]), "bad argument #1 to '" .. fname .. "'")
        end
      end
    end)
  end)

  describe("gemini.core (C)", function()
    it("checks every argument and never crashes", function()
      for _, t in ipairs({ "nil", "table", "boolean", "function" }) do
        expect(raise_of(core.b64encode, SAMPLES[t]), "bad argument #1")
        expect(raise_of(core.b64decode, SAMPLES[t]), "bad argument #1")
      end
      for _, t in ipairs({ "string", "number", "boolean" }) do
        expect(raise_of(core.sse_framer, SAMPLES[t]), "bad argument #1")
        expect(raise_of(core.json_encode, {}, SAMPLES[t]), "bad argument #2")
      end
      expect(raise_of(core.sse_framer, { max_event_size = "big" }), "max_event_size")
      expect(raise_of(core.sse_framer, { max_event_size = 0 }), "max_event_size")
      local f = core.sse_framer()
      expect(raise_of(f.feed, f, 1, nil), "bad argument #3")
      expect(raise_of(f.feed, f, {}, {}), "bad argument #2")
      expect(raise_of(f.feed, "x", "data: x\n\n", {}), "bad argument #1")
      expect(raise_of(core.json_encode), "bad argument #1")
      local s = core.session()
      for _, t in ipairs({ "nil", "string", "number" }) do
        expect(raise_of(s.request, s, SAMPLES[t]), "bad argument #2")
      end
      expect(raise_of(s.request, s, { method = "GET" }), "url")
      expect(raise_of(s.request, s, { url = "http://127.0.0.1:1/", timeout = "x" }), "timeout")
      expect(raise_of(s.request, "x", { url = "http://127.0.0.1:1/" }), "bad argument #1")
      expect(raise_of(core.sleep, "soon"), "bad argument #1")
      s:close()
    end)
  end)
end)
