--- Downloads: a file's bytes, read as they arrive, resumed after a cut.
--
-- `open(client, file, opts)` is the core: it asks for
-- `GET {base}/{version}/files/{id}:download?alt=media` (the SDKs' path,
-- wire-format-2 §14.1) and returns a reader of the body. The API answers
-- that request with a redirect to a signed URL (§14.3): the reader follows
-- it itself (libcurl would send the API key along, the SDKs' HTTP stacks
-- too), at most `MAX_REDIRECTS` hops, with the credentials only while
-- every hop stays on the client's own origin (scheme, host and port of
-- `base_url`), and never from https to http. No other call follows a
-- redirect (libcurl does not by itself).
--
-- When the body is cut (a dropped connection, a timeout, a body that ends
-- short of its Content-Length), the reader asks again from the byte it
-- got to with `Range: bytes=N-`, under the client's retry policy (whose
-- count of failures starts again whenever bytes came in): a 206 answer
-- goes on from there; a 200 answer (a server without Range) sends the
-- whole file again and the bytes already handed over are read and
-- dropped, so the reader's bytes are one unbroken stream either way;
-- anything else ends the download with its error. Each request gets the
-- whole `timeout` (there is no deadline over the download: a large file on
-- a slow link goes on across timeouts, resuming each time).
--
-- Everything goes through the client's transport (`client:_open_body`), so
-- a download works the same blocking on libcurl, in the callback API's
-- tasks on a luv loop, and on OpenResty's cosockets.
--
--   local reader, err = download.open(client, "files/batch-abc")
--   while true do
--     local piece, err = reader:read()
--     if not piece then break end        -- err set: the download failed
--     ...
--   end
--   reader:close()
--
-- `files:download` (gemini.files) writes a download to a file or collects
-- it into a string on top of this (`fetch`).
-- @module gemini.download
local defaults = require("gemini.defaults")
local errors = require("gemini.errors")
local resource = require("gemini.resource")

local M = {}

--- Redirects followed before a download gives up (the API answers one).
M.MAX_REDIRECTS = defaults.max_redirects

-- An error answer's body is read up to this many bytes, for its message.
local ERROR_BODY_MAX = 1024 * 1024

local REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

--- What `open` and `files:download` take as a file, for messages.
M.EXPECTED = "a File, a video, a file name or a file URI"

-- Where the video of a video operation is, for a message about an
-- operation passed as a file.
local OPERATION_HINT = "; a video operation's video is op.response.generated_videos[1].video"

--- What a value that `file_id` refused is, for the "got ..." of a message:
-- a string quoted (cut short), a table by its name or uri, and for an
-- operation (or its name) where its video is.
-- @param file the value
-- @treturn string
function M.describe(file)
  if type(file) == "string" then
    return string.format("%q", errors.snippet(file, 60)) .. (file:find("/operations/") and OPERATION_HINT or "")
  end
  if type(file) ~= "table" then return errors.typename(file) end
  local name = type(file.name) == "string" and file.name or nil
  if file.done ~= nil or file.response ~= nil or (name and name:find("/operations/")) then
    return "an operation" .. OPERATION_HINT
  end
  if name then return string.format("a table named %q", errors.snippet(name, 60)) end
  if type(file.uri) == "string" then return string.format("a table of uri %q", errors.snippet(file.uri, 60)) end
  return "a table without name, uri or video"
end

--- The id of a file to download (`abc` of `files/abc`), from a File
-- (`name`), a video (`uri`), a generated video (`video.uri`), a name
-- ("files/abc" or "abc") or a URI naming `files/abc` (its host is not
-- used: the file is downloaded through the client's own base URL and auth,
-- as the SDKs do). Returns nil for anything else.
--
-- The id is the whole path segment after `files/` (`files/([^/:?#]+)`),
-- a deliberate difference from the SDKs' `[a-z0-9]+`, which cuts
-- `batch-...` ids short (wire-format-2 §14.2, §16.6).
-- @local
function M.file_id(file)
  if type(file) == "table" then
    if type(file.video) == "table" then file = file.video end
    file = file.name or file.uri
  end
  if type(file) ~= "string" then return nil end
  local id
  if file:find("^%a[%w+.-]*://") then
    id = file:match("/files/([^/:?#]+)")
  else
    id = file:match("^files/([^/:?#]+)") or file
  end
  if id and id:find(resource.ID) and not id:find("..", 1, true) then return id end
  return nil
end

-- The URL a redirect's Location points to, resolved against the URL that
-- answered (absolute, scheme-relative, path-absolute or relative to its
-- directory), its fragment dropped; nil and why it cannot be followed.
local function resolve(base, location)
  if type(location) ~= "string" or location == "" then return nil, "it has no Location" end
  if location:find("[%c ]") then return nil, "its Location is no URL" end
  location = location:gsub("#.*$", "")
  local target
  if location:find("^%a[%w+.-]*:") then
    target = location
  elseif location:sub(1, 2) == "//" then
    target = base:match("^%a[%w+.-]*:") .. location
  elseif location:sub(1, 1) == "/" then
    target = base:match("^%a[%w+.-]*://[^/?#]*") .. location
  else
    target = base:gsub("[?#].*$", ""):match("^(.*/)") .. location
  end
  local scheme = target:match("^(%a[%w+.-]*)://[^/?#]")
  scheme = scheme and scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then
    return nil, "its Location is not an http(s) URL"
  end
  if scheme == "http" and base:lower():find("^https:") then
    return nil, "it goes from https to http"
  end
  return target
end

-- A byte count of a header: a decimal integer of at most 15 digits (exact
-- in every Lua's numbers), else nil.
local function count(v)
  if type(v) == "string" then v = v:match("^%s*(%d+)%s*$") end
  return v and #v <= 15 and tonumber(v) or nil
end

-- The error of a non-2xx answer, from (the start of) its body.
local function error_answer(client, body)
  local parts, n = {}, 0
  while n <= ERROR_BODY_MAX do
    local piece = body:read()
    if not piece then break end
    parts[#parts + 1] = piece
    n = n + #piece
  end
  body:close()
  local _, err = client:_answer({ status = body.status, headers = body.headers,
                                  body = table.concat(parts) })
  return err
end

--- A download under way: `status` and `headers` of the answer that
-- started it, `size` (the file's size in bytes when the server said it),
-- `name` ("files/abc"), and `read` / `close`.
-- @type Reader
local Reader = {}
Reader.__index = Reader

-- Asks for the file from byte `pos` on, following redirects: the body of a
-- 2xx answer, or nil, err.
function Reader:_request(pos)
  local client, url, own = self.client, self.url, true
  -- Offsets (Range, Content-Length) are those of the file's own bytes.
  local headers = { ["Accept-Encoding"] = "identity" }
  if pos > 0 then headers.Range = string.format("bytes=%d-", pos) end
  for hop = 0, M.MAX_REDIRECTS do
    local spec = client:_spec{ method = "GET", url = url, headers = headers, stream = true,
                               anonymous = not own, http_options = self.http_options }
    -- A download is as large as its file: `fetch` bounds what it keeps.
    spec.max_body = nil
    client:_log_request(spec, hop == 0 and "download" or ("download, redirect " .. hop))
    local body, kind, msg, final = client:_open_body(spec, self.retries:attempt())
    if not body then
      local err = client:transport_error(kind, msg, final)
      client:_log("gemini: -> %s", tostring(err))
      return nil, err
    end
    local status = body.status
    client:_log("gemini: -> HTTP %d (download)", status)
    if not REDIRECT[status] then
      if status >= 200 and status <= 299 then return body end
      return nil, error_answer(client, body)
    end
    local location = body.headers.location
    body:close()
    local target, why = resolve(url, location)
    if not target then
      return nil, client:error("api", string.format("the download's redirect (HTTP %d) cannot be"
        .. " followed: %s", status, why), { code = status, final = true })
    end
    url = target
    -- Once off the client's origin, no credential goes anywhere again.
    own = own and client:_own_origin(url)
  end
  return nil, client:error("api", string.format("the download was redirected more than %d times",
    M.MAX_REDIRECTS), { final = true })
end

-- Takes the 2xx answer `body` to a request from byte `pos`: the file's
-- size, and how many bytes of the body come before `pos` (all of them up
-- to it when the server sent the whole file); an error when the answer
-- does not fit the file.
function Reader:_accept(body, pos)
  local client, h = self.client, body.headers
  local size, skip
  if body.status == 206 then
    local first, total = (h["content-range"] or ""):match("^%s*bytes%s+(%d+)%-%d+/(%S+)")
    if count(first) ~= pos then
      return client:error("decode", string.format("the server resumed the download at %s,"
        .. " not at byte %d (Content-Range %q)", first and "byte " .. first or "no byte",
        pos, tostring(h["content-range"])), { code = 206, final = true })
    end
    size, skip = count(total), 0
  else
    -- A coded body's Content-Length is not the file's size.
    local coded = h["content-encoding"] and h["content-encoding"]:lower() ~= "identity"
    size, skip = not coded and count(h["content-length"]) or nil, pos
    if pos > 0 then
      client:_log("gemini: download: the server sent the whole file again (HTTP %d to a Range"
        .. " request); its first %d bytes are read and dropped", body.status, pos)
    end
  end
  if size and self.size and size ~= self.size then
    return client:error("decode", string.format("the file's size changed during the download"
      .. " (%d bytes, then %d)", self.size, size), { code = body.status, final = true })
  end
  self.size = self.size or size
  self.skip = skip
  self.body = body
  if not self.status then self.status, self.headers = body.status, h end
  return nil
end

-- Opens the body from byte `pos`, retrying as the policy says: true, or
-- nil, err.
function Reader:_open()
  while true do
    local body, err = self:_request(self.pos)
    if body then
      err = self:_accept(body, self.pos)
      if not err then return true end
      body:close()
    end
    if not self.retries:wait(err) then return nil, err end
  end
end

-- Ends the download with `err`; every later read returns it.
function Reader:_fail(err)
  self:close()
  self.err = err
  return nil, err
end

--- The next piece of the file: a non-empty string; nil at its end; nil,
-- `gemini.Error` when the download failed (then again on every call).
-- A cut is resumed inside this call (see the module).
function Reader:read()
  while not self.closed do
    if not self.body then
      local ok, err = self:_open()
      if not ok then return self:_fail(err) end
    end
    local piece, kind, msg, final = self.body:read()
    if piece then
      if self.skip > 0 then     -- bytes before `pos` of a whole file sent again
        local n = math.min(self.skip, #piece)
        self.skip = self.skip - n
        piece = n < #piece and piece:sub(n + 1) or nil
      end
      if piece then
        self.pos = self.pos + #piece
        return piece
      end
    else
      local err
      if kind then
        err = self.client:transport_error(kind, msg, final)
      elseif self.skip > 0 or (self.size and self.pos < self.size) then
        err = self.client:error("transport", string.format("the download's body ended at byte %d"
          .. " of %s", self.pos - self.skip, self.size and tostring(self.size) or "the file"))
      else
        self:close()
        return nil
      end
      self.body:close()
      self.body = nil
      self.client:_log("gemini: download of %s cut at byte %d: %s", self.name, self.pos,
        tostring(err))
      if self.pos > self.best then
        self.best = self.pos
        self.retries:reset()
      end
      if not self.retries:wait(err) then return self:_fail(err) end
    end
  end
  return nil, self.err
end

--- Ends the download at once (the connection is closed); later reads
-- return nil. Harmless when repeated.
function Reader:close()
  self.closed = true
  if self.body then
    self.body:close()
    self.body = nil
  end
end

Reader.__close = Reader.close
Reader.__gc = Reader.close

--- Opening a download, and a whole file at once.
-- @section download

--- Starts downloading a file: a reader once the first answer's headers
-- are in, or nil, `gemini.Error` (the API's error for an unknown file, a
-- redirect that cannot be followed, a transport failure after the retries).
-- @param client the client (or its twin in a callback API task)
-- @param file a File, a video `{uri=}`, a generated video `{video=}`,
--   "files/abc", "abc", or a URI naming `files/abc` (see `file_id`)
-- @tparam[opt] table opts `{offset = 0 (the byte to start at; a server
--   without Range support sends the whole file and the bytes before it are
--   dropped), http_options =}`
-- @return a `Reader`: `reader:read()` gives the file's bytes from `offset`
--   on, piece by piece (nil at the end, nil, err on failure), `reader:close()`;
--   `reader.size` (the file's size, or nil when the server did not say),
--   `reader.status`, `reader.headers`, `reader.name`
function M.open(client, file, opts)
  local fname = "download.open"
  if type(client) ~= "table" or type(client._spec) ~= "function" then
    errors.misuse("bad argument #1 to 'download.open' (client expected, got " .. errors.typename(client)
      .. ")")
  end
  errors.arg(fname, 3, opts, "table", true)
  opts = opts or {}
  local id = M.file_id(file)
  if not id then
    errors.misuse(string.format("bad argument #2 to '%s' (%s expected, got %s)", fname, M.EXPECTED,
      M.describe(file)))
  end
  local offset = errors.field(fname, "offset", opts.offset, "number", true) or 0
  if offset < 0 or offset ~= math.floor(offset) or offset >= 2 ^ 53 then
    errors.misuse("bad field 'offset' to 'download.open' (a byte offset >= 0 expected)")
  end
  local ho = client:_check_http_options(opts.http_options, fname)
  local r = setmetatable({
    client = client, name = "files/" .. id, http_options = ho,
    url = client:url("files/" .. id .. ":download", { alt = "media" }),
    pos = offset, best = offset, skip = 0,
    retries = client:_retries(ho),   -- no deadline: see the module
  }, Reader)
  local ok, err = r:_open()
  if not ok then return nil, err end
  return r
end

-- Calls on_progress(done, total) when either changed since the last call.
local function progress_reporter(on_progress)
  if not on_progress then return function() end end
  local last_done, last_total = -1, -1
  return function(done, total)
    if done ~= last_done or total ~= last_total then
      last_done, last_total = done, total
      on_progress(done, total)
    end
  end
end

-- Reads every piece of `reader` into `sink(piece)`, reporting progress;
-- the byte count, or nil, err (a failed read, or the sink's error).
local function drain(reader, sink, on_progress)
  local report = progress_reporter(on_progress)
  local done = 0
  while true do
    local piece, err = reader:read()
    if not piece then
      if err then return nil, err end
      report(done, done)     -- the total is known now (also 0, 0 for an empty file)
      return done
    end
    done = done + #piece
    err = sink(piece, done)
    if err then
      reader:close()
      return nil, err
    end
    report(done, reader.size)
  end
end

--- Writes a file aside and renames it: `fill(out, tmp)` writes into the
-- open file `path .. ".part"` (`tmp`) and returns the byte count, or nil,
-- err; the part file is renamed to `path` once it is complete and closed,
-- and removed on failure, so nothing half-written is ever left at `path`.
-- Raises when the part file cannot be created (a bad `path` is the caller's).
-- @return the byte count, or nil, `gemini.Error`
-- @local
function M.save(client, path, fill)
  local tmp = path .. ".part"
  local out, msg = io.open(tmp, "wb")
  if not out then errors.misuse("gemini: files:download: cannot write " .. tostring(msg)) end
  local n, err = fill(out, tmp)
  local ok, cerr = out:close()
  if n and not ok then
    n, err = nil, client:error("transport", string.format("cannot write to %s: %s", tmp,
      tostring(cerr)), { final = true })
  end
  local renamed, rerr = n and os.rename(tmp, path)
  if n and not renamed then
    n, err = nil, client:error("transport", string.format("cannot rename %s: %s", tmp,
      tostring(rerr)), { final = true })
  end
  if not n then os.remove(tmp) end
  return n, err
end

--- The error of a failed write to the part file `tmp` (what `file:write`
-- returned: `ok, werr`), or nil when it succeeded.
-- @local
function M.written(client, tmp, ok, werr)
  if ok then return nil end
  return client:error("transport", string.format("cannot write to %s: %s", tmp, tostring(werr)),
    { final = true })
end

--- Downloads a whole file: into the file `path` (written piece by piece as
-- the bytes arrive, see `save`) or, without `path`, into a string of at
-- most the client's `max_response_size` bytes. Arguments are checked by
-- `files:download`.
-- @param client
-- @param file as for `open`
-- @tparam table opts `{path=, on_progress = function(done, total), http_options=}`:
--   `on_progress` gets the bytes so far and the file's size (nil while the
--   server has not said), done never decreasing, and last `(n, n)`
-- @return the number of bytes written (with `path`) or the bytes; or nil,
--   `gemini.Error`
-- @local
function M.fetch(client, file, opts)
  local path, limit = opts.path, client.max_response_size
  if path then
    return M.save(client, path, function(out, tmp)
      local reader, err = M.open(client, file, { http_options = opts.http_options })
      if not reader then return nil, err end
      return drain(reader, function(piece) return M.written(client, tmp, out:write(piece)) end,
        opts.on_progress)
    end)
  end
  local reader, err = M.open(client, file, { http_options = opts.http_options })
  if not reader then return nil, err end
  local function too_large()
    return client:error("transport", string.format("response larger than %d bytes"
      .. " (max_response_size)", limit), { final = true })
  end
  if reader.size and reader.size > limit then
    reader:close()
    return nil, too_large()
  end
  local parts = {}
  local n
  n, err = drain(reader, function(piece, done)
    if done > limit then return too_large() end
    parts[#parts + 1] = piece
  end, opts.on_progress)
  if n == nil then return nil, err end
  return table.concat(parts)
end

return M
