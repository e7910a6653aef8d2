-- spec/support/nginx.lua: an nginx with the Lua module (Debian's
-- nginx-light + libnginx-mod-http-lua) for specs that run Lua inside it:
-- its own prefix in a temp dir, one worker, the project's lua/ and LuaJIT
-- build on its package paths.
--
--   local nginx = require("support.nginx")
--   if nginx.available then
--     local n = nginx.new()             -- n.prefix, n.port (free), n.root (the checkout)
--     n:start(http)                     -- `http`: the body of the http block; it must
--                                       -- serve GET /ping with 204 on n.port
--     n:start(http, main)               -- `main`: directives of the main context
--                                       -- (env GEMINI_API_KEY=...;)
--     n:url("/path"), n:get("/path"), n:error_log(), n.output (start-up output)
--     n:stop()
--   end
--   nginx.VERTEX_THREADS   a location block of the Vertex AI specs (see below)
local mock = require("support.mock")

local M = {}

local q, read_file = mock.shell_quote, mock.read_file

-- The output of a shell command.
local function sh(cmd)
  return mock.popen_read("sh -c " .. q(cmd))
end
M.sh = sh

-- The Debian module paths (the lua module needs the NDK loaded first).
local function module_path(name)
  for _, dir in ipairs({ "/usr/lib/nginx/modules", "/usr/share/nginx/modules" }) do
    local p = dir .. "/" .. name
    if read_file(p) then return p end
  end
end

local NGINX = sh("command -v nginx 2>/dev/null"):gsub("%s+$", "")
local LUA_MOD = module_path("ngx_http_lua_module.so")
local NDK_MOD = module_path("ndk_http_module.so")
M.available = NGINX ~= "" and LUA_MOD ~= nil

--- A location block for the Vertex AI specs: GET /threads has 6 light
-- threads each ask `package.loaded.vertex_client` (made by the worker)
-- for an answer to "t<i>" at once; the body has a line "<i> <text>" (or
-- "<i> ERROR <err>") per thread.
M.VERTEX_THREADS = [[
    location /threads {
      content_by_lua_block {
        local c = package.loaded.vertex_client
        local threads = {}
        for i = 1, 6 do
          threads[i] = ngx.thread.spawn(function()
            local res, err = c.models:generate_content{ model = "gemini-2.5-flash", contents = "t" .. i }
            return res and res.text or ("ERROR " .. tostring(err))
          end)
        end
        for i = 1, 6 do
          local ok, text = ngx.thread.wait(threads[i])
          if not ok then text = "RAISED " .. tostring(text) end
          ngx.say(i, " ", text)
        end
      }
    }
]]

--- A free TCP port on 127.0.0.1.
function M.free_port()
  return tonumber(sh("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0));"
    .. " print(s.getsockname()[1])'"))
end

local CONF = [[
%s
load_module %s;
%s
%s
worker_processes 1;
daemon on;
pid logs/nginx.pid;
error_log logs/error.log info;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  lua_package_path "%s/lua/?.lua;%s/lua/?/init.lua;%s/spec/?.lua;;";
  lua_package_cpath "%s/build/luajit/?.so;;";
%s
}
]]

local Nginx = {}
Nginx.__index = Nginx

--- A prefix and a port for an nginx not started yet.
function M.new()
  if not read_file("build/luajit/gemini/core.so") then
    os.execute("make --no-print-directory LUA=luajit >/dev/null")
  end
  local prefix = sh("mktemp -d"):gsub("%s+$", "")
  os.execute("mkdir -p " .. q(prefix .. "/logs") .. " " .. q(prefix .. "/conf") .. " "
    .. q(prefix .. "/tmp"))
  return setmetatable({ prefix = prefix, port = M.free_port(),
                        root = os.getenv("PWD") or sh("pwd"):gsub("%s+$", "") }, Nginx)
end

function Nginx:url(path) return "http://127.0.0.1:" .. self.port .. path end

--- The body of GET `path` (curl, at most `max_time` seconds).
function Nginx:get(path, max_time)
  return sh("curl -s --max-time " .. (max_time or 10) .. " " .. q(self:url(path)))
end

function Nginx:error_log() return read_file(self.prefix .. "/logs/error.log") or "" end

--- Writes the config around `http` (and `main`, optional) and starts
-- nginx; raises unless it answers /ping within 5 s.
function Nginx:start(http, main)
  local root = sh("id -u"):gsub("%s+$", "") == "0"
  local r = self.root
  mock.write_file(self.prefix .. "/conf/nginx.conf", string.format(CONF,
    NDK_MOD and ("load_module " .. NDK_MOD .. ";") or "", LUA_MOD, root and "user root;" or "",
    main or "", r, r, r, r, http))
  self.output = sh(q(NGINX) .. " -p " .. q(self.prefix) .. " -c conf/nginx.conf 2>&1")
  for _ = 1, 100 do
    if read_file(self.prefix .. "/logs/nginx.pid") and
      sh("curl -s -o /dev/null -w '%{http_code}' " .. q(self:url("/ping"))) == "204" then
      return
    end
    mock.sleep(0.05)
  end
  error("nginx did not start: " .. self.output .. self:error_log())
end

--- Stops nginx (if it runs) and removes the prefix.
function Nginx:stop()
  local pid = tonumber(read_file(self.prefix .. "/logs/nginx.pid") or "")
  if pid then
    os.execute("kill -QUIT " .. pid .. " 2>/dev/null")
    for _ = 1, 60 do
      if not read_file(self.prefix .. "/logs/nginx.pid") then break end
      mock.sleep(0.05)
    end
  end
  os.execute("rm -rf " .. q(self.prefix))
end

return M
