-- client.files against the mock server, through the real HTTP stack:
-- the resumable upload protocol (start, chunks, query, resume), get, list,
-- delete, wait_active, and a File used in contents.
local gemini = require("gemini")
local core = require("gemini.core")
local mock = require("support.mock")

local KEY = "files-spec-key"
local K, M = 1024, 1024 * 1024

-- A file whose every 16-byte line names its own offset, so any slice of it
-- tells where it came from.
local function patterned(size)
  local lines = {}
  for off = 0, size - 1, 16 do lines[#lines + 1] = string.format("%015d\n", off) end
  return table.concat(lines):sub(1, size)
end

local write_file = mock.write_file

-- sha256Hash as the API writes it (base64 of the digest), computed by
-- sha256sum, independently of the mock.
local function sha256_b64(path)
  local p = assert(io.popen("sha256sum " .. mock.shell_quote(path)))
  local hex = p:read("*a"):match("^(%x+)")
  p:close()
  return core.b64encode((hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)))
end

local function chunks_of(log)
  local out = {}
  for _, e in ipairs(log) do
    local cmd = e.headers["x-goog-upload-command"]
    if e.query.upload_id and cmd and cmd:find("upload", 1, true) then out[#out + 1] = e end
  end
  return out
end

local function offsets(list)
  local out = {}
  for i, e in ipairs(list) do out[i] = tonumber(e.headers["x-goog-upload-offset"]) end
  return out
end

local function commands(log)
  local out = {}
  for _, e in ipairs(log) do
    if e.query.upload_id then out[#out + 1] = e.headers["x-goog-upload-command"] end
  end
  return out
end

describe("client.files", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client, tmp, tmpfiles

  local function tmpfile(ext, data)
    local path = os.tmpname() .. ext
    tmpfiles[#tmpfiles + 1] = path
    if data then write_file(path, data) end
    return path
  end

  setup(function()
    client = m:client{ retry = { attempts = 5, initial_delay = 0.01, max_delay = 0.05, jitter = 0 } }
    tmpfiles = {}
  end)

  teardown(function()
    for _, p in ipairs(tmpfiles) do os.remove(p) end
  end)

  describe("upload", function()
    it("from a path: start request, one chunk, the File", function()
      local data = patterned(5000)
      tmp = tmpfile(".pdf", data)
      local file, err = client.files:upload{ path = tmp, display_name = "Q3 report" }
      assert.is_nil(err)
      assert.matches("^files/", file.name)
      assert.equal("application/pdf", file.mimeType)
      assert.equal("5000", file.sizeBytes)
      assert.equal("ACTIVE", file.state)
      assert.equal("Q3 report", file.displayName)
      assert.equal(sha256_b64(tmp), file.sha256Hash)
      assert.equal(m.url .. "/v1beta/" .. file.name, file.uri)

      local log = m:log()
      assert.equal(2, #log)
      local start, chunk = log[1], log[2]
      assert.equal("POST", start.method)
      assert.equal("/upload/v1beta/files", start.path)
      assert.same({}, start.query)
      local h = start.headers
      assert.equal("resumable", h["x-goog-upload-protocol"])
      assert.equal("start", h["x-goog-upload-command"])
      assert.equal("5000", h["x-goog-upload-header-content-length"])
      assert.equal("application/pdf", h["x-goog-upload-header-content-type"])
      assert.equal(tmp:match("[^/]+$"), h["x-goog-upload-file-name"])
      assert.equal("application/json", h["content-type"])
      assert.equal(KEY, h["x-goog-api-key"])
      assert.same({ file = { mimeType = "application/pdf", sizeBytes = "5000",
                             displayName = "Q3 report" } }, start.json)

      assert.equal("/upload/v1beta/files", chunk.path)
      assert.equal("upload-0001", chunk.query.upload_id)
      assert.equal("upload, finalize", chunk.headers["x-goog-upload-command"])
      assert.equal("0", chunk.headers["x-goog-upload-offset"])
      assert.equal("5000", chunk.headers["content-length"])
      assert.is_nil(chunk.headers["x-goog-upload-protocol"])
      assert.equal(KEY, chunk.headers["x-goog-api-key"])   -- same origin: as the JS SDK
      assert.equal(data, chunk.body)
      assert.equal(200, chunk.status)
    end)

    it("from data, in chunks of chunk_size, each at its offset", function()
      local data = patterned(600 * K)
      local file, err = client.files:upload{ data = data, mime_type = "text/plain",
                                             chunk_size = 256 * K }
      assert.is_nil(err)
      assert.equal(tostring(600 * K), file.sizeBytes)
      local log = m:log()
      assert.equal("start", log[1].headers["x-goog-upload-command"])
      assert.is_nil(log[1].headers["x-goog-upload-file-name"])   -- only from a path
      local chunks = chunks_of(log)
      assert.same({ 0, 256 * K, 512 * K }, offsets(chunks))
      assert.same({ "upload", "upload", "upload, finalize" }, commands(log))
      assert.same({ tostring(256 * K), tostring(256 * K), tostring(88 * K) },
        { chunks[1].headers["content-length"], chunks[2].headers["content-length"],
          chunks[3].headers["content-length"] })
      for _, c in ipairs(chunks) do
        local off = tonumber(c.headers["x-goog-upload-offset"])
        -- the log keeps the first 64 KiB of each body
        assert.equal(data:sub(off + 1, off + #c.body), c.body)
        assert.equal(64 * K, #c.body)
      end
      -- the server's hash of the bytes it got equals the data's
      tmp = tmpfile(".txt", data)
      assert.equal(sha256_b64(tmp), file.sha256Hash)
    end)

    it("from a path, in chunks read from their own offsets in the file", function()
      local data = patterned(M + 100)
      tmp = tmpfile(".bin", data)
      local file, err = client.files:upload{ path = tmp, mime_type = "application/octet-stream",
                                             chunk_size = 256 * K }
      assert.is_nil(err)
      assert.equal(sha256_b64(tmp), file.sha256Hash)
      local chunks = chunks_of(m:log())
      assert.same({ 0, 256 * K, 512 * K, 768 * K, M }, offsets(chunks))
      for _, c in ipairs(chunks) do
        local off = tonumber(c.headers["x-goog-upload-offset"])
        assert.equal(data:sub(off + 1, off + #c.body), c.body)
      end
      assert.equal("100", chunks[5].headers["content-length"])
    end)

    it("rounds chunk_size up to the server's granularity", function()
      local file = assert(client.files:upload{ data = patterned(300 * K), mime_type = "text/plain",
                                               chunk_size = 1000 })
      assert.equal(tostring(300 * K), file.sizeBytes)
      assert.same({ 0, 256 * K }, offsets(chunks_of(m:log())))
    end)

    it("of zero bytes: one empty 'upload, finalize'", function()
      local calls = {}
      local file = assert(client.files:upload{ data = "", mime_type = "text/plain",
        on_progress = function(d, t) calls[#calls + 1] = { d, t } end })
      assert.equal("0", file.sizeBytes)
      local chunks = chunks_of(m:log())
      assert.equal(1, #chunks)
      assert.equal("upload, finalize", chunks[1].headers["x-goog-upload-command"])
      assert.equal("0", chunks[1].headers["content-length"])
      assert.same({ { 0, 0 } }, calls)
    end)

    it("guesses the MIME type from the file name", function()
      tmp = tmpfile(".PNG", "\137PNG fake")
      local file = assert(client.files:upload{ path = tmp })
      assert.equal("image/png", file.mimeType)
      assert.equal("image/png", m:log()[1].headers["x-goog-upload-header-content-type"])
      file = assert(client.files:upload{ data = "# notes", display_name = "notes.md" })
      assert.equal("text/markdown", file.mimeType)
      tmp = tmpfile(".mp4", "not really a video")
      file = assert(client.files:upload{ path = tmp, mime_type = "application/x-custom" })
      assert.equal("application/x-custom", file.mimeType)
      assert.equal("audio/mp3", gemini.Client{ api_key = "x" }.files.guess_mime_type("a.mp3"))
      assert.equal("text/rtf", gemini.Client{ api_key = "x" }.files.guess_mime_type("a.rtf"))
    end)

    it("guesses as gemini.parts does: one table, Gemini's spellings", function()
      local files = gemini.Client{ api_key = "x" }.files
      for _, name in ipairs({ "a.mp3", "a.rtf", "a.wav", "a.png", "a.pdf", "a.md", "a.markdown",
                              "a.tsv", "a.c", "a.opus", "a.mkv", "a.aif", "a.lua", "a.xyz" }) do
        assert.equal(gemini.parts.guess_mime_type(name), files.guess_mime_type(name), name)
      end
      local file = assert(client.files:upload{ data = "{\\rtf1 hi}", display_name = "note.rtf" })
      assert.equal("text/rtf", file.mimeType)
    end)

    it("asks for mime_type when it cannot be guessed", function()
      tmp = tmpfile(".xyz", "data")
      assert.has_error(function() client.files:upload{ path = tmp } end,
        "bad argument #1 to 'upload' (cannot guess the MIME type of \"" .. tmp
        .. "\"; pass mime_type, e.g. mime_type = \"application/pdf\")")
      assert.has_error(function() client.files:upload{ data = "abc" } end,
        "bad argument #1 to 'upload' (cannot guess the MIME type of data; pass mime_type, e.g. mime_type ="
        .. " \"application/pdf\")")
      assert.equal(0, #m:log())
    end)

    it("rejects bad arguments before any request", function()
      assert.has_error(function() client.files:upload() end,
        "bad argument #1 to 'upload' (table expected, got no value)")
      assert.has_error(function() client.files:upload{ mime_type = "text/plain" } end,
        "bad argument #1 to 'upload' (exactly one of 'path' and 'data' expected)")
      assert.has_error(function()
        client.files:upload{ data = "a", path = "/etc/hostname", mime_type = "text/plain" }
      end, "bad argument #1 to 'upload' (exactly one of 'path' and 'data' expected)")
      assert.has_error(function()
        client.files:upload{ data = "a", mime_type = "text/plain", chunk_size = 0 }
      end, "bad field 'chunk_size' to 'upload' (a positive integer expected)")
      assert.has_error(function() client.files:upload{ data = 5, mime_type = "text/plain" } end,
        "bad field 'data' to 'upload' (string expected, got number)")
      assert.has_error(function()
        client.files:upload{ data = "a", mime_type = "text/plain", http_options = { timout = 5 } }
      end, "bad field 'http_options.timout' to 'upload' (unknown field; known: timeout, stall_timeout,"
        .. " headers, retry)")
      assert.has_error(function()
        client.files:upload{ data = "a", mime_type = "text/plain", http_options = { timeout = -1 } }
      end, "bad field 'http_options.timeout' to 'upload' (a positive finite number of seconds"
        .. " expected, got -1)")
      assert.has_error(function()
        client.files:upload{ data = "a", mime_type = "text/plain", http_options = 5 }
      end, "bad field 'http_options' to 'upload' (a table expected, got 5)")
      local ok, msg = pcall(client.files.upload, client.files,
        { path = "/nonexistent/dir/a.pdf" })
      assert.is_false(ok)
      assert.matches("cannot open /nonexistent/dir/a.pdf: No such file or directory", msg, 1, true)
      ok, msg = pcall(client.files.upload, client.files, { path = "/tmp", mime_type = "text/plain" })
      assert.is_false(ok)
      assert.matches("cannot read", msg, 1, true)
      assert.has_error(function() client.files.upload({}, { data = "a" }) end,
        "bad self to 'upload' (call it as client.files:upload(...))")
      assert.equal(0, #m:log())
    end)

    it("calls on_progress with done never decreasing, up to the total", function()
      local data = patterned(M)
      tmp = tmpfile(".txt", data)
      local calls = {}
      assert(client.files:upload{ path = tmp, chunk_size = 256 * K,
        on_progress = function(done, total) calls[#calls + 1] = { done, total } end })
      assert.is_true(#calls >= 4)   -- at least once per chunk
      local prev = -1
      for _, c in ipairs(calls) do
        assert.equal(M, c[2])
        assert.is_true(c[1] > prev and c[1] <= M)
        prev = c[1]
      end
      assert.equal(M, calls[#calls][1])
    end)

    it("sends a name with files/ prepended", function()
      local file = assert(client.files:upload{ data = "hi", mime_type = "text/plain",
                                               name = "my-notes" })
      assert.equal("files/my-notes", file.name)
      assert.equal("files/my-notes", m:log()[1].json.file.name)
    end)

    it("sends no key to a session URL on another origin", function()
      -- The mock names "localhost" in the session URL while the client
      -- talks to 127.0.0.1: another origin, though the same server.
      local port = m.url:match(":(%d+)$")
      for _, auth in ipairs({ "header", "bearer" }) do
        local c2 = gemini.Client{ api_key = KEY, base_url = m.url, auth = auth }
        m:reset()
        m:faults{ { type = "upload_host", host = "localhost:" .. port } }
        local file, err = c2.files:upload{ data = patterned(300 * K), mime_type = "text/plain",
                                           chunk_size = 256 * K }
        assert.is_nil(err)
        assert.equal(tostring(300 * K), file.sizeBytes)
        local log = m:log()
        assert.equal(3, #log)   -- start and two chunks
        assert.equal("127.0.0.1:" .. port, log[1].headers.host)
        assert.truthy(log[1].headers["x-goog-api-key"] or log[1].headers.authorization)
        for i = 2, 3 do
          assert.equal("localhost:" .. port, log[i].headers.host)
          assert.is_nil(log[i].headers["x-goog-api-key"])
          assert.is_nil(log[i].headers.authorization)
          assert.equal(200, log[i].status)
        end
      end
    end)

    it("returns the API error of a failed start", function()
      m:faults{ { type = "status", code = 400, message = "bad start" } }
      local file, err = client.files:upload{ data = "x", mime_type = "text/plain" }
      assert.is_nil(file)
      assert.equal("api", err.kind)
      assert.equal(400, err.code)
      assert.equal("bad start", err.message)
      assert.equal(1, #m:log())
    end)
  end)

  describe("upload interrupted", function()
    it("half-way resumes from the offset the server reports, not from 0", function()
      local data = patterned(M)
      tmp = tmpfile(".txt", data)
      m:faults{ { type = "upload_cut", bytes = 512 * K } }
      local file, err = client.files:upload{ path = tmp }
      assert.is_nil(err)
      assert.equal(sha256_b64(tmp), file.sha256Hash)
      assert.equal(tostring(M), file.sizeBytes)
      local log = m:log()
      local chunks = chunks_of(log)
      -- the cut one: one chunk for the whole file, half of it kept
      assert.equal("upload_cut", chunks[1].fault)
      assert.equal(0, tonumber(chunks[1].headers["x-goog-upload-offset"]))
      assert.equal(512 * K, chunks[1].upload_received)
      -- the client asked where the server stood ...
      local cmds = commands(log)
      local asked
      for i, c in ipairs(cmds) do if c == "query" then asked = i end end
      assert.is_not_nil(asked)
      -- ... and sent only the second half
      local last = chunks[#chunks]
      assert.equal(512 * K, tonumber(last.headers["x-goog-upload-offset"]))
      assert.equal("upload, finalize", last.headers["x-goog-upload-command"])
      assert.equal(tostring(512 * K), last.headers["content-length"])
      assert.equal(data:sub(512 * K + 1, 512 * K + #last.body), last.body)
      -- nothing after the cut was accepted at offset 0
      for i = 2, #chunks do
        if tonumber(chunks[i].headers["x-goog-upload-offset"]) == 0 then
          assert.equal(400, chunks[i].status)
        end
      end
    end)

    it("libcurl's silent re-send of a chunk restarts that chunk, not the file", function()
      -- The cut leaves the reused connection dead with no answer; libcurl
      -- then re-sends the request on a new connection by itself, rewinding
      -- the body through the seek callback: to the chunk's first byte.
      local data = patterned(M)
      tmp = tmpfile(".txt", data)
      m:faults{ { type = "upload_cut", offset = 512 * K, bytes = 1000 } }
      local file, err = client.files:upload{ path = tmp, chunk_size = 256 * K }
      assert.is_nil(err)
      assert.equal(sha256_b64(tmp), file.sha256Hash)
      local chunks = chunks_of(m:log())
      local at = {}
      for _, c in ipairs(chunks) do
        local off = tonumber(c.headers["x-goog-upload-offset"])
        -- every body starts with the file's bytes at its own offset
        assert.equal(data:sub(off + 1, off + #c.body), c.body)
        if off == 512 * K then at[#at + 1] = c end
      end
      assert.equal("upload_cut", at[1].fault)
      assert.equal(2, #at)                        -- libcurl's own re-send ...
      assert.are_not.equal(at[1].peer, at[2].peer) -- ... on a new connection,
      assert.equal(400, at[2].status)             -- refused: the server holds 1000 bytes more
      local last = offsets(chunks)
      assert.same({ 512 * K + 1000, 768 * K + 1000 }, { last[#last - 1], last[#last] })
    end)

    it("after a dropped connection the client sees, queries and resumes", function()
      -- Cut twice: libcurl's own re-send is cut too, so the failure reaches
      -- the client as a transport error.
      local data = patterned(M)
      tmp = tmpfile(".txt", data)
      m:faults{ { type = "upload_cut", bytes = 300 * K, times = 2 } }
      local logs = {}
      local c2 = gemini.Client{ api_key = KEY, base_url = m.url,
        retry = { attempts = 5, initial_delay = 0.01, max_delay = 0.05, jitter = 0 },
        log = function(line) logs[#logs + 1] = line end }
      local file, err = c2.files:upload{ path = tmp }
      assert.is_nil(err)
      assert.equal(sha256_b64(tmp), file.sha256Hash)
      local chunks = chunks_of(m:log())
      assert.same({ 0, 0, 300 * K }, offsets(chunks))
      assert.same({ "upload_cut", "upload_cut" }, { chunks[1].fault, chunks[2].fault })
      assert.same({ "upload, finalize", "upload, finalize", "query", "upload, finalize" },
        commands(m:log()))
      local saw
      for _, l in ipairs(logs) do
        if l:find("transport error", 1, true) and l:find("asking the server", 1, true) then saw = true end
        assert.is_nil(l:find(KEY, 1, true))
      end
      assert.is_true(saw)
    end)

    it("after a connection dropped while the chunk was still going out", function()
      -- The server stops reading after 1 MiB of a 4 MiB chunk: the client
      -- fails mid-send (or, by timing, right after); either way it resumes
      -- from what the server kept.
      local data = patterned(4 * M)
      tmp = tmpfile(".txt", data)
      m:faults{ { type = "upload_cut", bytes = M, drain = false } }
      local file, err = client.files:upload{ path = tmp }
      assert.is_nil(err)
      assert.equal(sha256_b64(tmp), file.sha256Hash)
      local log = m:log()
      local chunks = chunks_of(log)
      assert.equal("upload_cut", chunks[1].fault)
      assert.equal(M, chunks[1].upload_received)
      local last = chunks[#chunks]
      assert.equal(M, tonumber(last.headers["x-goog-upload-offset"]))
      assert.equal(tostring(3 * M), last.headers["content-length"])
      assert.equal(200, last.status)
      local cmds = commands(log)
      assert.equal("query", cmds[#cmds - 1])
    end)

    it("after a 503 on a chunk resumes at that chunk, not at 0", function()
      local data = patterned(600 * K)
      m:faults{ { type = "upload_status", code = 503, offset = 256 * K } }
      local file, err = client.files:upload{ data = data, mime_type = "text/plain",
                                             chunk_size = 256 * K }
      assert.is_nil(err)
      assert.equal(tostring(600 * K), file.sizeBytes)
      local log = m:log()
      assert.same({ "upload", "upload", "query", "upload", "upload, finalize" }, commands(log))
      local chunks = chunks_of(log)
      assert.same({ 0, 256 * K, 256 * K, 512 * K }, offsets(chunks))
      assert.equal(503, chunks[2].status)
      tmp = tmpfile(".txt", data)
      assert.equal(sha256_b64(tmp), file.sha256Hash)
    end)

    it("gives up after the retry policy's attempts", function()
      local c2 = gemini.Client{ api_key = KEY, base_url = m.url,
        retry = { attempts = 3, initial_delay = 0.01, max_delay = 0.05, jitter = 0 } }
      m:faults{ { type = "upload_status", code = 503, times = 10 } }
      local file, err = c2.files:upload{ data = "abc", mime_type = "text/plain" }
      assert.is_nil(file)
      assert.equal("api", err.kind)
      assert.equal(503, err.code)
      assert.equal(3, #chunks_of(m:log()))
      assert.same({ "upload, finalize", "query", "upload, finalize", "query", "upload, finalize" },
        commands(m:log()))
    end)

    it("does not retry a chunk with retry = false", function()
      local c2 = gemini.Client{ api_key = KEY, base_url = m.url, retry = false }
      m:faults{ { type = "upload_status", code = 500 } }
      local file, err = c2.files:upload{ data = "abc", mime_type = "text/plain" }
      assert.is_nil(file)
      assert.equal(500, err.code)
      assert.same({ "upload, finalize" }, commands(m:log()))
    end)

    it("does not retry a chunk answered with a plain 4xx", function()
      m:faults{ { type = "upload_status", code = 403, message = "no" } }
      local file, err = client.files:upload{ data = "abc", mime_type = "text/plain" }
      assert.is_nil(file)
      assert.equal(403, err.code)
      assert.equal("no", err.message)
      assert.equal(1, #chunks_of(m:log()))
    end)
  end)

  describe("upload against a server that misbehaves", function()
    it("counts an 'active' answer that takes nothing as a failure of the retry policy", function()
      -- Every chunk answered "active" with the offset it was sent at (for a
      -- while: an upload that never ends fails on its own once the fault
      -- is used up).
      m:faults{ { type = "upload_active", times = 100 } }
      local c2 = gemini.Client{ api_key = KEY, base_url = m.url,
        retry = { attempts = 3, initial_delay = 0.01, max_delay = 0.05, jitter = 0 } }
      local file, err = c2.files:upload{ data = patterned(300 * K), mime_type = "text/plain",
                                         chunk_size = 256 * K }
      assert.is_nil(file)
      assert.equal("api", err.kind)
      assert.equal("the server took none of the 262144 bytes sent at offset 0"
        .. " (X-Goog-Upload-Size-Received: 0)", err.message)
      assert.same({ "upload", "query", "upload", "query", "upload" }, commands(m:log()))
    end)

    for _, bad in ipairs({ "12.5", "-1", "1e3", "0x10", "99999999999999999999", tostring(600 * K + 1), "" }) do
      it("fails cleanly on X-Goog-Upload-Size-Received: '" .. bad .. "' in a chunk's answer", function()
        m:faults{ { type = "upload_active", received = bad } }
        local file, err = client.files:upload{ data = patterned(600 * K), mime_type = "text/plain",
                                               chunk_size = 256 * K }
        assert.is_nil(file)
        assert.equal("decode", err.kind)
        assert.equal(200, err.code)
        assert.equal(string.format("the upload answer has an invalid X-Goog-Upload-Size-Received (%q)", bad),
          err.message)
        assert.equal(1, #chunks_of(m:log()))
      end)
    end

    it("fails cleanly on a bad X-Goog-Upload-Size-Received in a query's answer", function()
      m:faults{ { type = "upload_status", code = 503 },
                { type = "upload_active", received = "7.5", query = true } }
      local file, err = client.files:upload{ data = patterned(600 * K), mime_type = "text/plain",
                                             chunk_size = 256 * K }
      assert.is_nil(file)
      assert.equal("decode", err.kind)
      assert.equal('the upload answer has an invalid X-Goog-Upload-Size-Received ("7.5")', err.message)
      assert.same({ "upload", "query" }, commands(m:log()))
    end)

    for _, bad in ipairs({ "0.5", "1.5", "-262144", "0", "1e999", "99999999999999999999", "abc" }) do
      it("fails cleanly on X-Goog-Upload-Chunk-Granularity: '" .. bad .. "'", function()
        m:faults{ { type = "upload_granularity", value = bad } }
        local file, err = client.files:upload{ data = patterned(300 * K), mime_type = "text/plain" }
        assert.is_nil(file)
        assert.equal("decode", err.kind)
        assert.equal(string.format("the upload start answer has an invalid"
          .. " X-Goog-Upload-Chunk-Granularity (%q)", bad), err.message)
        assert.same({}, commands(m:log()))   -- no chunk went out
      end)
    end

    it("resumes after a cut on a reused connection at a strict server", function()
      -- The third chunk is cut after 1000 bytes (which the server keeps) on
      -- the connection the first two used; libcurl re-sends it whole on its
      -- own, and the strict server refuses that with a bare 400. The client
      -- asks for the offset and goes on from there, each chunk now on a
      -- fresh connection: the resumed chunk, cut too, is not re-sent
      -- behind the client's back.
      local data = patterned(M)
      tmp = tmpfile(".txt", data)
      m:faults{ { type = "upload_strict" },
                { type = "upload_cut", offset = 512 * K, bytes = 1000 },
                { type = "upload_cut", offset = 512 * K + 1000, bytes = 1000 } }
      local file, err = client.files:upload{ path = tmp, chunk_size = 256 * K }
      assert.is_nil(err)
      assert.equal(sha256_b64(tmp), file.sha256Hash)
      local log = m:log()
      local chunks = chunks_of(log)
      assert.same({ 0, 256 * K, 512 * K, 512 * K, 512 * K + 1000, 512 * K + 2000, 768 * K + 2000 },
        offsets(chunks))
      assert.equal(400, chunks[4].status)          -- libcurl's own re-send, refused
      assert.is_nil(chunks[4].headers["x-goog-upload-status"])
      assert.equal("upload_cut", chunks[5].fault)  -- cut again: not re-sent by libcurl
      -- after the failure every chunk came on a connection of its own
      local seen = {}
      for i = 1, 4 do seen[chunks[i].peer] = true end
      for i = 5, #chunks do
        assert.is_nil(seen[chunks[i].peer])
        seen[chunks[i].peer] = true
      end
      for _, e in ipairs(chunks) do
        local off = tonumber(e.headers["x-goog-upload-offset"])
        assert.equal(data:sub(off + 1, off + #e.body), e.body)
      end
    end)
  end)

  describe("upload on the retry engine", function()
    -- A client with this retry policy (a quick one by default) and log.
    local function uploader(retry, log)
      return gemini.Client{ api_key = KEY, base_url = m.url, log = log,
        retry = retry or { attempts = 3, initial_delay = 0.01, max_delay = 1, jitter = 0 } }
    end

    it("sends every request through the client's request path: logged, key redacted", function()
      local log, logged, lines = mock.log_lines()
      local file = assert(uploader(nil, log).files:upload{ data = "abc", mime_type = "text/plain" })
      assert.equal("3", file.sizeBytes)
      assert.truthy((logged("^gemini: POST http://[^ ]+%?upload_id=%[REDACTED%]&[^ ]+ %(upload: 3 bytes at offset 0 of 3%)$")),
        "the chunk's request is logged, its session id redacted (the URL alone may write to the upload)")
      local session = m:log()[2].query.upload_id
      assert.truthy(session and #session > 0)
      for _, l in ipairs(lines) do assert.is_nil(l:find(session, 1, true)) end
      assert.truthy((logged("^gemini:   x%-goog%-api%-key: %[REDACTED%]$")), "its key is redacted")
      for _, l in ipairs(lines) do assert.is_nil(l:find(KEY, 1, true)) end
    end)

    it("lets a chunk's server delay win over the backoff", function()
      m:faults{ { type = "status", code = 429, match = "upload_id", retry_delay = "0.3s" } }
      local t0 = core.now()
      assert.truthy(uploader().files:upload{ data = "abc", mime_type = "text/plain" })
      assert.is_true(core.now() - t0 >= 0.3)
      assert.same({ "upload, finalize", "query", "upload, finalize" }, commands(m:log()))
    end)

    it("gives up at once on a chunk's server delay past max_delay", function()
      m:faults{ { type = "status", code = 429, match = "upload_id", retry_delay = "30s" } }
      local file, err = uploader().files:upload{ data = "abc", mime_type = "text/plain" }
      assert.is_nil(file)
      assert.equal(429, err.code)
      assert.equal(30, err.retry_after)
      assert.same({ "upload, finalize" }, commands(m:log()))
    end)

    it("counts failed chunks and failed queries alike", function()
      m:faults{ { type = "upload_status", code = 503 },
                { type = "status", code = 503, match = "upload_id", times = 10 } }
      local file, err = uploader{ attempts = 3, initial_delay = 0.01, jitter = 0 }.files:upload{
        data = "abc", mime_type = "text/plain" }
      assert.is_nil(file)
      assert.equal(503, err.code)
      assert.same({ "upload, finalize", "query", "query" }, commands(m:log()))
    end)

    it("counts from zero again once the server holds more", function()
      -- Two attempts: each chunk may fail once, as long as the next one gets through.
      m:faults{ { type = "upload_status", code = 503, offset = 0 },
                { type = "upload_status", code = 503, offset = 256 * K } }
      local file, err = uploader{ attempts = 2, initial_delay = 0.01, jitter = 0 }.files:upload{
        data = ("x"):rep(300 * K), mime_type = "text/plain", chunk_size = 256 * K }
      assert.is_nil(err)
      assert.equal(tostring(300 * K), file.sizeBytes)
      assert.same({ "upload", "query", "upload", "upload, finalize", "query", "upload, finalize" },
        commands(m:log()))
    end)

    it("does not retry a final transport error", function()
      local log, _, lines = mock.log_lines()
      m:faults{ { type = "upload_host", host = "127.0.0.1:99999" } }
      local t0 = core.now()
      local file, err = uploader({ attempts = 5, initial_delay = 0.2, jitter = 0 }, log).files:upload{
        data = "abc", mime_type = "text/plain" }
      assert.is_nil(file)
      assert.equal("transport", err.kind)
      assert.is_true(err.final)
      local sent = 0
      for _, l in ipairs(lines) do
        if l:find("^gemini: POST .*%(upload: ") then sent = sent + 1 end
      end
      assert.equal(1, sent)
      assert.is_true(core.now() - t0 < 0.2, "took " .. (core.now() - t0) .. " s")
    end)

    local ok_uv, uv = pcall(require, "luv")
    local it_uv = ok_uv and it or pending
    it_uv("waits its backoff on the event loop, never blocking it", function()
      m:faults{ { type = "upload_status", code = 503 } }
      local c = gemini.Client{ api_key = KEY, base_url = m.url, loop = uv,
        retry = { attempts = 3, initial_delay = 0.5, jitter = 0 } }
      local got
      c.files:upload({ data = "abc", mime_type = "text/plain" }, function(err, file)
        got = { err = err, file = file }
      end)
      local ticks = require("support.loop").run(uv, 10)
      c:close()
      uv.run("nowait")   -- the closed handles' callbacks (luv crashes at exit without them)
      assert.is_nil(got.err)
      assert.equal("3", got.file.sizeBytes)
      assert.same({ "upload, finalize", "query", "upload, finalize" }, commands(m:log()))
      assert.is_true(ticks >= 5, "the loop was blocked: " .. ticks .. " ticks")
    end)
  end)

  describe("get, delete, list", function()
    local function upload(i)
      return assert(client.files:upload{ data = "file " .. i, mime_type = "text/plain",
                                         display_name = "f" .. i })
    end

    it("get accepts files/id, id, the URI and the File", function()
      local f = upload(1)
      local id = f.name:match("^files/(.*)$")
      for _, name in ipairs({ f.name, id, f.uri, f }) do
        local g, err = client.files:get(name)
        assert.is_nil(err)
        assert.equal(f.name, g.name)
        assert.equal("f1", g.displayName)
        local last = m:last()
        assert.equal("GET", last.method)
        assert.equal("/v1beta/" .. f.name, last.path)
      end
    end)

    it("get of an unknown file is an API error", function()
      local g, err = client.files:get("nosuchfile")
      assert.is_nil(g)
      assert.equal("api", err.kind)
      assert.equal(403, err.code)
      assert.equal("PERMISSION_DENIED", err.status)
    end)

    it("raises for names that are not file names", function()
      assert.has_error(function() client.files:get("") end,
        "bad argument #1 to 'get' (file name or File expected, got empty string)")
      assert.has_error(function() client.files:get(42) end,
        "bad argument #1 to 'get' (file name or File expected, got number)")
      assert.has_error(function() client.files:get("files/a/b") end,
        "bad argument #1 to 'get' (invalid file name \"files/a/b\")")
      assert.has_error(function() client.files:delete("../models") end,
        "bad argument #1 to 'delete' (invalid file name \"../models\")")
      assert.has_error(function() client.files:get("a?b=c") end,
        "bad argument #1 to 'get' (invalid file name \"a?b=c\")")
      assert.equal(0, #m:log())
    end)

    it("delete removes the file", function()
      local f = upload(1)
      assert.is_true(client.files:delete(f.name:match("/(.*)$")))
      local last = m:last()
      assert.equal("DELETE", last.method)
      assert.equal("/v1beta/" .. f.name, last.path)
      local g, err = client.files:get(f)
      assert.is_nil(g)
      assert.equal(403, err.code)
      local ok, derr = client.files:delete(f)
      assert.is_nil(ok)
      assert.equal(403, derr.code)
    end)

    it("list walks every page", function()
      local names = {}
      for i = 1, 5 do names[i] = upload(i).name end
      local before = #m:log()
      local seen = {}
      for f in client.files:list{ page_size = 2 } do seen[#seen + 1] = f.name end
      assert.same(names, seen)
      local log = m:log()
      local pages = {}
      for i = before + 1, #log do pages[#pages + 1] = log[i] end
      assert.equal(3, #pages)
      for _, p in ipairs(pages) do
        assert.equal("/v1beta/files", p.path)
        assert.equal("2", p.query.pageSize)
      end
      assert.is_nil(pages[1].query.pageToken)
      assert.equal("mockpage-2", pages[2].query.pageToken)
      assert.equal("mockpage-4", pages[3].query.pageToken)
    end)

    it("list of nothing ends at once; a failing page raises the error", function()
      local n = 0
      for _ in client.files:list() do n = n + 1 end
      assert.equal(0, n)
      m:faults{ { type = "status", code = 400, message = "bad list" } }
      local ok, err = pcall(function() for _ in client.files:list() do end end)
      assert.is_false(ok)
      assert.is_true(gemini.is_error(err))
      assert.equal(400, err.code)
    end)
  end)

  describe("wait_active", function()
    it("polls a PROCESSING file until it is ACTIVE", function()
      m:faults{ { type = "processing", gets = 2 } }
      local f = assert(client.files:upload{ data = "frames", mime_type = "video/mp4" })
      assert.equal("PROCESSING", f.state)
      local before = #m:log()
      local t0 = core.now()
      local g, err = client.files:wait_active(f, { interval = 0.05 })
      assert.is_nil(err)
      assert.equal("ACTIVE", g.state)
      assert.equal(f.name, g.name)
      local log = m:log()
      assert.equal(before + 3, #log)
      for i = before + 1, #log do assert.equal("GET", log[i].method) end
      assert.is_true(core.now() - t0 >= 0.1)   -- slept between the gets
    end)

    it("returns an ACTIVE File without a request", function()
      local f = assert(client.files:upload{ data = "x", mime_type = "text/plain" })
      local before = #m:log()
      assert.equal(f, client.files:wait_active(f))
      assert.equal(before, #m:log())
      local g = assert(client.files:wait_active(f.name))
      assert.equal("ACTIVE", g.state)
      assert.equal(before + 1, #m:log())
    end)

    it("times out with kind 'timeout'", function()
      m:faults{ { type = "processing", gets = 1000 } }
      local f = assert(client.files:upload{ data = "frames", mime_type = "video/mp4" })
      local t0 = core.now()
      local g, err = client.files:wait_active(f.name, { timeout = 0.3, interval = 0.05 })
      local took = core.now() - t0
      assert.is_nil(g)
      assert.equal("timeout", err.kind)
      assert.matches("still PROCESSING", err.message)
      assert.is_true(took >= 0.3 and took < 2)
    end)

    it("fails with the file's error when processing FAILED", function()
      m:faults{ { type = "processing", gets = 1, fail = "cannot decode the video" } }
      local f = assert(client.files:upload{ data = "frames", mime_type = "video/mp4" })
      local g, err = client.files:wait_active(f, { interval = 0.01 })
      assert.is_nil(g)
      assert.equal("api", err.kind)
      assert.equal("INVALID_ARGUMENT", err.status)
      assert.matches("cannot decode the video", err.message, 1, true)
      assert.equal("FAILED", err.file.state)
    end)

    it("returns the error of a failing get", function()
      local g, err = client.files:wait_active("gone", { interval = 0.01 })
      assert.is_nil(g)
      assert.equal(403, err.code)
    end)

    it("checks its options", function()
      assert.has_error(function() client.files:wait_active("a", { timeout = "1" }) end,
        "bad field 'timeout' to 'wait_active' (number expected, got string)")
      assert.has_error(function() client.files:wait_active("a", { interval = -1 }) end,
        "bad argument #2 to 'wait_active' (timeout and interval must not be negative)")
    end)
  end)

  describe("a File in contents", function()
    it("becomes fileData with its URI and MIME type", function()
      local f = assert(client.files:upload{ data = "%PDF-1.4 tiny", mime_type = "application/pdf" })
      local res, err = client.models:generate_content{ model = "gemini-2.5-flash",
        contents = { f, "Summarise this document." } }
      assert.is_nil(err)
      assert.is_string(res.text)
      local parts = m:last().json.contents[1].parts
      assert.same({ fileData = { fileUri = f.uri, mimeType = "application/pdf" } }, parts[1])
      assert.same({ text = "Summarise this document." }, parts[2])
      -- also on its own, and inside a content
      client.models:generate_content{ model = "gemini-2.5-flash", contents = f }
      assert.same({ fileData = { fileUri = f.uri, mimeType = "application/pdf" } },
        m:last().json.contents[1].parts[1])
      client.models:generate_content{ model = "gemini-2.5-flash",
        contents = { { role = "user", parts = { f, "What is it?" } } } }
      assert.same({ fileData = { fileUri = f.uri, mimeType = "application/pdf" } },
        m:last().json.contents[1].parts[1])
    end)
  end)
end)
