--- JSON Web Tokens signed with RS256, as a service account's assertion.
-- A JWT (RFC 7519, compact JWS of RFC 7515) is three base64url parts
-- without padding, joined by ".": the header, the claims, and the RS256
-- signature (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 3.3) of the first
-- two parts as written. Header {"alg":"RS256","typ":"JWT","kid":<key id>}
-- as google-auth-library-python writes it (google/auth/jwt.py `encode`,
-- the key id from the file's `private_key_id`,
-- google/auth/crypt/_python_rsa.py `from_service_account_info`).
-- Signing is in the C core (src/sign.c, libcrypto).
-- @module gemini.auth.jwt
local core = require("gemini.core")
local json = require("gemini.json")

local M = {}

--- Signs `claims` with the PEM RSA private key `pem`.
-- @tparam table claims the payload (encoded as given: no key conversion)
-- @tparam string pem PKCS#8 or PKCS#1 PEM private key
-- @tparam[opt] string key_id the header's "kid"
-- @treturn string|nil the JWT, or nil and a message (which never quotes the key)
function M.sign(claims, pem, key_id)
  local header = { alg = "RS256", typ = "JWT", kid = key_id }
  local input = core.b64url_encode(json.encode_verbatim(header)) .. "."
    .. core.b64url_encode(json.encode_verbatim(claims))
  local sig, err = core.rs256_sign(pem, input)
  if not sig then return nil, err end
  return input .. "." .. core.b64url_encode(sig)
end

--- The header and claims of a JWT, decoded, without any check of its
-- signature (for tests and logs; never trust what it returns).
-- @tparam string token
-- @treturn table|nil header, claims; or nil and a message
function M.decode_unverified(token)
  local h, c, s = tostring(token):match("^([^.]*)%.([^.]*)%.([^.]*)$")
  if not h then return nil, "not a JWT (three parts joined by '.' expected)" end
  local parts = {}
  for i, part in ipairs({ h, c, s }) do
    local bytes, err = core.b64url_decode(part)
    if not bytes then return nil, "JWT part " .. i .. ": " .. err end
    parts[i] = bytes
  end
  local header, herr = json.decode(parts[1])
  if not json.is_object(header) then return nil, "JWT header: " .. (herr or "not a JSON object") end
  local claims, cerr = json.decode(parts[2])
  if not json.is_object(claims) then return nil, "JWT claims: " .. (cerr or "not a JSON object") end
  return header, claims
end

return M
