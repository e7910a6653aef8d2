--- An OpenResty handler: relays a browser's WebSocket to a Live API
-- session (`gemini.live.relay`), so that the browser talks to Live without
-- ever seeing the API key, which stays in nginx, and without choosing the
-- model or config, which are fixed here.
--
--   GET /live (WebSocket)  browser -> {"realtimeInput": {"text": "Hi"}}
--                          browser <- {"serverContent": {...}} ... as Live sends them
--                          a request that is no WebSocket upgrade: 400 (426 for
--                          another version); a Live session that cannot be opened:
--                          502 {"error": "could not open a Live session"}, the
--                          reason in nginx's error log
--
-- A real gateway decides first who may open a session (a session cookie,
-- an Origin check, a rate limit): here anyone who can connect may.
local gemini = require("gemini")
local relay = require("gemini.live.relay")

local M = {}

local client      -- one per worker, made on first use

--- content_by_lua handler.
function M.serve()
  -- The key from GEMINI_API_KEY or GOOGLE_API_KEY (`env` lines in nginx.conf).
  client = client or gemini.Client{}
  local ok, err = relay.serve(client, {
    model = ngx.var.gemini_live_model or "gemini-live-2.5-flash-preview",
    config = { response_modalities = { "TEXT" },
               system_instruction = "You are a friendly assistant. Keep answers short." },
    max_message_size = 256 * 1024,
  })
  if not ok then ngx.log(ngx.WARN, "live relay: ", tostring(err)) end   -- the key is never in it
end

return M
