-- client.batches against the mock server, through the real HTTP stack:
-- create (inlined, from an uploaded file, from a local file), the JSONL
-- request file, get, list, cancel, delete, wait, results (inlined and from
-- a result file read as it downloads), embedding batches.
local gemini = require("gemini")
local mock = require("support.mock")
local cjson = require("cjson")

local KEY = "batches-spec-key"
local MODEL = "gemini-2.5-flash"
local RETRY = { attempts = 3, initial_delay = 0.01, max_delay = 0.05, jitter = 0 }

-- Quick polls for the mock, whose jobs advance one state per poll.
local FAST = { interval = 0.01, max_interval = 0.02 }

local function tmpfile(content)
  local path = os.tmpname()
  if content then mock.write_file(path, content) end
  return path
end

local function read_lines(path)
  local out = {}
  for line in (mock.read_file(path) or ""):gmatch("([^\n]*)\n") do out[#out + 1] = line end
  return out
end

-- Every item of a results loop: { i =, res =, err =, key = }.
local function collect(iter)
  local out = {}
  for i, res, err, key in iter do out[#out + 1] = { i = i, res = res, err = err, key = key } end
  return out
end

describe("client.batches", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  setup(function()
    client = m:client{ retry = RETRY }
  end)

  -- A job made from `src` and waited for.
  local function finished(src, extra)
    local args = { model = MODEL, src = src }
    for k, v in pairs(extra or {}) do args[k] = v end
    local job = assert(client.batches:create(args))
    return assert(client.batches:wait(job, FAST))
  end

  -- The requests of the log whose path matches `pattern`.
  local function logged(pattern)
    local out = {}
    for _, e in ipairs(m:log()) do
      if e.path:find(pattern) then out[#out + 1] = e end
    end
    return out
  end

  describe("create", function()
    it("sends inlined requests as generate_content builds them, wrapped as the SDK does", function()
      local S = gemini.schema
      local job, err = client.batches:create{
        model = MODEL,
        src = {
          { contents = "Tell me a joke.", key = "joke" },
          { contents = { "Why is the sky blue?" }, metadata = { key = "sky", user_note = "x" },
            config = { temperature = 0, system_instruction = "Be brief.",
                       tools = { gemini.tools.google_search() },
                       response_schema = S.object({ { "answer", S.string() } }) } },
          "A plain string is the contents.",
        },
        config = { display_name = "nightly" },
      }
      assert.is_nil(err)
      local req = m:last()
      assert.equal("POST", req.method)
      assert.equal("/v1beta/models/gemini-2.5-flash:batchGenerateContent", req.path)
      assert.equal(KEY, req.headers["x-goog-api-key"])
      assert.same({ batch = { displayName = "nightly", inputConfig = { requests = { requests = {
        { request = { contents = { { role = "user", parts = { { text = "Tell me a joke." } } } } },
          metadata = { key = "joke" } },
        { request = {
            contents = { { role = "user", parts = { { text = "Why is the sky blue?" } } } },
            systemInstruction = { parts = { { text = "Be brief." } } },
            tools = { { googleSearch = {} } },
            generationConfig = { temperature = 0, responseSchema = { type = "OBJECT",
              properties = { answer = { type = "STRING" } }, propertyOrdering = { "answer" } } } },
          metadata = { key = "sky", user_note = "x" } },
        { request = { contents = { { role = "user",
            parts = { { text = "A plain string is the contents." } } } } } },
      } } } } }, req.json)
      assert.equal("batches/mockbatch0001", job.name)
      assert.equal("nightly", job.display_name)
      assert.equal("models/gemini-2.5-flash", job.model)
      assert.equal("JOB_STATE_PENDING", job.state)
      assert.is_false(job.done)
      assert.same({ request_count = 3, pending_request_count = 3 }, job.batch_stats)
      assert.is_string(job.create_time)
      assert.is_nil(job.dest)
      assert.equal("BATCH_STATE_PENDING", job.operation.metadata.state)
    end)

    it("sends function declarations without their Lua handlers: their calls come back as answers", function()
      local called = false
      local tools = { gemini.tools.functions{ { name = "get_weather", description = "Weather in a city",
        parameters = gemini.schema.object({ { "city", gemini.schema.string() } }),
        handler = function() called = true end } } }
      local job = finished({ { contents = "Weather in Paris?", config = { tools = tools } } })
      local decl = m:log()[1].json.batch.inputConfig.requests.requests[1].request.tools[1].functionDeclarations[1]
      assert.same({ name = "get_weather", description = "Weather in a city", parameters = { type = "OBJECT",
        properties = { city = { type = "STRING" } }, propertyOrdering = { "city" } } }, decl)
      local items = collect(client.batches:results(job))
      assert.equal("get_weather", items[1].res.function_calls[1].name)
      assert.is_false(called)
    end)

    it("gives the job a display name when none is given (the API requires one)", function()
      local job = assert(client.batches:create{ model = MODEL, src = { "hi" } })
      assert.matches("^gemini%-lua%-%d+%-%d+%-%x%x%x%x$", m:last().json.batch.displayName)
      assert.equal(m:last().json.batch.displayName, job.display_name)
    end)

    it("takes the SDK's { inlined_requests = } form; an item's own model goes in its request", function()
      assert(client.batches:create{ model = "models/gemini-2.5-pro",
        src = { inlined_requests = { { contents = "a", model = "gemini-2.5-flash" }, { contents = "b" } } } })
      local body = m:last().json.batch.inputConfig.requests.requests
      assert.equal("/v1beta/models/gemini-2.5-pro:batchGenerateContent", m:last().path)
      assert.equal("models/gemini-2.5-flash", body[1].request.model)
      assert.is_nil(body[2].request.model)
    end)

    it("from a JSONL file already uploaded: \"files/...\" or { file_name = }", function()
      local path = tmpfile('{"key": "1", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n')
      local file = assert(client.files:upload{ path = path, mime_type = "jsonl" })
      os.remove(path)
      local job = assert(client.batches:create{ model = MODEL, src = file.name,
                                                config = { display_name = "from-file" } })
      assert.same({ batch = { displayName = "from-file", inputConfig = { fileName = file.name } } },
        m:last().json)
      assert.equal("JOB_STATE_PENDING", job.state)
      assert(client.batches:create{ model = MODEL, src = { file_name = file.name } })
      assert.same({ fileName = file.name }, m:last().json.batch.inputConfig)
    end)

    it("from { path = }: uploads the file (resumable, as \"jsonl\"), then creates the job", function()
      local line = '{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n'
      local path = tmpfile(line)
      local progress
      local job, err = client.batches:create{ model = MODEL,
        src = { path = path, on_progress = function(done, total) progress = { done, total } end } }
      os.remove(path)
      assert.is_nil(err)
      local log = m:log()
      assert.equal("/upload/v1beta/files", log[1].path)
      assert.equal("start", log[1].headers["x-goog-upload-command"])
      assert.equal("jsonl", log[1].headers["x-goog-upload-header-content-type"])
      assert.equal(path:match("([^/]*)$"), log[1].json.file.displayName)
      local create = log[#log]
      assert.equal("/v1beta/models/gemini-2.5-flash:batchGenerateContent", create.path)
      assert.matches("^files/", create.json.batch.inputConfig.fileName)
      assert.same({ #line, #line }, progress)
      job = assert(client.batches:wait(job, FAST))
      local items = collect(client.batches:results(job))
      assert.equal(1, #items)
      assert.equal("a", items[1].key)
      assert.matches('You asked: "hi"', items[1].res.text, 1, true)
    end)

    it("returns the API's error (and uploads nothing for a bad argument)", function()
      local job, err = client.batches:create{ model = "no-such-model", src = { "hi" } }
      assert.is_nil(job)
      assert.equal("api", err.kind)
      assert.equal(404, err.code)
      m:reset()
      assert.has_error(function()
        client.batches:create{ model = MODEL, src = { path = "/nonexistent" }, config = { dest = "x" } }
      end, "bad field 'config.dest' to 'create' (a destination is for Vertex AI batch jobs; the Gemini"
        .. " API answers inlined requests inline and a file of requests with a result file)")
      assert.equal(0, #m:log())
    end)

    it("raises for bad arguments, naming them (and the request at fault)", function()
      local B = client.batches
      assert.has_error(function() B:create() end, "bad argument #1 to 'create' (table expected, got no value)")
      assert.has_error(function() B:create{ src = { "x" } } end,
        "bad field 'model' to 'create' (string expected, got nil)")
      assert.has_error(function() B:create{ model = MODEL, src = {} } end,
        "bad field 'src' to 'create' (no requests)")
      assert.has_error(function() B:create{ model = MODEL, src = { display_name = "x" } } end,
        "bad field 'src' to 'create' (a list of requests, \"files/...\", { path = }, { file_name = }"
        .. " or { inlined_requests = } expected)")
      assert.has_error(function() B:create{ model = MODEL, src = "requests.jsonl" } end,
        "bad field 'src' to 'create' (a file name \"files/...\" expected, got \"requests.jsonl\"; to"
        .. " upload a local file pass src = { path = ... })")
      assert.has_error(function() B:create{ model = MODEL, src = { "a", path = "x" } } end,
        "bad field 'src' to 'create' (a list of requests, \"files/...\", { path = }, { file_name = }"
        .. " or { inlined_requests = } expected, one of them)")
      assert.has_error(function() B:create{ model = MODEL, src = { path = 5 } } end,
        "bad field 'src.path' to 'create' (string expected, got number)")
      assert.has_error(function() B:create{ model = MODEL, src = { path = "x", name = "y" } } end,
        "bad field 'src.name' to 'create' (unknown; expected path, mime_type, display_name, on_progress)")
      assert.has_error(function() B:create{ model = MODEL, src = { inlined_requests = {} } } end,
        "bad field 'src' to 'create' (no requests)")
      assert.has_error(function() B:create{ model = MODEL, src = { "x" }, confg = {} } end,
        "bad field 'confg' to 'create' (unknown; expected model, src, config)")
      assert.has_error(function() B:create{ model = MODEL, src = { "x" }, config = { ttl = 5 } } end,
        "bad field 'config.ttl' to 'create' (unknown; expected display_name, webhook_config, http_options)")
      assert.has_error(function() B:create{ model = MODEL, src = { "x", { contents = {} } } } end,
        "bad field 'contents' to 'create' (empty) in src[2]")
      assert.has_error(function() B:create{ model = MODEL, src = { "x", { contents = "y", confg = {} } } } end,
        "bad field 'confg' to 'create' (unknown field; known: model, contents, config, generationConfig,"
        .. " systemInstruction, safetySettings, tools, toolConfig, cachedContent, serviceTier, labels) in src[2]")
      assert.has_error(function() B:create{ model = MODEL, src = { 5 } } end,
        "bad field 'src[1]' to 'create' (a request table or a string expected, got number)")
      assert.has_error(function()
        B:create{ model = MODEL, src = { { contents = "x", key = "k", metadata = { key = "k" } } } }
      end, "bad field 'key' to 'create' (key and metadata exclude each other; the key is metadata.key) in src[1]")
      assert.has_error(function()
        B:create{ model = MODEL, src = { { contents = "x", config = { thinking_config = { thinking_level = "LOW" } } } } }
      end, "thinking_level is for Gemini 3 models; use thinking_budget (gemini.thinking.budget) with"
        .. " gemini-2.5-flash (client option check_thinking = false skips this check) in src[1]")
      assert.equal(0, #m:log())
    end)
  end)

  describe("write_requests", function()
    it("writes one line per request, built as generate_content builds it, keys by position", function()
      local path = tmpfile()
      local n = client.batches:write_requests(path, {
        "Why is the sky blue?",
        { contents = "Name a moon.", key = "moon", config = { temperature = 0, max_output_tokens = 50 } },
      })
      assert.equal(2, n)
      local lines = read_lines(path)
      os.remove(path)
      assert.equal(2, #lines)
      assert.same({ key = "1", request = { contents = { { role = "user",
        parts = { { text = "Why is the sky blue?" } } } } } }, cjson.decode(lines[1]))
      assert.same({ key = "moon", request = {
        contents = { { role = "user", parts = { { text = "Name a moon." } } } },
        generationConfig = { temperature = 0, maxOutputTokens = 50 } } }, cjson.decode(lines[2]))
    end)

    it("takes a function giving the requests one by one", function()
      local path = tmpfile()
      local i = 0
      local n = client.batches:write_requests(path, function()
        i = i + 1
        if i <= 3 then return "prompt " .. i end
      end)
      assert.equal(3, n)
      local lines = read_lines(path)
      os.remove(path)
      assert.equal("prompt 3", cjson.decode(lines[3]).request.contents[1].parts[1].text)
    end)

    it("goes from a list of prompts to a job in three lines", function()
      local path = tmpfile()
      local prompts = { "Why is the sky blue?", "Name three moons of Jupiter." }
      client.batches:write_requests(path, prompts)
      local job = client.batches:create{ model = MODEL, src = { path = path } }
      os.remove(path)
      job = assert(client.batches:wait(job, FAST))
      local answers = {}
      for _, res, err, key in client.batches:results(job) do
        answers[tonumber(key)] = assert(res, err).text
      end
      assert.matches('You asked: "Why is the sky blue?"', answers[1], 1, true)
      assert.matches('You asked: "Name three moons of Jupiter."', answers[2], 1, true)
    end)

    it("raises for a bad request, naming it, and removes the file; checks thinking with the model", function()
      local path = tmpfile()
      assert.has_error(function() client.batches:write_requests(path, { "a", { contents = {} } }) end,
        "bad field 'contents' to 'write_requests' (empty) in requests[2]")
      assert.is_nil(io.open(path, "rb"))
      assert.has_error(function()
        client.batches:write_requests(path, { { contents = "x", metadata = { key = "a" } } })
      end, "bad field 'metadata' to 'write_requests' (a request file's lines have a key, no metadata) in requests[1]")
      local thinking = { { contents = "x", config = { thinking_config = { thinking_level = "LOW" } } } }
      assert.equal(1, client.batches:write_requests(path, thinking))
      assert.has_error(function() client.batches:write_requests(path, thinking, { model = MODEL }) end,
        "thinking_level is for Gemini 3 models; use thinking_budget (gemini.thinking.budget) with"
        .. " gemini-2.5-flash (client option check_thinking = false skips this check) in requests[1]")
      assert.has_error(function() client.batches:write_requests("/nonexistent/dir/x.jsonl", { "a" }) end,
        "gemini: batches:write_requests: cannot open /nonexistent/dir/x.jsonl: No such file or directory")
      assert.has_error(function() client.batches:write_requests(path) end,
        "bad argument #2 to 'write_requests' (table or function expected, got no value)")
      os.remove(path)
    end)

    it("raises for no requests (a list or a function), leaving no empty file", function()
      local path = tmpfile()
      assert.has_error(function() client.batches:write_requests(path, {}) end,
        "bad argument #2 to 'write_requests' (no requests)")
      assert.is_nil(io.open(path, "rb"))
      assert.has_error(function() client.batches:write_requests(path, function() end) end,
        "bad argument #2 to 'write_requests' (no requests)")
      assert.is_nil(io.open(path, "rb"))
    end)

    it("create from an empty request file raises before uploading it", function()
      local path = tmpfile("")
      assert.has_error(function() client.batches:create{ model = MODEL, src = { path = path } } end,
        string.format("bad field 'src.path' to 'create' (%q is empty: no requests)", path))
      os.remove(path)
      assert.same({}, logged("upload"))
    end)
  end)

  describe("get, list, cancel, delete", function()
    it("gets a job by name, bare id or job table", function()
      local job = assert(client.batches:create{ model = MODEL, src = { "hi" } })
      for _, name in ipairs({ job.name, job.name:match("[^/]*$"), job }) do
        local got, err = client.batches:get(name)
        assert.is_nil(err)
        assert.equal(job.name, got.name)
        assert.equal("/v1beta/" .. job.name, m:last().path)
      end
      local none, err = client.batches:get("batches/nope")
      assert.is_nil(none)
      assert.equal(404, err.code)
      assert.equal("NOT_FOUND", err.status)
      assert.has_error(function() client.batches:get("batches/../files") end,
        "bad argument #1 to 'get' (invalid batch name \"batches/../files\")")
      assert.has_error(function() client.batches:get() end,
        "bad argument #1 to 'get' (batch name or job expected, got nil)")
    end)

    it("lists every job, page after page (the API's key is operations)", function()
      for i = 1, 5 do assert(client.batches:create{ model = MODEL, src = { "p" .. i } }) end
      local names = {}
      for job in client.batches:list{ page_size = 2 } do
        names[#names + 1] = job.name
        assert.equal("JOB_STATE_PENDING", job.state)
      end
      assert.same({ "batches/mockbatch0001", "batches/mockbatch0002", "batches/mockbatch0003",
                    "batches/mockbatch0004", "batches/mockbatch0005" }, names)
      local log = logged("^/v1beta/batches$")
      assert.equal(3, #log)
      assert.same({ pageSize = "2" }, log[1].query)
      assert.same({ pageSize = "2", pageToken = "mockpage-4" }, log[3].query)
    end)

    it("raises the gemini.Error of a page that fails", function()
      for i = 1, 3 do assert(client.batches:create{ model = MODEL, src = { "p" .. i } }) end
      m:faults{ { type = "status", code = 403, match = "pageToken" } }
      local seen = 0
      local ok, err = pcall(function()
        for _ in client.batches:list{ page_size = 2 } do seen = seen + 1 end
      end)
      assert.is_false(ok)
      assert.is_true(gemini.is_error(err))
      assert.equal(403, err.code)
      assert.equal(2, seen)
    end)

    it("cancels a job: the next poll shows it CANCELLED", function()
      local job = assert(client.batches:create{ model = MODEL, src = { "hi" } })
      assert.is_true(client.batches:cancel(job))
      local req = m:last()
      assert.equal("POST", req.method)
      assert.equal("/v1beta/" .. job.name .. ":cancel", req.path)
      assert.equal("{}", req.body)
      job = assert(client.batches:wait(job, FAST))
      assert.equal("JOB_STATE_CANCELLED", job.state)
      assert.is_true(job.done)
      assert.is_nil(job.error)
      assert.same({}, collect(client.batches:results(job)))
    end)

    it("deletes a job", function()
      local job = assert(client.batches:create{ model = MODEL, src = { "hi" } })
      assert.is_true(client.batches:delete(job.name))
      assert.equal("DELETE", m:last().method)
      assert.equal("/v1beta/" .. job.name, m:last().path)
      local gone, err = client.batches:get(job)
      assert.is_nil(gone)
      assert.equal(404, err.code)
      local ok, err2 = client.batches:delete(job)
      assert.is_nil(ok)
      assert.equal(404, err2.code)
    end)
  end)

  describe("states", function()
    it("maps BATCH_STATE_* to the SDK's JOB_STATE_* and passes others through", function()
      local seen = {}
      m:faults{ { type = "batch", states = { "PENDING", "RUNNING", "HIBERNATING", "SUCCEEDED" } } }
      local job = assert(client.batches:create{ model = MODEL, src = { "hi" } })
      seen[1] = job.state
      for i = 2, 4 do
        job = assert(client.batches:get(job))
        seen[i] = job.state
        if i == 3 then assert.is_false(job.done) end
      end
      assert.same({ "JOB_STATE_PENDING", "JOB_STATE_RUNNING", "BATCH_STATE_HIBERNATING",
                    "JOB_STATE_SUCCEEDED" }, seen)
      assert.is_true(job.done)
      assert.is_string(job.end_time)
      assert.same({ request_count = 1, successful_request_count = 1 }, job.batch_stats)
      assert.equal(1, #job.dest.inlined_responses)
    end)

    it("gives a failed job the operation's error (which the SDKs drop)", function()
      m:faults{ { type = "batch", states = { "PENDING", "FAILED" },
                  error = { code = 3, message = "The input file is not valid JSONL." } } }
      local job = finished({ "hi" })
      assert.equal("JOB_STATE_FAILED", job.state)
      assert.is_true(gemini.is_error(job.error))
      assert.equal("api", job.error.kind)
      assert.equal("INVALID_ARGUMENT", job.error.status)
      assert.equal(400, job.error.code)
      assert.equal("The input file is not valid JSONL.", job.error.message)
      local ok, err = pcall(function() return client.batches:results(job) end)
      assert.is_false(ok)
      assert.equal(job.error, err)
    end)

    it("an expired job ends without results", function()
      m:faults{ { type = "batch", states = { "PENDING", "RUNNING", "EXPIRED" } } }
      local job = finished({ "hi" })
      assert.equal("JOB_STATE_EXPIRED", job.state)
      assert.same({}, collect(client.batches:results(job)))
    end)
  end)

  describe("wait", function()
    it("polls with a growing pause until the job ends, telling each poll", function()
      local job = assert(client.batches:create{ model = MODEL, src = { "hi" } })
      local states = {}
      local done, err = client.batches:wait(job.name, { interval = 0.05, max_interval = 0.1,
        on_progress = function(j) states[#states + 1] = j.state end })
      assert.is_nil(err)
      assert.equal("JOB_STATE_SUCCEEDED", done.state)
      assert.same({ "JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_RUNNING",
                    "JOB_STATE_SUCCEEDED" }, states)
      local polls = logged("^/v1beta/batches/")
      assert.equal(4, #polls)
      local gaps = {}
      for i = 2, #polls do gaps[i - 1] = polls[i].t_start - polls[i - 1].t_start end
      -- 0.05, then x1.5 = 0.075, then 0.1125 capped at 0.1
      assert.is_true(gaps[1] >= 0.045 and gaps[1] < 0.2, "gap 1: " .. gaps[1])
      assert.is_true(gaps[2] >= 0.07 and gaps[2] > gaps[1], "gap 2: " .. gaps[2])
      assert.is_true(gaps[3] >= 0.095 and gaps[3] < 0.3, "gap 3: " .. gaps[3])
    end)

    it("returns a job that has ended at once, without a request", function()
      local job = finished({ "hi" })
      m:reset()
      assert.equal(job, client.batches:wait(job))
      assert.equal(0, #m:log())
    end)

    it("gives a timeout error when the time is up, with the job as last seen", function()
      m:faults{ { type = "batch", states = { "PENDING", "RUNNING" } } }
      local job = assert(client.batches:create{ model = MODEL, src = { "hi" } })
      local t0 = gemini.core.now()
      local res, err = client.batches:wait(job, { timeout = 0.3, interval = 0.1 })
      local took = gemini.core.now() - t0
      assert.is_nil(res)
      assert.equal("timeout", err.kind)
      assert.equal(job.name .. " is still JOB_STATE_RUNNING after 0.3s (batches:wait timeout)", err.message)
      assert.equal("JOB_STATE_RUNNING", err.job.state)
      assert.is_true(took >= 0.29 and took < 1.5, "took " .. took)
    end)

    it("ends a wait whose poll hangs soon after its timeout (a poll gets at least a second)", function()
      local job = assert(client.batches:create{ model = MODEL, src = { "hi" } })
      m:faults{ { type = "stall", seconds = 5, match = "/batches/" } }
      local t0 = gemini.core.now()
      local res, err = client.batches:wait(job, { timeout = 0.5 })
      local took = gemini.core.now() - t0
      assert.is_nil(res)
      assert.equal("timeout", err.kind)
      assert.is_true(took >= 0.45 and took < 2.5, "took " .. took)
    end)

    it("returns the error of a poll that fails", function()
      local job = assert(client.batches:create{ model = MODEL, src = { "hi" } })
      m:faults{ { type = "status", code = 400, message = "bad poll" } }
      local res, err = client.batches:wait(job, FAST)
      assert.is_nil(res)
      assert.equal(400, err.code)
      assert.equal("bad poll", err.message)
    end)

    it("raises for bad options", function()
      assert.has_error(function() client.batches:wait("batches/x", { interval = 0 }) end,
        "bad field 'interval' to 'wait' (a positive finite number of seconds expected)")
      assert.has_error(function() client.batches:wait("batches/x", { timeout = -1 }) end,
        "bad field 'timeout' to 'wait' (a positive finite number of seconds expected)")
      assert.has_error(function() client.batches:wait("batches/x", { on_progress = 1 }) end,
        "bad field 'on_progress' to 'wait' (function expected, got number)")
      assert.has_error(function() client.batches:wait("batches/x", {}, function() end) end,
        "'wait' with a callback needs an event loop: create the client with loop = vim.loop or"
        .. " require(\"luv\")")
    end)
  end)

  describe("results", function()
    it("gives inlined answers in input order, a failed item its error, keys from metadata", function()
      m:faults{ { type = "batch", fail_items = { 2 },
                  item_error = { code = 8, message = "Quota exceeded for this item." } } }
      local job = finished({ { contents = "one", key = "k1" }, { contents = "two", key = "k2" },
                             { contents = "three" } })
      local items = collect(client.batches:results(job))
      assert.equal(3, #items)
      assert.same({ 1, 2, 3 }, { items[1].i, items[2].i, items[3].i })
      assert.matches('You asked: "one"', items[1].res.text, 1, true)
      assert.equal("k1", items[1].key)
      assert.is_nil(items[1].err)
      assert.is_nil(items[2].res)
      assert.equal("k2", items[2].key)
      assert.is_true(gemini.is_error(items[2].err))
      assert.equal("api", items[2].err.kind)
      assert.equal("RESOURCE_EXHAUSTED", items[2].err.status)
      assert.equal(429, items[2].err.code)
      assert.equal("Quota exceeded for this item.", items[2].err.message)
      assert.matches('You asked: "three"', items[3].res.text, 1, true)
      assert.is_nil(items[3].key)
    end)

    it("decodes res.parsed for the JSON-mode requests of a job made here, or as told", function()
      local S = gemini.schema
      local job = finished({ { contents = "plain" },
        { contents = "json", config = { response_mime_type = "application/json",
                                        response_schema = S.object({ { "n", S.integer() } }) } } })
      local items = collect(client.batches:results(job.name))
      assert.is_nil(items[1].res.parsed)
      assert.equal("number", type(items[2].res.parsed.n))
      items = collect(client.batches:results(job, { json = false }))
      assert.is_nil(items[2].res.parsed)
    end)

    it("fetches a job given by name or as its Operation", function()
      local job = finished({ "hi" })
      for _, given in ipairs({ job.name, job.operation }) do
        local items = collect(client.batches:results(given))
        assert.equal(1, #items)
        assert.matches('You asked: "hi"', items[1].res.text, 1, true)
      end
    end)

    it("raises for a job still running", function()
      local job = assert(client.batches:create{ model = MODEL, src = { "hi" } })
      assert.has_error(function() client.batches:results(job) end,
        "bad argument #1 to 'results' (" .. job.name .. " is JOB_STATE_PENDING: wait for it to end first)")
      assert.equal("GET", m:last().method)
      local ok, err = pcall(function() return client.batches:results("batches/nope") end)
      assert.is_false(ok)
      assert.equal(404, err.code)
    end)

    -- A job from a JSONL request file of `n` requests, waited for.
    local function file_job(n, fault)
      local path = tmpfile()
      local reqs = {}
      for i = 1, n do reqs[i] = { contents = "question " .. i, key = "q" .. i } end
      client.batches:write_requests(path, reqs)
      if fault then
        fault.type = "batch"
        m:faults{ fault }
      end
      local job = assert(client.batches:create{ model = MODEL, src = { path = path } })
      os.remove(path)
      return assert(client.batches:wait(job, FAST))
    end

    it("reads a result file line by line as it downloads, keys from the lines, errors in place", function()
      local job = file_job(3, { fail_items = { 2 } })
      assert.equal("files/batch-" .. job.name:match("[^/]*$"), job.dest.file_name)
      local items = collect(client.batches:results(job))
      -- through the download of gemini.download: the API's redirect to a
      -- signed URL on another host, followed without the key
      local dl = logged(":download$")
      assert.equal(1, #dl)
      assert.equal("/v1beta/" .. job.dest.file_name .. ":download", dl[1].path)
      assert.same({ alt = "media" }, dl[1].query)
      local signed = logged("^/signed/")
      assert.equal(1, #signed)
      assert.is_false(signed[1].credentials)
      assert.equal(3, #items)
      assert.equal("q1", items[1].key)
      assert.matches('You asked: "question 1"', items[1].res.text, 1, true)
      assert.equal("q2", items[2].key)
      assert.equal("INTERNAL", items[2].err.status)
      assert.equal(500, items[2].err.code)
      assert.equal("q3", items[3].key)
      assert.matches('You asked: "question 3"', items[3].res.text, 1, true)
    end)

    it("puts together lines split across reads, a line of many reads, and a last line without newline", function()
      local job = file_job(2000, { long_text = 300000, no_final_newline = true })
      local n, long = 0, nil
      for i, res, err, key in client.batches:results(job) do
        assert.is_nil(err)
        assert.equal("q" .. i, key)
        if i == 1 then long = #res.text else
          assert.matches('You asked: "question ' .. i .. '"', res.text, 1, true)
        end
        n = i
      end
      assert.equal(2000, n)
      assert.equal(300000, long)
    end)

    it("reads a result file larger than max_response_size (it is never held whole)", function()
      local job = file_job(1, { result_size = 1024 * 1024 })
      local small = m:client{ retry = RETRY, max_response_size = 64 * 1024 }
      local n, last_err = 0, nil
      for i, _, err in small.batches:results(job) do
        n = i
        if err and err.kind ~= "api" then last_err = err end
      end
      assert.is_nil(last_err)
      assert.is_true(n > 1000, n .. " lines")
    end)

    it("gives a line that is not JSON as a decode error and goes on", function()
      local job = file_job(3, { garbage_line = 2 })
      local items = collect(client.batches:results(job))
      assert.equal(3, #items)
      assert.equal("decode", items[2].err.kind)
      assert.matches("^line 2 of files/batch%-%w+ is not a JSON object %(.*%): this line is not JSON$",
        items[2].err.message)
      assert.equal("q3", items[3].key)
    end)

    it("resumes a cut download where it stopped: every line, once", function()
      local job = file_job(50)
      m:faults{ { type = "download", cut = 20000 } }
      local items = collect(client.batches:results(job))
      assert.equal(50, #items)
      for i = 1, 50 do assert.equal("q" .. i, items[i].key) end
      local signed = logged("^/signed/")
      assert.equal(2, #signed)
      assert.equal(20000, signed[2].range_start)
    end)

    it("ends a download that fails for good with its error as the last item, never silently", function()
      local job = file_job(50)
      m:faults{ { type = "download", cut = 20000 }, { type = "status", code = 403, match = ":download" } }
      local items = collect(client.batches:results(job))
      local last = items[#items]
      assert.is_true(#items > 5 and #items < 50, #items .. " items")
      assert.is_nil(last.res)
      assert.is_nil(last.key)
      assert.equal("api", last.err.kind)
      assert.equal(403, last.err.code)
      for i = 1, #items - 1 do assert.equal("q" .. i, items[i].key) end
    end)

    it("gives a download that cannot start as the error of the first item", function()
      local job = file_job(2)
      m:faults{ { type = "status", code = 404, match = ":download" } }
      local items = collect(client.batches:results(job))
      assert.equal(1, #items)
      assert.equal(1, items[1].i)
      assert.equal(404, items[1].err.code)
    end)

    it("close() ends the download at once", function()
      local job = file_job(3, { result_size = 20 * 1024 * 1024 })
      local r = client.batches:results(job)
      local i, res = r:next()
      assert.equal(1, i)
      assert.is_string(res.text)
      r:close()
      assert.is_nil(r:next())
      assert.is_true(m:wait_for(function(log)
        local e = log[#log]
        return e.path:find("^/signed/") and (e.disconnected or e.t_end) and not e.completed
      end, 5))
    end)
  end)

  describe("create_embeddings", function()
    it("sends one request per content, the config copied into each, and gives embeddings", function()
      local job = assert(client.batches:create_embeddings{ model = "gemini-embedding-001",
        src = { inlined_requests = { contents = { "a", "b" },
                                     config = { output_dimensionality = 16, task_type = "RETRIEVAL_DOCUMENT" } } },
        config = { display_name = "emb" } })
      local req = m:last()
      assert.equal("/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent", req.path)
      assert.same({ batch = { displayName = "emb", inputConfig = { requests = { requests = {
        { request = { content = { role = "user", parts = { { text = "a" } } },
                      outputDimensionality = 16, taskType = "RETRIEVAL_DOCUMENT" } },
        { request = { content = { role = "user", parts = { { text = "b" } } },
                      outputDimensionality = 16, taskType = "RETRIEVAL_DOCUMENT" } },
      } } } } }, req.json)
      job = assert(client.batches:wait(job, FAST))
      assert.equal(job.dest.inlined_responses, job.dest.inlined_embed_content_responses)
      local items = collect(client.batches:results(job))
      assert.equal(2, #items)
      assert.equal(16, #items[1].res.embeddings[1].values)
      assert.equal(16, #items[2].res.embedding.values)
    end)

    it("takes a request file", function()
      local path = tmpfile('{"key": "e1", "request": {"content": {"parts": [{"text": "x"}]}}}\n')
      local file = assert(client.files:upload{ path = path, mime_type = "jsonl" })
      os.remove(path)
      local job = assert(client.batches:create_embeddings{ model = "gemini-embedding-001",
                                                           src = { file_name = file.name } })
      assert.same({ fileName = file.name }, m:last().json.batch.inputConfig)
      job = assert(client.batches:wait(job, FAST))
      local items = collect(client.batches:results(job))
      assert.equal("e1", items[1].key)
      assert.equal(8, #items[1].res.embeddings[1].values)
    end)

    it("raises for a list of generate requests", function()
      assert.has_error(function()
        client.batches:create_embeddings{ model = "gemini-embedding-001", src = { "a" } }
      end, "bad field 'src' to 'create_embeddings' (a list of requests is for create; expected"
        .. " { inlined_requests = { contents =, config = } })")
      assert.has_error(function()
        client.batches:create_embeddings{ model = "gemini-embedding-001",
          src = { inlined_requests = { contents = "a", confg = {} } } }
      end, "bad field 'src.inlined_requests.confg' to 'create_embeddings' (unknown; expected contents, config)")
    end)
  end)
end)
