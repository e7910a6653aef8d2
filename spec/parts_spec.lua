-- gemini.parts through the real HTTP stack against the mock: text, inline
-- data from bytes and files (base64 by the C core), file data by URI,
-- function responses, contents, multi-turn contents and system_instruction
-- in its three forms; plus the images the mock draws (res.inline_data).
local gemini = require("gemini")
local mock = require("support.mock")
local cjson = require("cjson")

local KEY = "test-key-parts-3e77"
local P = gemini.parts

local function b64(s)
  -- an independent encoder (not gemini.core) to check the C one
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {}
    for j = 3, 0, -1 do
      local idx = math.floor(n / 64 ^ j) % 64
      q[#q + 1] = chars:sub(idx + 1, idx + 1)
    end
    if not b then q[3], q[4] = "=", "=" elseif not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

describe("gemini.parts", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client, tmp

  setup(function()
    tmp = os.tmpname()
  end)
  teardown(function()
    os.remove(tmp)
    os.remove(tmp .. ".png")
    os.remove(tmp .. ".weird")
  end)
  before_each(function()
    client = m:client{ retry = false }
  end)

  local function send(contents, config)
    local res, err = client.models:generate_content{ model = "gemini-2.5-flash", contents = contents,
                                                     config = config }
    assert.is_nil(err)
    return res, m:last()
  end

  local write = mock.write_file

  it("text", function()
    assert.same({ text = "hi" }, P.text("hi"))
    assert.has_error(function() P.text(1) end, "bad argument #1 to 'parts.text' (string expected, got number)")
  end)

  it("from_bytes base64-encodes any bytes", function()
    local bytes = ""
    for i = 0, 255 do bytes = bytes .. string.char(i) end
    local part = P.from_bytes(bytes, "application/octet-stream")
    assert.same({ inlineData = { mimeType = "application/octet-stream", data = b64(bytes) } }, part)
    local _, e = send({ P.text("What is this?"), P.from_bytes("\137PNG\r\n", "image/png") })
    assert.same({ { role = "user", parts = {
      { text = "What is this?" }, { inlineData = { mimeType = "image/png", data = b64("\137PNG\r\n") } } } } },
      e.json.contents)
    assert.has_error(function() P.from_bytes(nil, "image/png") end,
      "bad argument #1 to 'parts.from_bytes' (string of bytes expected, got no value)")
    assert.has_error(function() P.from_bytes("x") end,
      "bad argument #2 to 'parts.from_bytes' (MIME type string expected, got no value)")
  end)

  it("from_file reads the file and guesses the MIME type", function()
    local data = "\137PNG\r\n\26\n" .. string.rep("\0\1\2\255", 100)
    write(tmp .. ".png", data)
    local part = assert(P.from_file(tmp .. ".png"))
    assert.equal("image/png", part.inlineData.mimeType)
    assert.equal(b64(data), part.inlineData.data)
    local _, e = send(P.content("user", { "Describe", part }))
    assert.equal(b64(data), e.json.contents[1].parts[2].inlineData.data)
    -- an explicit type wins
    assert.equal("image/x-test", P.from_file(tmp .. ".png", "image/x-test").inlineData.mimeType)
  end)

  it("from_file returns nil, err for a missing file or an unknown extension", function()
    local part, err = P.from_file("/nonexistent/dir/cat.png")
    assert.is_nil(part)
    assert.matches("/nonexistent/dir/cat.png", err, 1, true)
    write(tmp .. ".weird", "x")
    part, err = P.from_file(tmp .. ".weird")
    assert.is_nil(part)
    assert.matches("MIME type", err)
    assert.same({ inlineData = { mimeType = "text/plain", data = "eA==" } }, P.from_file(tmp .. ".weird", "text/plain"))
    assert.has_error(function() P.from_file(nil) end,
      "bad argument #1 to 'parts.from_file' (file path expected, got no value)")
  end)

  it("guesses MIME types from extensions", function()
    local cases = { ["a.PNG"] = "image/png", ["a.jpg"] = "image/jpeg", ["a.jpeg"] = "image/jpeg",
      ["a.gif"] = "image/gif", ["a.webp"] = "image/webp", ["a.pdf"] = "application/pdf",
      ["a.txt"] = "text/plain", ["a.md"] = "text/markdown", ["a.html"] = "text/html",
      ["a.csv"] = "text/csv", ["a.json"] = "application/json", ["a.mp3"] = "audio/mp3", ["a.RTF"] = "text/rtf",
      ["a.wav"] = "audio/wav", ["a.mp4"] = "video/mp4", ["a.mov"] = "video/quicktime",
      ["https://x.test/v/clip.mp4?sig=1"] = "video/mp4", ["dir.d/noext"] = false,
      ["a.tsv"] = "text/tab-separated-values", ["a.opus"] = "audio/opus", ["a.c"] = "text/x-c" }
    for name, want in pairs(cases) do
      assert.equal(want or nil, P.guess_mime_type(name), name)
    end
  end)

  it("from_uri makes fileData", function()
    local _, e = send({ P.from_uri("https://generativelanguage.googleapis.com/v1beta/files/abc", "application/pdf"),
                        "Summarise" })
    assert.same({ fileData = { fileUri = "https://generativelanguage.googleapis.com/v1beta/files/abc",
                               mimeType = "application/pdf" } }, e.json.contents[1].parts[1])
    assert.same({ fileData = { fileUri = "gs://b/v.mp4", mimeType = "video/mp4" } }, P.from_uri("gs://b/v.mp4"))
    assert.same({ fileData = { fileUri = "https://www.youtube.com/watch?v=x" } },
      P.from_uri("https://www.youtube.com/watch?v=x"))
    assert.has_error(function() P.from_uri("") end,
      "bad argument #1 to 'parts.from_uri' (URI string expected, got an empty string)")
  end)

  it("function_response keeps the response as written", function()
    local part = P.function_response("get_weather", { temp_c = 21, some_key = { inner_key = 1 } }, "call-1")
    assert.same({ functionResponse = { name = "get_weather", id = "call-1",
                                       response = { temp_c = 21, some_key = { inner_key = 1 } } } }, part)
    local res, e = send({
      P.content("user", "Weather?"),
      P.content("model", { { functionCall = { name = "get_weather", args = { city = "Paris" } } } }),
      P.content("user", { part }),
    })
    local sent = e.json.contents[3].parts[1].functionResponse
    assert.same({ temp_c = 21, some_key = { inner_key = 1 } }, sent.response)  -- not someKey
    assert.equal("call-1", sent.id)
    assert.matches('get_weather returned', res.text)
    -- an empty response is an object
    local _, e2 = send({ P.content("user", { P.function_response("f", {}) }) })
    assert.truthy(e2.body:find('"response":{}', 1, true))
    assert.has_error(function() P.function_response("f", "text") end,
      "bad argument #2 to 'parts.function_response' (table expected (a JSON object, e.g. {result = value}),"
      .. " got string)")
    assert.has_error(function() P.function_response(nil, {}) end,
      "bad argument #1 to 'parts.function_response' (function name expected, got no value)")
  end)

  it("content builds multi-turn contents", function()
    assert.same({ role = "user", parts = { { text = "a" } } }, P.content("user", "a"))
    assert.same({ role = "model", parts = { { text = "a" }, { text = "b" } } }, P.content("model", { "a", P.text("b") }))
    assert.same({ role = "user", parts = { { text = "x" } } }, P.content("user", P.text("x")))
    local _, e = send({ P.content("user", "Hi"), P.content("model", "Hello!"), P.content("user", "How are you?") })
    assert.same({ { role = "user", parts = { { text = "Hi" } } }, { role = "model", parts = { { text = "Hello!" } } },
                  { role = "user", parts = { { text = "How are you?" } } } }, e.json.contents)
    assert.has_error(function() P.content("system", "x") end,
      "bad argument #1 to 'parts.content' (\"user\" or \"model\" expected, got \"system\")")
    assert.has_error(function() P.content("user", {}) end,
      "bad argument #2 to 'parts.content' (a string, a part or a non-empty list of parts expected, got an"
      .. " empty table)")
    assert.has_error(function() P.content("user", { 1 }) end,
      "bad argument #2 to 'parts.content' (item 1: a string or a part expected, got number)")
  end)

  describe("system_instruction", function()
    it("takes a string, parts or a content", function()
      local want = { parts = { { text = "You are a math tutor." } } }
      local _, e = send("2+2?", { system_instruction = "You are a math tutor." })
      assert.same(want, e.json.systemInstruction)
      _, e = send("2+2?", { system_instruction = { P.text("You are a math tutor.") } })
      assert.same(want, e.json.systemInstruction)
      _, e = send("2+2?", { system_instruction = P.text("You are a math tutor.") })
      assert.same(want, e.json.systemInstruction)
      _, e = send("2+2?", { system_instruction = P.content("user", "You are a math tutor.") })
      assert.same({ role = "user", parts = { { text = "You are a math tutor." } } }, e.json.systemInstruction)
      _, e = send("2+2?", { systemInstruction = { parts = { { text = "A" }, { text = "B" } } } })
      assert.same({ parts = { { text = "A" }, { text = "B" } } }, e.json.systemInstruction)
    end)
  end)

  describe("images from the mock", function()
    it("res.inline_data holds the decoded PNG of an IMAGE answer", function()
      local res = assert(client.models:generate_content{ model = "gemini-2.5-flash-image",
        contents = "Draw a gradient", config = { response_modalities = { "TEXT", "IMAGE" } } })
      assert.same({ "TEXT", "IMAGE" }, m:last().json.generationConfig.responseModalities)
      assert.is_string(res.text)
      local img = res.inline_data[1]
      assert.equal("image/png", img.mime_type)
      assert.equal("\137PNG\r\n\26\n", img.data:sub(1, 8))
      assert.equal("IHDR", img.data:sub(13, 16))
      assert.equal("IEND", img.data:sub(-8, -5))
      -- the raw response still holds the base64, exactly as sent
      local parts = res.candidates[1].content.parts
      assert.equal(b64(img.data), parts[#parts].inlineData.data)
    end)

    it("streams the image in its own chunk", function()
      local s = client.models:generate_content_stream{ model = "gemini-2.5-flash-image",
        contents = "Draw", config = { response_modalities = { "IMAGE", "TEXT" } } }
      local images = 0
      for chunk in s do
        local d = chunk.inline_data
        if d then
          images = images + 1
          assert.equal("\137PNG", d[1].data:sub(1, 4))
          assert.equal(1, #chunk.candidates[1].content.parts)
        end
      end
      assert.equal(1, images)
    end)
  end)

  it("round-trips through cjson the same as sent", function()
    local part = P.from_bytes("abc", "text/plain")
    local _, e = send({ part })
    assert.same(cjson.decode(e.body).contents[1].parts[1], part)
  end)
end)
