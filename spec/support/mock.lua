-- spec/support/mock.lua: start, drive and stop the local mock Gemini server
-- (spec/mock/gemini_mock.py) from busted specs.
--
--   local mock = require("support.mock")
--   local m = mock.start{ key = "test-key", stream_delay = 0 }
--   local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = ... }
--   m.port, m.url, m.key, m:client{ retry = false }   -- a gemini.Client of this server
--   m:reset(); m:faults{ {type = "status", code = 429, times = 2, retry_delay = "0.01s"} }
--   m:script{ {chunks = {...}} }
--   m:blob{ id = "abc", size = 1000 }                  -- a file to download
--   m:operation{ name = "batches/x", polls = 2, response = {...} }
--   m:log(), m:last(), m:wait_for(function(log) ... end, timeout)
--   m:request{ method =, path =, headers =, body =, raw =, max_time = }   -- one curl call
--   m:stop()
--   mock.sleep(seconds)
--
-- The control plane deliberately goes through the `curl` command line, not
-- through the HTTP stack under test. Runs on Lua 5.1, 5.3, 5.4 and LuaJIT.

local cjson = require("cjson")

local M = {}

local Mock = {}
Mock.__index = Mock

-- Shell single-quoting.
local function q(s)
  return "'" .. (tostring(s):gsub("'", "'\\''")) .. "'"
end
M.shell_quote = q

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("*a")
  f:close()
  return data
end

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- Small file helpers the specs share.
M.read_file, M.write_file = read_file, write_file

--- A client's `log` callback that keeps the lines, and a finder:
--   local log, logged = mock.log_lines()
--   gemini.Client{ ..., log = log }; logged("pattern") -> first matching line or nil
function M.log_lines()
  local lines = {}
  local function log(line) lines[#lines + 1] = line end
  local function logged(pattern)
    for _, l in ipairs(lines) do
      if l:find(pattern) then return l end
    end
  end
  return log, logged, lines
end

--- `text` as a JSON string literal for a scripted verbatim text (a `raw`
-- body, a chunk that is a string): each byte 0xFF of `text` reaches the
-- wire as that very byte (the mock reads "\udcff" so), invalid UTF-8 for
-- specs of a hostile server.
function M.json_verbatim(text)
  return (cjson.encode(text):gsub("\255", "\\udcff"))
end

-- Under `make test-asan` the sanitizer runtime is preloaded into the Lua
-- process; the mock's python and the control plane's curl must not inherit
-- it (curl hangs with it).
-- (valgrind preloads its own too). A whole shell command line goes
-- through `sh -c`, since env cannot run a shell builtin such as cd.
local CHILD_ENV = (os.getenv("LD_PRELOAD") or "") ~= "" and "env -u LD_PRELOAD " or ""
M.child_env = CHILD_ENV

local function child(cmd)
  if CHILD_ENV == "" then return cmd end
  return CHILD_ENV .. "sh -c " .. q(cmd)
end

-- os.execute's result differs between Lua 5.1/LuaJIT (a number) and 5.2+.
local function run_ok(cmd)
  local a, _, c = os.execute(child(cmd))
  if type(a) == "number" then return a == 0 end
  return a == true and (c == nil or c == 0)
end

local function popen_read(cmd)
  local p = assert(io.popen(child(cmd), "r"))
  local out = p:read("*a")
  p:close()
  return out
end
--- The output of a command (run without the sanitizer preload).
M.popen_read = popen_read

--- The standard output of a shell command (for specs that drive programs).
M.command_output = popen_read

function M.sleep(seconds)
  os.execute("sleep " .. string.format("%.3f", seconds))
end

-- A process is alive when it exists and is not a zombie (in a container
-- without an init process an exited child may never be reaped).
local function alive(pid)
  if not pid then return false end
  local stat = read_file("/proc/" .. pid .. "/stat")
  if stat then
    local state = stat:match("%)%s+(%a)")
    return state ~= "Z" and state ~= "X"
  end
  if read_file("/proc/self/stat") then return false end  -- /proc exists: gone
  return run_ok("kill -0 " .. pid .. " 2>/dev/null")
end

local function script_path()
  local env = os.getenv("GEMINI_MOCK_SCRIPT")
  if env and env ~= "" then return env end
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) == "@" then
    local dir = src:sub(2):match("^(.*)/[^/]*$") or "."
    return dir .. "/../mock/gemini_mock.py"
  end
  return "spec/mock/gemini_mock.py"
end

-- Remove top-level JSON nulls of a log entry, so absent == nil.
local function strip_nulls(entry)
  for k, v in pairs(entry) do
    if v == cjson.null then entry[k] = nil end
  end
  return entry
end

--- Start a mock server. opts: key (default "test-key"), tls ({cert=, key=}
-- PEM files: serve HTTPS, m.url is https://...), stream_delay
-- (seconds, default 0), quiet (default true unless env GEMINI_MOCK_VERBOSE is
-- set; when verbose, m:stop() copies the server's output to stderr), port
-- (default 0: any free port), python (default env
-- GEMINI_MOCK_PYTHON or "python3"), timeout (seconds to wait, default 10).
function M.start(opts)
  local self = setmetatable({}, Mock)
  self:_start(opts or {})
  return self
end

--- The mock server of a describe block: started by the block's setup,
-- reset before each of its tests, stopped by its teardown. A required
-- module cannot reach busted's hook functions, so the block hands them
-- over, next to the options of M.start:
--   local m = mock.suite{ setup = setup, teardown = teardown,
--                         before_each = before_each, key = KEY }
-- The Mock is returned at once; m.port and m.url are there once setup ran.
function M.suite(opts)
  local self = setmetatable({}, Mock)
  opts.setup(function() self:_start(opts) end)
  opts.teardown(function() self:stop() end)
  opts.before_each(function() self:reset() end)
  return self
end

function Mock:_start(opts)
  self.key = opts.key or "test-key"
  local base = os.tmpname()
  self._base = base
  self._portfile = base .. ".port"
  self._pidfile = base .. ".pid"
  self._logfile = base .. ".log"
  self._bodyfile = base .. ".body"
  self._respfile = base .. ".resp"
  self._hdrfile = base .. ".hdr"
  os.remove(self._portfile)

  local python = opts.python or os.getenv("GEMINI_MOCK_PYTHON") or "python3"
  local args = { "exec", python, "-u", q(script_path()), "--port", tostring(opts.port or 0),
    "--key", q(self.key), "--port-file", q(self._portfile) }
  if opts.stream_delay then
    args[#args + 1] = "--stream-delay"
    args[#args + 1] = string.format("%.6f", opts.stream_delay)
  end
  local quiet = opts.quiet
  if quiet == nil then quiet = (os.getenv("GEMINI_MOCK_VERBOSE") or "") == "" end
  self._verbose = not quiet
  if quiet then args[#args + 1] = "--quiet" end
  if opts.tls then
    -- HTTPS with the given PEM files; the control plane trusts that cert.
    args[#args + 1] = "--tls-cert " .. q(opts.tls.cert) .. " --tls-key " .. q(opts.tls.key)
    self._curl_tls = "--cacert " .. q(opts.tls.cert) .. " "
  end
  local inner = "echo $$ > " .. q(self._pidfile) .. "; " .. table.concat(args, " ")
  os.execute(CHILD_ENV .. "sh -c " .. q(inner) .. " < /dev/null > " .. q(self._logfile) .. " 2>&1 &")

  local deadline = math.floor((opts.timeout or 10) / 0.05)
  local port
  for _ = 1, deadline do
    local txt = read_file(self._portfile)
    port = txt and tonumber(txt:match("(%d+)"))
    if port then break end
    local pid = tonumber(read_file(self._pidfile) or "")
    if pid and not alive(pid) then break end
    M.sleep(0.05)
  end
  self.pid = tonumber(read_file(self._pidfile) or "")
  if not port then
    local log = read_file(self._logfile) or ""
    self:stop()
    error("mock server did not start (" .. python .. " " .. script_path() .. "):\n" .. log, 3)
  end
  self.port = port
  self.url = (opts.tls and "https" or "http") .. "://127.0.0.1:" .. port
end

--- A gemini.Client of this server: `opts` are client options, api_key and
-- base_url default to the server's key and URL.
function Mock:client(opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.api_key == nil then o.api_key = self.key end
  if o.base_url == nil then o.base_url = self.url end
  return require("gemini").Client(o)
end

-- One control call through the curl command line; returns the decoded JSON.
function Mock:_control(method, path, body, max_time)
  local cmd = "curl -s -S " .. (self._curl_tls or "") .. "--max-time " .. (max_time or 10) .. " -X " .. method
  if body ~= nil then
    write_file(self._bodyfile, type(body) == "string" and body or cjson.encode(body))
    cmd = cmd .. " -H 'Content-Type: application/json' --data-binary @" .. q(self._bodyfile)
  end
  cmd = cmd .. " " .. q(self.url .. path) .. " 2>&1"
  local out = popen_read(cmd)
  local ok, dec = pcall(cjson.decode, out)
  if not ok or type(dec) ~= "table" then
    error("mock control " .. method .. " " .. path .. " failed: " .. out, 3)
  end
  if dec.error then
    error("mock control " .. method .. " " .. path .. ": " .. tostring(dec.error.message), 3)
  end
  return dec
end

--- Clear the request log, pending faults and pending scripts.
function Mock:reset()
  self:_control("POST", "/_mock/reset", {})
end

--- Append faults (a list of fault tables, or a JSON array string).
function Mock:faults(list)
  if type(list) == "string" then list = '{"faults":' .. list .. "}" else list = { faults = list } end
  return self:_control("POST", "/_mock/faults", list)
end

--- Append scripted responses (a list of tables, or a JSON array string, which
-- keeps empty arrays and nulls exactly as written).
function Mock:script(list)
  if type(list) == "string" then list = '{"responses":' .. list .. "}" else list = { responses = list } end
  return self:_control("POST", "/_mock/script", list)
end

--- Registers a file the mock serves at files/<id>:download (see
-- spec/mock/media_routes.py): `{id =, text = "..." | size = n (bytes of
-- lines that name their offset), mime_type =}`. Returns its name, "files/<id>".
function Mock:blob(t)
  return self:_control("POST", "/_mock/blobs", t).name
end

--- Makes a long-running operation the mock's GET {version}/{name} polls:
-- `{name = ".../operations/<id>", polls = n (not done for n polls),
-- response = {...} | error = {...}, metadata = {...}}`. Returns it.
function Mock:operation(t)
  return self:_control("POST", "/_mock/operations", t)
end

--- An OAuth access token the mock's Vertex AI routes accept (see
-- spec/mock/token_registry.py): `token, expires_in`; `revoke_tokens()`
-- revokes every one, `access_tokens()` counts them ({issued =, valid =}).
function Mock:access_token(expires_in)
  local r = self:_control("POST", "/_mock/access_tokens", { expires_in = expires_in or 3600 })
  return r.access_token, r.expires_in
end

function Mock:revoke_tokens()
  return self:_control("POST", "/_mock/access_tokens/revoke", {}).revoked
end

function Mock:access_tokens()
  return self:_control("GET", "/_mock/access_tokens")
end

--- The request log: a list of entries (top-level JSON nulls removed).
function Mock:log()
  local res = self:_control("GET", "/_mock/log")
  local list = res.requests or {}
  for i = 1, #list do strip_nulls(list[i]) end
  return list
end

--- The last logged request, or nil.
function Mock:last()
  local list = self:log()
  return list[#list]
end

--- Poll the log until fn(log) is true; returns true, or false after timeout
-- seconds (default 5).
function Mock:wait_for(fn, timeout)
  local tries = math.floor((timeout or 5) / 0.05) + 1
  for _ = 1, tries do
    if fn(self:log()) then return true end
    M.sleep(0.05)
  end
  return false
end

--- The last logged request once it has completed (a WebSocket session is
-- logged from its upgrade on, and completes when the connection ends); nil
-- after `timeout` seconds (default 5).
function Mock:last_completed(timeout)
  local e
  self:wait_for(function(log)
    e = log[#log]
    return e ~= nil and e.completed
  end, timeout)
  return e
end

--- A fresh directory with cert.pem and key.pem, a self-signed certificate
-- for 127.0.0.1 / localhost made with the openssl command line (for the
-- `tls` option of M.start and a client's `ca_file`). 127.0.0.1 is a DNS
-- name in it too: nginx's sslhandshake checks names, not IPs.
function M.make_cert()
  local dir = os.tmpname()
  os.remove(dir)
  assert(run_ok("mkdir -p " .. q(dir)))
  assert(run_ok(table.concat({
    "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1",
    "-addext subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:127.0.0.1",
    "-keyout", q(dir .. "/key.pem"), "-out", q(dir .. "/cert.pem"), "> /dev/null 2>&1",
  }, " ")), "openssl could not make a certificate")
  return dir
end

-- Parse a curl -D dump: the last header block, names in lower case.
local function parse_headers(text)
  local headers, status_line = {}, nil
  for line in (text or ""):gmatch("[^\r\n]*") do
    if line:match("^HTTP/") then
      headers, status_line = {}, line
    else
      local k, v = line:match("^([^:]+):%s*(.-)%s*$")
      if k then
        k = k:lower()
        headers[k] = headers[k] and (headers[k] .. ", " .. v) or v
      end
    end
  end
  return headers, status_line
end

--- One HTTP request with the curl command line (for specs of the mock itself,
-- or to poke the server outside the client). opts: method (default GET, or
-- POST when body is given), path (appended to m.url) or url, headers (table
-- name -> value), key (adds x-goog-api-key), body (string, or a table that is
-- JSON-encoded), raw (true: curl --raw, chunked framing left in the body),
-- max_time (seconds), args (extra curl arguments, already shell-quoted).
-- Returns { status = number (0 when no response), headers = {}, body = string,
-- exit = curl's exit code, time = seconds }.
function Mock:request(opts)
  opts = opts or {}
  local url = opts.url or (self.url .. (opts.path or "/"))
  local parts = { "curl", self._curl_tls or "", "-s", "-o", q(self._respfile), "-D", q(self._hdrfile),
    "-w", q("%{http_code} %{time_total}") }
  local method = opts.method or (opts.body ~= nil and "POST" or "GET")
  parts[#parts + 1] = "-X " .. method
  if opts.raw then parts[#parts + 1] = "--raw" end
  if opts.max_time then parts[#parts + 1] = "--max-time " .. string.format("%.3f", opts.max_time) end
  if opts.key then parts[#parts + 1] = "-H " .. q("x-goog-api-key: " .. opts.key) end
  for k, v in pairs(opts.headers or {}) do parts[#parts + 1] = "-H " .. q(k .. ": " .. v) end
  if opts.body ~= nil then
    local body = opts.body
    if type(body) ~= "string" then body = cjson.encode(body) end
    write_file(self._bodyfile, body)
    if not (opts.headers and (opts.headers["Content-Type"] or opts.headers["content-type"])) then
      parts[#parts + 1] = "-H 'Content-Type: application/json'"
    end
    parts[#parts + 1] = "--data-binary @" .. q(self._bodyfile)
  end
  if opts.args then parts[#parts + 1] = opts.args end
  parts[#parts + 1] = q(url)
  os.remove(self._respfile)
  os.remove(self._hdrfile)
  local out = popen_read(table.concat(parts, " ") .. "; echo \" EXIT:$?\"")
  local code, t = out:match("^(%d+) ([%d%.,]+)")
  local headers, status_line = parse_headers(read_file(self._hdrfile))
  return {
    status = tonumber(code) or 0,
    status_line = status_line,
    headers = headers,
    body = read_file(self._respfile) or "",
    exit = tonumber(out:match("EXIT:(%d+)")),
    time = t and tonumber((t:gsub(",", "."))) or nil,
  }
end

--- Shut the server down (control call, then TERM/KILL if needed) and remove
-- the temporary files. Safe to call twice, and on a mock never started.
function Mock:stop()
  if self._stopped or not self._base then return end
  self._stopped = true
  if self.url then
    pcall(self._control, self, "POST", "/_mock/shutdown", {}, 2)
  end
  local pid = self.pid or tonumber(read_file(self._pidfile) or "")
  if pid then
    for _ = 1, 40 do
      if not alive(pid) then break end
      M.sleep(0.05)
    end
    if alive(pid) then
      os.execute("kill " .. pid .. " 2>/dev/null")
      for _ = 1, 20 do
        if not alive(pid) then break end
        M.sleep(0.05)
      end
      if alive(pid) then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
    end
  end
  if self._verbose then
    io.stderr:write("---- mock server output (port " .. tostring(self.port) .. ")\n",
      self:server_output(), "---- end of mock server output\n")
  end
  for _, f in ipairs({ self._portfile, self._pidfile, self._logfile, self._bodyfile,
    self._respfile, self._hdrfile, self._base }) do
    os.remove(f)
  end
end

--- The server's own output so far (stdout and stderr).
function Mock:server_output()
  return read_file(self._logfile) or ""
end

return M
