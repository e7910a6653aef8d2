-- spec/support/token_source.lua: a stand-in for gemini.auth.credentials
-- (built on another branch) whose sources fetch their token over HTTP from
-- the mock's minting endpoint, through the client's own transport: what a
-- service account's token request does, without the JWT.
--
--   local token_source = require("support.token_source")
--   local restore = token_source.install(m)   -- m: the mock
--   gemini.Client{ vertexai = true, credentials = token_source.account("x"), ... }
--   restore()
local cjson = require("cjson")

local M = {}

--- Puts the stand-in in package.loaded; returns a function that puts back
-- what was there.
function M.install(m)
  local saved = package.loaded["gemini.auth.credentials"]
  package.loaded["gemini.auth.credentials"] = { load = function(spec)
    return {
      kind = "service_account", id = "sa:" .. spec.client_email,
      project_id = spec.project_id, quota_project_id = spec.quota_project_id,
      secrets = { spec.private_key },
      token_request = function()
        if spec.request_raises then error("token_request raised") end
        return { method = "POST", url = m.url .. (spec.token_path or "/_mock/access_tokens"),
                 headers = {}, body = cjson.encode{ expires_in = spec.expires_in or 3600 },
                 content_type = "application/json" }
      end,
      parse_token = function(_, res)
        if spec.parse_raises then error("parse_token raised") end
        local ok, t = pcall(cjson.decode, res.body)
        if res.status ~= 200 or not ok then return nil, "HTTP " .. res.status end
        return t.access_token, t.expires_in
      end,
    }
  end }
  return function() package.loaded["gemini.auth.credentials"] = saved end
end

local n = 0

--- The "service account JSON" of a new identity (its own token cache).
function M.account(quota_project)
  n = n + 1
  return { client_email = "sa" .. n .. "@p.iam.gserviceaccount.com", project_id = "sa-proj",
           quota_project_id = quota_project, private_key = "-----BEGIN PRIVATE KEY-----secret" .. n }
end

return M
