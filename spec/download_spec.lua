-- files:download and gemini.download against the mock server, through the
-- real HTTP stack: the API's redirect to a signed URL on another origin
-- (localhost vs the client's 127.0.0.1) followed without the key, a cut
-- download resumed with Range (206) or read again (200), bytes bounded by
-- max_response_size, progress, and what may be downloaded.
local gemini = require("gemini")
local download = require("gemini.download")
local mock = require("support.mock")

local KEY = "download-spec-key"

-- The bytes of the mock's patterned files: 16-byte lines naming their offset.
local function patterned(size)
  local lines = {}
  for off = 0, size - 1, 16 do lines[#lines + 1] = string.format("%015d\n", off) end
  return table.concat(lines):sub(1, size)
end

describe("downloads", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client, tmpfiles

  local function tmpfile()
    local path = os.tmpname()
    os.remove(path)
    tmpfiles[#tmpfiles + 1] = path
    return path
  end

  setup(function()
    client = m:client{ retry = { attempts = 4, initial_delay = 0.01, max_delay = 0.05, jitter = 0 } }
    tmpfiles = {}
  end)

  teardown(function()
    for _, p in ipairs(tmpfiles) do os.remove(p); os.remove(p .. ".part") end
  end)

  -- files:download of `file` to a new path fails with the API's error
  -- `code` and `message`, leaving nothing at the path.
  local function assert_fails_clean(file, code, message)
    local path = tmpfile()
    local n, err = client.files:download{ file = file, path = path }
    assert.is_nil(n)
    assert.equal("api", err.kind)
    assert.equal(code, err.code)
    assert.equal(message, err.message)
    assert.is_nil(mock.read_file(path))
    assert.is_nil(mock.read_file(path .. ".part"))
  end

  -- The log split into the API's download requests and the signed host's.
  local function split_log()
    local api, signed = {}, {}
    for _, e in ipairs(m:log()) do
      if e.signed then signed[#signed + 1] = e else api[#api + 1] = e end
    end
    return api, signed
  end

  -- Calls of on_progress, and a check that done never decreased.
  local function progress_log()
    local calls = {}
    return calls, function(done, total) calls[#calls + 1] = { done, total } end
  end
  local function assert_monotonic(calls)
    for i = 2, #calls do
      assert(calls[i][1] >= calls[i - 1][1], "on_progress went back: " .. calls[i - 1][1]
        .. " then " .. calls[i][1])
    end
  end

  describe("the redirect", function()
    it("is followed to the signed URL on another origin, without the key", function()
      m:blob{ id = "abc", size = 1000 }
      local data, err = client.files:download{ file = "files/abc" }
      assert.is_nil(err)
      assert.equal(patterned(1000), data)
      local api, signed = split_log()
      assert.equal(1, #api)
      assert.equal(1, #signed)
      assert.equal("/v1beta/files/abc:download", api[1].path)
      assert.equal("media", api[1].query.alt)
      assert.equal(KEY, api[1].headers["x-goog-api-key"])
      assert.equal(302, api[1].status)
      assert.matches("^http://localhost:%d+/signed/abc%?sig=", api[1].location)
      -- the signed host got no credential, and served the bytes
      assert.equal("localhost:" .. m.port, signed[1].headers.host)
      assert.is_false(signed[1].credentials)
      assert.is_nil(signed[1].headers["x-goog-api-key"])
      assert.is_nil(signed[1].headers.authorization)
      assert.equal(200, signed[1].status)
      assert.equal("identity", signed[1].headers["accept-encoding"])
    end)

    it("sends no bearer token nor a credential of the client's headers to another origin", function()
      m:blob{ id = "abc", size = 100 }
      local c = m:client{ auth = "bearer", headers = { ["X-Trace"] = "t-1" } }
      assert.equal(patterned(100), c.files:download{ file = "abc" })
      local api, signed = split_log()
      assert.equal("Bearer " .. KEY, api[1].headers.authorization)
      assert.is_false(signed[1].credentials)
      assert.equal("t-1", signed[1].headers["x-trace"])     -- other headers go along
    end)

    it("keeps the key on a redirect to the client's own origin", function()
      m:blob{ id = "abc", size = 100 }
      m:faults{ { type = "download", redirect = "same" }, { type = "download", redirect = "relative" } }
      assert.equal(patterned(100), client.files:download{ file = "abc" })
      assert.equal(patterned(100), client.files:download{ file = "abc" })
      local _, signed = split_log()
      assert.equal(2, #signed)
      for _, e in ipairs(signed) do
        assert.equal("127.0.0.1:" .. m.port, e.headers.host)
        assert.is_true(e.credentials)
        assert.equal(KEY, e.headers["x-goog-api-key"])
      end
    end)

    it("follows a chain of redirects up to the hop limit", function()
      m:blob{ id = "abc", size = 100 }
      m:faults{ { type = "download", hops = download.MAX_REDIRECTS } }
      assert.equal(patterned(100), client.files:download{ file = "abc" })
      local api, signed = split_log()
      assert.equal(1, #api)
      assert.equal(download.MAX_REDIRECTS, #signed)
      for _, e in ipairs(signed) do assert.is_false(e.credentials) end
      m:reset()
      m:blob{ id = "abc", size = 100 }
      m:faults{ { type = "download", hops = download.MAX_REDIRECTS + 1 } }
      local data, err = client.files:download{ file = "abc" }
      assert.is_nil(data)
      assert.equal("api", err.kind)
      assert.equal("the download was redirected more than 5 times", err.message)
      assert.equal(1 + download.MAX_REDIRECTS, #m:log())   -- given up, not retried
    end)

    it("does not follow a redirect that leaves http(s)", function()
      m:blob{ id = "abc", size = 100 }
      m:faults{ { type = "download", location = "ftp://127.0.0.1/abc" },
                { type = "download", location = "" } }
      local data, err = client.files:download{ file = "abc" }
      assert.is_nil(data)
      assert.equal("api", err.kind)
      assert.equal(302, err.code)
      assert.equal("the download's redirect (HTTP 302) cannot be followed: its Location is not an"
        .. " http(s) URL", err.message)
      data, err = client.files:download{ file = "abc" }
      assert.is_nil(data)
      assert.equal("the download's redirect (HTTP 302) cannot be followed: it has no Location",
        err.message)
      assert.equal(2, #m:log())
    end)

    it("is for downloads only: another call answered with a redirect fails", function()
      m:faults{ { type = "status", code = 302, message = "Found",
                  headers = { Location = m.url .. "/v1beta/models/gemini-2.5-flash:generateContent" } } }
      local res, err = client.models:generate_content{ model = "gemini-2.5-flash", contents = "hi" }
      assert.is_nil(res)
      assert.equal("api", err.kind)
      assert.equal(302, err.code)
      assert.equal(1, #m:log())
    end)
  end)

  describe("a cut download", function()
    it("resumes with Range where it stopped (206)", function()
      m:blob{ id = "abc", size = 10000 }
      m:faults{ { type = "download", cut = 3000 } }
      local path = tmpfile()
      local calls, on_progress = progress_log()
      local n, err = client.files:download{ file = "abc", path = path, on_progress = on_progress }
      assert.is_nil(err)
      assert.equal(10000, n)
      assert.equal(patterned(10000), mock.read_file(path))
      assert.is_nil(mock.read_file(path .. ".part"))
      local api, signed = split_log()
      assert.equal(2, #api)
      assert.is_nil(api[1].headers.range)
      assert.equal("bytes=3000-", api[2].headers.range)
      assert.equal(3000, signed[1].cut)
      assert.equal("bytes=3000-", signed[2].headers.range)
      assert.equal(206, signed[2].status)
      assert.equal(3000, signed[2].range_start)
      assert_monotonic(calls)
      assert.same({ 10000, 10000 }, calls[#calls])
      for _, c in ipairs(calls) do assert.equal(10000, c[2]) end   -- the size, from the first answer
    end)

    it("reads a whole file sent again (200 to a Range request) without its first bytes", function()
      m:blob{ id = "abc", size = 10000 }
      m:faults{ { type = "download", cut = 3000 }, { type = "download", range = false } }
      local path = tmpfile()
      local calls, on_progress = progress_log()
      assert.equal(10000, client.files:download{ file = "abc", path = path, on_progress = on_progress })
      assert.equal(patterned(10000), mock.read_file(path))
      local _, signed = split_log()
      assert.equal("bytes=3000-", signed[2].headers.range)
      assert.equal(200, signed[2].status)                  -- the server ignored Range
      assert_monotonic(calls)
      assert.same({ 10000, 10000 }, calls[#calls])
    end)

    it("resumes several times, and after a failed signed request", function()
      m:blob{ id = "abc", size = 20000 }
      m:faults{ { type = "download", cut = 5000, times = 4 },
                { type = "status", code = 503, match = "/signed/" } }
      local data, err = client.files:download{ file = "abc" }
      assert.is_nil(err)
      assert.equal(patterned(20000), data)
      local api, signed = split_log()
      -- the first signed request failed (503) and took a cut fault with it
      assert.equal(503, signed[1].status)
      assert.equal(5, #api)
      assert.same({ "bytes=5000-", "bytes=10000-", "bytes=15000-" },
        { api[3].headers.range, api[4].headers.range, api[5].headers.range })
      assert.is_nil(api[2].headers.range)
    end)

    it("fails cleanly when the resumed request fails, leaving nothing at the path", function()
      m:blob{ id = "abc", size = 10000 }
      m:faults{ { type = "download", cut = 3000 },
                { type = "status", code = 404, message = "gone", match = ":download" } }
      assert_fails_clean("abc", 404, "gone")
    end)

    it("gives up when every attempt is cut (the retry policy's attempts)", function()
      m:blob{ id = "abc", size = 10000 }
      m:faults{ { type = "download", cut = 0, times = 10 } }
      local data, err = client.files:download{ file = "abc" }
      assert.is_nil(data)
      assert.equal("transport", err.kind)
      assert.equal(4, #split_log())                         -- attempts = 4, no byte ever came
    end)
  end)

  describe("the bytes", function()
    it("without path are bounded by max_response_size; with path they are not", function()
      m:blob{ id = "big", size = 5001 }
      local c = m:client{ max_response_size = 5000 }
      local data, err = c.files:download{ file = "big" }
      assert.is_nil(data)
      assert.equal("transport", err.kind)
      assert.equal("response larger than 5000 bytes (max_response_size)", err.message)
      local path = tmpfile()
      assert.equal(5001, c.files:download{ file = "big", path = path })
      assert.equal(patterned(5001), mock.read_file(path))
      m:blob{ id = "fits", size = 5000 }
      assert.equal(patterned(5000), c.files:download{ file = "fits" })
    end)

    it("of an empty file", function()
      m:blob{ id = "empty", text = "" }
      local calls, on_progress = progress_log()
      assert.equal("", client.files:download{ file = "empty", on_progress = on_progress })
      assert.same({ { 0, 0 } }, calls)
    end)

    it("of a file of a few MB, written to disk as they arrive", function()
      local size = 3 * 1024 * 1024 + 5
      m:blob{ id = "large", size = size }
      local path = tmpfile()
      local calls, on_progress = progress_log()
      assert.equal(size, client.files:download{ file = "large", path = path, on_progress = on_progress })
      assert.equal(patterned(size), mock.read_file(path))
      assert.is_true(#calls > 2, "on_progress called " .. #calls .. " times")
      assert_monotonic(calls)
      assert.same({ size, size }, calls[#calls])
    end)

    it("of an uploaded file are the bytes uploaded", function()
      local data = patterned(70000):upper() .. "\0\255 end"
      local file = assert(client.files:upload{ data = data, mime_type = "application/octet-stream" })
      assert.equal(data, client.files:download{ file = file })
    end)
  end)

  describe("what may be downloaded", function()
    it("a File, a name, an id, a video, a generated video or a URI naming the file", function()
      m:blob{ id = "batch-abc_1", text = "result lines\n" }
      local uri = "https://generativelanguage.googleapis.com/v1beta/files/batch-abc_1:download?alt=media"
      local forms = { { name = "files/batch-abc_1" }, "files/batch-abc_1", "batch-abc_1", { uri = uri },
                      { video = { uri = uri } }, uri,
                      "https://generativelanguage.googleapis.com/v1beta/files/batch-abc_1" }
      for _, f in ipairs(forms) do
        assert.equal("result lines\n", client.files:download{ file = f })
        -- the whole id (not the SDKs' [a-z0-9]+), through the client's own base URL
        assert.equal("/v1beta/files/batch-abc_1:download", split_log()[1].path)
        m:reset()
        m:blob{ id = "batch-abc_1", text = "result lines\n" }
      end
    end)

    it("not an unknown file: the API's error", function()
      assert_fails_clean("nosuch", 404, "File files/nosuch was not found or cannot be downloaded.")
      assert.equal(1, #m:log())
    end)

    it("raises for bad arguments before any request", function()
      local F = client.files
      assert.has_error(function() F:download() end, "bad argument #1 to 'download' (table expected, got no value)")
      assert.has_error(function() F:download{} end, "bad field 'file' to 'download' (a File, a video, a file"
        .. " name or a file URI expected, got no value)")
      assert.has_error(function() F:download{ file = { display_name = "x" } } end, "bad field 'file' to"
        .. " 'download' (a File, a video, a file name or a file URI expected, got a table without name,"
        .. " uri or video)")
      assert.has_error(function() F:download{ file = "https://example.com/x.mp4" } end, "bad field 'file'"
        .. " to 'download' (a File, a video, a file name or a file URI expected, got"
        .. " \"https://example.com/x.mp4\")")
      assert.has_error(function() F:download{ file = "files/../x" } end, "bad field 'file' to 'download'"
        .. " (a File, a video, a file name or a file URI expected, got \"files/../x\")")
      assert.has_error(function() F:download{ file = ("x/"):rep(40) } end, "bad field 'file' to 'download'"
        .. " (a File, a video, a file name or a file URI expected, got \"" .. ("x/"):rep(30) .. "...\")")
      -- a video operation, or its name, instead of its video
      local op = { name = "models/veo-3.1-generate-preview/operations/abc", done = true,
                   response = { generated_videos = { { video = { uri = "files/abc" } } } } }
      local hint = "; a video operation's video is op.response.generated_videos[1].video)"
      assert.has_error(function() F:download{ file = op.name } end, "bad field 'file' to 'download' (a File,"
        .. " a video, a file name or a file URI expected, got \"" .. op.name .. "\"" .. hint)
      assert.has_error(function() F:download{ file = op } end, "bad field 'file' to 'download' (a File,"
        .. " a video, a file name or a file URI expected, got an operation" .. hint)
      assert.has_error(function() F:download{ file = { name = "x/y" } } end, "bad field 'file' to 'download'"
        .. " (a File, a video, a file name or a file URI expected, got a table named \"x/y\")")
      assert.has_error(function() F:download{ file = "abc", path = 1 } end,
        "bad field 'path' to 'download' (string expected, got number)")
      assert.has_error(function() F:download{ file = "abc", on_progress = "x" } end,
        "bad field 'on_progress' to 'download' (function expected, got string)")
      assert.has_error(function() F:download{ file = "abc", http_options = { retry = { tries = 2 } } } end,
        "bad field 'http_options.retry.tries' to 'download' (unknown field; known: attempts, initial_delay,"
        .. " max_delay, exp_base, jitter, http_status_codes)")
      assert.has_error(function() F:download{ file = "abc", path = "/nonexistent-dir/x.mp4" } end,
        "gemini: files:download: cannot write /nonexistent-dir/x.mp4.part: No such file or directory")
      assert.has_error(function() F.download({}, { file = "abc" }) end,
        "bad self to 'download' (call it as client.files:download(...))")
      assert.has_error(function() F:download({ file = "abc" }, 5) end,
        "bad argument #2 to 'download' (function expected, got number)")
      assert.has_error(function() download.open(nil, "abc") end,
        "bad argument #1 to 'download.open' (client expected, got no value)")
      assert.has_error(function() download.open(client, 42) end,
        "bad argument #2 to 'download.open' (a File, a video, a file name or a file URI expected, got number)")
      assert.has_error(function() download.open(client, "abc", { offset = -1 }) end,
        "bad field 'offset' to 'download.open' (a byte offset >= 0 expected)")
      assert.has_error(function() download.open(client, "abc", "x") end,
        "bad argument #3 to 'download.open' (table expected, got string)")
      assert.equal(0, #m:log())
    end)
  end)

  describe("download.open", function()
    -- Every piece of a reader, joined.
    local function read_all(reader)
      local parts = {}
      while true do
        local piece, err = reader:read()
        assert.is_nil(err)
        if not piece then break end
        parts[#parts + 1] = piece
      end
      return table.concat(parts)
    end

    it("reads a file piece by piece from an offset", function()
      m:blob{ id = "abc", size = 50000 }
      local reader = assert(download.open(client, "files/abc", { offset = 12345 }))
      assert.equal(206, reader.status)
      assert.equal(50000, reader.size)
      assert.equal("files/abc", reader.name)
      assert.equal("bytes 12345-49999/50000", reader.headers["content-range"])
      assert.equal(patterned(50000):sub(12346), read_all(reader))
      assert.is_nil(reader:read())                          -- the end, again
      reader:close()
    end)

    it("gives the bytes from the offset whatever the server does with Range", function()
      m:blob{ id = "abc", size = 50000 }
      m:faults{ { type = "download", range = false } }
      local reader = assert(download.open(client, "abc", { offset = 12345 }))
      assert.equal(200, reader.status)
      assert.equal(patterned(50000):sub(12346), read_all(reader))
    end)

    it("resumes inside read", function()
      m:blob{ id = "abc", size = 50000 }
      m:faults{ { type = "download", cut = 20000 } }
      local reader = assert(download.open(client, "abc"))
      assert.equal(patterned(50000), read_all(reader))
      assert.equal(2, #split_log())
    end)

    it("ends at once on close", function()
      m:blob{ id = "abc", size = 5 * 1024 * 1024 }
      local reader = assert(download.open(client, "abc"))
      assert.truthy(reader:read())
      reader:close()
      assert.is_nil(reader:read())
      reader:close()
    end)

    it("returns the API's error, and a failed read returns its error again", function()
      local reader, err = download.open(client, "nosuch")
      assert.is_nil(reader)
      assert.equal(404, err.code)
      m:blob{ id = "abc", size = 10000 }
      m:faults{ { type = "download", cut = 0, times = 10 } }
      reader = assert(download.open(client, "abc"))
      local got, piece
      repeat piece, err = reader:read() until not piece
      assert.equal("transport", err.kind)
      got, err = reader:read()
      assert.is_nil(got)
      assert.equal("transport", err.kind)
    end)
  end)
end)
