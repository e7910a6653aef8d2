--- Shared set-up of the examples: a client for the real API when a key is
-- set, or for the project's own mock server when not.
--
--    local support = dofile((arg[0]:match("^(.-)[^/]*$") or "") .. "support/client.lua")
--    local client, model, finish = support.connect{ model = "gemini-2.5-flash" }
--    ...
--    finish()          -- stops the mock (if one was started); finish(err) also
--                      -- prints err and exits with status 1
--
-- With GEMINI_API_KEY (or GOOGLE_API_KEY) set the client asks Google's API;
-- with COMETAPI_KEY it asks CometAPI. GEMINI_BASE_URL overrides the base URL
-- of either, and GEMINI_MODEL the model. With no key it starts the bundled
-- mock server (spec/mock/gemini_mock.py, Python 3) on 127.0.0.1 and says so
-- on stderr, so every example runs with no key and no network.
local gemini = require("gemini")

local M = {}

local function env(name)
  local v = os.getenv(name)
  return v ~= "" and v or nil
end

-- The directory of this file, to find the repository's spec/ from any
-- working directory.
local function here()
  local src = debug.getinfo(1, "S").source
  return src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "."
end

-- The mock's Lua helper: on the module path (make demo puts spec/ there),
-- or next to the examples in a repository checkout.
local function mock_helper()
  local ok, mod = pcall(require, "support.mock")
  if ok then return mod end
  local chunk = loadfile(here() .. "/../../spec/support/mock.lua")
  return chunk and chunk() or nil
end

--- Connects.
-- @tparam[opt] table opts `model` (the default model; env GEMINI_MODEL wins),
-- `stream_delay` (seconds between the mock's stream events, default 0.05)
-- @return client, model, finish (a function; see above), and whether the mock answers
function M.connect(opts)
  opts = opts or {}
  local model = env("GEMINI_MODEL") or opts.model or "gemini-2.5-flash"
  local copts, mock
  local key = env("GOOGLE_API_KEY") or env("GEMINI_API_KEY")
  if key then
    copts = { api_key = key }
  elseif env("COMETAPI_KEY") then
    copts = { api_key = env("COMETAPI_KEY"), base_url = env("GEMINI_BASE_URL") or "https://api.cometapi.com" }
  else
    local helper = mock_helper()
    if not helper then
      io.stderr:write("set GEMINI_API_KEY (or COMETAPI_KEY), or run this from the repository"
        .. " to use the bundled mock server\n")
      os.exit(2)
    end
    mock = helper.start{ key = "demo-key", stream_delay = opts.stream_delay or 0.05 }
    copts = { api_key = "demo-key", base_url = mock.url }
    io.stderr:write("(no GEMINI_API_KEY set: answering from the bundled mock server at ",
      mock.url, ")\n")
  end
  local client = gemini.Client(copts)
  local function finish(err)
    if mock then
      mock:stop()
      mock = nil
    end
    if err ~= nil then
      io.stderr:write(tostring(err), "\n")
      os.exit(1)
    end
  end
  return client, model, finish, mock ~= nil
end

--- Runs `fn(client, model)` with a connected client, then stops the mock;
-- an error raised by `fn` (or a gemini.Error it returns) is printed and the
-- program exits with status 1.
-- @tparam table opts as for `connect`
-- @tparam function fn
function M.main(opts, fn)
  local client, model, finish = M.connect(opts)
  local ok, err = pcall(fn, client, model)
  finish(not ok and (err or "error") or nil)
end

--- `res`, or raises `err` (for `support.check(client.models:generate_content{...})`).
function M.check(res, err)
  if res == nil then error(err, 0) end
  return res
end

return M
