-- Image generation: the answer's image part (inline data, base64 on the
-- wire) decoded by res.inline_data and saved to a file.
--
--   lua5.4 examples/image_generation.lua [out.png] ["prompt"]
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

local out = arg[1] or "image.png"
local prompt = arg[2] or "A watercolour of a lighthouse at dawn"

local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md

local model = os.getenv("GEMINI_IMAGE_MODEL") or "gemini-2.5-flash-image"
local res = check(client.models:generate_content{
  model = model, contents = prompt,
  config = { response_modalities = { "TEXT", "IMAGE" } },
})
if res.text then print(res.text) end
local images = res.inline_data
if not images then
  io.stderr:write("the answer holds no image\n")
  os.exit(1)
end
local f = assert(io.open(out, "wb"))
f:write(images[1].data)
f:close()
print(string.format("saved %s (%s, %d bytes)", out, images[1].mime_type, #images[1].data))
