-- Image generation: the answer's image part (inline data, base64 on the
-- wire) decoded by res.inline_data and saved to a file.
--
--   lua5.4 examples/image_generation.lua [out.png] ["prompt"]
local support = dofile((arg[0]:match("^(.-)[^/]*$") or "") .. "support/client.lua")

local out = arg[1] or "image.png"
local prompt = arg[2] or "A watercolour of a lighthouse at dawn"

support.main({}, function(client)
  local model = os.getenv("GEMINI_IMAGE_MODEL") or "gemini-2.5-flash-image"
  local res = support.check(client.models:generate_content{
    model = model, contents = prompt,
    config = { response_modalities = { "TEXT", "IMAGE" } },
  })
  if res.text then print(res.text) end
  local images = res.inline_data
  if not images then error("the answer holds no image", 0) end
  local f = assert(io.open(out, "wb"))
  f:write(images[1].data)
  f:close()
  print(string.format("saved %s (%s, %d bytes)", out, images[1].mime_type, #images[1].data))
end)
