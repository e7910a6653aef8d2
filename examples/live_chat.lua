-- A text chat over the Live API (a WebSocket session): each line you type
-- is a turn, the answer is printed as its messages arrive.
--
--   GEMINI_API_KEY=... lua5.4 examples/live_chat.lua            (type lines; Ctrl-D ends)
--   GEMINI_API_KEY=... lua5.4 examples/live_chat.lua "Hi" "And again"   (turns as arguments)
--
-- The key comes from GEMINI_API_KEY (or GOOGLE_API_KEY), the server from
-- GEMINI_BASE_URL when set (a proxy, or the bundled mock server).
local gemini = require("gemini")

local function fail(msg)
  io.stderr:write(tostring(msg), "\n")
  os.exit(1)
end

local client = gemini.Client{}
local session, err = client.live:connect{
  model = os.getenv("GEMINI_LIVE_MODEL") or "gemini-live-2.5-flash-preview",
  config = { response_modalities = { "TEXT" }, system_instruction = "You are a concise assistant." },
}
if not session then fail(err) end

-- The turns: the arguments, else lines from stdin.
local i = 0
local function next_line()
  if #arg > 0 then
    i = i + 1
    return arg[i]
  end
  io.stderr:write("> ")
  return io.read("*l")
end

for line in next_line do
  local ok, serr = session:send_client_content{ turns = line }
  if not ok then fail(serr) end
  -- One turn's messages; a server close or a dropped connection ends the
  -- session with an error (code and reason), never silently.
  while true do
    local msg, rerr = session:receive_next()
    if rerr then fail(rerr) end
    if not msg then break end          -- the end of the turn
    io.write(msg.text or "")
    io.flush()
  end
  -- The answer's line ends before the next prompt goes to stderr: both
  -- may go to the same pipe.
  io.write("\n")
  io.flush()
end
session:close()
