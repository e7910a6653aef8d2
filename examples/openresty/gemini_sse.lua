--- An OpenResty handler: relays a streamed Gemini answer to the browser
-- as Server-Sent Events, chunk by chunk, without blocking the nginx worker
-- (the gemini client uses cosockets inside nginx).
--
--   GET /ask?q=Why+is+the+sky+blue%3F     -> 200 text/event-stream
--     event: chunk   data: {"text": "..."}      one per chunk, as it arrives
--     event: done    data: {"finishReason": "...", "usage": {...}}
--     event: error   data: {"message": "..."}   a failure after the first chunk
--   or, when the call fails before its first chunk, a real HTTP status:
--     429 with Retry-After (the API's quota), 504 (a timeout), 502 (any
--     other failure upstream), with {"error": "..."} as JSON.
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
    -- A gateway does not keep its browser waiting out a long quota delay:
    -- a server delay above 1 s is not waited out but passed on as the
    -- browser's Retry-After (err.retry_after).
    retry = { attempts = 3, max_delay = 1 },
  }
end

-- The HTTP status that tells the browser what went wrong upstream.
local function fail(err)
  if err.kind == "api" and err.code == 429 then
    ngx.status = 429
    if err.retry_after then ngx.header["Retry-After"] = math.ceil(err.retry_after) end
  elseif err.kind == "timeout" then
    ngx.status = 504
  else
    ngx.status = 502
  end
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode({ error = tostring(err) }))
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

  local stream = client.models:generate_content_stream{
    model = ngx.var.gemini_model or "gemini-2.5-flash",
    contents = prompt,
  }
  -- The first chunk before any byte to the browser: until it comes the
  -- status line is not sent, so a failure of the call (the key refused, the
  -- quota, the API down, each after the client's retries) is answered with
  -- its own HTTP status rather than a 200 carrying an error event.
  local chunk, err = stream:next()
  if err then return fail(err) end

  ngx.header["Content-Type"] = "text/event-stream"
  ngx.header["Cache-Control"] = "no-cache"
  ngx.header["X-Accel-Buffering"] = "no"
  while chunk do
    if chunk.text and not send("chunk", { text = chunk.text }) then
      stream:close()              -- the browser left: close the upstream at once
      return
    end
    chunk, err = stream:next()
  end
  if err then                     -- the status is sent already: say it in the stream
    send("error", { message = tostring(err) })
    return
  end
  local r = stream.response
  send("done", { finishReason = r.candidates and r.candidates[1].finishReason,
                 usage = r.usageMetadata })
end

return M
