--- Part and content helpers: the pieces of `contents`.
--
--    local P = gemini.parts
--    contents = { P.content("user", { P.text("What is in this picture?"),
--                                     assert(P.from_file("cat.png")) }) }
--
-- Every helper returns a plain request table in the API's spelling
-- (`{inlineData = {mimeType =, data =}}` ...), so the results can be mixed
-- with hand-written parts.
-- @module gemini.parts
local core = require("gemini.core")
local json = require("gemini.json")
local errors = require("gemini.errors")
local typename = errors.typename

local M = {}

local function need(fname, n, v, what, optional)
  if optional and v == nil then return end
  if type(v) ~= "string" or v == "" then
    errors.misuse(string.format("bad argument #%d to 'parts.%s' (%s expected, got %s)", n, fname, what,
      type(v) == "string" and "an empty string" or typename(v)))
  end
end

-- MIME types by file extension (lower case): the formats Gemini reads, the
-- one table of inline parts and uploads (gemini.files). Where the usual
-- spelling and Gemini's differ, Gemini's documented one wins: "audio/mp3"
-- (its audio guide; the SDKs' Python mimetypes would say "audio/mpeg") and
-- "text/rtf" (its document guide; generateContent refuses
-- "application/rtf" with a 400).
local MIME = {
  png = "image/png", jpg = "image/jpeg", jpeg = "image/jpeg", gif = "image/gif",
  webp = "image/webp", heic = "image/heic", heif = "image/heif", bmp = "image/bmp",
  pdf = "application/pdf", json = "application/json", xml = "application/xml",
  txt = "text/plain", text = "text/plain", md = "text/markdown", markdown = "text/markdown",
  html = "text/html", htm = "text/html", csv = "text/csv", tsv = "text/tab-separated-values",
  css = "text/css", js = "text/javascript", mjs = "text/javascript", py = "text/x-python",
  lua = "text/x-lua", c = "text/x-c", h = "text/x-c", java = "text/x-java",
  rtf = "text/rtf", rtx = "text/richtext",
  mp3 = "audio/mp3", wav = "audio/wav", ogg = "audio/ogg", opus = "audio/opus",
  flac = "audio/flac", aac = "audio/aac", aiff = "audio/aiff", aif = "audio/aiff",
  m4a = "audio/mp4",
  mp4 = "video/mp4", mov = "video/quicktime", mpeg = "video/mpeg", mpg = "video/mpeg",
  avi = "video/x-msvideo", webm = "video/webm", wmv = "video/x-ms-wmv", flv = "video/x-flv",
  mkv = "video/x-matroska", ["3gp"] = "video/3gpp",
}

--- The MIME type for a file name or URI by its extension, or nil.
-- @tparam string name a file name, path or URI
function M.guess_mime_type(name)
  if type(name) ~= "string" then return nil end
  local base = name:gsub("[?#].*$", ""):match("([^/]*)$")
  local ext = base:match("%.([%w]+)$")
  return ext and MIME[ext:lower()] or nil
end

--- A text part: `{text = s}`.
-- @tparam string s the text
function M.text(s)
  if type(s) ~= "string" then
    errors.misuse("bad argument #1 to 'parts.text' (string expected, got " .. typename(s) .. ")")
  end
  return { text = s }
end

--- Inline data from bytes (base64-encoded by the C core):
-- `{inlineData = {mimeType =, data = <base64>}}`.
-- @tparam string data raw bytes
-- @tparam string mime_type e.g. "image/png"
function M.from_bytes(data, mime_type)
  if type(data) ~= "string" then
    errors.misuse("bad argument #1 to 'parts.from_bytes' (string of bytes expected, got "
      .. typename(data) .. ")")
  end
  need("from_bytes", 2, mime_type, "MIME type string")
  return { inlineData = { mimeType = mime_type, data = core.b64encode(data) } }
end

--- Inline data read from a file. Files larger than about 20 MB belong in
-- `client.files:upload` instead (the API's limit on a whole request).
-- @tparam string path the file to read
-- @tparam[opt] string mime_type guessed from the extension when not given
-- @return the part, or nil and a message (file missing or unreadable, or
-- an extension with no known MIME type)
function M.from_file(path, mime_type)
  need("from_file", 1, path, "file path")
  need("from_file", 2, mime_type, "MIME type string", true)
  mime_type = mime_type or M.guess_mime_type(path)
  if not mime_type then
    return nil, string.format("cannot tell the MIME type of %s from its extension;"
      .. " pass it as the second argument", path)
  end
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data, rerr = f:read("*a")
  f:close()
  if not data then return nil, path .. ": " .. tostring(rerr) end
  return M.from_bytes(data, mime_type)
end

--- A file by URI (an uploaded file's `uri`, a YouTube link, ...):
-- `{fileData = {fileUri =, mimeType =}}`.
-- @tparam string uri the file's URI
-- @tparam[opt] string mime_type guessed from the extension when not given
-- (and left out when unknown: the API takes YouTube links without one)
function M.from_uri(uri, mime_type)
  need("from_uri", 1, uri, "URI string")
  need("from_uri", 2, mime_type, "MIME type string", true)
  return { fileData = { fileUri = uri, mimeType = mime_type or M.guess_mime_type(uri) } }
end

--- A function's answer to the model:
-- `{functionResponse = {name =, response =, id =}}`.
-- @tparam string name the function's name
-- @tparam table response a JSON object, sent as written (e.g. `{result = ...}`
-- or `{error = "..."}`)
-- @tparam[opt] string id the id of the call it answers, when the call had one
function M.function_response(name, response, id)
  need("function_response", 1, name, "function name")
  if type(response) ~= "table" then
    errors.misuse("bad argument #2 to 'parts.function_response' (table expected (a JSON object, e.g."
      .. " {result = value}), got " .. typename(response) .. ")")
  end
  if next(response) == nil and getmetatable(response) == nil then
    response = setmetatable({}, json.object_mt)
  end
  need("function_response", 3, id, "call id string", true)
  return { functionResponse = { name = name, response = response, id = id } }
end

local ROLES = { user = true, model = true }

--- A content: `{role =, parts = {...}}`.
-- @tparam string role "user" or "model"
-- @param parts a string, one part, or a list of strings and parts
function M.content(role, parts)
  if not ROLES[role] then
    errors.misuse(string.format("bad argument #1 to 'parts.content' (\"user\" or \"model\" expected,"
      .. " got %s)", type(role) == "string" and string.format("%q", role) or typename(role)))
  end
  local list
  if type(parts) == "string" then
    list = { { text = parts } }
  elseif type(parts) == "table" and #parts == 0 and next(parts) ~= nil then
    list = { parts }   -- one part
  elseif type(parts) == "table" and #parts > 0 then
    list = {}
    for i = 1, #parts do
      local p = parts[i]
      if type(p) == "string" then
        list[i] = { text = p }
      elseif type(p) == "table" and #p == 0 and next(p) ~= nil then
        list[i] = p
      else
        errors.misuse(string.format("bad argument #2 to 'parts.content' (item %d: a string or a part"
          .. " expected, got %s)", i, type(p) == "table" and "a list or an empty table"
          or typename(p)))
      end
    end
  else
    errors.misuse("bad argument #2 to 'parts.content' (a string, a part or a non-empty list of parts"
      .. " expected, got " .. (type(parts) == "table" and "an empty table" or typename(parts))
      .. ")")
  end
  return { role = role, parts = list }
end

return M
