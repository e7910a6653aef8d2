-- core.json_decode (src/json_decode.c): JSON text -> Lua value, never a
-- raise on bad text.
local core = require("gemini.core")

local decode = core.json_decode
local null, OBJ, ARR = core.json_null, core.json_object_mt, core.json_array_mt
local has_integers = math.type ~= nil

local function verbatim(v) return core.json_encode(v, { convert_keys = false }) end

-- Asserts that decoding `text` fails with exactly `msg`.
local function fails(msg, text)
  local v, err = decode(text)
  assert.is_nil(v, "expected an error for " .. text)
  assert.equal(msg, err)
end

describe("json_decode", function()
  describe("numbers", function()
    if has_integers then
      it("makes integer tokens integers and the rest floats (5.3+)", function()
        local v = decode('{"totalTokenCount":38,"n":-7,"z":0,"f":2.5,"e":1e3,"g":2.0,"E":5E-1}')
        assert.equal("integer", math.type(v.totalTokenCount))
        assert.equal("38", tostring(v.totalTokenCount))
        assert.equal("integer", math.type(v.n))
        assert.equal(-7, v.n)
        assert.equal("integer", math.type(v.z))
        assert.equal("float", math.type(v.f))
        assert.equal("float", math.type(v.e))
        assert.equal("1000.0", tostring(v.e))
        assert.equal("float", math.type(v.g))
        assert.equal(0.5, v.E)
      end)

      it("keeps the lua_Integer range and goes to floats past it", function()
        assert.equal(math.maxinteger, decode("9223372036854775807"))
        assert.equal("integer", math.type(decode("9223372036854775807")))
        assert.equal(math.mininteger, decode("-9223372036854775808"))
        assert.equal("integer", math.type(decode("-9223372036854775808")))
        assert.equal("float", math.type(decode("9223372036854775808")))
        assert.equal(2.0 ^ 63, decode("9223372036854775808"))
        assert.equal(-(2.0 ^ 63) - 2048, decode("-9223372036854777856"))
        assert.equal(1e20, decode("100000000000000000000"))
        assert.equal("float", math.type(decode("100000000000000000000")))
      end)

      it("sends integers back as integers", function()
        assert.equal('{"n":3,"f":1.5}', verbatim(decode('{"n":3,"f":1.5}')):gsub('^{"f":1.5,"n":3}$', '{"n":3,"f":1.5}'))
        assert.equal("[3,-1,0,2.0]", verbatim(decode("[3,-1,0,2.0]")))
      end)
    else
      it("makes every number a double (5.1/LuaJIT)", function()
        assert.equal(38, decode("38"))
        assert.equal("38", tostring(decode("38")))
        assert.equal(2 ^ 53, decode("9007199254740992"))
        assert.equal(2 ^ 63, decode("9223372036854775808"))
        assert.equal("[3,-1,0,2]", verbatim(decode("[3,-1,0,2.0]")))
      end)
    end

    it("keeps the sign of -0", function()
      local z = decode("-0")
      assert.equal(0, z)
      assert.equal(-math.huge, 1 / z)
      assert.equal(-math.huge, 1 / decode("-0.0"))
    end)

    it("reads decimals to the nearest double, like tonumber", function()
      local list = { "0.1", "0.2", "0.30000000000000004", "3.14159", "-1.5e-7", "1e308",
        "1.7976931348623157e308", "2.2250738585072014e-308", "5e-324", "4.9406564584124654e-324",
        "123456789012345678", "1234567890123456789", "12345678901234567890",
        "0.12345678901234567890123", "9007199254740993", "9007199254740993.0", "1e22", "1e23",
        "8.589973e9", "-0.0000001", "1E+2", "1e-0", "0.5e1", "100e-2", "-12.5E-3",
        "179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000"
          .. "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
          .. "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
          .. "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0." .. ("0"):rep(400) .. "1e400" }
      for _, s in ipairs(list) do
        assert.equal(tonumber(s), decode(s), s)
      end
      math.randomseed(3120)
      for _ = 1, 3000 do
        local s = string.format("%." .. math.random(1, 20) .. "g", (math.random() - 0.5) * 10 ^ math.random(-320, 310))
        if not s:find("[.e]") then s = s .. ".0" end
        assert.equal(tonumber(s), decode(s), s)
      end
    end)

    it("takes numbers past the double range as infinities and zeros", function()
      assert.equal(math.huge, decode("1e400"))
      assert.equal(-math.huge, decode("-1e99999999999999999999"))
      assert.equal(0, decode("1e-400"))
    end)
  end)

  describe("strings", function()
    it("decodes every escape", function()
      assert.equal('"\\/\b\f\n\r\t', decode([["\"\\\/\b\f\n\r\t"]]))
      assert.equal("é€😀\0\31", decode([["\u00e9\u20AC\ud83d\ude00\u0000\u001f"]]))
      assert.equal("key", next(decode([[{"k\u0065y":1}]])))
      assert.equal("a\\", decode([["a\\"]]))
      assert.equal('\\"', decode([["\\\""]]))
    end)

    it("finds escapes wherever they sit in a long string", function()
      for pos = 1, 20 do
        for _, esc in ipairs({ { '\\"', '"' }, { "\\\\", "\\" }, { "\\n", "\n" }, { "\\u00e9", "é" } }) do
          local body = ("a"):rep(pos - 1) .. esc[1] .. ("b"):rep(21 - pos)
          assert.equal(("a"):rep(pos - 1) .. esc[2] .. ("b"):rep(21 - pos), decode('"' .. body .. '"'))
        end
      end
    end)

    it("makes a lone surrogate U+FFFD, which encodes back", function()
      assert.equal("\239\191\189", decode([["\ud800"]]))
      assert.equal("\239\191\189x", decode([["\ud800x"]]))
      assert.equal("\239\191\189\239\191\189", decode([["\udbff\ud800"]]))
      assert.equal("\239\191\189", decode([["\udc00"]]))
      assert.equal("\239\191\189A", decode([["\ud800\u0041"]]))
      assert.equal('"\239\191\189"', verbatim(decode([["\ud800"]])))
    end)

    it("passes bytes through as they are: invalid UTF-8, raw control characters", function()
      assert.equal("\255\192x", decode('"\255\192x"'))
      assert.equal("a\tb\nc\0d", decode('"a\tb\nc\0d"'))
      assert.equal("\237\160\128", decode('"\237\160\128"'))
    end)
  end)

  describe("structure", function()
    it("marks empty arrays and objects so they encode back exactly", function()
      local v = decode('{"args":{"list":[],"opts":{}},"parts":[{"text":"x"}]}')
      assert.equal(ARR, getmetatable(v.args.list))
      assert.equal(OBJ, getmetatable(v.args.opts))
      assert.is_nil(getmetatable(v))
      assert.is_nil(getmetatable(v.parts))
      assert.equal('{"list":[],"opts":{}}', verbatim(v.args):gsub('^{"opts":{},"list":%[%]}$', '{"list":[],"opts":{}}'))
      assert.equal("[[],{},[[]],[{}]]", verbatim(decode("[[],{},[[]],[{}]]")))
      assert.equal("[]", verbatim(decode(" [ ] ")))
      assert.equal("{}", verbatim(decode(" { } ")))
    end)

    it("decodes null as json_null, booleans, and nested values", function()
      local v = decode(' {"a" : [ 1 , null , true , false , "s" ] , "b" : { "c" : null } } ')
      assert.same({ 1, null, true, false, "s" }, v.a)
      assert.equal(null, v.b.c)
      assert.equal(null, decode("null"))
      assert.is_true(decode("true"))
      assert.is_false(decode("false"))
      assert.equal("x", decode('"x"'))
    end)

    it("keeps the last of duplicate keys", function()
      assert.equal(2, decode('{"a":1,"a":2}').a)
    end)

    it("takes 200 levels of nesting and refuses 201, however deep the text", function()
      assert.equal("table", type(decode(("["):rep(200) .. ("]"):rep(200))))
      fails("nested too deep (more than 200 levels) at byte 201", ("["):rep(201) .. ("]"):rep(201))
      fails("nested too deep (more than 200 levels) at byte 1001",
        ('{"a":'):rep(1000000) .. "0" .. ("}"):rep(1000000))
      fails("nested too deep (more than 200 levels) at byte 201", ("["):rep(1000000))
    end)

    it("decodes a 1 MB answer the same as lua-cjson, apart from the markers", function()
      local cjson = require("cjson")
      local parts = {}
      for i = 1, 5000 do
        parts[i] = string.format('{"text":"line %d \\"quoted\\" caf\\u00e9\\n","n":%d,"x":%.17g}', i, i, i / 7)
      end
      local text = '{"candidates":[{"content":{"parts":[' .. table.concat(parts, ",") .. ']}}]}'
      assert.same(cjson.decode(text), decode(text))
    end)
  end)

  describe("errors", function()
    it("says what and where, never raising", function()
      local cases = {
        { "", "unexpected end of input at byte 1" },
        { "   ", "unexpected end of input at byte 4" },
        { "[1,2", "unexpected end of input at byte 5" },
        { '{"a":', "unexpected end of input at byte 6" },
        { '{"a"', "unexpected end of input at byte 5" },
        { "[1,]", "expected a value at byte 4" },
        { '{"a":1,}', "expected a string key in object at byte 8" },
        { "{a:1}", "expected a string key in object at byte 2" },
        { '{"a" 1}', "expected ':' after a key in object at byte 6" },
        { "[1 2]", "expected ',' or ']' in array at byte 4" },
        { '{"a":1 "b":2}', "expected ',' or '}' in object at byte 8" },
        { "1 2", "unexpected text after the value at byte 3" },
        { '{"a":1}}', "unexpected text after the value at byte 8" },
        { "0x10", "unexpected text after the value at byte 2" },
        { "\239\187\191{}", "unexpected byte order mark at byte 1" },
        { "NaN", "expected a value at byte 1" },
        { "[Infinity]", "expected a value at byte 2" },
        { "-Infinity", "invalid number at byte 1" },
        { "01", "invalid number (leading zero) at byte 1" },
        { "[-01]", "invalid number (leading zero) at byte 2" },
        { "1.", "invalid number at byte 1" },
        { ".5", "expected a value at byte 1" },
        { "1e", "invalid number at byte 1" },
        { "1e+", "invalid number at byte 1" },
        { "-", "invalid number at byte 1" },
        { "+1", "expected a value at byte 1" },
        { "tru", "expected a value at byte 1" },
        { "nulL", "expected a value at byte 1" },
        { '"abc', "unterminated string at byte 1" },
        { '["ab\\"]', "unterminated string at byte 2" },
        { '"\\x"', "invalid escape in string at byte 2" },
        { '"ab\\u12"', "invalid \\u escape in string at byte 4" },
        { '"\\u12G4"', "invalid \\u escape in string at byte 2" },
        { "'a'", "expected a value at byte 1" },
        { "\0", "expected a value at byte 1" },
      }
      for _, c in ipairs(cases) do fails(c[2], c[1]) end
    end)

    it("survives random bytes and every cut of a valid text", function()
      local text = '{"candidates":[{"content":{"parts":[{"text":"h\\u00e9\\n\\ud83d\\ude00"}],'
        .. '"role":"model"},"index":0,"x":[1.5e-3,-0,true,false,null,{}]}],"usage":{"n":38}}'
      assert.equal("table", type(decode(text)))
      for i = 0, #text - 1 do
        local v, err = decode(text:sub(1, i))
        assert.is_nil(v)
        assert.matches(" at byte %d+$", err)
      end
      math.randomseed(99)
      local alphabet = '{}[]:,"\\ntrufalse0123456789.eE+-u\255\0 '
      for _ = 1, 5000 do
        local t = {}
        for j = 1, math.random(0, 30) do
          local k = math.random(#alphabet)
          t[j] = alphabet:sub(k, k)
        end
        local s = table.concat(t)
        local ok, v, err = pcall(decode, s)
        assert.is_true(ok, s)
        assert.is_true(v ~= nil or type(err) == "string", s)
      end
    end)

    it("raises for a non-string argument, a programmer error", function()
      local ok, err = pcall(decode, nil)
      assert.is_false(ok)
      assert.matches("^bad argument #1 to '[%w_.?]+' %(string expected, got nil%)$", err)
    end)
  end)
end)
