-- Peak memory of a 1 GB upload (make bench-upload).
--
-- Creates a sparse file of BENCH_UPLOAD_SIZE bytes (default 1 GiB, with
-- `truncate`, so it costs no disk), uploads it with client.files:upload to
-- the project's mock server (which hashes the bytes as they arrive and
-- keeps none), checks the server's sizeBytes and sha256Hash, and reports the
-- peak resident memory (VmHWM) of this Lua process and of the mock against
-- the file size. A measurement, not a test: nothing is asserted about time.
local gemini = require("gemini")
local core = require("gemini.core")
local mock = require("support.mock")

local size = tonumber(os.getenv("BENCH_UPLOAD_SIZE") or "") or 1024 * 1024 * 1024

local common = dofile((arg[0]:match("^(.-)[^/]*$") or "") .. "common.lua")
local status_kb, mib = common.status_kb, common.mib

local path = os.tmpname()
assert(os.execute("truncate -s " .. size .. " " .. mock.shell_quote(path)),
  "truncate failed")

local m = mock.start{ key = "bench-key" }
local client = gemini.Client{ api_key = "bench-key", base_url = m.url, timeout = 3600 }
local before = status_kb("self", "VmHWM")
local calls, last = 0, 0
local t0 = core.now()
local file, err = client.files:upload{
  path = path, mime_type = "application/octet-stream", display_name = "sparse",
  on_progress = function(done) calls = calls + 1; last = done end,
}
local took = core.now() - t0
local peak = status_kb("self", "VmHWM")
local mock_peak = m.pid and status_kb(m.pid, "VmHWM")
m:stop()
os.remove(path)
if not file then
  io.stderr:write("upload failed: ", tostring(err), "\n")
  os.exit(1)
end
-- The SHA-256 of `size` zero bytes, computed here with sha256sum from
-- /dev/zero, to check that every byte arrived.
local p = io.popen("head -c " .. size .. " /dev/zero | sha256sum")
local hex = p:read("*a"):match("^(%x+)")
p:close()
local want = core.b64encode((hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)))

local size_kb = size / 1024
print(string.format("upload of a %s sparse file in %d chunks of 8 MiB (%s, %s)",
  mib(size_kb), math.ceil(size / (8 * 1024 * 1024)), _VERSION, jit and jit.version or "no JIT"))
print(string.format("  server got %s bytes, sha256 %s", file.sizeBytes,
  file.sha256Hash == want and "matches" or ("MISMATCH " .. tostring(file.sha256Hash))))
print(string.format("  %.2f s, %.0f MiB/s, on_progress called %d times, last %d", took,
  size / took / 1048576, calls, last))
print(string.format("  Lua process peak RSS (VmHWM): %s before the upload, %s after", mib(before), mib(peak)))
print(string.format("  peak RSS / file size = %.4f", peak / size_kb))
print(string.format("  mock server peak RSS: %s (%.4f of the file size)", mib(mock_peak),
  (mock_peak or 0) / size_kb))
if tonumber(file.sizeBytes) ~= size or file.sha256Hash ~= want then os.exit(1) end
