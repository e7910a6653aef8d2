--- `client.files`: uploads with Google's resumable protocol, downloads
-- (gemini.download), and get, list, delete, and waiting for a file to
-- become ACTIVE.
--
-- An upload is one `start` request (the file's metadata; the answer names a
-- session URL) and then the bytes in chunks of `chunk_size`, each POSTed to
-- the session URL with its offset. From a `path`, libcurl reads each chunk
-- straight from the file (gemini.core's `body_file`), so a file of any size
-- costs one socket buffer of memory, never its size. When a chunk fails (a
-- dropped connection, a 5xx, a 4xx about the offset, an answer that takes
-- nothing), the server is asked how many bytes it holds
-- (`X-Goog-Upload-Command: query`) and the upload goes on from there, under
-- the client's retry policy, each chunk from then on over a connection of
-- its own. `files:upload` checks its arguments; the protocol is the upload
-- object of gemini.upload. `get`, `delete` and `list`, and the file names
-- they take (`files/abc`, `abc`, the file's URI or the File), are those of
-- every collection (gemini.resource).
--
-- With the client's `loop`, each method also takes a trailing callback,
-- `cb(err, result)` (for `list`, every file in a list), and returns a
-- handle at once (gemini.async).
-- @module gemini.files
local async = require("gemini.async")
local core = require("gemini.core")
local defaults = require("gemini.defaults")
local download = require("gemini.download")
local errors = require("gemini.errors")
local parts = require("gemini.parts")
local resource = require("gemini.resource")
local upload = require("gemini.upload")

local Files = resource.service{ collection = "files", field = "files", noun = "file name",
                                expected = "file name or File" }
local check_self = Files.check_self

--- Chunk size of both official SDKs (a multiple of the server's 256 KiB granularity).
Files.CHUNK_SIZE = defaults.chunk_size

--- The MIME type of a file name by its extension, or nil: the table of
-- `gemini.parts` (anything else needs an explicit mime_type).
-- @tparam string name
Files.guess_mime_type = parts.guess_mime_type

--- Uploads a file with the resumable protocol.
-- @tparam table args `{path= | data=, mime_type=, display_name=, name=,
--   on_progress=function(done, total), chunk_size= (8 MiB), http_options=}`.
--   `path` streams the file from disk chunk by chunk; `data` is a Lua string
--   sent as it is. `mime_type` is guessed from the file name (or from
--   `display_name` for `data`) when not given. `chunk_size` is rounded up to
--   the server's granularity (256 KiB at Google). `on_progress(done, total)`
--   is called as bytes go out (done never decreases) and once with
--   `total, total` at the end.
-- @tparam[opt] function cb with the client's loop: `cb(err, file)`, and a handle is returned at once
-- @return the File (`name`, `uri`, `mimeType`, `state`, ...), usable directly
--   in `contents`; or nil, `gemini.Error`
function Files:upload(args, cb)
  check_self(self, "upload")
  if cb ~= nil then
    return async.call(self.client, "upload", 2, cb, function(c) return c.files:upload(args) end)
  end
  local fname = "upload"
  errors.arg(fname, 1, args, "table")
  errors.known_fields(fname, args, { "path", "data", "mime_type", "display_name", "name", "on_progress",
    "chunk_size", "http_options" }, nil, true)
  local F = function(k, t) return errors.field(fname, k, args[k], t, true) end
  local path, data = F("path", "string"), F("data", "string")
  local mime = F("mime_type", "string") or F("mimeType", "string")
  local display = F("display_name", "string") or F("displayName", "string")
  local name = F("name", "string")
  local on_progress = F("on_progress", "function")
  local chunk = F("chunk_size", "number") or Files.CHUNK_SIZE
  local ho = self.client:_check_http_options(args.http_options, fname)
  if (path == nil) == (data == nil) then
    errors.misuse("bad argument #1 to 'upload' (exactly one of 'path' and 'data' expected)")
  end
  if chunk < 1 or chunk ~= math.floor(chunk) then
    errors.misuse("bad field 'chunk_size' to 'upload' (a positive integer expected)")
  end
  mime = mime or Files.guess_mime_type(path or display or name)
  if not mime then
    errors.misuse(string.format("bad argument #1 to 'upload' (cannot guess the MIME type of %s;"
      .. " pass mime_type, e.g. mime_type = \"application/pdf\")",
      path and string.format("%q", path) or "data"))
  end
  if name and not name:find("^files/") then name = "files/" .. name end
  local total = path and upload.file_size(path, "files:upload") or #data
  local u, err = upload.start(self.client, {
    path = path, data = data, total = total, mime_type = mime, display_name = display, name = name,
    chunk_size = chunk, http_options = ho, on_progress = on_progress,
  })
  if not u then return nil, err end
  return u:run()
end

--- Downloads a file (generated media, batch result files): streamed to
-- disk piece by piece with `path`, else returned as a string of at most the
-- client's `max_response_size` bytes. The API redirects the download to a
-- signed URL, which is followed without sending the key to another origin;
-- a cut download resumes with a Range request (see gemini.download).
-- @tparam table args `{file=, path=, on_progress = function(done, total),
--   http_options=}`: `file` is a File, a video (`op.response.generated_videos[i].video`,
--   or the generated video itself), "files/abc", "abc" or a URI naming
--   `files/abc`; `on_progress` gets the bytes so far and the file's size
--   (nil until the server says it), done never decreasing, last `(n, n)`
-- @tparam[opt] function cb with the client's loop: `cb(err, result)`, and a handle is returned at once
-- @return with `path`, the number of bytes written (the file is complete at
--   `path`; on failure nothing is left there); without, the bytes; or nil,
--   `gemini.Error`
function Files:download(args, cb)
  check_self(self, "download")
  if cb ~= nil then
    return async.call(self.client, "download", 2, cb, function(c) return c.files:download(args) end)
  end
  errors.arg("download", 1, args, "table")
  errors.known_fields("download", args, { "file", "path", "on_progress", "http_options" })
  local path = errors.field("download", "path", args.path, "string", true)
  local on_progress = errors.field("download", "on_progress", args.on_progress, "function", true)
  local ho = self.client:_check_http_options(args.http_options, "download")
  if not download.file_id(args.file) then
    errors.misuse(string.format("bad field 'file' to 'download' (%s expected, got %s)", download.EXPECTED,
      download.describe(args.file)))
  end
  return download.fetch(self.client, args.file,
    { path = path, on_progress = on_progress, http_options = ho })
end

-- google.rpc.Code names, for a FAILED file's error.
local RPC_CODES = {
  [1] = "CANCELLED", [2] = "UNKNOWN", [3] = "INVALID_ARGUMENT", [4] = "DEADLINE_EXCEEDED",
  [5] = "NOT_FOUND", [7] = "PERMISSION_DENIED", [8] = "RESOURCE_EXHAUSTED",
  [9] = "FAILED_PRECONDITION", [13] = "INTERNAL", [14] = "UNAVAILABLE",
}

--- Polls a file until it is ACTIVE (videos are PROCESSING for a while
-- after their upload).
-- @tparam string|table file a File or a name
-- @tparam[opt] table opts `{timeout= (seconds, 300), interval= (seconds, 2)}`
-- @tparam[opt] function cb with the client's loop: `cb(err, file)`, and a handle is returned at once
-- @return the ACTIVE File; or nil, `gemini.Error`: kind "api" (status from
--   the file's error) when processing FAILED (the error's `file` field holds
--   the File), kind "timeout" when the time is up, or the error of a `get`
function Files:wait_active(file, opts, cb)
  check_self(self, "wait_active")
  if type(opts) == "function" and cb == nil then opts, cb = nil, opts end
  if cb ~= nil then
    return async.call(self.client, "wait_active", 3, cb,
      function(c) return c.files:wait_active(file, opts) end)
  end
  local name = Files.normalize_name(file, "wait_active")
  errors.arg("wait_active", 2, opts, "table", true)
  errors.known_fields("wait_active", opts, { "timeout", "interval" })
  opts = opts or {}
  local timeout = errors.field("wait_active", "timeout", opts.timeout, "number", true)
    or defaults.wait_timeout
  local interval = errors.field("wait_active", "interval", opts.interval, "number", true)
    or defaults.wait_interval
  if timeout < 0 or interval < 0 then
    errors.misuse("bad argument #2 to 'wait_active' (timeout and interval must not be negative)")
  end
  local client = self.client
  local deadline = core.now() + timeout
  local f = type(file) == "table" and file.state ~= nil and file or nil
  while true do
    if not f then
      local err
      f, err = client:_call{ method = "GET", path = name }
      if not f then return nil, err end
    end
    if f.state == "ACTIVE" then return f end
    if f.state == "FAILED" then
      local e = type(f.error) == "table" and f.error or {}
      local code = tonumber(e.code)
      return nil, client:error("api", string.format("%s failed processing: %s", name,
        tostring(e.message or "no reason given")),
        { status = RPC_CODES[code] or "FAILED_PRECONDITION", details = e.details, file = f })
    end
    local left = deadline - core.now()
    if left <= 0 then
      return nil, client:error("timeout", string.format(
        "%s is still %s after %gs (wait_active timeout)", name, tostring(f.state), timeout),
        { file = f })
    end
    client.transport:sleep(math.min(interval, left))
    f = nil
  end
end

return Files
