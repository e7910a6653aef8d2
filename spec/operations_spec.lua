-- models:generate_videos and client.operations against the mock server,
-- through the real HTTP stack: the Veo request body, polling (get, wait
-- with its growing interval, timeouts, failed and safety-filtered
-- operations), operations of other kinds, and a generated video downloaded.
local gemini = require("gemini")
local core = require("gemini.core")
local mock = require("support.mock")

local KEY = "operations-spec-key"
local VEO = "veo-3.1-generate-preview"

describe("video generation and operations", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local client

  setup(function()
    client = m:client{ retry = { attempts = 3, initial_delay = 0.01, max_delay = 0.05, jitter = 0 } }
  end)

  -- The requests of the log whose path ends with `suffix`.
  local function requests(suffix)
    local out = {}
    for _, e in ipairs(m:log()) do
      if e.path:sub(-#suffix) == suffix then out[#out + 1] = e end
    end
    return out
  end

  local FAST = { interval = 0.01, timeout = 10 }

  describe("generate_videos", function()
    it("sends the Veo request and answers with the operation", function()
      local op, err = client.models:generate_videos{ model = VEO, prompt = "a cat surfing",
        config = { number_of_videos = 2, duration_seconds = 8, aspect_ratio = "9:16",
                   resolution = "720p", person_generation = "allow_adult",
                   negative_prompt = "blurry", enhance_prompt = true } }
      assert.is_nil(err)
      assert.matches("^models/" .. VEO:gsub("%p", "%%%0") .. "/operations/[a-z0-9]+$", op.name)
      assert.is_nil(op.done)
      local e = m:last()
      assert.equal("POST", e.method)
      assert.equal("/v1beta/models/" .. VEO .. ":predictLongRunning", e.path)
      assert.equal(KEY, e.headers["x-goog-api-key"])
      assert.same({ instances = { { prompt = "a cat surfing" } }, parameters = {
        sampleCount = 2, durationSeconds = 8, aspectRatio = "9:16", resolution = "720p",
        personGeneration = "allow_adult", negativePrompt = "blurry", enhancePrompt = true } }, e.json)
    end)

    it("takes camelCase config keys and a model with its models/ prefix", function()
      assert(client.models:generate_videos{ model = "models/" .. VEO, prompt = "x",
        config = { numberOfVideos = 1, aspectRatio = "16:9" } })
      assert.same({ sampleCount = 1, aspectRatio = "16:9" }, m:last().json.parameters)
      assert.equal("/v1beta/models/" .. VEO .. ":predictLongRunning", m:last().path)
    end)

    it("sends an image as bytesBase64Encoded, whatever form it is given in", function()
      local png = "\137PNG\r\n\26\n fake image bytes"
      local b64 = core.b64encode(png)
      local forms = {
        { image_bytes = png, mime_type = "image/png" },                      -- the SDK's Image
        { imageBytes = png, mimeType = "image/png" },
        { data = png, mime_type = "image/png" },                             -- res.inline_data[i]
        gemini.parts.from_bytes(png, "image/png"),                           -- an inlineData part
        { bytesBase64Encoded = b64, mimeType = "image/png" },                -- the wire's own
      }
      for _, image in ipairs(forms) do
        local op, err = client.models:generate_videos{ model = VEO, prompt = "animate it",
                                                       image = image }
        assert.is_nil(err)
        assert.truthy(op.name)
        assert.same({ prompt = "animate it", image = { bytesBase64Encoded = b64, mimeType = "image/png" } },
          m:last().json.instances[1])
      end
      -- image only, through source, with a last frame and reference images
      assert(client.models:generate_videos{ model = VEO,
        source = { image = { image_bytes = png, mime_type = "image/png" } },
        config = { last_frame = { image_bytes = "last", mime_type = "image/jpeg" },
                   reference_images = { { image = { image_bytes = "ref", mime_type = "image/png" },
                                          reference_type = "ASSET" } } } })
      assert.same({ image = { bytesBase64Encoded = b64, mimeType = "image/png" },
                    lastFrame = { bytesBase64Encoded = core.b64encode("last"), mimeType = "image/jpeg" },
                    referenceImages = { { image = { bytesBase64Encoded = core.b64encode("ref"),
                                                    mimeType = "image/png" },
                                          referenceType = "ASSET" } } },
        m:last().json.instances[1])
    end)

    it("extends a video by its uri alone (the Gemini API takes no video bytes)", function()
      local video = { uri = "https://generativelanguage.googleapis.com/v1beta/files/abc:download?alt=media",
                      video_bytes = "mp4 bytes", mime_type = "video/mp4" }
      assert(client.models:generate_videos{ model = VEO, prompt = "and then", video = { video = video } })
      assert.same({ prompt = "and then", video = { uri = video.uri, encoding = "video/mp4" } },
        m:last().json.instances[1])
    end)

    it("sends webhook_config at the root, its user metadata as written", function()
      assert(client.models:generate_videos{ model = VEO, prompt = "x", config = {
        webhook_config = { uris = { "https://example.com/hook" }, user_metadata = { job_id = "42" } } } })
      assert.same({ uris = { "https://example.com/hook" }, userMetadata = { job_id = "42" } },
        m:last().json.webhookConfig)
    end)

    it("returns the API's error", function()
      local op, err = client.models:generate_videos{ model = "gemini-2.5-flash", prompt = "x" }
      assert.is_nil(op)
      assert.equal("api", err.kind)
      assert.equal(404, err.code)
      assert.matches("not supported for predictLongRunning", err.message, 1, true)
      op, err = client.models:generate_videos{ model = VEO, prompt = "x", config = { aspect_ratio = "4:3" } }
      assert.is_nil(op)
      assert.equal(400, err.code)
      assert.equal("Aspect ratio \"4:3\" is not supported: use 16:9 or 9:16.", err.message)
    end)

    it("raises for bad requests before any request", function()
      local V = function(req) return function() client.models:generate_videos(req) end end
      assert.has_error(V(nil), "bad argument #1 to 'generate_videos' (table expected, got no value)")
      assert.has_error(V{ prompt = "x" }, "bad field 'model' to 'generate_videos' (string expected, got nil)")
      assert.has_error(V{ model = VEO }, "bad field 'prompt' to 'generate_videos' (a prompt, an image or a"
        .. " video expected)")
      assert.has_error(V{ model = VEO, prompt = 5 }, "bad field 'prompt' to 'generate_videos' (string"
        .. " expected, got number)")
      assert.has_error(V{ model = VEO, promt = "x" }, "bad field 'promt' to 'generate_videos' (unknown"
        .. " field; known: model, prompt, image, video, source, config)")
      assert.has_error(V{ model = VEO, prompt = "x", source = { prompt = "y" } }, "bad field 'source' to"
        .. " 'generate_videos' (give prompt, image and video either in source or at the top level)")
      assert.has_error(V{ model = VEO, prompt = "x", config = { seed = 1 } }, "bad field 'config.seed' to"
        .. " 'generate_videos' (a Vertex AI field, not supported by the Gemini API)")
      assert.has_error(V{ model = VEO, prompt = "x", config = { generate_audio = true } }, "bad field"
        .. " 'config.generate_audio' to 'generate_videos' (a Vertex AI field, not supported by the Gemini API)")
      assert.has_error(V{ model = VEO, prompt = "x", config = { number_of_video = 1 } }, "bad field"
        .. " 'config.number_of_video' to 'generate_videos' (unknown field; known: number_of_videos,"
        .. " duration_seconds, aspect_ratio, resolution, person_generation, negative_prompt, enhance_prompt,"
        .. " last_frame, reference_images, webhook_config, http_options)")
      assert.has_error(V{ model = VEO, prompt = "x", config = { number_of_videos = "2" } }, "bad field"
        .. " 'config.number_of_videos' to 'generate_videos' (number expected, got string)")
      assert.has_error(V{ model = VEO, image = "cat.png" }, "bad field 'image' to 'generate_videos' (an"
        .. " image table expected, got string)")
      assert.has_error(V{ model = VEO, image = { image_bytes = "x" } }, "bad field 'image' to"
        .. " 'generate_videos' (an image with image_bytes (or data) and mime_type expected)")
      assert.has_error(V{ model = VEO, image = { gcs_uri = "gs://b/x.png", mime_type = "image/png" } },
        "bad field 'image.gcs_uri' to 'generate_videos' (a Vertex AI field: the Gemini API takes the"
        .. " image's bytes)")
      assert.has_error(V{ model = VEO, prompt = "x", config = { http_options = { timeout = -1 } } },
        "bad field 'http_options.timeout' to 'generate_videos' (a positive finite number of seconds"
        .. " expected, got -1)")
      assert.has_error(function() client.models.generate_videos({}, { model = VEO, prompt = "x" }) end,
        "bad self to 'generate_videos' (call it as client.models:generate_videos{...})")
      assert.equal(0, #m:log())
    end)
  end)

  describe("operations", function()
    it("get polls the operation by its name until it is done", function()
      local op = assert(client.models:generate_videos{ model = VEO, prompt = "a lighthouse" })
      local name = op.name
      op = assert(client.operations:get(op))
      assert.equal(name, op.name)
      assert.is_nil(op.done)
      op = assert(client.operations:get(name))          -- a name string is as good
      assert.is_nil(op.done)
      op = assert(client.operations:get(op))
      assert.is_true(op.done)
      local polls = requests("/operations/" .. name:match("[^/]+$"))
      assert.equal(3, #polls)
      for _, e in ipairs(polls) do
        assert.equal("GET", e.method)
        assert.equal("/v1beta/" .. name, e.path)
        assert.equal(KEY, e.headers["x-goog-api-key"])
      end
      -- the SDK's names, and the REST fields as sent
      local res = op.response
      assert.equal("type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
        res["@type"])
      assert.equal(1, #res.generateVideoResponse.generatedSamples)
      assert.equal(1, #res.generated_videos)
      local video = res.generated_videos[1].video
      assert.equal(res.generateVideoResponse.generatedSamples[1].video.uri, video.uri)
      assert.matches("^" .. m.url:gsub("%p", "%%%0") .. "/v1beta/files/[a-z0-9]+:download%?alt=media$",
        video.uri)
      assert.is_nil(video.video_bytes)
    end)

    it("wait returns the done operation; its video downloads", function()
      local op = assert(client.models:generate_videos{ model = VEO, prompt = "a storm at sea",
                                                       config = { number_of_videos = 2 } })
      local seen = {}
      local done, err = client.operations:wait(op, { interval = 0.01, timeout = 10,
        on_progress = function(o) seen[#seen + 1] = o.done == true end })
      assert.is_nil(err)
      assert.is_true(done.done)
      assert.is_nil(done.error)
      assert.same({ false, false, true }, seen)           -- every fetched operation, the done one too
      assert.equal(2, #done.response.generated_videos)
      local bytes = assert(client.files:download{ file = done.response.generated_videos[2].video })
      assert.equal("ftyp", bytes:sub(5, 8))               -- an MP4's first box
      assert.matches("a storm at sea", bytes, 1, true)
      -- the generated video itself is as good as its video
      local path = os.tmpname()
      local n = assert(client.files:download{ file = done.response.generated_videos[1], path = path })
      assert.equal(65536, n)
      assert.equal("ftyp", mock.read_file(path):sub(5, 8))
      os.remove(path)
    end)

    it("wait polls with a growing interval", function()
      m:faults{ { type = "operation", polls = 4 } }
      local op = assert(client.models:generate_videos{ model = VEO, prompt = "x" })
      local t0 = core.now()
      op = assert(client.operations:wait(op, { interval = 0.1, max_interval = 0.2, timeout = 10 }))
      local took = core.now() - t0
      assert.is_true(op.done)
      local polls = requests(op.name:match("/operations/[^/]+$"))
      assert.equal(5, #polls)
      -- waits of 0.1, 0.15, 0.2, 0.2 s before the five polls
      assert.is_true(took >= 0.6, "took " .. took)
      local gaps = {}
      for i = 2, #polls do gaps[i - 1] = polls[i].t_start - polls[i - 1].t_start end
      assert.is_true(gaps[2] >= 0.14 and gaps[3] >= 0.19 and gaps[4] >= 0.19,
        "gaps " .. table.concat(gaps, " "))
    end)

    it("wait fetches a name at once and returns a done operation as it is", function()
      m:faults{ { type = "operation", polls = 0 } }
      local op = assert(client.models:generate_videos{ model = VEO, prompt = "x" })
      local done = assert(client.operations:wait(op.name, { interval = 5, timeout = 10 }))
      assert.is_true(done.done)
      assert.equal(2, #m:log())                            -- no wait before the first poll
      assert.equal(done, client.operations:wait(done))     -- nothing to wait for: no request
      assert.equal(2, #m:log())
    end)

    it("wait returns an operation that failed, with its error", function()
      m:faults{ { type = "operation", polls = 1, error = { code = 3, message = "The prompt was not usable." } } }
      local op = assert(client.models:generate_videos{ model = VEO, prompt = "x" })
      local done, err = client.operations:wait(op, FAST)
      assert.is_nil(err)
      assert.is_true(done.done)
      assert.same({ code = 3, message = "The prompt was not usable." }, done.error)
      assert.is_nil(done.response)
    end)

    it("a safety-filtered video is an answer without videos", function()
      m:faults{ { type = "operation", polls = 0, filtered = true } }
      local op = assert(client.models:generate_videos{ model = VEO, prompt = "x" })
      op = assert(client.operations:wait(op, FAST))
      assert.is_nil(op.error)
      assert.same({}, op.response.generated_videos)
      assert.equal(1, op.response.rai_media_filtered_count)
      assert.same({ "The video was filtered by the mock's safety check." },
        op.response.rai_media_filtered_reasons)
    end)

    it("wait gives up with a timeout error that holds the operation", function()
      m:faults{ { type = "operation", polls = 1000 } }
      local op = assert(client.models:generate_videos{ model = VEO, prompt = "x" })
      local t0 = core.now()
      local done, err = client.operations:wait(op, { interval = 0.05, timeout = 0.3 })
      local took = core.now() - t0
      assert.is_nil(done)
      assert.equal("timeout", err.kind)
      assert.equal(op.name .. " is not done after 0.3s (operations:wait timeout)", err.message)
      assert.equal(op.name, err.operation.name)
      assert.is_nil(err.operation.done)
      assert.is_true(took >= 0.3 and took < 2, "took " .. took)
    end)

    it("retries a poll that fails as the client's policy says, and returns a poll's error", function()
      local op = assert(client.models:generate_videos{ model = VEO, prompt = "x" })
      m:faults{ { type = "status", code = 503, match = "/operations/" } }
      assert.is_true(assert(client.operations:wait(op, FAST)).done)
      assert.equal(503, requests(op.name:match("/operations/[^/]+$"))[1].status)
      local done, err = client.operations:wait("models/" .. VEO .. "/operations/nosuchop", FAST)
      assert.is_nil(done)
      assert.equal("api", err.kind)
      assert.equal(404, err.code)
      assert.equal("Operation models/" .. VEO .. "/operations/nosuchop not found.", err.message)
    end)

    it("treats every kind of operation alike (file search uploads and imports)", function()
      local upload = "fileSearchStores/manuals-1/upload/operations/doc-7"
      m:operation{ name = upload, polls = 1, response = { documentName = "fileSearchStores/manuals-1/documents/d7" } }
      m:operation{ name = "fileSearchStores/manuals-1/operations/imp-2", polls = 0,
                   error = { code = 9, message = "not a supported file" } }
      local op = assert(client.operations:wait(upload, FAST))
      assert.same({ name = upload, done = true,
                    response = { documentName = "fileSearchStores/manuals-1/documents/d7" } }, op)
      assert.equal("/v1beta/" .. upload, m:last().path)
      op = assert(client.operations:get{ name = "fileSearchStores/manuals-1/operations/imp-2" })
      assert.equal(9, op.error.code)
    end)

    it("raises for bad arguments before any request", function()
      local O = client.operations
      assert.has_error(function() O:get() end,
        "bad argument #1 to 'get' (an operation or its name expected, got no value)")
      assert.has_error(function() O:get{ done = true } end,
        "bad argument #1 to 'get' (an operation or its name expected, got table)")
      assert.has_error(function() O:get("models/x/operations/../../files") end,
        "bad argument #1 to 'get' (an operation or its name expected, got \"models/x/operations/../../files\")")
      assert.has_error(function() O:get("op-without-collection") end,
        "bad argument #1 to 'get' (an operation or its name expected, got \"op-without-collection\")")
      assert.has_error(function() O:wait("batches/b?x=1") end,
        "bad argument #1 to 'wait' (an operation or its name expected, got \"batches/b?x=1\")")
      assert.has_error(function() O:wait("batches/b", "soon") end,
        "bad argument #2 to 'wait' (table expected, got string)")
      assert.has_error(function() O:wait("batches/b", { timeout = 0 }) end,
        "bad field 'timeout' to 'wait' (a finite number of seconds > 0 expected)")
      assert.has_error(function() O:wait("batches/b", { interval = -1 }) end,
        "bad field 'interval' to 'wait' (a finite number of seconds > 0 expected)")
      assert.has_error(function() O:wait("batches/b", { interval = 0 }) end,
        "bad field 'interval' to 'wait' (a finite number of seconds > 0 expected)")
      assert.has_error(function() O:wait("batches/b", { max_interval = math.huge }) end,
        "bad field 'max_interval' to 'wait' (a finite number of seconds > 0 expected)")
      assert.has_error(function() O:wait("batches/b", { on_progress = true }) end,
        "bad field 'on_progress' to 'wait' (function expected, got boolean)")
      assert.has_error(function() O.get({}, "batches/b") end,
        "bad self to 'get' (call it as client.operations:get(...))")
      assert.has_error(function() O:get("batches/b", "cb") end,
        "bad argument #2 to 'get' (function expected, got string)")
      assert.equal(0, #m:log())
    end)
  end)
end)
