-- Peak memory of a 50 MB download written to disk (make bench-download).
--
-- Registers a file of BENCH_DOWNLOAD_SIZE bytes (default 50 MiB) on the
-- project's mock server (lines that name their offset, made as they are
-- sent, so the mock holds none of it), downloads it with
-- client.files:download{ path = } through the API's redirect, cut once
-- half-way and resumed with Range, checks every byte, and reports the peak
-- resident memory (VmHWM) of this Lua process against the file size. A
-- measurement, not a test: nothing is asserted about time.
local gemini = require("gemini")
local core = require("gemini.core")
local mock = require("support.mock")

local size = tonumber(os.getenv("BENCH_DOWNLOAD_SIZE") or "") or 50 * 1024 * 1024

local common = dofile((arg[0]:match("^(.-)[^/]*$") or "") .. "common.lua")
local status_kb, mib = common.status_kb, common.mib

-- Whether the file at `path` holds the mock's patterned bytes, read in
-- blocks (a whole-file string would measure this check, not the download).
local function check(path)
  local f = assert(io.open(path, "rb"))
  local off, ok = 0, true
  while true do
    local block = f:read(16 * 65536)
    if not block then break end
    local lines = {}
    for o = off, off + #block - 1, 16 do lines[#lines + 1] = string.format("%015d\n", o) end
    ok = ok and table.concat(lines):sub(1, #block) == block
    off = off + #block
  end
  f:close()
  return ok and off == size
end

local path = os.tmpname()
local m = mock.start{ key = "bench-key" }
m:blob{ id = "bench", size = size }
m:faults{ { type = "download", cut = math.floor(size / 2) } }
local client = gemini.Client{ api_key = "bench-key", base_url = m.url, timeout = 3600,
                              retry = { initial_delay = 0.01, jitter = 0 } }
collectgarbage()
local before = status_kb("self", "VmHWM")
local calls = 0
local t0 = core.now()
local n, err = client.files:download{ file = "files/bench", path = path,
  on_progress = function() calls = calls + 1 end }
local took = core.now() - t0
local peak = status_kb("self", "VmHWM")
local log = m:log()
m:stop()
if not n then
  os.remove(path)
  io.stderr:write("download failed: ", tostring(err), "\n")
  os.exit(1)
end
local good = check(path)
os.remove(path)

local size_kb = size / 1024
print(string.format("download of a %s file to disk, cut at half and resumed (%s, %s)",
  mib(size_kb), _VERSION, jit and jit.version or "no JIT"))
print(string.format("  %d bytes written, %s; %d requests (the API's and the signed URL's, twice)",
  n, good and "every byte as served" or "CONTENT MISMATCH", #log))
print(string.format("  %.2f s, %.0f MiB/s, on_progress called %d times", took,
  size / took / 1048576, calls))
print(string.format("  Lua process peak RSS (VmHWM): %s before the download, %s after", mib(before),
  mib(peak)))
print(string.format("  growth / file size = %.4f", (peak - before) / size_kb))
if not good then os.exit(1) end
