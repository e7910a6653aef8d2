--- An OpenResty handler: relays a streamed Gemini answer to the browser
-- as Server-Sent Events, chunk by chunk, without blocking the nginx worker
-- (the gemini client uses cosockets inside nginx).
--
--   GET /ask?q=Why+is+the+sky+blue%3F     -> text/event-stream
--     event: chunk   data: {"text": "..."}      one per chunk, as it arrives
--     event: done    data: {"finishReason": "...", "usage": {...}}
--     event: error   data: {"message": "..."}
--
-- The client is made once per worker (init_worker_by_lua) so its
-- connection pool is shared by every request of the worker.
local gemini = require("gemini")
local cjson = require("cjson.safe")

local M = {}

local client

--- Makes the worker's client (from init_worker_by_lua: no network there).
function M.init()
  client = gemini.Client{
    api_key = os.getenv("GEMINI_API_KEY"),          -- needs `env GEMINI_API_KEY;` in nginx.conf
    base_url = os.getenv("GEMINI_BASE_URL"),
    stall_timeout = 60,
  }
end

local function send(event, data)
  ngx.print("event: ", event, "\ndata: ", cjson.encode(data), "\n\n")
  return ngx.flush(true)          -- nil, err when the browser has gone away
end

--- content_by_lua handler.
function M.ask()
  local prompt = ngx.var.arg_q and ngx.unescape_uri(ngx.var.arg_q)
  if not prompt or prompt == "" then
    ngx.status = 400
    ngx.say("missing ?q=")
    return
  end
  ngx.header["Content-Type"] = "text/event-stream"
  ngx.header["Cache-Control"] = "no-cache"
  ngx.header["X-Accel-Buffering"] = "no"

  local stream = client.models:generate_content_stream{
    model = ngx.var.gemini_model or "gemini-2.5-flash",
    contents = prompt,
  }
  while true do
    local chunk, err = stream:next()
    if err then
      send("error", { message = tostring(err) })
      break
    end
    if not chunk then
      local r = stream.response
      send("done", { finishReason = r.candidates and r.candidates[1].finishReason,
                     usage = r.usageMetadata })
      break
    end
    if chunk.text and not send("chunk", { text = chunk.text }) then
      stream:close()              -- the browser left: close the upstream at once
      break
    end
  end
end

return M
