-- Fuzz check of core.b64encode / core.b64decode (src/base64.c), run by
-- fuzz/base64_fuzz.c.
--
-- Properties:
--   * the input as data: both alphabets encode to 4 * ceil(n / 3) padded
--     characters of their alphabet, and decode back to the data, also with
--     the padding stripped and with whitespace inserted;
--   * the input as base64 text: b64decode agrees with a small reference
--     decoder written from the rules in src/base64.c's header (whitespace
--     skipped, either alphabet, padding optional but exact when present);
--     failures say "invalid base64 at byte N" with N inside the input.
local core = require("gemini.core")
local enc, dec = core.b64encode, core.b64decode

local function fail(fmt, ...)
  error(string.format(fmt, ...), 0)
end

local VAL = {}
local STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
for i = 1, 64 do VAL[STD:byte(i)] = i - 1 end
VAL[("-"):byte()], VAL[("_"):byte()] = 62, 63

-- The reference: decoded bytes, or nil when the text is not base64.
local function reference(text)
  local s = text:gsub("[ \t\n\v\f\r]", "")
  local body, pad = s:match("^([^=]*)(=*)$")
  if not body then return nil end          -- '=' followed by something else
  local out, acc, q = {}, 0, 0
  for i = 1, #body do
    local v = VAL[body:byte(i)]
    if not v then return nil end
    acc, q = (acc << 6) | v, q + 1
    if q == 4 then
      out[#out + 1] = string.char(acc >> 16, (acc >> 8) & 255, acc & 255)
      acc, q = 0, 0
    end
  end
  if q == 1 then return nil end
  if #pad > 0 and (q == 0 or #pad ~= 4 - q) then return nil end
  if q == 2 then out[#out + 1] = string.char((acc >> 4) & 255)
  elseif q == 3 then out[#out + 1] = string.char((acc >> 10) & 255, (acc >> 2) & 255)
  end
  return table.concat(out)
end

local function roundtrip(data)
  local n = #data
  local want = 4 * ((n + 2) // 3)
  for _, url in ipairs({ false, true }) do
    local e = enc(data, url)
    if #e ~= want then fail("encoding %d bytes gave %d characters, not %d", n, #e, want) end
    local alphabet = url and "^[A-Za-z0-9_-]*=?=?$" or "^[A-Za-z0-9+/]*=?=?$"
    if not e:find(alphabet) then fail("encoding left its alphabet: %q", e) end
    for _, text in ipairs({ e, (e:gsub("=", "")), (e:gsub("(....)", "%1\r\n ")) }) do
      local d, err = dec(text)
      if d ~= data then fail("%q decoded to %q (%s)", text, tostring(d), tostring(err)) end
    end
  end
end

return function(input)
  roundtrip(input)
  local got, err = dec(input)
  local want = reference(input)
  if got ~= want then
    fail("decoding %q gave %q (%s), the reference %q", input, tostring(got), tostring(err), tostring(want))
  end
  if got == nil then
    local at = tonumber(tostring(err):match("^invalid base64 at byte (%d+)$"))
    if not at or at < 1 or at > #input then fail("unclear decode error: %s", tostring(err)) end
  end
end
