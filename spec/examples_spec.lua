-- Every example in examples/ run as a user runs it: copied out of the
-- repository into a scratch directory, with LUA_PATH / LUA_CPATH naming only
-- the module and its build, the key and GEMINI_BASE_URL in the environment
-- (pointing at the mock, as examples/README.md says), stdin from
-- /dev/null; each must exit 0 and print what it is about.
local mock = require("support.mock")

local q = mock.shell_quote
local lua = arg and arg[-1] or "lua5.4"

local read = mock.command_output

local cwd = read("pwd"):gsub("%s+$", "")

-- The module paths of this run, made absolute, for programs started elsewhere.
local function absolute(path)
  local out = {}
  for entry in path:gmatch("[^;]+") do
    out[#out + 1] = entry:sub(1, 1) == "/" and entry or (cwd .. "/" .. entry)
  end
  return table.concat(out, ";") .. ";;"
end
-- The module and its C core only: nothing of spec/ or examples/.
local LUA_PATH = cwd .. "/lua/?.lua;" .. cwd .. "/lua/?/init.lua;;"
local LUA_CPATH = absolute(package.cpath)

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. q(tmp .. "/examples")))

-- Examples run in a mode of their own, by their own test below.
local OWN_TEST = { ["vertex.lua"] = true }

-- The examples, copied out of the repository.
local names = {}
for name in read("ls " .. q(cwd .. "/examples")):gmatch("[^\n]+") do
  if name:match("%.lua$") then
    if not OWN_TEST[name] then names[#names + 1] = name end
    mock.write_file(tmp .. "/examples/" .. name, assert(mock.read_file(cwd .. "/examples/" .. name)))
  end
end

-- The environment of a run: no key, base URL or model of the caller's,
-- then `env` (a list of NAME=value).
local function env_line(env)
  local out = { "env -u GEMINI_API_KEY -u GOOGLE_API_KEY -u COMETAPI_KEY -u GEMINI_BASE_URL",
                "-u GEMINI_MODEL -u LUA_INIT -u GOOGLE_CLOUD_PROJECT -u GOOGLE_CLOUD_LOCATION",
                "-u GOOGLE_VERTEX_BASE_URL -u GOOGLE_GENAI_USE_VERTEXAI -u GOOGLE_GENAI_USE_ENTERPRISE",
                "-u GOOGLE_APPLICATION_CREDENTIALS", "LUA_PATH=" .. q(LUA_PATH), "LUA_CPATH=" .. q(LUA_CPATH) }
  for _, kv in ipairs(env or {}) do out[#out + 1] = q(kv) end
  return table.concat(out, " ")
end

local m  -- the mock the examples are pointed at

-- Runs the copy of examples/<name> with args (and env, a list of
-- NAME=value, else the mock's key and URL); returns stdout, stderr, exit status.
local function run(name, args, env)
  local out, err = tmp .. "/out", tmp .. "/err"
  local cmd = table.concat({
    "cd", q(tmp), "&&",
    env_line(env or { "GEMINI_API_KEY=" .. m.key, "GEMINI_BASE_URL=" .. m.url, "BATCH_POLL_INTERVAL=0.01" }),
    "timeout 120", q(lua), q("examples/" .. name), args or "",
    "< /dev/null >", q(out), "2>", q(err), "; echo $?",
  }, " ")
  local status = tonumber(read(cmd):match("(%d+)"))
  local f = io.open(out, "rb")
  local stdout = f and f:read("*a") or ""
  if f then f:close() end
  f = io.open(err, "rb")
  local stderr = f and f:read("*a") or ""
  if f then f:close() end
  return stdout, stderr, status
end

-- What each example must print (Lua patterns, plain = false), beyond exit 0.
local EXPECT = {
  ["quickstart.lua"] = { 'You asked: "Explain how AI works in a few words"' },
  ["thinking.lua"] = { "thinking budget 1024", "thinking level LOW", "%-%- thoughts:",
                       "%-%- tokens: [1-9]%d* thinking", "thinking_level is for Gemini 3 models" },
  ["streaming.lua"] = { "You asked: \"Write a short poem about the stars\"",
                        "%(%d+ chunks, finish reason STOP, %d+ tokens%)", "first chunk: %S",
                        "stream closed" },
  ["system_instruction.lua"] = { "== as a string", "You are a math tutor%. Always show your work%.",
                                 "== as parts", "Answer in French%." },
  ["json_schema.lua"] = { "planet%s+distance%s+moons%s+kind", "%d+%.%d%d AU%s+%d+%s+rocky" },
  ["google_search.lua"] = { "%[1%]%(https://example%.com/mock%-search/1%)", "Searched for: Who won the euro 2024%?",
                            "%[2%] example%.org <https://example%.org/mock%-search/2>" },
  ["google_maps.lua"] = { "Places:", "%[1%] Café Mock <https://maps%.google%.com/%?cid=1001>" },
  ["code_execution.lua"] = { "%-%- code %(PYTHON%):", "print%(sum%(primes%)%)",
                             "%-%- output %(OUTCOME_OK%):\n5117", "is 5117" },
  ["image_generation.lua"] = { "saved out%.png %(image/png, %d+ bytes%)" },
  ["live_chat.lua"] = { "^Live echo: Hello Live\nLive echo: Once more\n$" },
  ["live_audio.lua"] = { "you said: heard 6400 bytes", "answer: Spoken answer%.",
                         "saved answer%.wav %(0%.02 s of audio%)" },
  ["tts.lua"] = { "saved answer%.wav %(audio/L16;codec=pcm;rate=24000, 0%.25 s of audio%)" },
  ["batch_prompts.lua"] = { "== %[1%] Why is the sky blue%?\n[^\n]*You asked", "3 answers, 0 failed" },
  ["video.lua"] = { "started models/veo%-3%.1%-generate%-preview/operations/%w+", "saved out%.mp4 %(65536 bytes%)" },
  ["file_search.lua"] = { "indexed fileSearchStores/lighthouse%-%w+/documents/keeper%-log%-txt%-%w+",
                          "14 storms and 3 rescues%.%[1%]", "floor%.%[2%]", "%[1%] keeper%-log%.txt: The lighthouse",
                          "%[2%] cat%.md: ", "deleted fileSearchStores/lighthouse%-%w+" },
}
local ARGS = { ["image_generation.lua"] = "out.png", ["video.lua"] = "out.mp4",
               ["live_chat.lua"] = "'Hello Live' 'Once more'",
               ["live_audio.lua"] = "question.wav answer.wav" }

-- Files an example reads, written into its folder before it runs.
local BEFORE = {
  -- 0.2 s of 16 kHz silence as the question
  ["live_audio.lua"] = function(dir)
    mock.write_file(dir .. "/question.wav", require("gemini").audio.wav(("\0"):rep(6400), { rate = 16000 }))
  end,
}

describe("examples", function()
  m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = "test-key" }
  teardown(function()
    os.execute("rm -rf " .. q(tmp))
  end)

  it("are all here, and none needs a file of the repository", function()
    for name in pairs(EXPECT) do
      local found = false
      for _, n in ipairs(names) do found = found or n == name end
      assert(found, "missing example " .. name)
    end
    for _, name in ipairs(names) do
      local src = assert(mock.read_file(tmp .. "/examples/" .. name))
      assert.is_nil(src:find("dofile", 1, true), name)
      assert.is_nil(src:find("support/", 1, true), name)
    end
  end)

  for _, name in ipairs(names) do
    it(name .. " runs copied out of the repository, against the mock", function()
      if BEFORE[name] then BEFORE[name](tmp) end
      local stdout, stderr, status = run(name, ARGS[name])
      assert(status == 0, name .. " exited with " .. tostring(status) .. "\n" .. stdout .. stderr)
      -- something on either stream (a REPL greets on stderr)
      assert.truthy(#stdout + #(stderr:gsub("%s", "")) > 0, name .. " printed nothing")
      for _, pattern in ipairs(EXPECT[name] or {}) do
        assert(stdout:find(pattern), name .. ": expected " .. pattern .. " in:\n" .. stdout)
      end
      if name ~= "chat_repl.lua" then  -- (it reads its prompts from stdin, empty here)
        assert(#m:log() > 0, name .. " asked nothing of the mock")
      end
    end)
  end

  -- Runs an example that writes the file `out`: its bytes and stderr.
  local function written(name, out)
    local _, stderr, status = run(name, out)
    assert.equal(0, status)
    return assert(mock.read_file(tmp .. "/" .. out)), stderr
  end

  it("tts.lua writes a WAV file of the answer's PCM", function()
    local wav = written("tts.lua", "spoken.wav")
    assert.equal(44 + 12000, #wav)                 -- the mock's 0.25 s tone at 24 kHz, 16-bit mono
    assert.equal("RIFF", wav:sub(1, 4))
    assert.equal("WAVEfmt ", wav:sub(9, 16))
    assert.equal("data", wav:sub(37, 40))
  end)

  it("vertex.lua runs in Vertex AI express mode against the mock", function()
    local function vertex(key)
      return run("vertex.lua", q("Why is the sky blue?"), { "GOOGLE_API_KEY=" .. key,
        "GOOGLE_VERTEX_BASE_URL=" .. m.url })
    end
    local stdout, stderr, status = vertex(m.key)
    local out = stdout .. stderr
    local paths = {}
    for _, e in ipairs(m:log()) do paths[#paths + 1] = e.path end
    assert.equal(0, status)
    assert.matches('You asked: "Why is the sky blue?"', out, 1, true)
    assert.matches("%(gemini%-2%.5%-flash on Vertex AI, %d+ tokens%)", out)
    assert.same({ "/v1beta1/publishers/google/models/gemini-2.5-flash:countTokens",
                  "/v1beta1/publishers/google/models/gemini-2.5-flash:streamGenerateContent" }, paths)
    local bad_out, bad_err, bad_status = vertex("not-the-key-1234")
    assert.equal(1, bad_status)
    assert.matches("count_tokens: gemini: api error 401 UNAUTHENTICATED", bad_out .. bad_err, 1, true)
    assert.is_nil((bad_out .. bad_err):find("not-the-key-1234", 1, true))
  end)

  it("image_generation.lua writes a real PNG", function()
    local png = written("image_generation.lua", "picture.png")
    assert.equal("\137PNG\r\n\26\n", png:sub(1, 8))
    assert.equal("IEND", png:sub(-8, -5))
  end)

  it("batch_prompts.lua turns a file of prompts into a file of answers, with a progress line", function()
    local f = assert(io.open(tmp .. "/prompts.txt", "w"))
    f:write("First question?\n\nSecond question?\n")
    f:close()
    local stdout, stderr, status = run("batch_prompts.lua", "prompts.txt answers.txt")
    assert.equal(0, status)
    assert.matches("2 answers, 0 failed, written to answers.txt", stdout, 1, true)
    assert.matches("created batches/%S+ %(2 requests%)", stderr)
    assert.matches("\rJOB_STATE_SUCCEEDED +2 of 2 done", stderr)
    local answers = mock.read_file(tmp .. "/answers.txt")
    assert.matches('== %[1%] First question%?\n[^\n]*You asked: "First question%?"', answers)
    assert.matches('== %[2%] Second question%?\n[^\n]*You asked: "Second question%?"', answers)
  end)

  it("batch_prompts.lua on a failed job says so, with the job's error, and deletes the job", function()
    m:faults{ { type = "batch", states = { "PENDING", "FAILED" }, error = { code = 13, message = "boom" } } }
    local stdout, stderr, status = run("batch_prompts.lua")
    local out = stdout .. stderr
    local deleted = {}
    for _, e in ipairs(m:log()) do
      if e.method == "DELETE" then deleted[#deleted + 1] = e.path end
    end
    assert.equal(1, status)
    local name = out:match("\n(batches/%S+) ended in state JOB_STATE_FAILED: gemini: api error 500"
      .. " INTERNAL: boom\n")
    assert(name, out)
    assert.equal(1, #deleted)
    assert.equal("/v1beta/" .. name, deleted[1])
  end)

  it("video.lua writes an MP4", function()
    local mp4, stderr = written("video.lua", "clip.mp4")
    assert.equal("ftyp", mp4:sub(5, 8))
    assert.matches("still running after %d+s\n.*done after %d+s\n", stderr)
    assert.matches("downloading: 65536 / 65536 bytes", stderr, 1, true)
  end)

  it("quickstart.lua takes the prompt as its argument", function()
    local stdout, stderr, status = run("quickstart.lua", q("Why is the sky blue?"))
    assert.equal(0, status)
    assert.matches('You asked: "Why is the sky blue?"', stdout, 1, true)
    assert.matches("> Why is the sky blue?", stderr, 1, true)
    assert.matches("%(gemini%-2%.5%-flash, %d+ tokens%)", stderr)
  end)

  it("an API failure makes an example exit 1 with the error on stderr", function()
    -- a key the server rejects: the example must fail loudly, not print nothing
    local stdout, stderr, status = run("system_instruction.lua", nil,
      { "GEMINI_API_KEY=wrong-key-1234", "GEMINI_BASE_URL=" .. m.url })
    assert.equal(1, status)
    assert.equal("", stdout)
    assert.matches("gemini: api error 400 INVALID_ARGUMENT: API key not valid", stderr, 1, true)
    assert.is_nil(stderr:find("wrong-key-1234", 1, true))
    assert.equal(1, #m:log())
  end)

  it("a stream that fails makes quickstart.lua exit 1 with the error, after what came", function()
    local stdout, stderr, status = run("quickstart.lua", nil, { "GEMINI_API_KEY=" .. m.key,
      "GEMINI_BASE_URL=" .. m.url, "GEMINI_MODEL=mock-stream-error" })
    assert.equal(1, status)
    assert.matches("^This answer", stdout)
    assert.matches("gemini: api error 500", stderr, 1, true)
  end)

  -- make demo: .ci/with-mock starts the mock when no key is set; its output
  -- piped (stdout and stderr into one pipe, as `make demo | less`).
  it("make demo's quickstart with no key: the mock says so, the answer, then the stats on a line"
     .. " of their own", function()
    local out = read(table.concat({ "cd", q(cwd), "&&", env_line{ "MOCK_STREAM_DELAY=0" },
      "sh .ci/with-mock", q(lua), "examples/quickstart.lua", q("Why is the sky blue?"),
      "< /dev/null 2>&1 | cat; echo EXIT:$?" }, " "))
    assert.matches("^%(no GEMINI_API_KEY set: answering from the bundled mock server at "
      .. "http://127%.0%.0%.1:%d+%)\n> Why is the sky blue%?\nThis answer comes from the local gemini mock"
      .. " server%. You asked: \"Why is the sky blue%?\"%. Set GEMINI_API_KEY [^\n]*%.\n"
      .. "%(gemini%-2%.5%-flash, %d+ tokens%)\nEXIT:0\n$", out)
  end)

  -- live_chat.lua typed at (here: lines piped in), its prompts on stderr
  -- and answers on stdout in one pipe, as a terminal shows them.
  it("live_chat.lua with lines on stdin: each answer on the line of its prompt, the next prompt after it",
     function()
    local out = read(table.concat({ "cd", q(tmp), "&&", "printf 'line one\\nline two\\n' |",
      env_line{ "GEMINI_API_KEY=" .. m.key, "GEMINI_BASE_URL=" .. m.url },
      "timeout 60", q(lua), "examples/live_chat.lua",
      "2>&1 | cat; echo EXIT:$?" }, " "))
    assert.equal("> Live echo: line one\n> Live echo: line two\n> EXIT:0\n", out)
  end)

  -- make examples runs vertex.lua through .ci/with-mock too: the mock it
  -- starts must serve Vertex AI (express mode, GOOGLE_VERTEX_BASE_URL),
  -- not leave the example asking aiplatform.googleapis.com.
  it("make examples' vertex.lua with no key: .ci/with-mock points Vertex AI at the mock too", function()
    local out = read(table.concat({ "cd", q(tmp), "&&", env_line{ "MOCK_STREAM_DELAY=0" },
      "sh", q(cwd .. "/.ci/with-mock"), q(lua), "examples/vertex.lua", q("Why is the sky blue?"),
      "< /dev/null 2>&1; echo EXIT:$?" }, " "))
    assert.matches('You asked: "Why is the sky blue?"', out, 1, true)
    assert.matches("%(gemini%-2%.5%-flash on Vertex AI, %d+ tokens%)\nEXIT:0\n$", out)
  end)
end)
