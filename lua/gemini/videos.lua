--- Video generation (Veo): the request body of `models:generate_videos`
-- and the SDK's names on a finished video operation. Wire format:
-- wire-format-2 §13 (from python-genai's `_GenerateVideosParameters_to_mldev`
-- and `_GenerateVideosOperation_from_mldev`) and, in Vertex AI mode, §19.5
-- (models.py `_GenerateVideosParameters_to_vertex`, `_GenerateVideosConfig_to_vertex`,
-- `_Image_to_vertex`, `_Video_to_vertex`, `_GenerateVideosResponse_from_vertex`,
-- `_Video_from_vertex`).
-- @module gemini.videos
local core = require("gemini.core")
local errors = require("gemini.errors")
local request = require("gemini.request")

local M = {}

-- The config fields (camelCase; snake_case is as good) sent as
-- `parameters`, with their wire names and Lua types.
local PARAMETERS = {
  numberOfVideos = { "sampleCount", "number" },
  durationSeconds = { "durationSeconds", "number" },
  aspectRatio = { "aspectRatio", "string" },
  resolution = { "resolution", "string" },
  personGeneration = { "personGeneration", "string" },
  negativePrompt = { "negativePrompt", "string" },
  enhancePrompt = { "enhancePrompt", "boolean" },
}
-- The other config fields: images of the instance, the webhook (at the
-- body's root), the per-call options.
local OTHER_FIELDS = { lastFrame = true, referenceImages = true, webhookConfig = true,
                       httpOptions = true }
-- Vertex AI's parameters (the SDKs refuse them for the Gemini API, §13.1),
-- as `PARAMETERS`; its `labels` (at the body's root) and `mask` (of the
-- instance) besides.
local VERTEX_PARAMETERS = {
  outputGcsUri = { "storageUri", "string" }, fps = { "fps", "number" },
  seed = { "seed", "number" }, pubsubTopic = { "pubsubTopic", "string" },
  generateAudio = { "generateAudio", "boolean" },
  compressionQuality = { "compressionQuality", "string" }, resizeMode = { "resizeMode", "string" },
}
local VERTEX_OTHER = { labels = true, mask = true }
local KNOWN_CONFIG = "number_of_videos, duration_seconds, aspect_ratio, resolution,"
  .. " person_generation, negative_prompt, enhance_prompt, last_frame, reference_images,"
  .. " webhook_config, http_options"
local KNOWN_VERTEX = " (not in Vertex AI mode: webhook_config), output_gcs_uri, fps, seed,"
  .. " pubsub_topic, generate_audio, compression_quality, resize_mode, labels, mask"
local REQUEST_KEYS = { model = true, prompt = true, image = true, video = true, source = true,
                       config = true }

local function bad(fname, field, what)
  errors.misuse(string.format("bad field '%s' to '%s' (%s)", field, fname, what))
end

--- The API's image `{bytesBase64Encoded=, mimeType=}` from an SDK Image
-- (`{image_bytes=, mime_type=}`, raw bytes), an answer's image
-- (`res.inline_data[i]`: `{data=, mime_type=}`, raw bytes), an inline-data
-- part (`gemini.parts.from_file("cat.png")`: base64 inside), or the API's
-- form itself. An image inside `inlineData` is refused by Veo (§13.1), so
-- it is unwrapped. On Vertex AI (`vertex`) an image may be in Cloud
-- Storage (`gcs_uri`: `{gcsUri=, mimeType=}`).
local function image(v, fname, field, vertex)
  if type(v) ~= "table" then bad(fname, field, "an image table expected, got " .. type(v)) end
  local get = request.get
  local inline = get(v, "inlineData", "inline_data")
  if type(inline) == "table" then
    return { bytesBase64Encoded = inline.data, mimeType = get(inline, "mimeType", "mime_type") }
  end
  local gcs = get(v, "gcsUri", "gcs_uri")
  if gcs ~= nil and not vertex then
    bad(fname, field .. ".gcs_uri", "a Vertex AI field: the Gemini API takes the image's bytes")
  elseif gcs ~= nil then
    if type(gcs) ~= "string" then bad(fname, field .. ".gcs_uri", "string expected") end
    return { gcsUri = gcs, mimeType = get(v, "mimeType", "mime_type") }
  end
  local b64 = get(v, "bytesBase64Encoded", "bytes_base64_encoded")
  local bytes = get(v, "imageBytes", "image_bytes") or v.data
  if b64 == nil and type(bytes) == "string" then b64 = core.b64encode(bytes) end
  local mime = get(v, "mimeType", "mime_type")
  if type(b64) ~= "string" or type(mime) ~= "string" then
    bad(fname, field, "an image with image_bytes (or data) and mime_type expected")
  end
  return { bytesBase64Encoded = b64, mimeType = mime }
end

-- The API's video `{uri=, encoding=}` from a Video, a generated video or a
-- URI. A video that has a URI goes by it alone: "Gemini Developer API does
-- not support video bytes", so both SDKs drop them then (§13.1). On Vertex
-- AI (`vertex`): `{gcsUri=, bytesBase64Encoded=, mimeType=}`, whichever
-- the video has (`_Video_to_vertex`).
local function video(v, fname, field, vertex)
  if type(v) == "string" then v = { uri = v } end
  if type(v) ~= "table" then bad(fname, field, "a video or a URI expected, got " .. type(v)) end
  if type(v.video) == "table" then v = v.video end
  local get = request.get
  local uri, mime = v.uri, get(v, "mimeType", "mime_type")
  local bytes = get(v, "videoBytes", "video_bytes")
  if bytes ~= nil and type(bytes) ~= "string" then bad(fname, field .. ".video_bytes", "string expected") end
  if vertex then
    if uri == nil and bytes == nil then bad(fname, field, "a video with a uri or video_bytes expected") end
    return { gcsUri = uri, bytesBase64Encoded = bytes and core.b64encode(bytes), mimeType = mime }
  end
  if uri ~= nil then return { uri = uri, encoding = mime } end
  if bytes == nil then bad(fname, field, "a video with a uri expected") end
  return { encodedVideo = core.b64encode(bytes), encoding = mime }
end

-- The config's fields by their camelCase names; raises for an unknown
-- one, one of the other mode's, or a parameter of the wrong type.
local function config_fields(config, fname, vertex)
  if config == nil then return {} end
  if type(config) ~= "table" then bad(fname, "config", "table expected, got " .. type(config)) end
  local out = {}
  for k, v in pairs(config) do
    local ck = request.camel(k)
    local p = PARAMETERS[ck] or (vertex and VERTEX_PARAMETERS[ck])
    if not vertex and (VERTEX_PARAMETERS[ck] or VERTEX_OTHER[ck]) then
      bad(fname, "config." .. tostring(k), "a Vertex AI field, not supported by the Gemini API")
    elseif vertex and ck == "webhookConfig" then
      -- (_GenerateVideosConfig_to_vertex raises ValueError the same way)
      bad(fname, "config." .. tostring(k), "only in the Gemini API, not in Vertex AI mode")
    elseif not p and not OTHER_FIELDS[ck] and not (vertex and VERTEX_OTHER[ck]) then
      bad(fname, "config." .. tostring(k), "unknown field; known: " .. KNOWN_CONFIG
        .. (vertex and KNOWN_VERTEX or ""))
    elseif p and type(v) ~= p[2] then
      bad(fname, "config." .. tostring(k), p[2] .. " expected, got " .. type(v))
    end
    out[ck] = v
  end
  return out
end

--- The request of `models:generate_videos`: `{model=, body=, http_options=}`,
-- the body in the wire's spelling (`instances`, `parameters`,
-- `webhookConfig`). Raises for a bad field, naming it.
-- @tparam table req `{model=, prompt=, image=, video=, source = {prompt=,
--   image=, video=}, config=}` (`source` or the three at the top level)
-- @tparam string fname the call, for messages
-- @tparam[opt] boolean vertex Vertex AI's wire format (§19.5)
function M.request(req, fname, vertex)
  if type(req) ~= "table" then
    errors.misuse(string.format("bad argument #1 to '%s' (table expected, got %s)", fname,
      req == nil and "no value" or type(req)))
  end
  for k in pairs(req) do
    if not REQUEST_KEYS[k] then
      bad(fname, tostring(k), "unknown field; known: model, prompt, image, video, source, config")
    end
  end
  local model = request.model(req.model, fname)
  local src = req
  if req.source ~= nil then
    if type(req.source) ~= "table" then bad(fname, "source", "table expected, got " .. type(req.source)) end
    if req.prompt ~= nil or req.image ~= nil or req.video ~= nil then
      bad(fname, "source", "give prompt, image and video either in source or at the top level")
    end
    src = req.source
  end
  if src.prompt ~= nil and type(src.prompt) ~= "string" then
    bad(fname, "prompt", "string expected, got " .. type(src.prompt))
  end
  if src.prompt == nil and src.image == nil and src.video == nil then
    bad(fname, "prompt", "a prompt, an image or a video expected")
  end
  local config = config_fields(req.config, fname, vertex)
  local instance = { prompt = src.prompt }
  if src.image ~= nil then instance.image = image(src.image, fname, "image", vertex) end
  if src.video ~= nil then instance.video = video(src.video, fname, "video", vertex) end
  if config.lastFrame ~= nil then
    instance.lastFrame = image(config.lastFrame, fname, "config.last_frame", vertex)
  end
  if config.mask ~= nil then
    -- (_VideoGenerationMask_to_vertex: the image's fields and maskMode side by side)
    local mask = config.mask
    if type(mask) ~= "table" then bad(fname, "config.mask", "table expected, got " .. type(mask)) end
    instance.mask = image(mask.image, fname, "config.mask.image", vertex)
    instance.mask.maskMode = request.get(mask, "maskMode", "mask_mode")
  end
  if config.referenceImages ~= nil then
    if type(config.referenceImages) ~= "table" then
      bad(fname, "config.reference_images", "a list expected")
    end
    local refs = {}
    for i, r in ipairs(config.referenceImages) do
      local where = "config.reference_images[" .. i .. "]"
      if type(r) ~= "table" then bad(fname, where, "table expected, got " .. type(r)) end
      refs[i] = { image = image(r.image, fname, where .. ".image", vertex),
                  referenceType = request.get(r, "referenceType", "reference_type") }
    end
    if #refs > 0 then instance.referenceImages = refs end
  end
  local parameters
  for ck, v in pairs(config) do
    local p = PARAMETERS[ck] or VERTEX_PARAMETERS[ck]
    if p then
      parameters = parameters or {}
      parameters[p[1]] = v
    end
  end
  if config.labels ~= nil and type(config.labels) ~= "table" then
    bad(fname, "config.labels", "table expected, got " .. type(config.labels))
  end
  local body = { instances = { instance }, parameters = parameters, labels = config.labels }
  local hook = config.webhookConfig
  if hook ~= nil then
    if type(hook) ~= "table" then bad(fname, "config.webhook_config", "table expected") end
    -- userMetadata is the caller's data: its keys stay as written.
    body.webhookConfig = { uris = hook.uris,
                           userMetadata = request.get(hook, "userMetadata", "user_metadata") }
  end
  return { model = model, body = body, http_options = config.httpOptions }
end

-- A video of the answer with the SDK's names (`_Video_from_mldev`,
-- `_Video_from_vertex`): its bytes, when inline, under any of the keys
-- seen (§13.2; Vertex AI's `bytesBase64Encoded`), its URI (Vertex AI's
-- `gcsUri`, a gs:// URI).
local function answer_video(v)
  local b64 = v.encodedVideo or v.bytesBase64Encoded
  if b64 == nil and type(v.video) == "string" then b64 = v.video end
  return { uri = v.uri or v.gcsUri, mime_type = v.encoding or v.mimeType,
           video_bytes = type(b64) == "string" and core.b64decode(b64) or nil }
end

--- Adds the SDK's names to the response of a finished video operation,
-- in place (the REST fields stay): `generated_videos[i].video` (`uri`,
-- `mime_type`, `video_bytes`), `rai_media_filtered_count`,
-- `rai_media_filtered_reasons`. A safety-filtered answer has no video
-- (an empty list) and says why; it is not an error (§13.2). The Gemini
-- API's answer is in `generateVideoResponse.generatedSamples[i].video`,
-- Vertex AI's in `videos[i]` (§19.5).
-- @tparam table response the operation's `response`
function M.convert(response)
  local raw = response.generateVideoResponse
  local videos = {}
  if type(raw) ~= "table" then
    raw = response
    for i, v in ipairs(type(raw.videos) == "table" and raw.videos or {}) do
      videos[i] = { video = type(v) == "table" and answer_video(v) or nil }
    end
  end
  for i, s in ipairs(type(raw.generatedSamples) == "table" and raw.generatedSamples or {}) do
    videos[i] = { video = type(s) == "table" and type(s.video) == "table" and answer_video(s.video)
                  or nil }
  end
  response.generated_videos = videos
  response.rai_media_filtered_count = raw.raiMediaFilteredCount
  response.rai_media_filtered_reasons = raw.raiMediaFilteredReasons
  return response
end

return M
