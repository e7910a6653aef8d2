--- `make bench`: runs every workload with this module (Lua 5.4 and LuaJIT)
-- and its baselines in the same run, against the local nginx server, and
-- prints a table of median times, ratios and peak memory, also written to
-- bench/RESULTS.md with the machine and the versions.
--
--   lua5.4 bench/run.lua            (make bench sets LUA_PATH/LUA_CPATH)
--   BENCH_RUNS=5 BENCH_LUAS="lua5.4 luajit" BENCH_OUT=bench/RESULTS.md
--
-- Each workload process prints `result <seconds> <check>`; /usr/bin/time -v
-- around it gives its peak RSS. A baseline whose tool is missing is skipped
-- with a line saying so.
local cjson = require("cjson")

local RUNS = tonumber(os.getenv("BENCH_RUNS")) or 5
local LUAS = {}
for l in (os.getenv("BENCH_LUAS") or "lua5.4 luajit"):gmatch("%S+") do LUAS[#LUAS + 1] = l end
local OUT = os.getenv("BENCH_OUT") or "bench/RESULTS.md"
local SEQ_N, CONC_N, CONC_C = 2000, 1000, 50

local function sh(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  local s = p:read("a")
  p:close()
  return (s:gsub("%s+$", ""))
end

local function have(cmd) return sh("command -v " .. cmd) ~= "" end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local okc, gcore = pcall(require, "gemini.core")
local function now()
  if okc then return gcore.now() end
  return tonumber(sh("date +%s.%N"))
end

local TMP = sh("mktemp -d /tmp/gemini-bench.XXXXXX")
assert(TMP ~= "", "mktemp failed")
os.execute("mkdir -p bench/out")

local notes = {}      -- skipped baselines and other remarks, for the report
local function note(s)
  io.stderr:write("bench: ", s, "\n")
  notes[#notes + 1] = s
end

---------------------------------------------------------------- tools

local TIME = "/usr/bin/time"
if not io.open(TIME) then
  error("bench: /usr/bin/time is missing (Debian: apt-get install time)")
end
if not have("nginx") and not io.open("/usr/sbin/nginx") then
  error("bench: nginx is missing (Debian: apt-get install nginx-light libnginx-mod-http-lua)")
end
local HAVE_NODE = have("node") and io.open("bench/node/node_modules/@google/genai/package.json") ~= nil
if not HAVE_NODE then
  note("@google/genai baseline skipped: " .. (have("node") and "bench/node/node_modules missing (npm ci in bench/node)" or "node is not installed"))
end
local HAVE_CURL = have("curl")
if not HAVE_CURL then note("curl command-line baseline skipped: curl is not installed") end
local HAVE_HYPERFINE = have("hyperfine")
-- The TLS + HTTP/2 server's certificate is made at run time by openssl.
local HAVE_OPENSSL = have("openssl")
if not HAVE_OPENSSL then
  note("TLS + HTTP/2 rows and cold start skipped: the openssl command is missing (Debian: apt-get install openssl)")
end

---------------------------------------------------------------- server

-- HTTP/1.1 on PORT; TLS + HTTP/2 on PORT + 1 (when openssl is there).
local PORT
for _ = 1, 20 do
  local p = 20000 + math.random(0, 20000)
  local tls = HAVE_OPENSSL and (" " .. (p + 1)) or ""
  if os.execute("sh bench/server.sh start " .. TMP .. "/nginx " .. p .. tls .. " 2>/dev/null") then
    PORT = p
    break
  end
  os.execute("sh bench/server.sh stop " .. TMP .. "/nginx")
end
assert(PORT, "bench: the nginx bench server did not start (see " .. TMP .. "/nginx/error.log)")
local URL = "http://127.0.0.1:" .. PORT
-- A workload's environment for the TLS + HTTP/2 server (after `env`): its
-- URL and the certificate to trust (BENCH_CA for Lua, NODE_EXTRA_CA_CERTS
-- for node); nil without openssl.
local CERT = TMP .. "/nginx/cert.pem"
local TLS_ENV = HAVE_OPENSSL and ("BENCH_URL=https://127.0.0.1:" .. (PORT + 1) .. " BENCH_CA=" .. CERT
  .. " NODE_EXTRA_CA_CERTS=" .. CERT .. " ") or nil

local cleaned = false
local function cleanup()
  if cleaned then return end
  cleaned = true
  os.execute("sh bench/server.sh stop " .. TMP .. "/nginx")
  os.execute("rm -rf " .. q(TMP))
end
-- Stops the server however the run ends (an error closes the state too).
_G._bench_guard = setmetatable({}, { __gc = cleanup })

---------------------------------------------------------------- running

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

local function lua_env(lua)
  local build = lua == "lua5.4" and "build/lua5.4" or ("build/" .. lua)
  return "env LUA_PATH='lua/?.lua;lua/?/init.lua;bench/?.lua;;' LUA_CPATH='" .. build .. "/?.so;;' "
end

-- Runs cmd once under /usr/bin/time -v: seconds (its own measure, or the
-- wall clock when `wall`), peak RSS in KB, check value; or nil, message.
local function run_once(cmd, wall)
  local tf, ef = TMP .. "/time.txt", TMP .. "/stderr.txt"
  local t0 = now()
  local p = io.popen("BENCH_URL=" .. URL .. " " .. TIME .. " -v -o " .. tf .. " " .. cmd .. " 2>" .. ef)
  local out = p:read("a")
  local ok = p:close()
  local dt = now() - t0
  local f = io.open(tf)
  local tv = f and f:read("a") or ""
  if f then f:close() end
  local rss = tonumber(tv:match("Maximum resident set size %(kbytes%): (%d+)"))
  local cpu = (tonumber(tv:match("User time %(seconds%): ([%d.]+)")) or 0)
    + (tonumber(tv:match("System time %(seconds%): ([%d.]+)")) or 0)
  local e = io.open(ef)
  local err = e and e:read("a") or ""
  if e then e:close() end
  local pending = out:match("pending ([^\n]*)")
  if pending then return nil, "pending: " .. pending end
  local secs, check = out:match("result (%S+) (%S+)")
  if not ok or (not secs and not wall) then
    return nil, "failed: " .. (err:match("[^\n]+") or out:match("[^\n]+") or "no output")
  end
  return wall and dt or tonumber(secs), rss, check or "-", cpu
end

-- Runs each runner of a group RUNS times, round-robin (so a noisy moment
-- hits every runner alike). Each result: { time = median, rss = median peak
-- RSS (KB), cpu = median user+sys seconds of the whole process, check = },
-- or { skip = reason }. `runners` is a list of { key, label, cmd, opts }.
local function measure_group(runners)
  local acc, out = {}, {}
  for _, r in ipairs(runners) do acc[r[1]] = { times = {}, rsss = {}, cpus = {} } end
  for _ = 1, RUNS do
    for _, r in ipairs(runners) do
      local a = acc[r[1]]
      if not a.skip then
        local t, rss, c, cpu = run_once(r[3], r[4] and r[4].wall)
        if not t then
          a.skip = rss
        else
          a.times[#a.times + 1], a.rsss[#a.rsss + 1], a.cpus[#a.cpus + 1], a.check = t, rss, cpu, c
        end
      end
    end
  end
  for _, r in ipairs(runners) do
    local a = acc[r[1]]
    local res
    if a.skip then
      res = { skip = a.skip }
      io.stderr:write(string.format("  %-36s %s\n", r[2], a.skip))
    else
      res = { time = median(a.times), rss = median(a.rsss), cpu = median(a.cpus), check = a.check }
      io.stderr:write(string.format("  %-36s %9.4f s  cpu %8.3f s  %7.1f MB  (check %s)\n",
        r[2], res.time, res.cpu, res.rss / 1024, tostring(a.check)))
    end
    out[r[1]] = res
  end
  return out
end

---------------------------------------------------------------- workloads

io.stderr:write("bench: server ", URL, " (nginx, Lua module); ", RUNS, " runs each, medians\n")

-- 0. The server is not the bottleneck: curl to /dev/null, and the bytes
-- for the floor.
local SSE = "bench/out/stream.sse"
local STREAM_URL = URL .. "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
-- The floor's input: the stream's bytes, fetched once (with gemini.core's
-- session when the curl command line is missing).
local function fetch_sse()
  if HAVE_CURL then
    return os.execute("curl -s -o " .. SSE .. " -H 'x-goog-api-key: k' -d '{}' " .. q(STREAM_URL))
  end
  if not okc then return false end
  local req = gcore.session():request{ method = "POST", url = STREAM_URL, body = "{}",
                                       headers = { "x-goog-api-key: k" } }
  req:await("done")
  local f = io.open(SSE, "wb")
  if not f or req:error() or req:status() ~= 200 then return false end
  f:write(req:take() or "")
  f:close()
  req:close()
  return true
end
assert(fetch_sse(), "bench: could not fetch the stream from the server")
local sse_size = io.open(SSE):seek("end")
local function skipped(why) return { skip = why } end

-- 1. stream
io.stderr:write("1. one streamed answer: 100,000 events, ", string.format("%.1f", sse_size / 1e6), " MB\n")
local g = {}
if HAVE_CURL then
  g[#g + 1] = { "server", "server: curl -o /dev/null (stream)",
    "curl -s -o /dev/null -H 'x-goog-api-key: k' -d '{}' " .. q(STREAM_URL), { wall = true } }
end
for _, lua in ipairs(LUAS) do
  g[#g + 1] = { lua, "gemini on " .. lua, lua_env(lua) .. lua .. " bench/stream.lua" }
  g[#g + 1] = { "floor " .. lua, "floor: string.find+cjson on " .. lua, lua_env(lua) .. lua .. " bench/floor_stream.lua " .. SSE }
end
g[#g + 1] = { "idle " .. LUAS[1], "idle client on " .. LUAS[1] .. " (baseline RSS)",
  lua_env(LUAS[1]) .. LUAS[1] .. " -e " .. q('require("gemini").Client{api_key="k"} print("result 0 idle")') }
if HAVE_NODE then g[#g + 1] = { "node", "@google/genai", "node bench/node/stream.mjs" } end
local stream = measure_group(g)
if stream["idle " .. LUAS[1]] then stream["idle " .. LUAS[1]].untimed = true end
stream.node = stream.node or skipped("skipped: no node/@google/genai")
local server_stream = stream.server

-- 2. sequential
io.stderr:write("2. ", SEQ_N, " sequential generate_content calls, keep-alive\n")
g = {}
for _, lua in ipairs(LUAS) do
  g[#g + 1] = { lua, "gemini on " .. lua, lua_env(lua) .. lua .. " bench/sequential.lua " .. SEQ_N }
end
if HAVE_NODE then g[#g + 1] = { "node", "@google/genai", "node bench/node/sequential.mjs " .. SEQ_N } end
if HAVE_CURL then
  local cfg = TMP .. "/curl.cfg"
  local f = assert(io.open(cfg, "w"))
  local body = '{\\"contents\\":[{\\"role\\":\\"user\\",\\"parts\\":[{\\"text\\":\\"Say hello\\"}]}]}'
  for i = 1, SEQ_N do
    f:write('url = "', URL, '/v1beta/models/gemini-2.5-flash:generateContent"\n',
      'data = "', body, '"\n', 'header = "Content-Type: application/json"\n',
      'header = "x-goog-api-key: bench-dummy-key"\n', 'output = "/dev/null"\n',
      i < SEQ_N and "next\n" or "")
  end
  f:close()
  g[#g + 1] = { "curl", "curl command line (one process)", "curl -s -K " .. cfg, { wall = true } }
end
local seq = measure_group(g)
seq.node = seq.node or skipped("skipped: no node/@google/genai")
seq.curl = seq.curl or skipped("skipped: curl is not installed")

-- 3. concurrency, over HTTP/1.1 and (keys "tls ...") over TLS + HTTP/2
io.stderr:write("3. ", CONC_N, " calls of 50 ms, ", CONC_C, " in flight\n")
g = {}
for _, lua in ipairs(LUAS) do
  g[#g + 1] = { lua, "gemini on " .. lua, lua_env(lua) .. lua .. " bench/concurrent.lua " .. CONC_N .. " " .. CONC_C }
end
if HAVE_NODE then
  g[#g + 1] = { "node", "@google/genai", "node bench/node/concurrent.mjs " .. CONC_N .. " " .. CONC_C }
end
if TLS_ENV then
  for _, lua in ipairs(LUAS) do
    g[#g + 1] = { "tls " .. lua, "gemini on " .. lua .. ", TLS + HTTP/2",
      lua_env(lua) .. TLS_ENV .. lua .. " bench/concurrent.lua " .. CONC_N .. " " .. CONC_C }
  end
  if HAVE_NODE then
    g[#g + 1] = { "tls node", "@google/genai, TLS",
      "env " .. TLS_ENV .. "node bench/node/concurrent.mjs " .. CONC_N .. " " .. CONC_C }
  end
end
local conc = measure_group(g)
conc.node = conc.node or skipped("skipped: no node/@google/genai")
for _, k in ipairs(LUAS) do conc["tls " .. k] = conc["tls " .. k] or skipped("skipped: no openssl") end
conc["tls node"] = conc["tls node"] or skipped(TLS_ENV and "skipped: no node/@google/genai" or "skipped: no openssl")
local CONC_FLOOR = CONC_N * 0.05 / CONC_C

-- 4. require: hyperfine when present, else a loop of many runs.
io.stderr:write("4. require(\"gemini\") vs a bare interpreter\n")
local req = {}
local function startup(lua, code, n)
  local cmd = lua_env(lua) .. lua .. " -e " .. q(code)
  if HAVE_HYPERFINE then
    local js = TMP .. "/hf.json"
    os.execute(lua_env(lua) .. "hyperfine -N -S none --warmup 10 --runs " .. n .. " --export-json "
      .. js .. " " .. q(lua .. " -e " .. q(code)) .. " >/dev/null 2>&1")
    local f = io.open(js)
    if f then
      local v = cjson.decode(f:read("a"))
      f:close()
      return v.results[1].median
    end
  end
  local t0 = now()
  for _ = 1, n do os.execute(cmd) end
  return (now() - t0) / n
end
-- The CPU time of the require itself, inside the process (os.clock), the
-- median of many runs: steadier than a difference of wall clocks.
local function require_cpu(lua, mod, n)
  local code = "local c = os.clock() require(" .. string.format("%q", mod) .. ") io.write(os.clock() - c)"
  local t = {}
  for i = 1, n do t[i] = tonumber(sh(lua_env(lua) .. lua .. " -e " .. q(code))) or 0 end
  return median(t)
end
for _, lua in ipairs(LUAS) do
  local bare = startup(lua, "", 200)
  local full = startup(lua, 'require("gemini")', 200)
  local cpu_full, cpu_core = require_cpu(lua, "gemini", 41), require_cpu(lua, "gemini.core", 41)
  req[lua] = { time = full - bare, bare = bare, full = full, cpu = cpu_full, cpu_core = cpu_core }
  io.stderr:write(string.format("  %-34s %8.2f ms (bare %.2f ms, with it %.2f ms); in-process CPU %.2f ms, of it gemini.core %.2f ms\n",
    "on " .. lua, (full - bare) * 1e3, bare * 1e3, full * 1e3, cpu_full * 1e3, cpu_core * 1e3))
end

-- 4b. cold start: a fresh process (require, client, one generate_content
-- over TLS, print, exit), timed by the wall clock of the whole process:
-- RUNS rounds under /usr/bin/time (the peak RSS, and a check that it
-- answers), then, when hyperfine is there, its median of COLD_RUNS runs
-- (3 warm-ups, no shell) as the time.
local COLD_RUNS = 6 * RUNS
local cold = {}
if TLS_ENV then
  io.stderr:write("4b. cold start: a fresh process to its first answer over TLS\n")
  g = {}
  for _, lua in ipairs(LUAS) do
    g[#g + 1] = { lua, "gemini on " .. lua, lua_env(lua) .. TLS_ENV .. lua .. " bench/cold_start.lua", { wall = true } }
  end
  if HAVE_NODE then
    g[#g + 1] = { "node", "@google/genai", "env " .. TLS_ENV .. "node bench/node/cold_start.mjs", { wall = true } }
  end
  cold = measure_group(g)
  local ran, args = {}, {}
  for _, r in ipairs(g) do
    if not cold[r[1]].skip then ran[#ran + 1], args[#args + 1] = r, q(r[3]) end
  end
  local js = TMP .. "/hf-cold.json"
  if HAVE_HYPERFINE and #ran > 0 and os.execute("hyperfine -N --warmup 3 --runs " .. COLD_RUNS
      .. " --export-json " .. js .. " " .. table.concat(args, " ") .. " >/dev/null 2>&1") then
    local f = assert(io.open(js))
    local v = cjson.decode(f:read("a"))
    f:close()
    for i, r in ipairs(ran) do
      cold[r[1]].time, cold[r[1]].runs = v.results[i].median, COLD_RUNS
      io.stderr:write(string.format("  %-36s %9.4f s  (hyperfine, %d runs)\n", r[2], v.results[i].median, COLD_RUNS))
    end
  end
end
for _, k in ipairs(LUAS) do cold[k] = cold[k] or skipped("skipped: no openssl") end
cold.node = cold.node or skipped(TLS_ENV and "skipped: no node/@google/genai" or "skipped: no openssl")

-- 5. encoding
io.stderr:write("5. encoding a 1,000-turn chat history (per encode)\n")
g = {}
for _, lua in ipairs(LUAS) do
  g[#g + 1] = { lua, "gemini.json.encode on " .. lua, lua_env(lua) .. lua .. " bench/encode.lua gemini 300" }
  g[#g + 1] = { "cjson " .. lua, "cjson.encode on " .. lua, lua_env(lua) .. lua .. " bench/encode.lua cjson 300" }
end
local enc = measure_group(g)

-- 6. decoding
io.stderr:write("6. decoding answers (per decode)\n")
local DECODE_INPUTS = {
  { "chunk", "a ~370-byte stream chunk", "ns" },
  { "text", "a ~1 MB answer of text", "us" },
  { "numbers", "a ~0.8 MB answer of numbers", "us" },
}
g = {}
for _, lua in ipairs(LUAS) do
  for _, d in ipairs(DECODE_INPUTS) do
    g[#g + 1] = { lua .. " " .. d[1], "gemini.json.decode " .. d[1] .. " on " .. lua,
                  lua_env(lua) .. lua .. " bench/decode.lua gemini " .. d[1] }
    g[#g + 1] = { "cjson " .. lua .. " " .. d[1], "cjson.decode " .. d[1] .. " on " .. lua,
                  lua_env(lua) .. lua .. " bench/decode.lua cjson " .. d[1] }
  end
end
local dec = measure_group(g)

cleanup()

---------------------------------------------------------------- report

local function fmt_t(r, unit)
  if not r or r.skip then return r and r.skip or "-" end
  if r.untimed then return "-" end
  if unit == "ms" then return string.format("%.3f ms", r.time * 1e3) end
  if unit == "us" then return string.format("%.0f µs", r.time * 1e6) end
  if unit == "ns" then return string.format("%.0f ns", r.time * 1e9) end
  return string.format("%.3f s", r.time)
end
local function fmt_m(r)
  if not r or r.skip or not r.rss then return "-" end
  return string.format("%.1f MB", r.rss / 1024)
end
local function ratio(a, b)
  if not a or not b or a.skip or b.skip or not a.time or not b.time then return nil end
  return a.time / b.time
end
local function fr(x, suffix)
  return x and string.format("%.2f×%s", x, suffix or "") or "-"
end
local function verdict(ok)
  if ok == nil then return "n/a" end
  return ok and "met" or "**missed**"
end

local lines = {}
local function L(s) lines[#lines + 1] = s or "" end
local function fmt_c(r)
  if not r or r.skip or not r.cpu then return "" end
  return string.format("%.3f s", r.cpu)
end
-- One table row: workload, runner, result, its unit, the ratio text.
local function R(workload, runner, r, unit, note)
  L(string.format("| %s | %s | %s | %s | %s | %s |", workload, runner, fmt_t(r, unit), fmt_c(r),
    fmt_m(r), note or ""))
end

L("| workload | runner | median time | CPU (user+sys) | peak RSS | ratio |")
L("| --- | --- | --- | --- | --- | --- |")
local checks = {}
local function check(what, ok, detail)
  checks[#checks + 1] = string.format("| %s | %s | %s |", what, detail, verdict(ok))
end

local wl = "stream: 100,000 events, " .. string.format("%.1f", sse_size / 1e6) .. " MB"
for _, lua in ipairs(LUAS) do
  local r, f, n = stream[lua], stream["floor " .. lua], stream.node
  local sdk, fl = ratio(n, r), ratio(r, f)
  R(wl, "**gemini**, " .. lua, r, nil, fr(sdk) .. " faster than @google/genai; " .. fr(fl) .. " the floor")
  wl = ""
  R("", "floor: string.find split + cjson.decode in memory, " .. lua, f, nil, "(holds the whole body)")
  check("stream, " .. lua .. ": ≥ 4× faster than @google/genai", sdk and sdk >= 4, fr(sdk))
  check("stream, " .. lua .. ": within 1.25× of the string.find + cjson floor", fl and fl <= 1.25, fr(fl))
  check("stream, " .. lua .. ": peak RSS ≤ 25 MB", r.rss and r.rss <= 25 * 1024, fmt_m(r))
end
R("", "@google/genai (node)", stream.node)
R("", "idle client, " .. LUAS[1] .. " (RSS baseline)", stream["idle " .. LUAS[1]], nil, "interpreter + libcurl + a client")
if server_stream and not server_stream.skip then
  R("", "server check: curl -o /dev/null", server_stream, nil, "the server's share")
end

wl = SEQ_N .. " sequential generate_content, keep-alive"
for _, lua in ipairs(LUAS) do
  local r = seq[lua]
  local sdk, cu = ratio(seq.node, r), ratio(r, seq.curl)
  R(wl, "**gemini**, " .. lua, r, nil, fr(sdk) .. " faster than @google/genai; " .. fr(cu) .. " curl's time")
  wl = ""
  check("sequential, " .. lua .. ": ≥ 4× faster than @google/genai", sdk and sdk >= 4, fr(sdk))
  check("sequential, " .. lua .. ": within 2× of curl", cu and cu <= 2, fr(cu))
end
R("", "@google/genai (node)", seq.node)
R("", "floor: curl command line, one process", seq.curl)

wl = CONC_N .. " calls of 50 ms, " .. CONC_C .. " in flight"
local function to_ideal(r) return (r and not r.skip) and r.time / CONC_FLOOR or nil end
-- The connections a run took, from its check value `<answered>,conns=<n>`.
local function conns(r)
  local n = r and not r.skip and r.check and r.check:match("conns=(%d+)")
  return n and (n .. " connections") or "connections: ?"
end
for _, over in ipairs{ { "", "HTTP/1.1", "HTTP/1.1" }, { "tls ", "TLS + HTTP/2", "TLS, HTTP/1.1 (its fetch)" } } do
  local key, proto, node_proto = over[1], over[2], over[3]
  for _, lua in ipairs(LUAS) do
    local r = conc[key .. lua]
    local fl, sdk = to_ideal(r), ratio(conc[key .. "node"], r)
    R(wl, "**gemini** generate_content_all, " .. lua .. ", " .. proto, r, nil,
      not r.skip and (fr(fl) .. " the ideal; " .. fr(sdk) .. " faster than @google/genai; " .. conns(r)))
    wl = ""
    check("concurrency over " .. proto .. ", " .. lua .. ": within 1.10× of the 1.0 s ideal",
      fl and fl <= 1.10, r.skip or fr(fl))
  end
  local n = conc[key .. "node"]
  R("", "@google/genai, " .. CONC_C .. " promises, " .. node_proto, n, nil,
    not n.skip and (fr(to_ideal(n)) .. " the ideal; " .. conns(n)))
end
L(string.format("| | ideal: %d × 50 ms / %d | %.3f s | | | |", CONC_N, CONC_C, CONC_FLOOR))

wl = 'require("gemini")'
for _, lua in ipairs(LUAS) do
  local r = req[lua]
  L(string.format("| %s | **gemini**, %s: startup minus a bare `%s -e ''` | %.2f ms | | | bare %.2f ms; in-process CPU of the require %.2f ms, of it gemini.core (libcurl and its libraries) %.2f ms |",
    wl, lua, lua, r.time * 1e3, r.bare * 1e3, r.cpu * 1e3, r.cpu_core * 1e3))
  wl = ""
  check("require, " .. lua .. ": < 5 ms", r.time < 0.005, string.format("%.2f ms", r.time * 1e3))
end

wl = "cold start: a fresh process to its first answer over TLS"
local function cold_runs(r)
  if r.skip then return false end
  return "wall clock of the whole process, median of " .. (r.runs and (r.runs .. " hyperfine") or RUNS) .. " runs"
end
for _, lua in ipairs(LUAS) do
  local r = cold[lua]
  local sdk = ratio(cold.node, r)
  R(wl, "**gemini**, " .. lua .. ": require, Client, generate_content, print", r, "ms",
    not r.skip and (fr(sdk) .. " faster than @google/genai; " .. cold_runs(r)))
  wl = ""
  check("cold start, " .. lua .. ": beside @google/genai (no target set)", nil,
    r.skip or (fr(sdk) .. " faster, " .. fmt_t(r, "ms")))
end
R("", "@google/genai (node): import, client, generateContent, print", cold.node, "ms", cold_runs(cold.node))

wl = "encode a 1,000-turn chat history (per call)"
for _, lua in ipairs(LUAS) do
  local r, c = enc[lua], enc["cjson " .. lua]
  local x = ratio(r, c)
  R(wl, "**gemini.json.encode**, " .. lua, r, "us", fr(x) .. " cjson.encode")
  wl = ""
  R("", "cjson.encode, " .. lua, c, "us")
  check("encoding, " .. lua .. ": within 1.5× of cjson.encode", x and x <= 1.5, fr(x))
end

for _, d in ipairs(DECODE_INPUTS) do
  wl = "decode " .. d[2] .. " (per call)"
  for _, lua in ipairs(LUAS) do
    local r, c = dec[lua .. " " .. d[1]], dec["cjson " .. lua .. " " .. d[1]]
    local x = ratio(r, c)
    R(wl, "**gemini.json.decode**, " .. lua, r, d[3], fr(x) .. " cjson.decode")
    wl = ""
    R("", "cjson.decode, " .. lua, c, d[3])
    check("decoding " .. d[1] .. ", " .. lua .. ": not slower than cjson.decode", x and x <= 1.0, fr(x))
  end
end

local tbl = table.concat(lines, "\n")
local targets = "| target | measured | |\n| --- | --- | --- |\n" .. table.concat(checks, "\n")
io.write("\n", tbl, "\n\n", targets, "\n")

-- Machine and versions.
local cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-"):gsub("^%s+", "")
local function ver(cmd) local v = sh(cmd) return v ~= "" and v or "not installed" end
local sdkv = HAVE_NODE and ver("node -p 'require(\"./bench/node/node_modules/@google/genai/package.json\").version'") or "not installed"
local env = {
  "- date: " .. os.date("!%Y-%m-%d %H:%M UTC"),
  "- machine: " .. sh("nproc") .. " CPUs, " .. cpu .. ", " .. sh("uname -sr"),
  "- lua: " .. ver("lua5.4 -v"),
  "- luajit: " .. ver("luajit -v"),
  "- curl: " .. ver("curl --version | head -1"),
  "- node: " .. ver("node --version") .. ", @google/genai " .. sdkv,
  "- server: " .. ver("PATH=$PATH:/usr/sbin nginx -v 2>&1 | head -1") .. " with its Lua module, worker_processes 2, 127.0.0.1",
  "- runs: " .. RUNS .. " per row, round-robin, medians. Time: measured inside each process around"
    .. " the workload (curl's and the cold start's: the wall clock of the process); CPU: user+sys of the whole process;"
    .. " peak RSS: /usr/bin/time -v",
}

local notes_file = io.open("bench/notes.md")
local analysis = notes_file and notes_file:read("a") or ""
if notes_file then notes_file:close() end

local f = assert(io.open(OUT, "w"))
f:write("# Benchmarks\n\n",
  "Written by `make bench` (bench/run.lua); the analysis at the end is bench/notes.md.\n\n",
  table.concat(env, "\n"), "\n\n",
  (#notes > 0 and ("Skipped: " .. table.concat(notes, "; ") .. "\n\n") or ""),
  "## Results\n\n", tbl, "\n\n## Targets (issue 6; \"Renovation and the fast path\")\n\n", targets, "\n\n", analysis)
f:close()
io.stderr:write("bench: wrote ", OUT, "\n")
