-- A chat in the terminal: each line read from stdin is sent to the model and
-- the answer streamed back; the conversation is remembered. `/history`
-- prints the turns so far; end of input (Ctrl-D) quits.
--
--   lua5.4 examples/chat_repl.lua
--   printf 'Hi, I am Ada.\nWhat is my name?\n/history\n' | lua5.4 examples/chat_repl.lua
--
-- GEMINI_API_KEY (or GOOGLE_API_KEY) and GEMINI_BASE_URL: see examples/README.md.
local gemini = require("gemini")

local client = gemini.Client{}
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"

local chat = client.chats:create{ model = model }
-- Prompt only when a person types (stdin is a terminal), not for piped input.
local function stdin_is_tty()
  local a, _, c = os.execute("test -t 0")
  if type(a) == "number" then return a == 0 end   -- Lua 5.1 / LuaJIT
  return a == true and (c == nil or c == 0)
end
local tty = stdin_is_tty()

local function show_history()
  local h = chat:get_history()
  if #h == 0 then print("(no turns yet)") end
  for i, content in ipairs(h) do
    local texts = {}
    for _, part in ipairs(content.parts) do
      if part.text and not part.thought then texts[#texts + 1] = part.text end
    end
    print(string.format("%2d %-5s %s", i, content.role, table.concat(texts)))
  end
end

io.stderr:write("Chatting with ", model, ". /history shows the conversation; Ctrl-D quits.\n")
while true do
  if tty then io.stderr:write("> ") end
  local line = io.read("*l")
  if not line then break end
  if line == "/history" then
    show_history()
  elseif line:find("%S") then
    local stream = chat:send_message_stream(line)
    -- A failed turn (nil, err from next()) is reported and left out of the
    -- history; the chat goes on.
    while true do
      local chunk, err = stream:next()
      if err then io.stderr:write("\nerror: ", tostring(err)) end
      if not chunk then break end
      io.write(chunk.text or "")
      io.flush()
    end
    io.write("\n")
  end
end
