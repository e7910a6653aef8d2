-- bin/gemini-lua, the command-line tool: run as a child process (the
-- interpreter running this spec) against the mock, with its stdout, stderr
-- and exit code asserted for each option, and installed by `make install`.
local cjson = require("cjson")
local mock = require("support.mock")

local KEY = "cli-spec-key-2f8c61"
local q = mock.shell_quote

-- The interpreter of this run, by the name Debian gives it.
local LUA = jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))

-- The bytes a file may have to go inline (bin/gemini-lua's INLINE_MAX).
local INLINE_MAX = 15 * 1000 * 1000

local function tmpname()
  local name = os.tmpname()
  os.remove(name)
  return name
end

-- The last logged request whose path holds `what`.
local function last_request(m, what)
  local log = m:log()
  for i = #log, 1, -1 do
    if log[i].path:find(what, 1, true) then return log[i] end
  end
end

describe("gemini-lua", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local scratch = {}

  after_each(function()
    for _, f in ipairs(scratch) do os.remove(f) end
    scratch = {}
  end)

  local function scratch_file(data)
    local name = tmpname()
    scratch[#scratch + 1] = name
    if data then mock.write_file(name, data) end
    return name
  end

  -- Runs `cmd` (a shell command line, the tool and its arguments) with the
  -- mock's key and URL in the environment (`env` replaces or, with false,
  -- removes variables) and `stdin` (default: nothing) as input. Returns
  -- { code, out, err }.
  local function shell(cmd, opts)
    opts = opts or {}
    local vars = { GEMINI_API_KEY = KEY, GEMINI_BASE_URL = m.url }
    for k, v in pairs(opts.env or {}) do vars[k] = v end
    local unset = { "-u GOOGLE_API_KEY", "-u GEMINI_MODEL" }
    local set = {}
    for k, v in pairs(vars) do
      if v then set[#set + 1] = k .. "=" .. q(v) else unset[#unset + 1] = "-u " .. k end
    end
    local input = opts.stdin and scratch_file(opts.stdin) or "/dev/null"
    local out, err = scratch_file(), scratch_file()
    local line = string.format("env %s %s %s < %s > %s 2> %s; echo $?", table.concat(unset, " "),
      table.concat(set, " "), cmd, q(input), q(out), q(err))
    local code = tonumber(mock.command_output(line):match("(%d+)%s*$"))
    return { code = code, out = mock.read_file(out) or "", err = mock.read_file(err) or "" }
  end

  local function run(args, opts)
    local words = {}
    for i, a in ipairs(args) do words[i] = q(a) end
    return shell(LUA .. " bin/gemini-lua " .. table.concat(words, " "), opts)
  end

  -- The text parts of the last generate request, in order.
  local function sent_texts()
    local e = last_request(m, ":streamGenerateContent")
    local out = {}
    for _, c in ipairs(e.json.contents) do
      for _, p in ipairs(c.parts) do out[#out + 1] = p.text or "" end
    end
    return out, e
  end

  describe("a prompt", function()
    it("given as arguments is streamed to stdout, exit 0", function()
      local r = run{ "Why", "is the sky blue?" }
      assert.equal(0, r.code)
      assert.equal("", r.err)
      assert.matches('You asked: "Why is the sky blue?"', r.out, 1, true)
      assert.equal("\n", r.out:sub(-1))
      local texts, e = sent_texts()
      assert.same({ "Why is the sky blue?" }, texts)
      assert.equal("/v1beta/models/gemini-2.5-flash:streamGenerateContent", e.path)
      assert.equal("sse", e.query.alt)
    end)

    it("is read from stdin when piped", function()
      local r = run({}, { stdin = "piped question" })
      assert.equal(0, r.code)
      assert.matches('You asked: "piped question"', r.out, 1, true)
      assert.same({ "piped question" }, (sent_texts()))
    end)

    it("with stdin too: stdin goes first, as context", function()
      local r = run({ "summarize this" }, { stdin = "a long text\n" })
      assert.equal(0, r.code)
      assert.same({ "a long text\n", "summarize this" }, (sent_texts()))
    end)

    it("is needed: none is a usage error, exit 2", function()
      local r = run{}
      assert.equal(2, r.code)
      assert.equal("", r.out)
      assert.matches("gemini-lua: no prompt: give it as an argument or on stdin", r.err, 1, true)
    end)

    it("that is blank (an empty argument, blank stdin) is none: a usage error, nothing sent", function()
      for _, case in ipairs({ { args = { "" } }, { args = { " ", "\t" } }, { args = {}, stdin = "\n \n" },
                              { args = { "" }, stdin = "\n" } }) do
        local r = run(case.args, { stdin = case.stdin })
        assert.equal(2, r.code)
        assert.equal("", r.out)
        assert.matches("gemini-lua: no prompt: give it as an argument or on stdin", r.err, 1, true)
      end
      assert.equal(0, #m:log())
      -- Blank stdin next to a prompt is no context: only the prompt goes.
      assert.equal(0, run({ "the question" }, { stdin = "\n" }).code)
      assert.same({ "the question" }, (sent_texts()))
    end)
  end)

  describe("options", function()
    it("-m picks the model, GEMINI_MODEL is the default", function()
      assert.equal(0, run{ "-m", "gemini-2.5-pro", "hi" }.code)
      assert.equal("/v1beta/models/gemini-2.5-pro:streamGenerateContent",
        last_request(m, ":stream").path)
      assert.equal(0, run({ "hi" }, { env = { GEMINI_MODEL = "gemini-2.0-flash" } }).code)
      assert.equal("/v1beta/models/gemini-2.0-flash:streamGenerateContent",
        last_request(m, ":stream").path)
    end)

    it("-s sends a system instruction", function()
      local r = run{ "-s", "Answer in French.", "hello" }
      assert.equal(0, r.code)
      local e = last_request(m, ":stream")
      assert.same({ parts = { { text = "Answer in French." } } }, e.json.systemInstruction)
      assert.matches('System instruction followed: "Answer in French."', r.out, 1, true)
    end)

    it("-f attaches a small file inline, with its MIME type", function()
      local path = scratch_file("col1,col2\n1,2\n")
      os.rename(path, path .. ".csv")
      scratch[#scratch + 1] = path .. ".csv"
      local r = run{ "-f", path .. ".csv", "what is in it?" }
      assert.equal(0, r.code)
      local parts = last_request(m, ":stream").json.contents[1].parts
      assert.equal("text/csv", parts[1].inlineData.mimeType)
      assert.equal(require("gemini").core.b64encode("col1,col2\n1,2\n"), parts[1].inlineData.data)
      assert.same({ text = "what is in it?" }, parts[2])
      assert.is_nil(last_request(m, "/upload/"))
    end)

    it("-f uploads a file too large to go inline, without a progress bar off a terminal", function()
      local path = scratch_file()
      assert.equal("", mock.command_output("truncate -s " .. (INLINE_MAX + 1) .. " " .. q(path)))
      local r = run{ "-f", path, "-f", path, "describe" }
      assert.equal(0, r.code)
      assert.equal("", r.err)
      local starts = {}
      for _, e in ipairs(m:log()) do
        if e.path == "/upload/v1beta/files" and e.headers["x-goog-upload-command"] == "start" then
          starts[#starts + 1] = e
        end
      end
      assert.equal(2, #starts)
      assert.equal(tostring(INLINE_MAX + 1), starts[1].headers["x-goog-upload-header-content-length"])
      local parts = last_request(m, ":stream").json.contents[1].parts
      -- The same file twice: both past what may go inline in all.
      assert.matches("/files/", parts[1].fileData.fileUri, 1, true)
      assert.matches("/files/", parts[2].fileData.fileUri, 1, true)
      assert.equal("text/plain", parts[1].fileData.mimeType)
    end)

    it("-f of a file that cannot be read is a usage error", function()
      local r = run{ "-f", "/nonexistent/file.txt", "hi" }
      assert.equal(2, r.code)
      assert.matches("gemini-lua: cannot read /nonexistent/file.txt: No such file", r.err, 1, true)
      r = run{ "-f", "spec", "hi" }
      assert.equal(2, r.code)
      assert.matches("gemini-lua: cannot read spec: Is a directory", r.err, 1, true)
      assert.equal(0, #m:log())
    end)

    it("--json asks for JSON and writes the JSON answer", function()
      local r = run{ "--json", "three planets" }
      assert.equal(0, r.code)
      local e = last_request(m, ":stream")
      assert.equal("application/json", e.json.generationConfig.responseMimeType)
      assert.equal("table", type(cjson.decode(r.out)))
    end)

    it("--think takes a level (Gemini 3) or a budget (Gemini 2.5)", function()
      assert.equal(0, run{ "-m", "gemini-3-pro-preview", "--think", "low", "hmm" }.code)
      assert.same({ thinkingLevel = "LOW" },
        last_request(m, ":stream").json.generationConfig.thinkingConfig)
      assert.equal(0, run{ "--think", "512", "hmm" }.code)
      assert.same({ thinkingBudget = 512 },
        last_request(m, ":stream").json.generationConfig.thinkingConfig)
      -- A bad value is told in the command line's terms, not the library's.
      for _, bad in ipairs({ "lots", "1.5", "99999999999" }) do
        local r = run{ "--think", bad, "hmm" }
        assert.equal(2, r.code)
        assert.matches("gemini-lua: --think needs a level (minimal, low, medium, high) or a budget"
          .. ' in tokens (a whole number, 0 off, -1 dynamic), not "' .. bad .. '"\n', r.err, 1, true)
      end
    end)

    it("--think: a level for a 2.x model is refused in the tool's terms; --no-think-check sends it", function()
      local r = run{ "--think", "low", "hmm" }
      assert.equal(2, r.code)
      assert.matches("gemini-lua: thinking_level is for Gemini 3 models; use --think <budget> with"
        .. " gemini-2.5-flash (--no-think-check skips this check)\n", r.err, 1, true)
      assert.equal(0, #m:log())
      r = run{ "--no-think-check", "-m", "gemini-2.5-flash", "--think", "low", "hmm" }
      -- the mock answers as the API does: 400 for a thinking level on a 2.x model
      assert.equal(1, r.code)
      assert.matches("api error 400 INVALID_ARGUMENT: Thinking level is not supported for this model.",
        r.err, 1, true)
      assert.same({ thinkingLevel = "LOW" }, last_request(m, ":stream").json.generationConfig.thinkingConfig)
    end)

    it("-c keeps a chat in a file: the second turn carries the first", function()
      local chat = scratch_file()
      local r1 = run{ "-c", chat, "My name is Ada." }
      assert.equal(0, r1.code)
      assert.equal(2, #cjson.decode(mock.read_file(chat)))
      local r2 = run{ "-c", chat, "What is my name?" }
      assert.equal(0, r2.code)
      local contents = last_request(m, ":stream").json.contents
      assert.equal(3, #contents)
      assert.same({ role = "user", parts = { { text = "My name is Ada." } } }, contents[1])
      assert.equal("model", contents[2].role)
      assert.same({ role = "user", parts = { { text = "What is my name?" } } }, contents[3])
      local kept = cjson.decode(mock.read_file(chat))
      assert.equal(4, #kept)
      assert.equal(r2.out, kept[4].parts[1].text .. "\n")
    end)

    it("-c leaves the chat as it was when the turn fails, and refuses a file that holds no chat", function()
      local chat = scratch_file('[{"role":"user","parts":[{"text":"hi"}]},'
        .. '{"role":"model","parts":[{"text":"hello"}]}]')
      local before = mock.read_file(chat)
      m:faults{ { type = "status", code = 400 } }
      local r = run{ "-c", chat, "more" }
      assert.equal(1, r.code)
      assert.equal(before, mock.read_file(chat))
      mock.write_file(chat, '{"not": "a list"}')
      r = run{ "-c", chat, "more" }
      assert.equal(2, r.code)
      assert.matches("holds no chat history (a JSON list of contents expected)", r.err, 1, true)
    end)

    it("-c refuses a chat file it could not write afterwards, before asking anything", function()
      local dir = scratch_file()
      os.remove(dir)
      assert(os.execute("mkdir " .. q(dir)))
      local r = run{ "-c", dir .. "/missing/chat.json", "hi" }
      assert.equal(2, r.code)
      assert.matches("gemini-lua: cannot write the chat file " .. dir .. "/missing/chat.json: No such file"
        .. " or directory\n", r.err, 1, true)
      r = run{ "-c", dir, "hi" }
      assert.equal(2, r.code)
      assert.matches("gemini-lua: cannot write the chat file " .. dir .. ": it is a directory\n", r.err, 1, true)
      os.execute("rmdir " .. q(dir))
      assert.equal(0, #m:log())
    end)

    it("--batch submits the file's lines, waits, and writes the results as JSON lines", function()
      local requests = scratch_file('first prompt\n"second prompt"\n\n'
        .. '{"contents": "third prompt", "config": {"temperature": 0}}\n')
      local results = scratch_file()
      local r = run{ "--batch", requests, "-o", results, "--poll", "0.01", "-s", "Be brief." }
      assert.equal(0, r.code)
      assert.equal("", r.out)
      assert.matches("batches/[%w-]+: JOB_STATE_SUCCEEDED %(3 of 3 done%)", r.err)
      local create = last_request(m, ":batchGenerateContent")
      assert.equal("/v1beta/models/gemini-2.5-flash:batchGenerateContent", create.path)
      local items = create.json.batch.inputConfig.requests.requests
      assert.equal(3, #items)
      assert.same({ temperature = 0 }, items[3].request.generationConfig)
      assert.same({ parts = { { text = "Be brief." } } }, items[3].request.systemInstruction)
      local lines = {}
      for line in mock.read_file(results):gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(line) end
      assert.equal(3, #lines)
      for i, want in ipairs({ "first prompt", "second prompt", "third prompt" }) do
        assert.equal(i, lines[i].index)
        assert.matches('You asked: "' .. want .. '"', lines[i].text, 1, true)
        assert.equal(lines[i].text, lines[i].response.candidates[1].content.parts[1].text)
      end
    end)

    it("--batch writes an item that failed as a line with its error; a bad line is a usage error", function()
      m:faults{ { type = "batch", fail_items = { 2 }, states = { "SUCCEEDED" } } }
      local r = run{ "--batch", scratch_file("one\ntwo\n"), "--poll", "0.01" }
      assert.equal(0, r.code)
      local lines = {}
      for line in r.out:gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(line) end
      assert.equal(2, #lines)
      assert.truthy(lines[1].text)
      assert.same({ 2, 500, "INTERNAL" }, { lines[2].index, lines[2].error.code, lines[2].error.status })
      r = run{ "--batch", scratch_file('ok\n{"contents": \n') }
      assert.equal(2, r.code)
      assert.matches(":2: a request object, a JSON string or a line of text expected", r.err, 1, true)
    end)

    it("--batch names the file's line of a request the library refuses, and sends nothing", function()
      local file = scratch_file('first\n\n{"contnts": "x"}\n')
      local r = run{ "--batch", file }
      assert.equal(2, r.code)
      assert.matches("gemini-lua: " .. file .. ":3: bad field 'contnts' to 'create' (unknown field; known:",
        r.err, 1, true)
      assert.is_nil(r.err:find("src[", 1, true))
      assert.equal(0, #m:log())
    end)

    it("-h and --help tell the options and the exit codes; --version the version", function()
      local r = run{ "--help" }
      assert.equal(0, r.code)
      for _, s in ipairs({ "-m, --model", "--batch FILE", "GEMINI_BASE_URL", "Exit codes:",
                           "2  usage error", "3  no answer", "4  the answer was cut",
                           "130  interrupted" }) do
        assert.matches(s, r.out, 1, true)
      end
      r = run{ "--version" }
      assert.equal(0, r.code)
      assert.matches("^gemini%-lua %d+%.%d+%.%d+ %(Lua 5%.%d", r.out)
    end)
  end)

  describe("exit codes", function()
    it("2 without a key, with a message", function()
      local r = run({ "hi" }, { env = { GEMINI_API_KEY = false } })
      assert.equal(2, r.code)
      assert.matches("gemini-lua: no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)", r.err, 1, true)
      -- Vertex AI mode needs no key: the library looks for its credentials.
      r = run({ "hi" }, { env = { GEMINI_API_KEY = false, GOOGLE_GENAI_USE_VERTEXAI = "true",
        GOOGLE_CLOUD_PROJECT = "p", GOOGLE_APPLICATION_CREDENTIALS = "/nonexistent/sa.json" } })
      assert.equal(2, r.code)
      assert.matches("credentials file '/nonexistent/sa.json' (GOOGLE_APPLICATION_CREDENTIALS)", r.err, 1, true)
      assert.equal(0, #m:log())
      assert.equal(0, run({ "hi" }, { env = { GEMINI_API_KEY = false, GOOGLE_API_KEY = KEY } }).code)
    end)

    it("2 without a key when the environment turns Vertex AI mode off again, as the library reads it", function()
      -- GOOGLE_GENAI_USE_ENTERPRISE wins over GOOGLE_GENAI_USE_VERTEXAI:
      -- false there is the Gemini API, which needs a key.
      local r = run({ "hi" }, { env = { GEMINI_API_KEY = false, GOOGLE_GENAI_USE_VERTEXAI = "true",
        GOOGLE_GENAI_USE_ENTERPRISE = "false", GOOGLE_CLOUD_PROJECT = "p" } })
      assert.equal(2, r.code)
      assert.equal("gemini-lua: no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)\n"
        .. "Try 'gemini-lua --help'.\n", r.err)
      assert.equal(0, #m:log())
    end)

    it("1 for an API error once the retries are spent, its kind and code on stderr", function()
      m:faults{ { type = "status", code = 500, times = 2 } }
      local r = run{ "--retries", "1", "hi" }
      assert.equal(1, r.code)
      assert.equal("", r.out)
      assert.matches("^gemini%-lua: api error 500 INTERNAL: ", r.err)
      assert.equal(2, #m:log())
    end)

    it("1 for a network error", function()
      local r = run({ "--retries", "0", "hi" }, { env = { GEMINI_BASE_URL = "http://127.0.0.1:1" } })
      assert.equal(1, r.code)
      assert.matches("^gemini%-lua: transport error: ", r.err)
    end)

    it("2 for a bad command line (\"--\" ends the options)", function()
      for _, args in ipairs({ { "--nope", "hi" }, { "-m" }, { "-o", "x", "hi" },
                              { "--batch", "x", "hi" }, { "--retries", "many", "hi" } }) do
        local r = run(args)
        assert.equal(2, r.code, table.concat(args, " "))
        assert.matches("Try 'gemini-lua --help'.", r.err, 1, true)
      end
      assert.matches("unknown option --nope", run{ "--nope", "hi" }.err, 1, true)
      assert.matches("option -m needs a value", run{ "-m" }.err, 1, true)
      assert.equal(0, #m:log())
      local r = run{ "--", "-5 plus 3?" }
      assert.equal(0, r.code)
      assert.matches('You asked: "-5 plus 3?"', r.out, 1, true)
    end)

    it("2 when the module cannot be loaded (a LuaRocks tree off the path): one line saying how", function()
      local version = jit and "5.1" or _VERSION:match("%d+%.%d+")
      for what, paths in pairs({ ["'gemini'"] = "LUA_PATH=';;' LUA_CPATH=';;'",
                                 ["'gemini.core'"] = "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH=';;'" }) do
        local r = shell("env " .. paths .. " " .. LUA .. " bin/gemini-lua hi")
        assert.equal(2, r.code)
        assert.equal("", r.out)
        assert.equal("gemini-lua: cannot load the gemini module (module " .. what .. " not found):"
          .. " LUA_PATH and LUA_CPATH must find it; for a LuaRocks tree: eval \"$(luarocks path"
          .. " --lua-version=" .. version .. " --tree DIR)\"\n", r.err)
      end
    end)

    it("3 when the prompt is blocked or the answer stopped for safety", function()
      m:script{ { chunks = { { promptFeedback = { blockReason = "SAFETY" } } } } }
      local r = run{ "something bad" }
      assert.equal(3, r.code)
      assert.matches("gemini-lua: the prompt was blocked (SAFETY)", r.err, 1, true)
      m:script{ { chunks = { { candidates = { { content = { role = "model", parts = { { text = "Once" } } } } } },
                             { candidates = { { finishReason = "RECITATION" } } } } } }
      r = run{ "a song" }
      assert.equal(3, r.code)
      assert.equal("Once\n", r.out)
      assert.matches("gemini-lua: the answer stopped: RECITATION", r.err, 1, true)
    end)

    it("4 when the stream fails after part of the answer was written", function()
      m:faults{ { type = "stream_error", after = 1, code = 500 } }
      local r = run{ "--retries", "0", "tell me" }
      assert.equal(4, r.code)
      assert.truthy(#r.out > 1)
      -- The part written ends its line, so the error on a terminal starts one.
      assert.equal("\n", r.out:sub(-1))
      assert.matches("gemini-lua: api error 500", r.err, 1, true)
    end)
  end)

  it("130 when interrupted by Ctrl-C (SIGINT) in the middle of a stream", function()
    m:faults{ { type = "slow_stream", events = 30, delay = 0.2 } }
    local out, err = scratch_file(), scratch_file()
    local code = mock.command_output(string.format(
      "env -u GOOGLE_API_KEY GEMINI_API_KEY=%s GEMINI_BASE_URL=%s %s bin/gemini-lua --retries 0 slowly < /dev/null > %s 2> %s &"
      .. " pid=$!; sleep 1; kill -INT $pid; wait $pid; echo $?", q(KEY), q(m.url), LUA, q(out), q(err)))
    assert.equal(130, tonumber(code:match("(%d+)%s*$")))
    assert.truthy(#mock.read_file(out) > 0)
    assert.equal("gemini-lua: interrupted\n", mock.read_file(err))
  end)

  it("shows an upload's progress bar on a terminal", function()
    if mock.command_output("command -v script") == "" then return pending("no script(1)") end
    local path = scratch_file()
    mock.command_output("truncate -s " .. (INLINE_MAX + 1) .. " " .. q(path))
    local cmd = LUA .. " bin/gemini-lua -f " .. q(path) .. " describe"
    local r = shell("script -qec " .. q(cmd) .. " /dev/null")
    assert.equal(0, r.code)
    assert.matches("%[#+%] 100%%", r.out)
    assert.matches('You asked: "describe"', r.out, 1, true)
  end)

  it("is installed by make install into PREFIX/bin, run by this interpreter", function()
    local prefix = tmpname()
    local out = mock.command_output(string.format("make -s --no-print-directory install PREFIX=%s LUA=%s 2>&1",
      q(prefix), LUA))
    assert.matches("installed " .. prefix .. "/bin/gemini-lua", out, 1, true)
    local tool = prefix .. "/bin/gemini-lua"
    local first = mock.read_file(tool):match("^[^\n]*")
    assert.equal("#!" .. mock.command_output("command -v " .. LUA):gsub("%s+$", ""), first)
    -- Run by its shebang, without LUA_PATH: it finds the module where it went.
    local r = shell("env -u LUA_PATH -u LUA_CPATH -u LUA_INIT " .. q(tool) .. " 'from the install'")
    mock.command_output("rm -rf " .. q(prefix))
    assert.equal(0, r.code, r.err)
    assert.matches('You asked: "from the install"', r.out, 1, true)
  end)
end)
