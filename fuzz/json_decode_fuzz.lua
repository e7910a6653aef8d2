-- Fuzz check of core.json_decode (src/json_decode.c), run by
-- fuzz/json_decode_fuzz.c.
--
-- Each input is decoded twice: as raw bytes, and as the JSON text a small
-- generator writes from those bytes (numbers at the edges of the integer
-- and double ranges, strings with every escape, lone and paired
-- surrogates, raw bytes, nesting around the limit of 200, whitespace),
-- now and then cut short or with a byte changed. Properties:
--   * json_decode never raises: a value, or nil and "<what> at byte N"
--     with N within the text (+1 for the end);
--   * it agrees with an independent reference decoder written here in
--     plain Lua from the documented rules (strict JSON grammar; integer
--     tokens that fit are integers, as tonumber gives; "-0" is -0.0; lone
--     surrogates are U+FFFD; empty [] / {} carry the markers; depth 200):
--     the same success or failure, the same value (subtypes, the sign of
--     zero, markers included);
--   * where lua-cjson also decodes the text, the values agree as doubles;
--   * a decoded value the encoder takes (no inf, valid UTF-8) encodes to
--     JSON that decodes back to the same value.
local core = require("gemini.core")
local cjson = require("cjson").new()
cjson.decode_max_depth(200)
cjson.decode_invalid_numbers(false)

local decode, null, OBJ, ARR = core.json_decode, core.json_null, core.json_object_mt, core.json_array_mt

local function fail(fmt, ...)
  error(string.format(fmt, ...), 0)
end

-- ---- the reference decoder -------------------------------------------------

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
local REF_FAIL = {}

-- value, or nil when the text is not accepted.
local function ref_decode(s)
  local pos, depth = 1, 0
  local function bad() error(REF_FAIL, 0) end
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end

  local function str()
    local out, i = {}, pos + 1
    while true do
      local c = s:sub(i, i)
      if c == "" then bad() end
      if c == '"' then break end
      if c ~= "\\" then
        out[#out + 1] = c
        i = i + 1
      else
        local e = s:sub(i + 1, i + 1)
        if ESCAPES[e] then
          out[#out + 1] = ESCAPES[e]
          i = i + 2
        elseif e == "u" then
          local h = s:match("^%x%x%x%x", i + 2)
          if not h then bad() end
          local cp = tonumber(h, 16)
          i = i + 6
          if cp >= 0xD800 and cp <= 0xDBFF then
            local h2 = s:match("^\\u(%x%x%x%x)", i)
            local lo = h2 and tonumber(h2, 16)
            if lo and lo >= 0xDC00 and lo <= 0xDFFF then
              cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
              i = i + 6
            else
              cp = 0xFFFD
            end
          elseif cp >= 0xDC00 and cp <= 0xDFFF then
            cp = 0xFFFD
          end
          out[#out + 1] = utf8.char(cp)
        else
          bad()
        end
      end
    end
    pos = i + 1
    return table.concat(out)
  end

  local function num()
    local int = s:match("^-?0", pos) or s:match("^-?[1-9]%d*", pos)
    if not int then bad() end
    local p = pos + #int
    if s:match("^%d", p) then bad() end                 -- a leading zero
    local frac = s:match("^%.%d+", p)
    if not frac and s:sub(p, p) == "." then bad() end
    p = p + #(frac or "")
    local ex = s:match("^[eE][-+]?%d+", p)
    if not ex and s:match("^[eE]", p) then bad() end
    p = p + #(ex or "")
    local tok = s:sub(pos, p - 1)
    pos = p
    if frac or ex then return tonumber(tok) end            -- a float (tonumber reads it so)
    if tok == "-0" then return -0.0 end
    return tonumber(tok)                                -- integer, or float past the range
  end

  local value
  local function container(close, item)
    depth = depth + 1
    if depth > 200 then bad() end
    pos = pos + 1
    ws()
    local t = {}
    if s:sub(pos, pos) == close then
      pos = pos + 1
      depth = depth - 1
      return setmetatable(t, close == "]" and ARR or OBJ)
    end
    while true do
      item(t)
      ws()
      local c = s:sub(pos, pos)
      pos = pos + 1
      if c == close then break end
      if c ~= "," then bad() end
      ws()
    end
    depth = depth - 1
    return t
  end

  value = function()
    local c = s:sub(pos, pos)
    if c == '"' then return str() end
    if c == "[" then
      return container("]", function(t) t[#t + 1] = value() end)
    end
    if c == "{" then
      return container("}", function(t)
        if s:sub(pos, pos) ~= '"' then bad() end
        local k = str()
        ws()
        if s:sub(pos, pos) ~= ":" then bad() end
        pos = pos + 1
        ws()
        t[k] = value()
      end)
    end
    for lit, v in pairs({ ["true"] = true, ["false"] = false, ["null"] = null }) do
      if s:sub(pos, pos + #lit - 1) == lit then
        pos = pos + #lit
        return v
      end
    end
    return num()
  end

  local ok, v = pcall(function()
    ws()
    local r = value()
    ws()
    if pos <= #s then bad() end
    return r
  end)
  if ok then return v end
  if v ~= REF_FAIL then error(v, 0) end
  return nil
end

-- ---- comparison ------------------------------------------------------------

-- Compares a and b entry by entry, `leaf(a, b, where)` judging what is not
-- a table; `markers`: the metatables (json_array_mt...) must agree too.
-- `other` names where b comes from.
local function compare(a, b, where, leaf, markers, other)
  if type(a) ~= "table" then return leaf(a, b, where) end
  if type(b) ~= "table" then fail("%s: a table, %s says %s", where, other, type(b)) end
  if markers and getmetatable(a) ~= getmetatable(b) then fail("%s: the markers differ", where) end
  local na, nb = 0, 0
  for k, x in pairs(a) do
    na = na + 1
    compare(x, b[k], where .. "." .. tostring(k), leaf, markers, other)
  end
  for _ in pairs(b) do nb = nb + 1 end
  if na ~= nb then fail("%s: %d entries, %s has %d", where, na, other, nb) end
end

-- Exactly: the same subtype, the same sign of zero.
local function same_leaf(a, b, where)
  if type(a) == "number" and type(b) == "number" then
    if math.type(a) ~= math.type(b) or a ~= b or (a == 0 and 1 / a ~= 1 / b) then
      fail("%s: %s %.17g, the reference says %s %.17g", where, math.type(a), a, math.type(b), b)
    end
  elseif a ~= b then
    fail("%s: %q, the reference says %q", where, tostring(a), tostring(b))
  end
end

local function same(a, b, where) compare(a, b, where, same_leaf, true, "the reference") end

-- lua-cjson: every number a double, no markers.
local function cjson_leaf(a, b, where)
  if type(a) == "number" then
    if type(b) ~= "number" or a + 0.0 ~= b then fail("%s: %s, cjson says %s", where, tostring(a), tostring(b)) end
  elseif a ~= b then
    fail("%s: %q, cjson says %q", where, tostring(a), tostring(b))
  end
end

local function check(text)
  local ok, v, msg = pcall(decode, text)
  if not ok then fail("json_decode raised: %s", tostring(v)) end
  local ref = ref_decode(text)
  if v == nil then
    local at = type(msg) == "string" and tonumber(msg:match("^%l[^\n]* at byte (%d+)$"))
    if not at or at < 1 or at > #text + 1 then fail("bad error message %q", tostring(msg)) end
    if ref ~= nil then fail("rejected (%s) what the reference takes: %q", msg, text:sub(1, 200)) end
    return
  end
  if ref == nil then fail("took what the reference rejects: %q", text:sub(1, 200)) end
  same(v, ref, "value")
  local cok, cv = pcall(cjson.decode, text)
  if cok then compare(v, cv, "value", cjson_leaf, false, "cjson") end
  local eok, out = pcall(core.json_encode, v, { convert_keys = false })
  if eok then
    local back, err = decode(out)
    if back == nil then fail("the encoder's output does not decode (%s): %q", err, out:sub(1, 200)) end
    same(back, v, "round trip")
  elseif not tostring(out):find("inf", 1, true) and not tostring(out):find("UTF-8", 1, true) then
    fail("a decoded value does not encode: %s", tostring(out))
  end
end

-- ---- the generator -------------------------------------------------------

local Gen = {}
Gen.__index = Gen

function Gen:byte()
  local b = self.s:byte(self.i)
  self.i = self.i + 1
  return b or 0
end

function Gen:pick(list) return list[self:byte() % #list + 1] end

-- Edge cases, and (rarer) what is not a JSON number.
local NUMBERS = { "0", "-0", "-0.0", "9223372036854775807", "9223372036854775808",
  "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "1e400", "-1e400",
  "1e-400", "4.9e-324", "2.2250738585072014e-308", "1.7976931348623157e308", "9007199254740993",
  "0.1", "1E+2", "1e-0" }
local BAD_NUMBERS = { "01", "1.", ".5", "-", "+1", "NaN", "Infinity", "-Infinity", "0x1F", "1e",
  "1e+", "--1", "1.5.5" }

function Gen:digits(n)
  local t = {}
  for i = 1, n do t[i] = string.char(48 + self:byte() % 10) end
  return table.concat(t)
end

function Gen:number()
  local b = self:byte()
  if b < 4 then return self:pick(BAD_NUMBERS) end
  if b < 64 then return self:pick(NUMBERS) end
  local s = (b % 2 == 0 and "-" or "") .. self:digits(self:byte() % 22 + 1)
  if b % 3 == 0 then s = s .. "." .. self:digits(self:byte() % 20 + 1) end
  if b % 5 == 0 then
    s = s .. self:pick({ "e", "E" }) .. self:pick({ "", "+", "-" }) .. self:digits(self:byte() % 4 + 1)
  end
  return s
end

local PIECES = { "a", "text", " ", "\\n", '\\"', "\\\\", "\\/", "\\b\\f\\r\\t", "\\u00e9", "\\u20AC",
  "\\ud83d\\ude00", "\\ud800", "\\udc00", "\\ud800\\u0041", "\\udbff\\udfff", "\\u0000",
  "\255", "\0", "\t", "\n", "é", "😀", "\237\160\128" }
local BAD_PIECES = { "\\u12", "\\x", '"', "\\" }

function Gen:string()
  local t = { '"' }
  for _ = 1, self:byte() % 6 do
    t[#t + 1] = self:byte() < 4 and self:pick(BAD_PIECES) or self:pick(PIECES)
  end
  t[#t + 1] = '"'
  return table.concat(t)
end

function Gen:ws()
  local b = self:byte()
  if b < 200 then return "" end
  return ({ " ", "\t", "\r\n", "  \n " })[b % 4 + 1]
end

function Gen:value(depth)
  if self.i > #self.s then return "0" end
  local k = self:byte() % 10
  if depth > 8 and k >= 5 then k = k % 5 end
  if k == 0 then return self:number() end
  if k == 1 or k == 2 then return self:string() end
  if k == 3 then
    if self:byte() < 4 then return self:pick({ "nul", "True", "nulll", "fals" }) end
    return self:pick({ "true", "false", "null" })
  end
  if k == 4 then
    -- a chain of arrays around the depth limit
    if self:byte() < 240 then return self:number() end
    local n = 195 + self:byte() % 10
    return ("["):rep(n) .. self:value(depth + n) .. ("]"):rep(n)
  end
  local t = {}
  local n = self:byte() % 5
  for i = 1, n do
    if k <= 6 then
      t[i] = self:ws() .. self:value(depth + 1) .. self:ws()
    else
      t[i] = self:ws() .. self:string() .. self:ws() .. ":" .. self:ws() .. self:value(depth + 1) .. self:ws()
    end
  end
  local sep = self:byte() < 250 and "," or ""
  if k <= 6 then return "[" .. table.concat(t, sep) .. "]" end
  return "{" .. table.concat(t, sep) .. "}"
end

function Gen:text()
  local s = self:ws() .. self:value(0) .. self:ws()
  local b = self:byte()                           -- 0 once the input is used up
  if b == 0 or b >= 36 then return s end
  if b < 16 then                                  -- cut short
    s = s:sub(1, (self:byte() * 256 + self:byte()) % #s)
  elseif b < 32 then                              -- one byte changed
    local at = (self:byte() * 256 + self:byte()) % #s + 1
    s = s:sub(1, at - 1) .. string.char(self:byte()) .. s:sub(at + 1)
  else                                            -- something after the value
    s = s .. self:pick({ " x", "}", "]", ",", "\0", " 1" })
  end
  return s
end

return function(input)
  check(input)
  check(setmetatable({ s = input, i = 1 }, Gen):text())
end
