-- gemini.schema: what each builder emits, every build-time error, and JSON
-- mode end to end through the real HTTP stack against the mock
-- (response_schema / response_json_schema on the wire, res.parsed).
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "test-key-schema-90c2"
local S = gemini.schema

describe("gemini.schema", function()
  describe("builders", function()
    it("emit upper-case types and camelCase keys", function()
      assert.same({ type = "STRING", enum = { "a", "b" }, format = "enum", description = "d",
                    nullable = true, minLength = 1, maxLength = 5, pattern = "^[ab]+$" },
        S.string{ enum = { "a", "b" }, format = "enum", description = "d", nullable = true,
                  min_length = 1, max_length = 5, pattern = "^[ab]+$" })
      assert.same({ type = "NUMBER", minimum = 0.5, maximum = 2, format = "double" },
        S.number{ minimum = 0.5, maximum = 2, format = "double" })
      assert.same({ type = "INTEGER", minimum = 0, maximum = 10 }, S.integer{ minimum = 0, maximum = 10 })
      assert.same({ type = "BOOLEAN", title = "flag", example = true, default = false },
        S.boolean{ title = "flag", example = true, default = false })
      assert.same({ type = "ARRAY", items = { type = "STRING" }, minItems = 1, maxItems = 3 },
        S.array(S.string(), { min_items = 1, max_items = 3 }))
      assert.same({ anyOf = { { type = "STRING" }, { type = "INTEGER" } }, nullable = true },
        S.any_of({ S.string(), S.integer() }, { nullable = true }))
      assert.same({ type = "STRING", enum = { "x" }, format = "enum" }, S.enum{ "x" })
      -- camelCase options work too
      assert.same({ type = "ARRAY", items = { type = "BOOLEAN" }, minItems = 2 },
        S.array(S.boolean(), { minItems = 2 }))
    end)

    it("object keeps property order and names as written", function()
      local o = S.object({
        { "zeta", S.string() }, { "alpha_beta", S.integer() }, { "Mixed Case", S.boolean() },
      }, { required = { "zeta", "Mixed Case" }, description = "thing" })
      assert.same({ "zeta", "alpha_beta", "Mixed Case" }, o.propertyOrdering)
      assert.same({ "zeta", "Mixed Case" }, o.required)
      assert.equal("OBJECT", o.type)
      assert.equal("thing", o.description)
      assert.same({ type = "INTEGER" }, o.properties.alpha_beta)
      local json = require("gemini.json").encode(o)
      assert.truthy(json:find('"propertyOrdering":["zeta","alpha_beta","Mixed Case"]', 1, true))
      assert.truthy(json:find('"alpha_beta":{"type":"INTEGER"}', 1, true))  -- not alphaBeta
      -- no required -> no field; empty object -> properties {}
      assert.is_nil(S.object({ { "a", S.string() } }).required)
      local empty = require("gemini.json").encode(S.object({}))
      assert.truthy(empty:find('"properties":{}', 1, true))
      assert.is_nil(empty:find("propertyOrdering", 1, true))
    end)

    it("nests", function()
      local person = S.object({ { "name", S.string() }, { "age", S.integer{ minimum = 0 } } }, { required = { "name" } })
      local list = S.array(person, { max_items = 10, nullable = true })
      assert.equal(person, list.items)
      assert.same({ "name", "age" }, list.items.propertyOrdering)
    end)

    it("reject wrong schemas at build time, naming the option", function()
      assert.has_error(function() S.string{ enums = { "a" } } end,
        "bad field 'enums' to 'schema.string' (unknown option; known: default, description, enum, example,"
        .. " format, max_length, min_length, nullable, pattern, title)")
      assert.has_error(function() S.string{ enum = { 1, 2 } } end,
        "bad field 'enum' to 'schema.string' (item 1: string expected, got number)")
      assert.has_error(function() S.string{ enum = {} } end,
        "bad field 'enum' to 'schema.string' (non-empty list of strings expected, got table)")
      assert.has_error(function() S.string{ enum = { "a", "a" } } end,
        "bad field 'enum' to 'schema.string' (duplicate value \"a\")")
      assert.has_error(function() S.string{ description = 5 } end,
        "bad field 'description' to 'schema.string' (string expected, got number)")
      assert.has_error(function() S.string{ nullable = "yes" } end,
        "bad field 'nullable' to 'schema.string' (boolean expected, got string)")
      assert.has_error(function() S.string{ min_length = -1 } end,
        "bad field 'min_length' to 'schema.string' (non-negative integer expected, got -1)")
      assert.has_error(function() S.string{ min_length = 5, max_length = 2 } end,
        "bad field 'minLength' to 'schema.string' (minLength (5) is greater than maxLength (2))")
      assert.has_error(function() S.integer{ minimum = 5, maximum = 1 } end,
        "bad field 'minimum' to 'schema.integer' (minimum (5) is greater than maximum (1))")
      assert.has_error(function() S.integer{ minimum = 0.5 } end,
        "bad field 'minimum' to 'schema.integer' (integer expected, got 0.5)")
      assert.has_error(function() S.number{ maximum = "10" } end,
        "bad field 'maximum' to 'schema.number' (number expected, got string)")
      assert.has_error(function() S.boolean{ enum = { "true" } } end,
        "bad field 'enum' to 'schema.boolean' (unknown option; known: default, description, example,"
        .. " nullable, title)")
      assert.has_error(function() S.array() end,
        "bad argument #1 (items) to 'schema.array' (a schema expected, got no value)")
      assert.has_error(function() S.array({}) end,
        "bad argument #1 (items) to 'schema.array' (a schema expected, got a table without 'type' or"
        .. " 'anyOf')")
      assert.has_error(function() S.array(S.string(), { min_items = 3, max_items = 1 }) end,
        "bad field 'minItems' to 'schema.array' (minItems (3) is greater than maxItems (1))")
      assert.has_error(function() S.array(S.string(), { min_items = 1.5 }) end,
        "bad field 'min_items' to 'schema.array' (non-negative integer expected, got 1.5)")
      assert.has_error(function() S.string("x") end,
        "bad argument to 'schema.string' (options table expected, got string)")
      -- (either spelling may be named: whichever pairs() meets first)
      assert.error_matches(function() S.string{ min_length = 1, minLength = 2 } end,
        "^bad field 'min_?[lL]ength' to 'schema.string' %(given twice %(snake_case and camelCase%)%)$")
    end)

    it("reject wrong objects at build time", function()
      assert.has_error(function() S.object({ { "a", S.string() }, { "a", S.integer() } }) end,
        "bad property #2 to 'schema.object' (duplicate name \"a\")")
      assert.has_error(function() S.object({ { "a", S.string() } }, { required = { "b" } }) end,
        "bad field 'required' to 'schema.object' (\"b\" is not a property)")
      assert.has_error(function() S.object({ name = S.string() }) end,
        "bad argument #1 to 'schema.object' (an ordered list of {name, schema} pairs expected; a map has no"
        .. " order: write { {\"name\", S.string()}, ... })")
      assert.has_error(function() S.object({ { "a" } }) end,
        "bad property \"a\" to 'schema.object' (a schema expected, got no value)")
      assert.has_error(function() S.object({ { 1, S.string() } }) end,
        "bad property #1 to 'schema.object' ({name, schema} expected, with a non-empty string name)")
      assert.has_error(function() S.object({ "a", S.string() }) end,
        "bad property #1 to 'schema.object' ({name, schema} expected, with a non-empty string name)")
      assert.has_error(function() S.object("x") end,
        "bad argument #1 to 'schema.object' (list of {name, schema} pairs expected, got string)")
      assert.has_error(function() S.object({}, { required = "a" }) end,
        "bad field 'required' to 'schema.object' (non-empty list of strings expected, got string)")
      assert.has_error(function() S.object({}, { additional_properties = false }) end,
        "bad field 'additional_properties' to 'schema.object' (unknown option; known: default, description,"
        .. " example, max_properties, min_properties, nullable, required, title)")
      assert.has_error(function() S.any_of{} end,
        "bad argument #1 to 'schema.any_of' (non-empty list of schemas expected, got an empty table)")
      assert.has_error(function() S.any_of{ S.string(), 3 } end,
        "bad argument #1 (item 2) to 'schema.any_of' (a schema expected, got number)")
    end)

    it("raise at the caller's line", function()
      local ok, err = pcall(function()
        local s = S.string{ bogus = true }
        return s
      end)
      assert.is_false(ok)
      assert.matches("^spec/schema_spec%.lua:%d+: bad field 'bogus'", err)
    end)
  end)

  describe("JSON mode against the mock", function()
    local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
    local client

    before_each(function()
      client = m:client{ retry = false }
    end)

    local planet = S.object({
      { "name", S.string{ description = "planet name" } },
      { "distance_au", S.number{ minimum = 0.3 } },
      { "moons", S.integer{ minimum = 0 } },
      { "kind", S.string{ enum = { "rocky", "gas giant" } } },
      { "rings", S.boolean() },
    }, { required = { "name", "distance_au" } })

    it("sends response_schema and gets res.parsed in property order", function()
      local res = assert(client.models:generate_content{ model = "gemini-2.5-flash",
        contents = "List 3 planets with their distances from the sun",
        config = { response_mime_type = "application/json",
                   response_schema = S.array(planet, { min_items = 3, max_items = 3 }) } })
      local e = m:last()
      local g = e.json.generationConfig
      assert.equal("application/json", g.responseMimeType)
      assert.equal("ARRAY", g.responseSchema.type)
      assert.same({ "name", "distance_au", "moons", "kind", "rings" }, g.responseSchema.items.propertyOrdering)
      assert.truthy(e.body:find('"distance_au":{', 1, true))
      local list = res.parsed
      assert.equal(3, #list)
      assert.is_string(list[1].name)
      assert.equal(1, list[1].distance_au)
      assert.equal(1, list[1].moons)
      assert.equal("rocky", list[1].kind)
      assert.is_true(list[1].rings)
      -- the text is the JSON, keys in propertyOrdering order
      local a, b = res.text:find('"name"', 1, true), res.text:find('"rings"', 1, true)
      assert.truthy(a < b)
    end)

    it("sends response_json_schema verbatim and parses the answer", function()
      local raw = { type = "object", properties = {
        city = { type = "string", enum = { "Paris", "Rome" } }, population = { type = "integer", minimum = 5 },
        tags = { type = "array", items = { type = "string" }, minItems = 1, maxItems = 1 } },
        required = { "city" }, additionalProperties = false }
      local res = assert(client.models:generate_content{ model = "gemini-2.5-flash", contents = "A city",
        config = { response_mime_type = "application/json", response_json_schema = raw } })
      local e = m:last()
      assert.same(raw, e.json.generationConfig.responseJsonSchema)
      assert.truthy(e.body:find('"additionalProperties":false', 1, true))
      assert.same({ city = "Paris", population = 5, tags = { "tags 1" } }, res.parsed)
    end)

    it("parses a JSON answer without a schema", function()
      local res = assert(client.models:generate_content{ model = "gemini-2.5-flash", contents = "x",
        config = { response_mime_type = "application/json" } })
      assert.is_table(res.parsed)
      assert.is_true(res.parsed.mock)
    end)

    it("parses the merged answer of a stream", function()
      local s = client.models:generate_content_stream{ model = "gemini-2.5-flash", contents = "x",
        config = { response_mime_type = "application/json", response_schema = planet } }
      local n = 0
      for _ in s do n = n + 1 end
      assert.truthy(n > 1)
      assert.equal("rocky", s.response.parsed.kind)
    end)

    it("makes a JSON answer that does not parse a clear decode error from parsed", function()
      m:script{ { body = { candidates = { { content = { role = "model", parts = { { text = "{not json" } } },
                                             finishReason = "STOP" } } } } }
      local res = assert(client.models:generate_content{ model = "gemini-2.5-flash", contents = "x",
        config = { response_mime_type = "application/json", response_schema = planet } })
      assert.equal("{not json", res.text)
      local ok, err = pcall(function() return res.parsed end)
      assert.is_false(ok)
      assert.is_true(gemini.is_error(err))
      assert.equal("decode", err.kind)
    end)

    it("leaves parsed nil when not in JSON mode", function()
      local res = assert(client.models:generate_content{ model = "gemini-2.5-flash", contents = "x" })
      assert.is_nil(res.parsed)
    end)
  end)
end)
