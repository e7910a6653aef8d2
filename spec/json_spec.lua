-- core.json_encode and its markers (src/json.c), with the key rules that
-- gemini.json hands it (lua/gemini/keys.lua)
local core = require("gemini.core")
local cjson = require("cjson")
require("gemini.json")

local encode = core.json_encode
local OBJ, ARR = core.json_object_mt, core.json_array_mt

local function obj(t) return setmetatable(t or {}, OBJ) end
local function arr(t) return setmetatable(t or {}, ARR) end

-- Encodes and decodes back (key order is not part of the contract).
local function roundtrip(v, opts) return cjson.decode(encode(v, opts)) end

-- Asserts that encoding fails with exactly `msg`.
local function fails(msg, v, opts)
  local ok, err = pcall(encode, v, opts)
  assert.is_false(ok, "expected an error: " .. msg)
  assert.equal(msg, err)
end

local has_integers = math.type ~= nil

describe("json_encode", function()
  describe("module values", function()
    it("exposes json_null as the same value as cjson.null", function()
      assert.equal("userdata", type(core.json_null))
      assert.is_true(cjson.null == core.json_null)
      assert.equal("null", encode(core.json_null))
      assert.equal('{"a":null}', encode({ a = cjson.null }))
      assert.equal("[null,1]", encode({ core.json_null, 1 }))
    end)

    it("exposes two marker metatables", function()
      assert.equal("table", type(OBJ))
      assert.equal("table", type(ARR))
      assert.are_not.equal(OBJ, ARR)
    end)
  end)

  describe("scalars", function()
    it("encodes booleans, nil at the root and strings", function()
      assert.equal("true", encode(true))
      assert.equal("false", encode(false))
      assert.equal("null", encode(nil))
      assert.equal('"hi"', encode("hi"))
      assert.equal('""', encode(""))
    end)

    it("escapes quotes, backslashes and control characters, not '/'", function()
      assert.equal([["a\"b\\c/d"]], encode('a"b\\c/d'))
      assert.equal([["\b\f\n\r\t"]], encode("\b\f\n\r\t"))
      assert.equal([["\u0000\u0001\u001f\u000b"]], encode("\0\1\31\11"))
      assert.equal('"x\\u0000y"', encode("x\0y"))
      assert.equal('"\127"', encode("\127"))
    end)

    it("passes valid UTF-8 through raw", function()
      local s = "é ü ß — 日本語 😀 \244\143\191\191 \238\128\128 \239\191\189" -- U+10FFFF U+E000 U+FFFD
      assert.equal('"' .. s .. '"', encode(s))
    end)

    it("escapes correctly wherever the special byte sits in a long string", function()
      -- the encoder scans 8 bytes at a time: move specials across words
      for pos = 1, 20 do
        for _, sp in ipairs({ '"', "\\", "\n", "\0", "\31", "é", "😀" }) do
          local s = ("a"):rep(pos - 1) .. sp .. ("b"):rep(21 - pos)
          assert.equal(s, cjson.decode(encode(s)))
        end
      end
    end)

    it("round-trips random strings through cjson", function()
      local pieces = { "a", "Z", " ", "/", '"', "\\", "\n", "\r", "\t", "\0", "\1", "\31", "\127",
        "é", "ß", "日本", "😀", "€", "\244\143\191\191", "abcdefgh", "12345678" }
      math.randomseed(8259)
      for _ = 1, 300 do
        local t = {}
        for i = 1, math.random(0, 40) do t[i] = pieces[math.random(#pieces)] end
        local s = table.concat(t)
        assert.equal(s, cjson.decode(encode(s)))
      end
    end)
  end)

  describe("numbers", function()
    it("round-trips 0.1, 1e300 and friends exactly", function()
      for _, x in ipairs({ 0.1, 1e300, -1e300, 1 / 3, 2 ^ -1074, 1.7976931348623157e308,
                           123.456, -0.5, 5e-324, 0.30000000000000004, 1e21, 1e-7 }) do
        local s = encode(x)
        assert.equal(x, tonumber(s), s)
      end
      assert.equal("0.1", encode(0.1))
      assert.equal("1e+300", encode(1e300))
      assert.equal("0.30000000000000004", encode(0.30000000000000004))
    end)

    it("round-trips random doubles", function()
      math.randomseed(754)
      for _ = 1, 2000 do
        local x = (math.random() - 0.5) * 10 ^ math.random(-300, 300)
        local s = encode(x)
        assert.equal(x, tonumber(s), s)
        assert.is_nil(s:find(",", 1, true))
      end
    end)

    if has_integers then
      it("keeps integers integers and floats floats (5.3+)", function()
        assert.equal("1", encode(1))
        assert.equal("-42", encode(-42))
        assert.equal("0", encode(0))
        assert.equal(tostring(math.maxinteger), encode(math.maxinteger))
        assert.equal(tostring(math.mininteger), encode(math.mininteger))
        assert.equal("2.0", encode(2.0))
        assert.equal("-0.0", encode(-0.0))
        assert.equal("100.0", encode(100.0))
        assert.equal("9007199254740992.0", encode(2.0 ^ 53))
        assert.equal("1e+300", encode(1e300))
        assert.equal("[1,2.5,3.0]", encode({ 1, 2.5, 3.0 }))
        assert.equal("float", math.type(tonumber(encode(2.0))))
        assert.equal("integer", math.type(tonumber(encode(2))))
      end)
    else
      it("prints integral numbers without a fraction (5.1/LuaJIT)", function()
        assert.equal("1", encode(1))
        assert.equal("2", encode(2.0))
        assert.equal("-42", encode(-42))
        assert.equal("9007199254740992", encode(2 ^ 53))
        assert.equal("1e+300", encode(1e300))
        assert.equal("[1,2.5,3]", encode({ 1, 2.5, 3 }))
      end)
    end

    -- os.setlocale changes the process locale: find one with a ',' decimal
    -- point if the machine has any, and restore the old one right away.
    local comma_locale
    do
      local old = os.setlocale(nil, "numeric")
      for _, name in ipairs({ "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8" }) do
        if os.setlocale(name, "numeric") then comma_locale = name break end
      end
      os.setlocale(old, "numeric")
    end
    if comma_locale then
      it("uses '.' as decimal point whatever the locale", function()
        local old = os.setlocale(nil, "numeric")
        os.setlocale(comma_locale, "numeric")
        local ok, s = pcall(encode, { 0.5, 1e-10, 1 / 3 })
        os.setlocale(old, "numeric")
        assert.is_true(ok, s)
        assert.equal("[0.5,1e-10,0.3333333333333333]", s)
      end)
    else
      pending("uses '.' as decimal point whatever the locale (no ',' locale installed)")
    end
  end)

  describe("tables", function()
    it("encodes arrays (keys 1..n) and objects (string keys)", function()
      assert.equal("[1,2,3]", encode({ 1, 2, 3 }))
      assert.equal('[["a"],[[]]]', encode({ { "a" }, { arr() } }))
      assert.equal('{"a":1}', encode({ a = 1 }))
      assert.same({ a = { b = { 1, "x" } }, c = true }, roundtrip({ a = { b = { 1, "x" } }, c = true }))
    end)

    it("writes an empty plain table as {}", function()
      assert.equal("{}", encode({}))
      assert.equal('{"x":{}}', encode({ x = {} }))
      assert.equal("[{}]", encode({ {} }))
    end)

    it("obeys the marker metatables, empty or not", function()
      assert.equal("[]", encode(arr()))
      assert.equal("{}", encode(obj()))
      assert.equal("[1,2]", encode(arr({ 1, 2 })))
      assert.equal('{"a":1}', encode(obj({ a = 1 })))
      assert.equal('{"x":[]}', encode({ x = arr() }))
    end)

    it("writes [] for an empty known list field, after key conversion", function()
      assert.equal('{"stopSequences":[]}', encode({ stop_sequences = {} }))
      assert.equal('{"stopSequences":[]}', encode({ stopSequences = {} }))
      assert.equal('{"googleSearch":{}}', encode({ google_search = {} }))
      assert.equal('{"tools":[{"googleSearch":{}}]}', encode({ tools = { { google_search = {} } } }))
      local lists = { "contents", "parts", "tools", "function_declarations", "safety_settings",
        "stop_sequences", "required", "enum", "property_ordering", "response_modalities",
        "allowed_function_names", "any_of", "requests", "candidates", "history",
        "excluded_predefined_functions", "speaker_voice_configs", "details", "embeddings", "values" }
      for _, k in ipairs(lists) do
        local s = encode({ [k] = {} })
        assert.truthy(s:find(":%[%]}$"), k .. " -> " .. s)
      end
    end)

    it("lets the markers win over the known list rule", function()
      assert.equal('{"stopSequences":{}}', encode({ stop_sequences = obj() }))
      assert.equal('{"googleSearch":[]}', encode({ google_search = arr() }))
    end)

    it("allows the same table twice side by side (not a cycle)", function()
      local shared = { text = "x" }
      assert.equal('[{"text":"x"},{"text":"x"}]', encode({ shared, shared }))
    end)
  end)

  describe("errors name the path of the bad value", function()
    it("for NaN and infinities", function()
      fails("cannot encode value.a.b: NaN", { a = { b = 0 / 0 } })
      fails("cannot encode value[2]: inf", { 1, math.huge })
      fails("cannot encode value[1]: -inf", { -math.huge })
      fails("cannot encode value: NaN", 0 / 0)
    end)

    it("for functions, coroutines and userdata", function()
      fails("cannot encode value.f: function", { f = print })
      fails("cannot encode value.co: thread", { co = coroutine.create(function() end) })
      fails("cannot encode value[1]: userdata", { io.stdout })
      fails("cannot encode value: function", print)
    end)

    it("uses opts.root as the root name, and an empty root", function()
      local req = { contents = { { parts = { { text = "ok" }, { text = "bad\255" } } } } }
      fails("cannot encode request.contents[1].parts[2].text: invalid UTF-8 string", req, { root = "request" })
      fails("cannot encode value.contents[1].parts[2].text: invalid UTF-8 string", req)
      fails("cannot encode contents[1].parts[2].text: invalid UTF-8 string", req, { root = "" })
      fails("cannot encode [2]: NaN", { 1, 0 / 0 }, { root = "" })
    end)

    it("shows keys as written by the caller", function()
      fails("cannot encode value.generation_config.top_p: NaN", { generation_config = { top_p = 0 / 0 } })
    end)

    it("for cycles", function()
      local t = { a = {} }
      t.a.back = t
      fails("cannot encode value.a.back: cycle", t)
      local l = {}
      l[1] = l
      fails("cannot encode value[1]: cycle", l)
    end)

    it("for tables that are neither array nor object", function()
      fails("cannot encode value.t: table mixes array and object keys", { t = { 1, 2, x = 3 } })
      fails("cannot encode value: table mixes array and object keys", { [1] = "a", b = "c" })
      fails("cannot encode value: sparse array (holes in the indices)", { 1, nil, 3 })
      fails("cannot encode value: sparse array (holes in the indices)", { [2] = "x" })
      fails("cannot encode value: array index is not a positive integer", { [0] = "x" })
      fails("cannot encode value: array index is not a positive integer", { [1.5] = "x" })
      fails("cannot encode value: array index is not a positive integer", { [-1] = "x" })
      fails("cannot encode value.k: table has a boolean key", { k = { [true] = 1 } })
      fails("cannot encode value: table has a table key", { [{}] = 1 })
      fails("cannot encode value: object-marked table has a non-string key", obj({ 1 }))
      fails("cannot encode value: array-marked table has a string key", arr({ a = 1 }))
    end)

    it("for invalid UTF-8 of every kind", function()
      local bad = {
        "\128",                 -- lone continuation byte
        "a\191b",
        "\192\175",             -- overlong '/'
        "\193\191",
        "\224\128\175",         -- overlong 3-byte
        "\240\128\128\175",     -- overlong 4-byte
        "\237\160\128",         -- surrogate U+D800
        "\237\191\191",         -- surrogate U+DFFF
        "\244\144\128\128",     -- U+110000
        "\245\128\128\128",
        "\255",
        "\226\130",             -- truncated
        "\240\159\152",
        "\195",
        "\195A",                -- bad continuation
        "abcdefgh\226\130",     -- truncated after a clean word
      }
      for _, s in ipairs(bad) do
        fails("cannot encode value.s: invalid UTF-8 string", { s = s })
      end
      fails("cannot encode value.o: invalid UTF-8 in a key", { o = { ["k\255"] = 1 } })
    end)

    it("for nesting deeper than max_depth", function()
      local function nest(n)
        local t = {}
        for _ = 2, n do t = { t } end
        return t
      end
      assert.equal(("["):rep(199) .. "{}" .. ("]"):rep(199), encode(nest(200)))
      fails("cannot encode value" .. ("[1]"):rep(200) .. ": nesting deeper than 200", nest(201))
      fails("cannot encode value[1][1]: nesting deeper than 2", nest(3), { max_depth = 2 })
      assert.equal("[[{}]]", encode(nest(3), { max_depth = 3 }))
      assert.truthy(encode(nest(1000), { max_depth = 1000 }))
    end)

    it("for bad options", function()
      assert.has_error(function() encode({}, 5) end,
        "bad argument #2 to 'encode' (table expected, got number)")
      assert.has_error(function() encode({}, { convert_keys = "yes" }) end,
        "bad argument #2 to 'encode' (convert_keys must be a boolean)")
      assert.has_error(function() encode({}, { max_depth = 0 }) end,
        "bad argument #2 to 'encode' (max_depth must be a number in 1..1000)")
      assert.has_error(function() encode({}, { max_depth = 1001 }) end,
        "bad argument #2 to 'encode' (max_depth must be a number in 1..1000)")
      assert.has_error(function() encode({}, { root = 1 }) end,
        "bad argument #2 to 'encode' (root must be a string)")
      assert.has_error(function() encode() end,
        "bad argument #1 to 'encode' (value expected)")
    end)
  end)

  describe("key conversion", function()
    local function key(k) return encode({ [k] = 1 }):match('^{"(.*)":1}$') end

    it("turns snake_case into lowerCamelCase", function()
      assert.equal("maxOutputTokens", key("max_output_tokens"))
      assert.equal("responseJsonSchema", key("response_json_schema"))
      assert.equal("inlineData", key("inline_data"))
      assert.equal("mimeType", key("mime_type"))
      assert.equal("v2Model", key("v2_model"))
      assert.equal("aB", key("a__b"))
      assert.equal("model2", key("model_2"))
    end)

    it("leaves other keys alone", function()
      assert.equal("text", key("text"))
      assert.equal("maxOutputTokens", key("maxOutputTokens"))
      assert.equal("x", key("x"))
      assert.equal("_", key("_"))
      assert.equal("_private", key("_private"))
      assert.equal("_privateKey", key("_private_key"))
      assert.equal("__init", key("__init"))
      assert.equal("trailing_", key("trailing_"))
      assert.equal("AB", key("A_b"))
      assert.equal("Ü", key("Ü"))
    end)

    it("escapes converted keys like any string", function()
      assert.equal('{"aB\\"c":1}', encode({ ['a_b"c'] = 1 }))
      assert.equal('{"a\\n":1}', encode({ ["a\n"] = 1 }))
    end)

    -- One converter: the encoder's, which core.camel exposes and
    -- request.camel (the lookups of the Lua code) uses, so a key is checked
    -- under the very name it is sent as.
    it("has one converter: the encoder, core.camel and request.camel agree", function()
      local camel = require("gemini.request").camel
      local CASES = {
        { "a_b", "aB" }, { "a__b", "aB" }, { "a_1", "a1" }, { "a_B", "aB" },
        { "_a", "_a" }, { "__a", "__a" }, { "_a_b", "_aB" }, { "__a_b", "__aB" },
        { "a_", "a_" }, { "a__", "a__" }, { "_", "_" }, { "__", "__" },
        { "a_-b", "a-b" }, { "a_\195\169", "a\195\169" }, { "text", "text" },
      }
      for _, c in ipairs(CASES) do
        local k, want = c[1], c[2]
        assert.equal(want, key(k), "encoder: " .. k)
        assert.equal(want, core.camel(k), "core.camel: " .. k)
        assert.equal(want, camel(k), "request.camel: " .. k)
      end
      assert.equal(42, camel(42))
      local ok, msg = pcall(core.camel, 42)
      assert.is_false(ok)
      assert.matches("bad argument #1 to '[^']*' %(string expected, got number%)", msg)
    end)

    it("does nothing with convert_keys = false", function()
      assert.same({ max_output_tokens = 1, stop_sequences = {}, args = { user_id = 1 } },
        roundtrip({ max_output_tokens = 1, stop_sequences = {}, args = { user_id = 1 } },
          { convert_keys = false }))
      assert.equal('{"stop_sequences":{}}', encode({ stop_sequences = {} }, { convert_keys = false }))
    end)
  end)

  describe("user data keys are never rewritten", function()
    it("keeps functionCall args verbatim", function()
      local got = roundtrip({ contents = { { role = "model", parts = { {
        function_call = { name = "lookup", args = { user_id = 7, nested_map = { some_key = {} } } } } } } } })
      assert.same({ contents = { { role = "model", parts = { {
        functionCall = { name = "lookup", args = { user_id = 7, nested_map = { some_key = {} } } } } } } } }, got)
      assert.equal('{"args":{"contents":{}}}', encode({ args = { contents = {} } }))
    end)

    it("keeps functionResponse.response verbatim, but converts its siblings", function()
      local got = roundtrip({ function_response = { name = "lookup", will_continue = false,
        response = { user_name = "ann", the_list = { 1, 2 } } } })
      assert.same({ functionResponse = { name = "lookup", willContinue = false,
        response = { user_name = "ann", the_list = { 1, 2 } } } }, got)
      local s = encode({ functionResponse = { response = { max_tokens = 1 } } })
      assert.equal('{"functionResponse":{"response":{"max_tokens":1}}}', s)
    end)

    it("converts a FunctionDeclaration's response schema", function()
      local got = roundtrip({ tools = { { function_declarations = { {
        name = "get_user",
        parameters = { type = "OBJECT", properties = { user_id = { type = "STRING", max_length = 8 } },
                       required = { "user_id" }, property_ordering = { "user_id" } },
        response = { type = "OBJECT", properties = { full_name = { type = "STRING", min_length = 1 } } },
      } } } } })
      assert.same({ tools = { { functionDeclarations = { {
        name = "get_user",
        parameters = { type = "OBJECT", properties = { user_id = { type = "STRING", maxLength = 8 } },
                       required = { "user_id" }, propertyOrdering = { "user_id" } },
        response = { type = "OBJECT", properties = { full_name = { type = "STRING", minLength = 1 } } },
      } } } } }, got)
    end)

    it("keeps property names but converts each property's schema", function()
      local s = encode({ properties = { first_name = { min_length = 1 } } })
      assert.equal('{"properties":{"first_name":{"minLength":1}}}', s)
      assert.same({ properties = { first_name = { type = "STRING", minLength = 1 } } },
        roundtrip({ properties = { first_name = { type = "STRING", min_length = 1 } } }))
      -- property names that happen to be rule keys mean nothing there
      local got = roundtrip({ response_schema = { type = "OBJECT", properties = {
        args = { type = "OBJECT", properties = { inner_key = { type = "STRING" } } },
        parts = {},
        enum = { type = "STRING", enum = { "a_b", "c_d" } },
      } } })
      assert.same({ responseSchema = { type = "OBJECT", properties = {
        args = { type = "OBJECT", properties = { inner_key = { type = "STRING" } } },
        parts = {},
        enum = { type = "STRING", enum = { "a_b", "c_d" } },
      } } }, got)
      assert.equal('{"properties":{"parts":{}}}', encode({ properties = { parts = {} } }))
    end)

    it("keeps labels, metadata, example, default and enum verbatim", function()
      local got = roundtrip({ labels = { cost_center = "x", team_name = "y" },
        metadata = { my_key = { deep_key = 1 } },
        response_schema = { type = "OBJECT", example = { some_field = 1 }, default = { other_field = 2 },
                            nullable = true, any_of = { { type = "STRING", max_length = 3 } } } })
      assert.same({ labels = { cost_center = "x", team_name = "y" },
        metadata = { my_key = { deep_key = 1 } },
        responseSchema = { type = "OBJECT", example = { some_field = 1 }, default = { other_field = 2 },
                           nullable = true, anyOf = { { type = "STRING", maxLength = 3 } } } }, got)
      assert.equal('{"enum":[]}', encode({ enum = {} }))
    end)

    it("keeps JSON Schema documents verbatim", function()
      local schema = { type = "object", additionalProperties = false,
        properties = { first_name = { type = "string", min_length = 1, ["$ref"] = "#/$defs/x_y" } },
        ["$defs"] = { x_y = { type = "string" } }, required = {} }
      local got = roundtrip({ generation_config = { response_mime_type = "application/json",
        response_json_schema = schema } })
      assert.same({ generationConfig = { responseMimeType = "application/json",
        responseJsonSchema = schema } }, got)
      assert.equal('{"responseJsonSchema":{"required":{}}}', encode({ responseJsonSchema = { required = {} } }))
      got = roundtrip({ tools = { { function_declarations = { { name = "f",
        parameters_json_schema = { type = "object", properties = { snake_name = { min_items = 1 } } } } } } } })
      assert.same({ tools = { { functionDeclarations = { { name = "f",
        parametersJsonSchema = { type = "object", properties = { snake_name = { min_items = 1 } } } } } } } }, got)
    end)
  end)

  describe("key rules are Lua's (lua/gemini/keys.lua)", function()
    local keys = require("gemini.keys")

    -- Runs f with `rules` as the encoder's, then gives it gemini.keys back.
    local function with_rules(rules, f)
      core.json_key_rules(rules)
      local ok, err = pcall(f)
      core.json_key_rules(keys)
      assert(ok, err)
    end

    it("a new field needs a line in gemini.keys, not a C rebuild", function()
      local rules = {}
      for k, v in pairs(keys) do rules[k] = v end
      rules.toolState = "verbatim"
      rules.pastTurns = "list"
      rules.userVars = "map"
      with_rules(rules, function()
        assert.equal('{"toolState":{"a_b":{"c_d":1}}}', encode({ tool_state = { a_b = { c_d = 1 } } }))
        assert.equal('{"pastTurns":[]}', encode({ past_turns = {} }))
        assert.equal('{"userVars":{"my_var":{"maxLength":2}}}',
          encode({ user_vars = { my_var = { max_length = 2 } } }))
        assert.equal('{"args":{"a_b":1}}', encode({ args = { a_b = 1 } }))
      end)
      assert.equal('{"toolState":{"aB":{"cD":1}}}', encode({ tool_state = { a_b = { c_d = 1 } } }))
    end)

    it("replaces the rules as a whole", function()
      with_rules({ functionResponse = "function_response", result = "tool_result" }, function()
        assert.equal('{"args":{"aB":1}}', encode({ args = { a_b = 1 } }))
        assert.same({ functionResponse = { result = { a_b = 1 }, response = { aB = 1 } } },
          roundtrip({ function_response = { result = { a_b = 1 }, response = { a_b = 1 } } }))
      end)
      assert.equal('{"args":{"a_b":1}}', encode({ args = { a_b = 1 } }))
    end)

    it("refuses a rule it cannot read", function()
      local function refused(rules, want)
        local ok, msg = pcall(core.json_key_rules, rules)
        assert.is_false(ok)
        assert.equal(want, msg:match("^bad argument #1 to '[^']*' %((.*)%)$"))
      end
      refused({ enum = "list verbtim" }, "unknown word in the rule of 'enum': 'list verbtim'")
      refused({ enum = true }, "field names and rules must be strings")
      refused({ "list" }, "field names and rules must be strings")
      -- the rules in force are untouched by a refused table
      assert.equal('{"args":{"a_b":1}}', encode({ args = { a_b = 1 } }))
    end)
  end)

  it("encodes a rich request that cjson decodes back as expected", function()
    local request = {
      contents = {
        { role = "user", parts = {
          { text = "Describe this image, \"please\".\nThanks — é 日本 😀" },
          { inline_data = { mime_type = "image/png", data = core.b64encode("\137PNG\r\n\26\n") } },
        } },
        { role = "model", parts = { { function_call = { name = "get_weather", args = { city_name = "Paris", days = 3 } } } } },
        { role = "user", parts = { { function_response = { name = "get_weather",
          response = { temp_c = 21.5, sky = cjson.null, hourly_list = { 1, 2, 3 } } } } } },
      },
      system_instruction = { parts = { { text = "Be brief." } } },
      generation_config = { temperature = 0.7, top_p = 0.95, top_k = 40, max_output_tokens = 1024,
        candidate_count = 1, stop_sequences = {}, response_modalities = { "TEXT" },
        thinking_config = { thinking_budget = 0, include_thoughts = false } },
      safety_settings = { { category = "HARM_CATEGORY_HATE_SPEECH", threshold = "BLOCK_NONE" } },
      tools = { { google_search = {} }, { code_execution = {} } },
      tool_config = { function_calling_config = { mode = "ANY", allowed_function_names = { "get_weather" } } },
      labels = { my_label = "v" },
      cached_content = "cachedContents/abc",
    }
    local got = roundtrip(request, { root = "request" })
    assert.same({
      contents = {
        { role = "user", parts = {
          { text = "Describe this image, \"please\".\nThanks — é 日本 😀" },
          { inlineData = { mimeType = "image/png", data = "iVBORw0KGgo=" } },
        } },
        { role = "model", parts = { { functionCall = { name = "get_weather", args = { city_name = "Paris", days = 3 } } } } },
        { role = "user", parts = { { functionResponse = { name = "get_weather",
          response = { temp_c = 21.5, sky = cjson.null, hourly_list = { 1, 2, 3 } } } } } },
      },
      systemInstruction = { parts = { { text = "Be brief." } } },
      generationConfig = { temperature = 0.7, topP = 0.95, topK = 40, maxOutputTokens = 1024,
        candidateCount = 1, stopSequences = {}, responseModalities = { "TEXT" },
        thinkingConfig = { thinkingBudget = 0, includeThoughts = false } },
      safetySettings = { { category = "HARM_CATEGORY_HATE_SPEECH", threshold = "BLOCK_NONE" } },
      tools = { { googleSearch = {} }, { codeExecution = {} } },
      toolConfig = { functionCallingConfig = { mode = "ANY", allowedFunctionNames = { "get_weather" } } },
      labels = { my_label = "v" },
      cachedContent = "cachedContents/abc",
    }, got)
    local s = encode(request)
    assert.truthy(s:find('"stopSequences":[]', 1, true))
    assert.truthy(s:find('"googleSearch":{}', 1, true))
  end)

  -- (How fast, next to cjson.encode, is measured by bench/encode.lua.)
  it("encodes a 1,000-turn history to the same JSON value as cjson.encode", function()
    math.randomseed(1000)
    local words = { "the", "model", "answer", "Gemini", "streaming", "function", "JSON", "a", "of",
      "to", "and", "token", "request", "with", "\"quoted\"", "é", "日本語", "line\n" }
    local contents = {}
    for i = 1, 1000 do
      local t = {}
      for j = 1, math.random(20, 120) do t[j] = words[math.random(#words)] end
      local parts = { { text = table.concat(t, " ") } }
      if i % 10 == 0 then parts[2] = { functionCall = { name = "f", args = { city = "Paris", n = 3 } } } end
      contents[i] = { role = i % 2 == 1 and "user" or "model", parts = parts }
    end
    local req = { contents = contents, generationConfig = { temperature = 0.7, maxOutputTokens = 1024 } }
    assert.same(cjson.decode(cjson.encode(req)), cjson.decode(encode(req)))
  end)
end)

-- The converter as the client uses it, through the real HTTP stack: the
-- config check (gemini.request) sees a key under the name the encoder
-- sends it by.
describe("a request's keys, checked under the name they are sent as", function()
  local mock = require("support.mock")
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each,
                        key = "json-spec-key-5c1e" }

  it("refuses two spellings of one field that the encoder sends alike, sending nothing", function()
    local client = m:client{ retry = false }
    -- "top_-k" goes out as "top-k": both would reach the server as one
    -- field given twice.
    local ok, msg = pcall(client.models.generate_content, client.models, { model = "gemini-2.5-flash",
      contents = "Hi", config = { ["top_-k"] = 1, ["top-k"] = 2 } })
    assert.is_false(ok)
    assert.matches("bad field 'top-k' to 'generate_content' (given twice: as config.", msg, 1, true)
    assert.equal(0, #m:log())
  end)
end)
