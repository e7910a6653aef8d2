-- The `trace` client option: one record per attempt (each retry, each
-- upload request, a stream or a download at its end), through the real HTTP
-- stack against the mock, on the blocking client and on a luv loop.
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "trace-spec-key-4e9b1a"
local MODEL = "gemini-2.5-flash"

-- An SSE body of two events, sent verbatim: its length is what a stream's
-- trace must count.
local function sse_body()
  local events = {}
  for _, word in ipairs({ "Hello", " there" }) do
    events[#events + 1] = 'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"'
      .. word .. '"}]}}]}\r\n\r\n'
  end
  return table.concat(events)
end

describe("trace", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }

  -- A client of the mock whose traces land in the list returned with it.
  local function traced(opts)
    local traces = {}
    opts = opts or {}
    opts.trace = function(t) traces[#traces + 1] = t end
    if opts.retry == nil then opts.retry = { initial_delay = 0.01, jitter = 0 } end
    return m:client(opts), traces
  end

  it("is called once for a plain call, with its method, URL, status, bytes and duration", function()
    local c, traces = traced()
    local res = assert(c.models:generate_content{ model = MODEL, contents = "trace me" })
    assert.equal(1, #traces)
    local t = traces[1]
    assert.equal("POST", t.method)
    assert.equal(m.url .. "/v1beta/models/" .. MODEL .. ":generateContent", t.url)
    assert.equal(200, t.status)
    assert.is_nil(t.error)
    assert.equal(1, t.attempt)
    assert.equal(#m:last().body, t.bytes_sent)
    assert.is_true(t.bytes_received > #res.text)
    assert.is_true(t.duration >= 0 and t.duration < 5)
  end)

  it("is called for each attempt of a retried call: 503 on the first, 200 on the second", function()
    m:faults{ { type = "status", code = 503, times = 1 } }
    local c, traces = traced()
    assert(c.models:generate_content{ model = MODEL, contents = "again" })
    assert.equal(2, #traces)
    assert.same({ 1, 503, "api" }, { traces[1].attempt, traces[1].status, traces[1].error })
    assert.same({ 2, 200 }, { traces[2].attempt, traces[2].status })
    assert.is_nil(traces[2].error)
  end)

  it("traces a stream at its end, with the bytes of the whole body", function()
    local body = sse_body()
    m:script{ { raw = body, content_type = "text/event-stream" } }
    local c, traces = traced()
    local stream = c.models:generate_content_stream{ model = MODEL, contents = "stream" }
    local chunk = assert(stream:next())
    assert.equal("Hello", chunk.text)
    assert.equal(0, #traces)              -- not before the end
    assert.is_nil(select(2, stream:next()))
    assert.is_nil(stream:next())
    assert.equal(1, #traces)
    local t = traces[1]
    assert.equal(m.url .. "/v1beta/models/" .. MODEL .. ":streamGenerateContent?alt=sse", t.url)
    assert.same({ 200, 1, #body }, { t.status, t.attempt, t.bytes_received })
    assert.is_nil(t.error)
  end)

  it("traces a stream closed early as canceled, and a stream that fails with its error kind", function()
    local c, traces = traced{ retry = false }
    local stream = c.models:generate_content_stream{ model = MODEL, contents = "stop early" }
    assert(stream:next())
    stream:close()
    assert.equal(1, #traces)
    assert.equal("canceled", traces[1].error)

    m:faults{ { type = "not_json", after = 1 } }
    stream = c.models:generate_content_stream{ model = MODEL, contents = "break" }
    assert(stream:next())
    local _, err = stream:next()
    assert.equal("decode", err.kind)
    assert.equal(2, #traces)
    assert.same({ 200, "decode" }, { traces[2].status, traces[2].error })
    assert.is_true(traces[2].bytes_received > 0)
  end)

  it("traces each request of an upload, the session URL's query hidden", function()
    local c, traces = traced()
    local data = string.rep("x", 1000)
    assert(c.files:upload{ data = data, mime_type = "text/plain" })
    assert.equal(2, #traces)              -- start, then the one chunk
    assert.equal(m.url .. "/upload/v1beta/files", traces[1].url)
    assert.equal(200, traces[1].status)
    local chunk = traces[2]
    assert.equal(1000, chunk.bytes_sent)
    assert.equal(200, chunk.status)
    assert.equal(1, chunk.attempt)
    -- Same origin: the query (upload_id) is shown, the key never is.
    assert.matches("^" .. m.url:gsub("%p", "%%%0") .. "/upload/v1beta/files%?upload_id=", chunk.url)
  end)

  it("traces a download's redirect and its body, the signed URL's query hidden", function()
    local name = m:blob{ id = "tracedl", size = 4096 }
    local c, traces = traced()
    local bytes = assert(c.files:download{ file = name })
    assert.equal(4096, #bytes)
    assert.equal(2, #traces)
    local hop, body = traces[1], traces[2]
    assert.same({ "GET", 302, 1 }, { hop.method, hop.status, hop.attempt })
    assert.is_nil(hop.error)
    assert.equal(m.url .. "/v1beta/files/tracedl:download?alt=media", hop.url)
    assert.same({ 200, 4096 }, { body.status, body.bytes_received })
    assert.is_nil(body.error)
    assert.equal("http://localhost:" .. m.port .. "/signed/tracedl?[REDACTED]", body.url)
  end)

  it("gives the error kind of a failed transport, without status", function()
    local port = mock.start{ key = KEY }
    local dead = port.url
    port:stop()                                  -- nothing listens there now
    local c, traces = traced{ base_url = dead, retry = { attempts = 2, initial_delay = 0.01, jitter = 0 } }
    local res, err = c.models:generate_content{ model = MODEL, contents = "nobody home" }
    assert.is_nil(res)
    assert.equal("transport", err.kind)
    assert.equal(2, #traces)
    for i, t in ipairs(traces) do
      assert.same({ i, "transport", 0 }, { t.attempt, t.error, t.bytes_received })
      assert.is_nil(t.status)
    end
  end)

  it("never shows the key, nor a URL's password", function()
    local seen = {}
    local c = gemini.Client{ api_key = KEY, base_url = m.url:gsub("//", "//user:s3cret-password@"),
      retry = false, trace = function(t)
        for k, v in pairs(t) do seen[#seen + 1] = k .. "=" .. tostring(v) end
      end }
    -- (libcurl sends the userinfo as Basic auth, which the mock refuses
    -- next to the key: the call fails, and is traced all the same.)
    c.models:generate_content{ model = MODEL, contents = "secret?" }
    local all = table.concat(seen, "\n")
    assert.matches("url=http://[REDACTED]@127.0.0.1:", all, 1, true)
    assert.matches("status=400", all, 1, true)
    assert.is_nil(all:find(KEY, 1, true))
    assert.is_nil(all:find("s3cret", 1, true))
  end)

  it("does not break the call when the trace function raises: the error is logged", function()
    local log, logged = mock.log_lines()
    local c = m:client{ log = log, trace = function() error("trace sink down") end }
    local res, err = c.models:generate_content{ model = MODEL, contents = "still fine" }
    assert.is_nil(err)
    assert.truthy(res.text)
    assert.truthy(logged("gemini: the trace function failed: .*trace sink down"))
    local stream = c.models:generate_content_stream{ model = MODEL, contents = "stream too" }
    for _ in stream do end
    assert.truthy(stream.response.text)
  end)

  it("is checked by Client{}: a function", function()
    assert.has_error(function() gemini.Client{ api_key = KEY, trace = true } end,
      "bad field 'trace' to 'Client' (function expected, got boolean)")
  end)
end)

local ok_uv, uv = pcall(require, "luv")
local describe_uv = ok_uv and describe or pending

describe_uv("trace on a luv loop", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local loop = require("support.loop")
  local c
  loop.hygiene(uv, { teardown = teardown, after_each = after_each }, function() return c end)

  it("traces calls and streams of the callback API the same way", function()
    local traces = {}
    m:faults{ { type = "status", code = 503, times = 1 } }
    c = m:client{ loop = uv, retry = { initial_delay = 0.01, jitter = 0 },
                  trace = function(t) traces[#traces + 1] = t end }
    local got
    c.models:generate_content({ model = MODEL, contents = "on the loop" }, function(err, res)
      got = { err = err, res = res }
    end)
    loop.run(uv)
    assert.is_nil(got.err)
    assert.same({ 503, 200 }, { traces[1].status, traces[2].status })
    assert.same({ 1, 2 }, { traces[1].attempt, traces[2].attempt })

    local body = sse_body()
    m:script{ { raw = body, content_type = "text/event-stream" } }
    local done
    c.models:generate_content_stream({ model = MODEL, contents = "stream on the loop" },
      { on_chunk = function() end, on_done = function(err) done = { err = err } end })
    loop.run(uv)
    assert.is_nil(done.err)
    assert.equal(3, #traces)
    assert.same({ 200, #body }, { traces[3].status, traces[3].bytes_received })
  end)
end)
