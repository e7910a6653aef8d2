--- An OpenResty handler: mints an ephemeral Live API token for a browser,
-- so that the browser talks to the Live API directly without ever seeing
-- the API key, which stays in nginx.
--
--   POST /token   -> 200 {"token": "auth_tokens/...", "expires": "2026-12-01T10:00:00Z"}
--                    502 {"error": "could not mint a token"} when Gemini refused
--                    (the reason goes to nginx's error log, not to the browser)
--
-- The token is good for one session (uses = 1), which must start within a
-- minute, and for 10 minutes of conversation; it is locked to one model
-- and config (the browser cannot change them). The browser then connects
-- with `token` as its key (the SDKs' `apiKey: token`, API version v1alpha).
--
-- A real gateway decides first who may have a token (a session cookie, a
-- rate limit): here anyone who can POST gets one.
local gemini = require("gemini")
local cjson = require("cjson.safe")

local M = {}

local SESSION_WINDOW = 60        -- seconds to open the session
local LIFETIME = 10 * 60         -- seconds the session may last

local client      -- one per worker, made on first use (its pool is shared)

local function reply(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Cache-Control"] = "no-store"      -- a token is a credential
  ngx.say(cjson.encode(body))
end

--- content_by_lua handler.
function M.mint()
  if ngx.req.get_method() ~= "POST" then
    ngx.header["Allow"] = "POST"
    return reply(405, { error = "POST only" })
  end
  -- The key from GEMINI_API_KEY or GOOGLE_API_KEY (`env` lines in nginx.conf).
  client = client or gemini.Client{}
  local now = ngx.time()
  local expires = now + LIFETIME
  local token, err = client.auth_tokens:create{ config = {
    uses = 1,
    expire_time = expires,
    new_session_expire_time = now + SESSION_WINDOW,
    live_connect_constraints = {
      model = ngx.var.gemini_live_model or "gemini-2.5-flash-native-audio-latest",
      config = { response_modalities = { "AUDIO" },
                 system_instruction = "You are a friendly voice assistant. Keep answers short." },
    },
  } }
  if not token then
    ngx.log(ngx.ERR, "minting a Live API token: ", tostring(err))   -- the key is never in it
    return reply(502, { error = "could not mint a token" })
  end
  reply(200, { token = token.name, expires = os.date("!%Y-%m-%dT%H:%M:%SZ", expires) })
end

return M
