-- Fuzz check of core.json_encode (src/json.c), run by fuzz/json_fuzz.c.
--
-- The input bytes drive a generator of Lua values: nested tables (plain,
-- object- or array-marked), strings of random bytes, integers, floats from
-- raw bits (NaN and infinities included), booleans, null, and now and then
-- something without a JSON form (a function, a cycle, a mixed or sparse
-- table, a non-string key, nesting past max_depth). An independent Lua
-- model (`problem`) says whether the value has a JSON form.
--
-- Properties, with keys kept (convert_keys = false):
--   * encoding succeeds exactly when the model says the value has a JSON
--     form, and otherwise raises "cannot encode <path>: <what>";
--   * the output is JSON that lua-cjson decodes back to the same value
--     (numbers equal as doubles, strings byte for byte, empty tables empty);
-- and with the API's key rules (convert_keys = true, keys often taken from
-- the rule table): the same success/failure, and output lua-cjson accepts
-- with the same shape. Bad options raise "bad argument #2".
local core = require("gemini.core")
local cjson = require("cjson").new()
cjson.decode_max_depth(2000)

local null, OBJ, ARR = core.json_null, core.json_object_mt, core.json_array_mt
local encode = core.json_encode
-- The rules gemini.json hands the encoder.
core.json_key_rules(require("gemini.keys"))

local function fail(fmt, ...)
  error(string.format(fmt, ...), 0)
end

-- Keys that the encoder treats specially in converting mode, and keys that
-- camelize.
local KEYS = { "contents", "parts", "args", "properties", "function_response", "functionResponse",
  "response", "enum", "stop_sequences", "labels", "metadata", "response_json_schema", "default",
  "tools", "a_b", "_private", "x__y", "trail_", "v2_model", "__a_b", "a_1", "a_-b", "" }

-- ---- the generator ---------------------------------------------------------

local Gen = {}
Gen.__index = Gen

local function gen_new(input)
  return setmetatable({ s = input, i = 1 }, Gen)
end

function Gen:byte()
  local b = self.s:byte(self.i)
  self.i = self.i + 1
  return b or 0
end

function Gen:bytes(n)
  local s = self.s:sub(self.i, self.i + n - 1)
  self.i = self.i + n
  if #s < n then s = s .. string.rep("\0", n - #s) end
  return s
end

function Gen:done()
  return self.i > #self.s
end

function Gen:string()
  local b = self:byte()
  if b < 40 then return KEYS[b % #KEYS + 1] end
  return self:bytes(b % 24)
end

function Gen:scalar()
  local b = self:byte() % 12
  if b == 0 then return null
  elseif b == 1 then return self:byte() % 2 == 0
  elseif b == 2 then return string.unpack("<i8", self:bytes(8))
  elseif b == 3 then return string.unpack("<d", self:bytes(8))
  elseif b == 4 then return self:byte() - 128
  elseif b == 5 then return (self:byte() - 128) / 4
  else return self:string()
  end
end

-- A value at nesting level `depth` (tables so far above it).
function Gen:value(depth, parents)
  if self:done() or depth > 12 then return self:scalar() end
  local b = self:byte()
  local kind = b % 16
  if kind < 6 then return self:scalar() end
  if kind == 6 then
    -- Rare things with no JSON form, or a table seen before.
    local r = self:byte() % 8
    if r == 0 then return print end
    if r == 1 then return coroutine.create(print) end
    if r == 2 then return io.stdout end
    if r == 3 and #parents > 0 then return parents[self:byte() % #parents + 1] end  -- cycle
    if r == 4 then return 0 / 0 end
    if r == 5 then return math.huge * (self:byte() % 2 == 0 and 1 or -1) end
    if r == 6 then  -- a chain of nested arrays, up to 1275 deep
      local n = self:byte() * 5
      local v = self:scalar()
      for _ = 1, n do v = { v } end
      return v
    end
    return setmetatable({}, self:byte() % 2 == 0 and OBJ or ARR)
  end
  local t = {}
  if kind == 7 then setmetatable(t, OBJ) elseif kind == 8 then setmetatable(t, ARR) end
  parents[#parents + 1] = t
  local n = self:byte() % 6
  if kind % 2 == 0 then
    for i = 1, n do t[i] = self:value(depth + 1, parents) end
    local odd = self:byte()
    if odd == 1 then t[n + 2] = true             -- a hole
    elseif odd == 2 then t.key = 1               -- mixed keys
    elseif odd == 3 then t[0] = 1                -- not a positive index
    elseif odd == 4 then t[1.5] = 1
    end
  else
    for _ = 1, n do t[self:string()] = self:value(depth + 1, parents) end
    local odd = self:byte()
    if odd == 1 then t[1] = 1
    elseif odd == 2 then t[true] = 1
    end
  end
  parents[#parents] = nil
  return t
end

-- ---- the model: does `v` have a JSON form? -----------------------------------

local function valid_utf8(s)
  return utf8.len(s) ~= nil
end

-- nil when v encodes, else a word naming the problem.
local function problem(v, depth, path, max_depth)
  local t = type(v)
  if t == "string" then return not valid_utf8(v) and "utf8" or nil end
  if t == "number" then return (v ~= v or v == math.huge or v == -math.huge) and "number" or nil end
  if t == "boolean" or v == null then return nil end
  if t ~= "table" then return t end
  if path[v] then return "cycle" end
  if depth > max_depth then return "depth" end
  path[v] = true
  local mt = getmetatable(v)
  local nstr, nnum, n, max = 0, 0, 0, 0
  for k in pairs(v) do
    n = n + 1
    if type(k) == "string" then
      nstr = nstr + 1
      if not valid_utf8(k) then path[v] = nil return "utf8 key" end
    elseif math.type(k) == "integer" and k >= 1 then
      nnum = nnum + 1
      if k > max then max = k end
    else
      path[v] = nil
      return "key"
    end
  end
  local why
  if mt == OBJ and nnum > 0 then why = "marked object"
  elseif mt == ARR and nstr > 0 then why = "marked array"
  elseif nstr > 0 and nnum > 0 then why = "mixed"
  elseif nnum > 0 and max ~= nnum then why = "sparse"
  end
  if not why then
    for _, x in pairs(v) do
      why = problem(x, depth + 1, path, max_depth)
      if why then break end
    end
  end
  path[v] = nil
  return why
end

-- ---- comparison ----------------------------------------------------------------

local function same(a, b, where)
  if a == null then
    if b ~= cjson.null then fail("%s: null came back as %s", where, tostring(b)) end
    return
  end
  local ta = type(a)
  if ta == "number" then
    -- lua-cjson reads every number as a double.
    if type(b) ~= "number" or b ~= a + 0.0 then
      fail("%s: number %s came back as %s", where, string.format("%.17g", a), tostring(b))
    end
    return
  end
  if ta ~= "table" then
    if a ~= b then fail("%s: %q came back as %q", where, tostring(a), tostring(b)) end
    return
  end
  if type(b) ~= "table" then fail("%s: a table came back as %s", where, type(b)) end
  local na, nb = 0, 0
  for k, x in pairs(a) do
    na = na + 1
    same(x, b[k], where .. "." .. tostring(k))
  end
  for _ in pairs(b) do nb = nb + 1 end
  if na ~= nb then fail("%s: %d entries came back as %d", where, na, nb) end
end

-- Converted keys differ from the originals; compare the shape only.
local function same_shape(a, b, where)
  if type(a) == "table" and a ~= null then
    if type(b) ~= "table" then fail("%s: table came back as %s", where, type(b)) end
    return
  end
  if a == null then a = cjson.null end
  if type(a) ~= type(b) then fail("%s: %s came back as %s", where, type(a), type(b)) end
end

local function check_error(msg, why)
  if type(msg) ~= "string" or not msg:find("^cannot encode ") then
    fail("encoding a value with a %s problem raised %s", why, tostring(msg))
  end
end

local function check_mode(v, opts, max_depth, exact)
  local why = problem(v, 1, {}, max_depth)
  local ok, out = pcall(encode, v, opts)
  if why then
    if ok then fail("a value with a %s problem encoded as %s", why, out:sub(1, 200)) end
    check_error(out, why)
    return
  end
  if not ok then fail("a valid value failed to encode: %s", tostring(out)) end
  local dok, back = pcall(cjson.decode, out)
  if not dok then fail("output is not JSON (%s): %s", tostring(back), out:sub(1, 200)) end
  if exact then same(v, back, "value") else same_shape(v, back, "value") end
end

return function(input)
  local g = gen_new(input)
  local sel = g:byte()
  local max_depth, opts_extra
  if sel % 4 == 1 then
    max_depth = g:byte() * 4 % 1000 + 1
    opts_extra = max_depth
  elseif sel % 4 == 2 and sel >= 128 then
    -- Bad options must raise a clear argument error.
    local bad = ({ 0, 1001, "deep", -1, 0 / 0 })[sel % 5 + 1]
    local ok, msg = pcall(encode, {}, { max_depth = bad })
    if ok or not tostring(msg):find("bad argument #2", 1, true) then
      fail("max_depth = %s was accepted or unclear: %s", tostring(bad), tostring(msg))
    end
    local ok2, msg2 = pcall(encode, {}, { convert_keys = "yes" })
    if ok2 or not tostring(msg2):find("bad argument #2", 1, true) then
      fail("convert_keys = 'yes' was accepted or unclear: %s", tostring(msg2))
    end
  end
  max_depth = max_depth or 200
  local v = g:value(0, {})
  check_mode(v, { convert_keys = false, max_depth = opts_extra }, max_depth, true)
  check_mode(v, { max_depth = opts_extra, root = "request" }, max_depth, false)
end
