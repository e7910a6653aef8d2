-- A file of prompts -> one batch job -> the answers, at half the price of
-- asking them one by one (Google answers batches within 24 hours).
--
--   lua5.4 examples/batch_prompts.lua [prompts.txt] [answers.txt]
--
-- prompts.txt has one prompt per line (without it, a few built-in ones);
-- the answers go to answers.txt, or to stdout. The prompts become a JSONL
-- request file (client.batches:write_requests), which is uploaded and made
-- a job; a progress line on stderr shows the job while it waits, polled
-- every BATCH_POLL_INTERVAL seconds (default 30; the bundled mock's jobs
-- move on at each poll, so 0.05 will do there).
local gemini = require("gemini")

-- Every call returns its result, or nil and a gemini.Error (an API error,
-- the network, a timeout): say why and stop.
local function check(res, err)
  if res == nil then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
  return res
end

local prompts_path, answers_path = arg[1], arg[2]

local prompts = {}
if prompts_path then
  for line in assert(io.open(prompts_path, "r")):lines() do
    if line:find("%S") then prompts[#prompts + 1] = line end
  end
else
  prompts = { "Why is the sky blue?", "Name three moons of Jupiter.",
              "Write a haiku about batch processing." }
end

local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"
local interval = tonumber(os.getenv("BATCH_POLL_INTERVAL") or "") or 30

-- Three lines from prompts to a job: the request file, then the job
-- (create uploads the file with the resumable protocol).
local requests = os.tmpname()
client.batches:write_requests(requests, prompts, { model = model })
local job = check(client.batches:create{ model = model, src = { path = requests },
                                       config = { display_name = "batch_prompts" } })
os.remove(requests)
io.stderr:write(string.format("created %s (%d requests)\n", job.name, #prompts))

job = check(client.batches:wait(job, { interval = interval, on_progress = function(j)
  local s = j.batch_stats or {}
  io.stderr:write(string.format("\r%-20s %d of %d done   ", j.state,
    (s.successful_request_count or 0) + (s.failed_request_count or 0), s.request_count or #prompts))
end }))
io.stderr:write("\n")
if job.state ~= "JOB_STATE_SUCCEEDED" then
  -- The job was made here, so it goes whatever its end; its own error
  -- (a failed job's) is the news, not that of the delete.
  client.batches:delete(job)
  io.stderr:write(string.format("%s ended in state %s%s\n", job.name, job.state,
    job.error and (": " .. tostring(job.error)) or ""))
  os.exit(1)
end

-- The answers come as the result file downloads, each with its line's
-- key: write_requests numbered the prompts "1", "2", ...
local out = answers_path and assert(io.open(answers_path, "w")) or io.stdout
local answered, failed = 0, 0
for _, res, ierr, key in client.batches:results(job) do
  -- (a download that fails comes as a last error without a key)
  local prompt = prompts[tonumber(key or "")] or "?"
  if res then
    answered = answered + 1
    out:write(string.format("== [%s] %s\n%s\n\n", key, prompt, res.text or "(no text)"))
  else
    failed = failed + 1
    out:write(string.format("== [%s] %s\nFAILED: %s\n\n", tostring(key), prompt, tostring(ierr)))
  end
end
if out ~= io.stdout then out:close() end
print(string.format("%d answers, %d failed%s", answered, failed,
  answers_path and (", written to " .. answers_path) or ""))
check(client.batches:delete(job))
