-- Peak memory of reading a 1 GB batch result file with client.batches:results
-- (make bench-batch).
--
-- Makes a batch job from a one-line request file on the project's mock
-- server, scripted (fault "batch", result_size) so that its result file is
-- BENCH_RESULTS_SIZE bytes (default 1 GiB) of JSONL lines of about 800
-- bytes, one in 1000 an item error; the mock generates them as it sends
-- them and keeps none. Then reads every answer through the real download
-- (the API's redirect, libcurl, line splitting, JSON decoding, a response
-- with its helpers per line) and reports the peak resident memory (VmHWM)
-- of this Lua process and of the mock against the file size. A
-- measurement, not a test.
local gemini = require("gemini")
local core = require("gemini.core")
local mock = require("support.mock")

local size = tonumber(os.getenv("BENCH_RESULTS_SIZE") or "") or 1024 * 1024 * 1024

local common = dofile((arg[0]:match("^(.-)[^/]*$") or "") .. "common.lua")
local status_kb, mib = common.status_kb, common.mib

local m = mock.start{ key = "bench-key" }
local client = gemini.Client{ api_key = "bench-key", base_url = m.url, timeout = 3600 }

local function check(v, err)
  if v == nil then
    m:stop()
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
  return v
end

local path = os.tmpname()
client.batches:write_requests(path, { "one request; the mock writes the big result file" })
m:faults{ { type = "batch", states = { "PENDING", "SUCCEEDED" }, result_size = size } }
local job = check(client.batches:create{ model = "gemini-2.5-flash", src = { path = path } })
os.remove(path)
job = check(client.batches:wait(job, { interval = 0.01 }))
local file = check(client.files:get(job.dest.file_name))

collectgarbage()
local before = status_kb("self", "VmHWM")
local t0 = core.now()
local items, failed, chars, bad = 0, 0, 0, nil
for i, res, err in client.batches:results(job) do
  items = i
  if res then
    chars = chars + #res.text
  elseif err.kind == "api" then
    failed = failed + 1
  else
    bad = err
  end
end
local took = core.now() - t0
local peak = status_kb("self", "VmHWM")
local mock_peak = m.pid and status_kb(m.pid, "VmHWM")
m:stop()
if bad then
  io.stderr:write("reading failed: ", tostring(bad), "\n")
  os.exit(1)
end

local size_kb = tonumber(file.sizeBytes) / 1024
print(string.format("results of a batch whose result file is %s (%s lines; %s, %s)",
  mib(size_kb), items, _VERSION, jit and jit.version or "no JIT"))
print(string.format("  %d answers (%d characters of text), %d item errors", items - failed, chars, failed))
print(string.format("  %.2f s, %.0f MiB/s, %.0f lines/s", took, size_kb / 1024 / took, items / took))
print(string.format("  Lua process peak RSS (VmHWM): %s before reading, %s after", mib(before), mib(peak)))
print(string.format("  peak RSS / file size = %.4f", peak / size_kb))
print(string.format("  mock server peak RSS: %s", mib(mock_peak)))
