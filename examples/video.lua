-- Video generation with Veo: start the long-running operation, wait for
-- it, save the MP4.
--
--   lua5.4 examples/video.lua [out.mp4] ["prompt"] [image.png]
--
-- With an image the video starts from it (image to video). Generating
-- takes from a few seconds to several minutes; operations:wait polls with
-- a growing interval (at most every 10 s) and on_progress shows each poll.
-- The download follows the API's redirect to a signed URL (without sending
-- the key there) and streams to disk.
local gemini = require("gemini")

-- Every call returns its result, or nil and a gemini.Error (an API error,
-- the network, a timeout): say why and stop.
local function check(res, err)
  if res == nil then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
  return res
end

local out = arg[1] or "video.mp4"
local prompt = arg[2] or "A close-up of a lighthouse lamp turning at dusk, waves below"
local image_path = arg[3]

local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md

local model = os.getenv("GEMINI_VIDEO_MODEL") or "veo-3.1-generate-preview"
local image
if image_path then
  image = assert(gemini.parts.from_file(image_path))   -- an inline-data part is fine
end
local op = check(client.models:generate_videos{
  model = model, prompt = prompt, image = image,
  config = { aspect_ratio = "16:9", number_of_videos = 1, negative_prompt = "blurry" },
})
print("started " .. op.name)

local t0 = os.time()
op = check(client.operations:wait(op, {
  timeout = 900,
  on_progress = function(o)
    io.stderr:write(string.format("  %s after %ds\n", o.done and "done" or "still running",
      os.time() - t0))
  end,
}))
if op.error then   -- a failed operation is an answer, not a failed call
  io.stderr:write("the video failed: ", tostring(op.error.message), "\n")
  os.exit(1)
end

local videos = op.response.generated_videos
if #videos == 0 then
  io.stderr:write("no video: filtered for safety (", table.concat(op.response.rai_media_filtered_reasons
    or {}, "; "), ")\n")
  os.exit(1)
end
local bytes = check(client.files:download{
  file = videos[1].video, path = out,
  on_progress = function(done, total)
    io.stderr:write(string.format("\rdownloading: %d / %s bytes", done, tostring(total or "?")))
  end,
})
io.stderr:write("\n")
print(string.format("saved %s (%d bytes)", out, bytes))
