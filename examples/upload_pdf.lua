-- Upload a PDF with the Files API, wait until it is ready, ask about it.
--
--   lua5.4 examples/upload_pdf.lua [file.pdf] ["question"]
--
-- Without a path it writes a tiny one-page PDF to a temporary file first.
-- The file streams from disk in 8 MiB chunks (a 1 GB PDF costs no more
-- memory than a small one), and an interrupted upload resumes where the
-- server stopped.
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

local path = arg[1]
local question = arg[2] or "What is this document about? Answer in one sentence."

-- A minimal valid PDF: one page with one line of text. The cross-reference
-- table needs each object's byte offset, so the file is assembled in order.
local function tiny_pdf(text)
  local content = string.format("BT /F1 18 Tf 72 720 Td (%s) Tj ET",
    (text:gsub("[\\()]", "\\%0")))
  local objects = {
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
      .. " /Resources << /Font << /F1 5 0 R >> >> >>",
    string.format("<< /Length %d >>\nstream\n%s\nendstream", #content, content),
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  }
  local out, offsets = { "%PDF-1.4\n" }, {}
  local size = #out[1]
  for i, body in ipairs(objects) do
    offsets[i] = size
    local obj = string.format("%d 0 obj\n%s\nendobj\n", i, body)
    out[#out + 1] = obj
    size = size + #obj
  end
  out[#out + 1] = string.format("xref\n0 %d\n0000000000 65535 f \n", #objects + 1)
  for i = 1, #objects do out[#out + 1] = string.format("%010d 00000 n \n", offsets[i]) end
  out[#out + 1] = string.format("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n",
    #objects + 1, size)
  return table.concat(out)
end

local made
if not path then
  path = os.tmpname() .. ".pdf"
  local f = assert(io.open(path, "wb"))
  f:write(tiny_pdf("The lighthouse keeper's log: 14 storms, 3 rescues, 1 cat."))
  f:close()
  made = path
end

local client = gemini.Client{}   -- GEMINI_API_KEY, GEMINI_BASE_URL: see examples/README.md
local model = os.getenv("GEMINI_MODEL") or "gemini-2.5-flash"

local file = check(client.files:upload{
  path = path,                       -- MIME type guessed from ".pdf"
  display_name = path:match("([^/]+)$"),
  on_progress = function(done, total)
    io.stderr:write(string.format("\ruploading: %d / %d bytes", done, total))
  end,
})
io.stderr:write("\n")
print(string.format("uploaded %s (%s, %s bytes, %s)", file.name, file.mimeType,
  file.sizeBytes, file.state))

-- PDFs are usually ACTIVE at once; videos are PROCESSING for a while.
file = check(client.files:wait_active(file, { timeout = 120 }))

-- The File goes straight into contents (as a fileData part).
local res = check(client.models:generate_content{
  model = model, contents = { file, question },
})
print("> " .. question)
print(res.text or "(no text in the answer)")

check(client.files:delete(file))    -- files expire after 48 h anyway
if made then os.remove(made) end
