--- `client.files`: uploads with Google's resumable protocol, and get, list,
-- delete, and waiting for a file to become ACTIVE.
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
-- its own.
-- @module gemini.files
local core = require("gemini.core")
local errors = require("gemini.errors")
local json = require("gemini.json")
local parts = require("gemini.parts")
local retry = require("gemini.retry")

local Files = {}
Files.__index = Files

--- Chunk size of both official SDKs (a multiple of the server's 256 KiB granularity).
Files.CHUNK_SIZE = 8 * 1024 * 1024

-- MIME types by file extension: those of `gemini.parts` (the formats the
-- Gemini API takes), plus more text types and a few other spellings.
-- Anything else needs an explicit mime_type.
local MIME = {
  rtf = "application/rtf", mp3 = "audio/mp3",
  text = "text/plain", markdown = "text/markdown", tsv = "text/tab-separated-values",
  mjs = "text/javascript", c = "text/x-c", h = "text/x-c", java = "text/x-java",
  rtx = "text/richtext", aif = "audio/aiff", opus = "audio/opus", mkv = "video/x-matroska",
}

--- The MIME type of a file name by its extension, or nil.
-- @tparam string name
function Files.guess_mime_type(name)
  local ext = type(name) == "string" and name:match("%.([%w]+)$")
  if not ext then return nil end
  ext = ext:lower()
  return MIME[ext] or parts.guess_mime_type("." .. ext)
end

--- Creates the service; `client.files` is one.
function Files.new(client)
  return setmetatable({ client = client }, Files)
end

local function check_self(self, fname)
  if getmetatable(self) ~= Files then
    error(string.format("bad self to '%s' (call it as client.files:%s(...))", fname, fname), 3)
  end
end

--- `files/abc` from `files/abc`, `abc`, a full `https://.../files/abc` URI or
-- a File table; raises for anything else.
function Files.normalize_name(v, fname)
  fname = fname or "?"
  if type(v) == "table" then v = v.name end
  if type(v) ~= "string" or v == "" then
    error(string.format("bad argument #1 to '%s' (file name or File expected, got %s)",
      fname, v == "" and "empty string" or type(v)), 3)
  end
  local id = v:match("^https?://[^?#]-/files/([^/?#]+)$") or v:match("^files/(.*)$") or v
  if not id:match("^[%w][%w%-_%.]*$") or id:find("..", 1, true) then
    error(string.format("bad argument #1 to '%s' (invalid file name %q)", fname, v), 3)
  end
  return "files/" .. id
end

local function basename(path)
  return path:match("([^/]+)$") or path
end

-- scheme://host:port of a URL, lower case, for the same-origin check.
local function origin(url)
  local scheme, host = url:match("^(%a[%w+.-]*)://([^/?#]+)")
  if not scheme then return nil end
  scheme, host = scheme:lower(), host:lower():gsub("^.*@", "")
  if not host:find(":%d+$") then host = host .. (scheme == "https" and ":443" or ":80") end
  return scheme .. "://" .. host
end

-- Headers of a call merged with the protocol's own.
local function with_headers(ho, extra)
  local h = {}
  for k, v in pairs(ho and ho.headers or {}) do h[k] = v end
  for k, v in pairs(extra) do h[k] = v end
  return { headers = h, timeout = ho and ho.timeout, retry = ho and ho.retry }
end

-- The size of a file on disk, without reading it.
local function file_size(path)
  local f, msg = io.open(path, "rb")
  if not f then
    error("gemini: files:upload: cannot open " .. msg, 3)
  end
  local _, rerr = f:read(0)     -- a directory opens, but cannot be read
  local size = f:seek("end")
  f:close()
  if rerr or not size then
    error(string.format("gemini: files:upload: cannot read %q: %s", path, tostring(rerr or "seek failed")), 3)
  end
  return size
end

local function fmt_int(n)
  return string.format("%d", n)
end

-- ---- the upload protocol ------------------------------------------------------
--
-- One upload is a table `u` that the functions below share: the client,
-- the session `url`, `total` bytes, the `chunk` size, the source (`path`
-- or `data`), the retry `policy` (and its status `codes`), and where it
-- stands: `offset` (the bytes the server holds), `fails` in a row without
-- progress, `best` (the furthest offset reached) and `fresh` (every chunk
-- on a connection of its own, once one has failed).

-- A byte count in a header of the upload protocol: a decimal integer of at
-- most 15 digits (exact in every Lua's numbers); nil when the header is
-- absent, false when it is there but no such count.
local function header_count(res, name)
  local v = res.headers[name]
  if v == nil then return nil end
  if #v > 15 or not v:find("^%d+$") then return false end
  return tonumber(v)
end

-- The error for a header that is no usable byte count.
local function bad_header(client, res, answer, name)
  return client:error("decode", string.format("the %s has an invalid %s (%q)", answer, name,
    tostring(res.headers[name:lower()])), { code = res.status })
end

-- The outcome of one HTTP exchange with the upload session:
--   "final", file    the upload is complete;
--   "active", count, code  the server holds `count` bytes (nil: it did not
--                    say), answered with HTTP status `code`;
--   "resync", err    the server says it is active, whatever went wrong:
--                    ask it where it stands;
--   "check", err     an error the retry policy does not retry (a 4xx): it
--                    may still be about the offset (a server that kept part
--                    of a chunk libcurl then re-sent whole); the server's
--                    offset tells, else the error stands;
--   "retry", err     a failure the retry policy may retry;
--   "fail", err      the end.
local function classify(u, res, kind, msg, final)
  local client = u.client
  if not res then
    return "retry", client:transport_error(kind, msg, final)
  end
  local status = res.headers["x-goog-upload-status"]
  status = status and status:lower()
  if res.status >= 200 and res.status <= 299 then
    if status == "final" then
      local v = json.decode(res.body)
      local file = type(v) == "table" and v.file
      if type(file) ~= "table" then
        return "fail", client:error("decode", "the finished upload's answer has no file",
          { code = res.status })
      end
      return "final", file
    elseif status == "active" then
      local count = header_count(res, "x-goog-upload-size-received")
      if count == false or (count and count > u.total) then
        return "fail", bad_header(client, res, "upload answer", "X-Goog-Upload-Size-Received")
      end
      return "active", count, res.status
    elseif status == "cancelled" then
      return "fail", client:error("api", "the upload was cancelled by the server",
        { code = res.status, status = "CANCELLED" })
    end
    -- No status: the SDKs resend the chunk; asking first is safer.
    return "resync", client:error("api", "upload answer without X-Goog-Upload-Status",
      { code = res.status })
  end
  local _, err = client:_answer(res)
  if status == "cancelled" then return "fail", err end
  -- An error that still says "active" (a wrong offset): the server knows
  -- where it stands, ask it.
  if status == "active" then return "resync", err end
  if res.status < 500 and not u.codes[res.status] then return "check", err end
  return "retry", err
end

-- The transport spec of one request to the session URL.
local function spec_for(u, extra, fields)
  local client = u.client
  local spec = client:_spec{ method = "POST", url = u.url, http_options = with_headers(u.ho, extra) }
  if not u.same_origin then
    -- The session URL authorises the upload; the key goes along only when
    -- it points at the configured server (as the JS SDK does).
    local h = {}
    for _, line in ipairs(spec.headers) do
      local lower = line:lower()
      if not lower:find("^x%-goog%-api%-key:") and not lower:find("^authorization:") then
        h[#h + 1] = line
      end
    end
    spec.headers = h
  end
  for k, v in pairs(fields or {}) do spec[k] = v end
  return spec
end

-- One failure more without progress: waits as the retry policy says and
-- returns true, or returns false to give up. A resync or a check asks the
-- server at once. From now on each chunk goes on a connection of its own:
-- libcurl re-sends a request by itself, body and all from its first byte,
-- when a reused connection dies before an answer, and a server that kept
-- part of the first try then refuses the offset.
local function failed(u, what, e)
  u.fails = u.fails + 1
  u.fresh = true
  local policy = u.policy
  if not policy or u.fails >= policy.attempts then return false end
  local wait = 0
  if what == "retry" then
    wait = retry.backoff(policy, u.fails, e)
    if not wait then return false end
  end
  u.client:_log("gemini: upload: %s; asking the server for its offset in %.3fs", tostring(e), wait)
  if wait > 0 then u.client.transport:sleep(wait) end
  return true
end

-- Asks the server how far it got: "active" (u.offset set), or "final",
-- file, or nil, err.
local function query(u)
  while true do
    local res, kind, msg, final = u.client.transport:request(spec_for(u,
      { ["X-Goog-Upload-Command"] = "query" }))
    local what, v = classify(u, res, kind, msg, final)
    if what == "final" then return "final", v end
    if what == "active" then
      if not v then
        return nil, u.client:error("decode", "the upload query answer has no"
          .. " X-Goog-Upload-Size-Received", { code = res.status })
      end
      u.offset = v
      return "active"
    end
    if what == "fail" or what == "check" or not failed(u, what, v) then return nil, v end
  end
end

-- Sends the chunk of `n` bytes at u.offset; returns classify's outcome.
local function send_chunk(u, n, last)
  local at = u.offset
  local fields
  if n == 0 then
    fields = { body = "" }
  elseif u.path then
    fields = { body_file = u.path, body_offset = at, body_length = n }
  elseif at == 0 and n == u.total then
    fields = { body = u.data }
  else
    fields = { body = u.data:sub(at + 1, at + n) }
  end
  fields.fresh_connect = u.fresh or nil
  local progress = u.progress
  if progress then
    fields.on_progress = function(up) progress(at + math.min(up, n)) end
  end
  local spec = spec_for(u, {
    ["X-Goog-Upload-Command"] = last and "upload, finalize" or "upload",
    ["X-Goog-Upload-Offset"] = fmt_int(at),
  }, fields)
  u.client:_log("gemini: upload %d bytes at offset %d of %d", n, at, u.total)
  local res, kind, msg, final = u.client.transport:request(spec)
  return classify(u, res, kind, msg, final)
end

-- Sends the chunks from offset 0 on until the server has the whole file:
-- the File, or nil, err.
local function send_all(u)
  local client = u.client
  while true do
    local at = u.offset
    local n = math.min(u.chunk, u.total - at)
    local last = at + n >= u.total
    local what, v, code = send_chunk(u, n, last)
    if what == "final" then
      if u.progress then u.progress(u.total) end   -- also the one (0, 0) call of an empty file
      return v
    elseif what == "fail" then
      return nil, v
    elseif what == "active" then
      local got = v or at + n     -- a server that does not say took the chunk
      if got == u.total and last then
        return nil, client:error("api", "all bytes were sent, but the upload was not finalized",
          { code = code })
      elseif got > at then
        u.offset = got
      else
        -- An answer that moves nothing is a failure like any other: a
        -- server that keeps saying "active" must not be asked forever.
        what, v = "resync", client:error("api", string.format("the server took none of the %d"
          .. " bytes sent at offset %d (X-Goog-Upload-Size-Received: %d)", n, at, got), { code = code })
      end
    end
    if what ~= "active" then
      if not failed(u, what, v) then return nil, v end
      local state, file = query(u)
      if state == "final" then
        if u.progress then u.progress(u.total) end
        return file
      elseif not state then
        return nil, file
      elseif what == "check" and u.offset == at then
        return nil, v       -- the server holds what it held: not about the offset
      end
    end
    if u.offset > u.best then u.best, u.fails = u.offset, 0 end
  end
end

--- Uploads a file with the resumable protocol.
-- @tparam table args `{path= | data=, mime_type=, display_name=, name=,
--   on_progress=function(done, total), chunk_size= (8 MiB), http_options=}`.
--   `path` streams the file from disk chunk by chunk; `data` is a Lua string
--   sent as it is. `mime_type` is guessed from the file name (or from
--   `display_name` for `data`) when not given. `chunk_size` is rounded up to
--   the server's granularity (256 KiB at Google). `on_progress(done, total)`
--   is called as bytes go out (done never decreases) and once with
--   `total, total` at the end.
-- @return the File (`name`, `uri`, `mimeType`, `state`, ...), usable directly
--   in `contents`; or nil, `gemini.Error`
function Files:upload(args)
  check_self(self, "upload")
  local fname = "upload"
  errors.arg(fname, 1, args, "table")
  local F = function(k, t) return errors.field(fname, k, args[k], t, true) end
  local path, data = F("path", "string"), F("data", "string")
  local mime = F("mime_type", "string") or F("mimeType", "string")
  local display = F("display_name", "string") or F("displayName", "string")
  local name = F("name", "string")
  local on_progress = F("on_progress", "function")
  local chunk = F("chunk_size", "number") or Files.CHUNK_SIZE
  local ho = F("http_options", "table")
  if (path == nil) == (data == nil) then
    error("bad argument #1 to 'upload' (exactly one of 'path' and 'data' expected)", 2)
  end
  if chunk < 1 or chunk ~= math.floor(chunk) then
    error("bad field 'chunk_size' to 'upload' (a positive integer expected)", 2)
  end
  mime = mime or Files.guess_mime_type(path or display or name)
  if not mime then
    error(string.format("bad argument #1 to 'upload' (cannot guess the MIME type of %s;"
      .. " pass mime_type, e.g. mime_type = \"application/pdf\")",
      path and string.format("%q", path) or "data"), 2)
  end
  if name and not name:find("^files/") then name = "files/" .. name end
  local total = path and file_size(path) or #data

  local client = self.client
  local version = client.api_version ~= "" and client.api_version or "v1beta"
  local start_headers = {
    ["X-Goog-Upload-Protocol"] = "resumable",
    ["X-Goog-Upload-Command"] = "start",
    ["X-Goog-Upload-Header-Content-Length"] = fmt_int(total),
    ["X-Goog-Upload-Header-Content-Type"] = mime,
  }
  if path and not basename(path):find("[%c]") then
    start_headers["X-Goog-Upload-File-Name"] = basename(path)
  end
  local meta = { mimeType = mime, sizeBytes = fmt_int(total), displayName = display, name = name }
  local res, err = client:_call{
    method = "POST", path = "upload/" .. version .. "/files", raw_path = true, raw = true,
    body = json.encode_verbatim({ file = meta }),
    http_options = with_headers(ho, start_headers),
  }
  if not res then return nil, err end
  local url = res.headers["x-goog-upload-url"]
  if not url or not url:match("^https?://") then
    return nil, client:error("decode", "the upload start answer has no usable X-Goog-Upload-URL",
      { code = res.status })
  end
  local granularity = header_count(res, "x-goog-upload-chunk-granularity")
  if granularity == false or granularity == 0 then
    return nil, bad_header(client, res, "upload start answer", "X-Goog-Upload-Chunk-Granularity")
  elseif granularity then
    chunk = math.ceil(chunk / granularity) * granularity
  end

  local policy = client:_retries(ho).policy
  local u = {
    client = client, url = url, same_origin = origin(url) == origin(client.base_url), ho = ho,
    total = total, chunk = chunk, path = path, data = data,
    policy = policy, codes = policy and policy.codes or {},
    offset = 0, fails = 0, best = 0, fresh = false,
  }
  if on_progress then
    local reported = -1
    u.progress = function(done)
      if done > total then done = total end
      if done > reported then
        reported = done
        on_progress(done, total)
      end
    end
  end
  return send_all(u)
end

--- One file's metadata.
-- @tparam string|table name `files/abc`, `abc`, its URI, or a File
-- @return the File, or nil, `gemini.Error`
function Files:get(name)
  check_self(self, "get")
  return self.client:_call{ method = "GET", path = Files.normalize_name(name, "get") }
end

--- Deletes a file.
-- @tparam string|table name as for `get`
-- @return true, or nil, `gemini.Error`
function Files:delete(name)
  check_self(self, "delete")
  local res, err = self.client:_call{ method = "DELETE", path = Files.normalize_name(name, "delete") }
  if not res then return nil, err end
  return true
end

--- Iterates over every file, page after page; raises the `gemini.Error`
-- when a page fails.
-- @tparam[opt] table opts `{page_size=, page_token=}`
function Files:list(opts)
  check_self(self, "list")
  errors.arg("list", 1, opts, "table", true)
  return self.client:_pages("files", "files", opts)
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
-- @return the ACTIVE File; or nil, `gemini.Error`: kind "api" (status from
--   the file's error) when processing FAILED (the error's `file` field holds
--   the File), kind "timeout" when the time is up, or the error of a `get`
function Files:wait_active(file, opts)
  check_self(self, "wait_active")
  local name = Files.normalize_name(file, "wait_active")
  errors.arg("wait_active", 2, opts, "table", true)
  opts = opts or {}
  local timeout = errors.field("wait_active", "timeout", opts.timeout, "number", true) or 300
  local interval = errors.field("wait_active", "interval", opts.interval, "number", true) or 2
  if timeout < 0 or interval < 0 then
    error("bad argument #2 to 'wait_active' (timeout and interval must not be negative)", 2)
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
