-- Every example in examples/ run as a program, with no key in the
-- environment (so each one starts the bundled mock server itself), stdin
-- from /dev/null, in a scratch directory; each must exit 0 and print what
-- it is about.
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

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. q(tmp)))

-- The environment of an example: no key, no server (it starts the mock).
local NO_KEY = "env -u GEMINI_API_KEY -u GOOGLE_API_KEY -u COMETAPI_KEY -u GEMINI_BASE_URL -u GEMINI_MODEL"

-- Runs examples/<name> with args (in the environment `env`, NO_KEY by
-- default); returns stdout, stderr, exit status.
local function run(name, args, env)
  local out, err = tmp .. "/out", tmp .. "/err"
  local cmd = table.concat({
    "cd", q(tmp), "&&", env or NO_KEY,
    "LUA_PATH=" .. q(absolute(package.path)), "LUA_CPATH=" .. q(absolute(package.cpath)),
    "timeout 120", q(lua), q(cwd .. "/examples/" .. name), args or "",
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

-- Runs a stand-alone example with GEMINI_API_KEY and GEMINI_BASE_URL set to
-- a mock of its own; returns stdout, stderr, exit status.
local function run_standalone(name, args)
  local m = mock.start{ key = "standalone-example-key" }
  local stdout, stderr, status = run(name, args, "env -u GOOGLE_API_KEY -u COMETAPI_KEY -u GEMINI_MODEL"
    .. " GEMINI_API_KEY=standalone-example-key GEMINI_BASE_URL=" .. q(m.url))
  m:stop()
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
  ["batch_prompts.lua"] = { "== %[1%] Why is the sky blue%?\n[^\n]*You asked", "3 answers, 0 failed" },
  ["video.lua"] = { "started models/veo%-3%.1%-generate%-preview/operations/%w+", "saved out%.mp4 %(65536 bytes%)" },
  ["file_search.lua"] = { "indexed fileSearchStores/lighthouse%-%w+/documents/keeper%-log%-txt%-%w+",
                          "14 storms and 3 rescues%.%[1%]", "floor%.%[2%]", "%[1%] keeper%-log%.txt: The lighthouse",
                          "%[2%] cat%.md: ", "deleted fileSearchStores/lighthouse%-%w+" },
}
local ARGS = { ["image_generation.lua"] = "out.png", ["video.lua"] = "out.mp4" }

-- Stand-alone examples: no examples/support, the key and GEMINI_BASE_URL
-- from the environment; run against a mock started here. What each must
-- print, and its arguments.
local STANDALONE = {
  ["tts.lua"] = { expect = { "saved answer%.wav %(audio/L16;codec=pcm;rate=24000, 0%.25 s of audio%)" } },
  ["live_chat.lua"] = { args = "'Hello Live' 'Once more'",
                        expect = { "^Live echo: Hello Live\nLive echo: Once more\n$" } },
  -- 0.2 s of 16 kHz silence as the question (written by `before`)
  ["live_audio.lua"] = { args = "question.wav answer.wav",
                         before = function(dir)
                           mock.write_file(dir .. "/question.wav",
                             require("gemini").audio.wav(("\0"):rep(6400), { rate = 16000 }))
                         end,
                         expect = { "you said: heard 6400 bytes", "answer: Spoken answer%.",
                                    "saved answer%.wav %(0%.02 s of audio%)" } },
}

describe("examples", function()
  teardown(function()
    os.execute("rm -rf " .. q(tmp))
  end)

  local names = {}
  for name in read("ls " .. q(cwd .. "/examples")):gmatch("[^\n]+") do
    if name:match("%.lua$") and not STANDALONE[name] then names[#names + 1] = name end
  end

  it("are all here", function()
    for name in pairs(EXPECT) do
      local found = false
      for _, n in ipairs(names) do found = found or n == name end
      assert(found, "missing example " .. name)
    end
  end)

  for _, name in ipairs(names) do
    it(name .. " runs against the mock with no key", function()
      local stdout, stderr, status = run(name, ARGS[name])
      assert(status == 0, name .. " exited with " .. tostring(status) .. "\n" .. stdout .. stderr)
      assert.matches("answering from the bundled mock server", stderr)
      -- something beyond the mock notice, on either stream (a REPL greets on stderr)
      local rest = stderr:gsub("%(no GEMINI_API_KEY set: answering from the bundled mock server at [^)]*%)", "")
      assert.truthy(#stdout + #(rest:gsub("%s", "")) > 0, name .. " printed nothing")
      for _, pattern in ipairs(EXPECT[name] or {}) do
        assert(stdout:find(pattern), name .. ": expected " .. pattern .. " in:\n" .. stdout)
      end
    end)
  end

  for name, t in pairs(STANDALONE) do
    it(name .. " (stand-alone) runs against the mock given by GEMINI_BASE_URL", function()
      if t.before then t.before(tmp) end
      local stdout, stderr, status = run_standalone(name, t.args)
      assert(status == 0, name .. " exited with " .. tostring(status) .. "\n" .. stdout .. stderr)
      for _, pattern in ipairs(t.expect) do
        assert(stdout:find(pattern), name .. ": expected " .. pattern .. " in:\n" .. stdout)
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
    local _, _, status = run_standalone("tts.lua", "spoken.wav")
    assert.equal(0, status)
    local wav = assert(mock.read_file(tmp .. "/spoken.wav"))
    assert.equal(44 + 12000, #wav)                 -- the mock's 0.25 s tone at 24 kHz, 16-bit mono
    assert.equal("RIFF", wav:sub(1, 4))
    assert.equal("WAVEfmt ", wav:sub(9, 16))
    assert.equal("data", wav:sub(37, 40))
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
    local m = mock.start{ key = "batch-key-1234" }
    m:faults{ { type = "batch", states = { "PENDING", "FAILED" }, error = { code = 13, message = "boom" } } }
    local out = read(table.concat({
      "cd", q(tmp), "&&", "env -u GOOGLE_API_KEY -u COMETAPI_KEY GEMINI_API_KEY=batch-key-1234",
      "GEMINI_BASE_URL=" .. q(m.url), "BATCH_POLL_INTERVAL=0.01", "LUA_PATH=" .. q(absolute(package.path)),
      "LUA_CPATH=" .. q(absolute(package.cpath)), "timeout 60", q(lua),
      q(cwd .. "/examples/batch_prompts.lua"), "< /dev/null 2>&1; echo EXIT:$?" }, " "))
    local deleted = {}
    for _, e in ipairs(m:log()) do
      if e.method == "DELETE" then deleted[#deleted + 1] = e.path end
    end
    m:stop()
    assert.matches("EXIT:1", out, 1, true)
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
    local m = mock.start{ key = "the-right-key" }
    local out = read(table.concat({
      "cd", q(tmp), "&&", "env -u GOOGLE_API_KEY -u COMETAPI_KEY GEMINI_API_KEY=wrong-key-1234",
      "GEMINI_BASE_URL=" .. q(m.url), "LUA_PATH=" .. q(absolute(package.path)),
      "LUA_CPATH=" .. q(absolute(package.cpath)), "timeout 60", q(lua),
      q(cwd .. "/examples/system_instruction.lua"), "< /dev/null 2>&1; echo EXIT:$?" }, " "))
    local log = m:log()
    m:stop()
    assert.matches("EXIT:1", out, 1, true)
    assert.matches("gemini: api error 400 INVALID_ARGUMENT: API key not valid", out, 1, true)
    assert.is_nil(out:find("wrong-key-1234", 1, true))
    assert.equal(1, #log)
  end)
end)
