-- Fuzz check of core.b64url_encode / core.b64url_decode (src/base64.c) and
-- of core.rs256_sign's key loading (src/sign.c), run by fuzz/b64url_fuzz.c.
--
-- Properties:
--   * the input as data: b64url_encode gives b64encode's URL-safe text
--     without its padding, and b64url_decode gives the data back;
--   * the input as text: b64url_decode accepts exactly the strings of
--     "A-Za-z0-9-_" whose length is not 1 more than a multiple of 4, and
--     then agrees with the permissive b64decode; a refusal says "invalid
--     base64url at byte N" with N inside the input;
--   * the input as a private key, raw and inside PEM armour: rs256_sign
--     refuses it with one of its fixed messages (never a crash, a leak or
--     a message quoting the input).
local core = require("gemini.core")
local uenc, udec = core.b64url_encode, core.b64url_decode

local function fail(fmt, ...)
  error(string.format(fmt, ...), 0)
end

local SIGN_ERRORS = {
  ["rs256_sign: not a PEM private key, or one protected by a passphrase"] = true,
  ["rs256_sign: the private key is not an RSA key"] = true,
  ["rs256_sign: the key cannot sign"] = true,
}

local function refused_key(pem)
  local sig, err = core.rs256_sign(pem, "header.claims")
  if sig ~= nil then return end   -- a real key (only from a seed): fine
  if not SIGN_ERRORS[err] then fail("rs256_sign: unexpected message %q", tostring(err)) end
end

return function(input)
  local e = uenc(input)
  local want = core.b64encode(input, true):gsub("=", "")
  if e ~= want then fail("b64url_encode(%q) = %q, not %q", input, e, want) end
  local back = udec(e)
  if back ~= input then fail("%q decoded to %q", e, tostring(back)) end

  local got, err = udec(input)
  local valid = not input:find("[^%w%-_]") and #input % 4 ~= 1
  if valid then
    if got ~= core.b64decode(input) then fail("b64url_decode(%q) = %q", input, tostring(got)) end
  else
    if got ~= nil then fail("b64url_decode accepted %q", input) end
    local at = tonumber(tostring(err):match("^invalid base64url at byte (%d+)$"))
    if not at or at < 1 or at > #input then fail("unclear decode error: %s", tostring(err)) end
  end

  if #input <= 2048 then
    refused_key(input)
    refused_key("-----BEGIN PRIVATE KEY-----\n" .. core.b64encode(input) .. "\n-----END PRIVATE KEY-----\n")
    refused_key("-----BEGIN RSA PRIVATE KEY-----\n" .. core.b64encode(input) .. "\n-----END RSA PRIVATE KEY-----\n")
  end
end
