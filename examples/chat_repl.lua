-- A chat in the terminal: each line read from stdin is sent to the model and
-- the answer streamed back; the conversation is remembered. `/history`
-- prints the turns so far; end of input (Ctrl-D) quits.
--
--   lua5.4 examples/chat_repl.lua
--   printf 'Hi, I am Ada.\nWhat is my name?\n/history\n' | lua5.4 examples/chat_repl.lua
--
-- With GEMINI_API_KEY (or GOOGLE_API_KEY) set it talks to Google's API, with
-- COMETAPI_KEY to CometAPI; otherwise to the bundled mock server.
local support = dofile((arg[0]:match("^(.-)[^/]*$") or "") .. "support/client.lua")
local client, model, finish = support.connect{ model = "gemini-2.5-flash" }

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
    -- A failed turn is reported and left out of the history; the chat goes on.
    local ok, err = pcall(function()
      for chunk in stream do
        io.write(chunk.text or "")
        io.flush()
      end
    end)
    io.write("\n")
    if not ok then io.stderr:write("error: ", tostring(err), "\n") end
  end
end
finish()
