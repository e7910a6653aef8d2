--- One resumable upload (Google's X-Goog-Upload protocol) as an object.
--
-- `start` sends the file's metadata and gets the session URL; `send_chunk`
-- sends the bytes at the offset the server holds; `query` asks the server
-- how many bytes it holds (`X-Goog-Upload-Command: query`); `resume`
-- follows a failed chunk: it waits as the retry policy says, asks, and the
-- upload goes on from there; `run` drives them to the end. The same
-- protocol serves files (`files:upload`, whose answer is `{"file": File}`)
-- and uploads to a file search store (whose answer is an operation).
--
-- Every request goes through the client's request path (`client:_call`
-- for the start, `client:_send` for the rest) and every failure through
-- one retry engine (gemini.retry). That engine has no deadline: each chunk
-- and each query gets the whole `timeout`, so a large file is not cut off
-- by it; and its count of failures starts again whenever the server holds
-- more than it ever did. Once a request has failed, every chunk goes on a
-- connection of its own (`fresh_connect`): libcurl re-sends a request by
-- itself, body and all from its first byte, when a reused connection dies
-- before an answer, and a server that kept part of the first try then
-- refuses the offset.
-- @module gemini.upload
local errors = require("gemini.errors")
local json = require("gemini.json")

local M = {}

--- An upload under way: the client, the session `url`, `total` bytes, the
-- `chunk` size, the source (`path` or `data`), the `retries` engine, and
-- where it stands: `offset` (the bytes the server holds), `best` (the
-- furthest offset reached) and `fresh` (see above).
-- @type Upload
local Upload = {}
Upload.__index = Upload

local function fmt_int(n)
  return string.format("%d", n)
end

local function basename(path)
  return path:match("([^/]+)$") or path
end

-- The `http_options` of a call with the protocol's headers added.
local function with_headers(ho, extra)
  local h = {}
  for k, v in pairs(ho and ho.headers or {}) do h[k] = v end
  for k, v in pairs(extra) do h[k] = v end
  return { headers = h, timeout = ho and ho.timeout, retry = ho and ho.retry }
end

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

-- The `start` request's call: the metadata, the protocol's headers. A file
-- goes to `upload/{version}/files` with `{"file": {...}}`; `src.start`
-- names another target and JSON body (an upload to a file search store:
-- `{store}:uploadToFileSearchStore` and the flat metadata, wire-format-2
-- §15.2).
local function start_call(client, src)
  local version = client.api_version ~= "" and client.api_version or "v1beta"
  local headers = {
    ["X-Goog-Upload-Protocol"] = "resumable",
    ["X-Goog-Upload-Command"] = "start",
    ["X-Goog-Upload-Header-Content-Length"] = fmt_int(src.total),
    ["X-Goog-Upload-Header-Content-Type"] = src.mime_type,
  }
  if src.path and not basename(src.path):find("[%c]") then
    headers["X-Goog-Upload-File-Name"] = basename(src.path)
  end
  local target, body = "files", nil
  if src.start then
    target, body = src.start.path, src.start.body
  else
    body = json.encode_verbatim({ file = { mimeType = src.mime_type, sizeBytes = fmt_int(src.total),
                                           displayName = src.display_name, name = src.name } })
  end
  return {
    method = "POST", path = "upload/" .. version .. "/" .. target, raw_path = true, raw = true,
    body = body, http_options = with_headers(src.http_options, headers),
  }
end

-- What a finished file upload answers: `{"file": File}`; the File, or nil
-- and what is wrong.
local function file_of(v)
  local file = type(v) == "table" and v.file
  if type(file) ~= "table" then return nil, "the finished upload's answer has no file" end
  return file
end

--- The size of a file on disk, without reading it; raises (a message
-- that names `fname`) at the caller of the function that called it when
-- the file cannot be opened or read.
-- @tparam string path
-- @tparam string fname the call, e.g. "files:upload"
function M.file_size(path, fname)
  local f, msg = io.open(path, "rb")
  if not f then
    errors.misuse(string.format("gemini: %s: cannot open %s", fname, msg))
  end
  local _, rerr = f:read(0)     -- a directory opens, but cannot be read
  local size = f:seek("end")
  f:close()
  if rerr or not size then
    errors.misuse(string.format("gemini: %s: cannot read %q: %s", fname, path, tostring(rerr or "seek failed")))
  end
  return size
end

--- Starts an upload: the `start` request, with the retries of any call.
-- @param client the client
-- @tparam table src `{path= | data=, total=, mime_type=, display_name=,
--   name=, chunk_size=, http_options=, on_progress=}`, checked by
--   `files:upload`; for another kind of upload also `start = {path=,
--   body=}` (the start request's target under `upload/{version}/` and its
--   JSON body) and `result` (a function of the final answer's decoded
--   JSON: the upload's result, or nil and what is wrong; by default the
--   File of `{"file": File}`)
-- @return the Upload, or nil, `gemini.Error`
function M.start(client, src)
  local res, err = client:_call(start_call(client, src))
  if not res then return nil, err end
  local url = res.headers["x-goog-upload-url"]
  if not url or not url:match("^https?://") then
    return nil, client:error("decode", "the upload start answer has no usable X-Goog-Upload-URL",
      { code = res.status })
  end
  local chunk = src.chunk_size
  local granularity = header_count(res, "x-goog-upload-chunk-granularity")
  if granularity == false or granularity == 0 then
    return nil, bad_header(client, res, "upload start answer", "X-Goog-Upload-Chunk-Granularity")
  elseif granularity then
    chunk = math.ceil(chunk / granularity) * granularity
  end
  return setmetatable({
    client = client, url = url, same_origin = client:_own_origin(url),
    ho = src.http_options, total = src.total, chunk = chunk, path = src.path, data = src.data,
    on_progress = src.on_progress, reported = -1, result = src.result or file_of,
    retries = client:_retries(src.http_options),   -- no deadline: see above
    offset = 0, best = 0, fresh = false,
  }, Upload)
end

-- Reports `done` bytes to on_progress: never past the total, never less
-- than before.
function Upload:_progress(done)
  if not self.on_progress then return end
  if done > self.total then done = self.total end
  if done > self.reported then
    self.reported = done
    self.on_progress(done, self.total)
  end
end

-- The transfer spec of one request to the session URL.
function Upload:_spec(headers, fields)
  -- The session URL authorises the upload; the key goes along only when
  -- it points at the configured server (as the JS SDK does).
  local spec = self.client:_spec{ method = "POST", url = self.url, anonymous = not self.same_origin,
                                  http_options = with_headers(self.ho, headers) }
  for k, v in pairs(fields or {}) do spec[k] = v end
  return spec
end

-- The outcome of one exchange with the session (`res, err` from
-- client:_send):
--   "final", result  the upload is complete (its result: the File, or
--                    what `src.result` makes of the answer);
--   "active", count, code  the server holds `count` bytes (nil: it did not
--                    say), answered with HTTP status `code`;
--   "resync", err    the server says it is active, whatever went wrong:
--                    ask it where it stands;
--   "check", err     an error the retry policy does not retry (a 4xx): it
--                    may still be about the offset (a server that kept part
--                    of a chunk libcurl then re-sent whole); the server's
--                    offset tells, else the error stands;
--   "retry", err     a failure for the retry policy to judge;
--   "fail", err      the end.
function Upload:_outcome(res, err)
  if not res then return "retry", err end
  local client = self.client
  local status = res.headers["x-goog-upload-status"]
  status = status and status:lower()
  if res.status >= 200 and res.status <= 299 then
    if status == "final" then
      local result, wrong = self.result(json.decode(res.body))
      if result == nil then
        return "fail", client:error("decode", wrong, { code = res.status })
      end
      return "final", result
    elseif status == "active" then
      local count = header_count(res, "x-goog-upload-size-received")
      if count == false or (count and count > self.total) then
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
  local _
  _, err = client:_answer(res)
  if status == "cancelled" then return "fail", err end
  -- An error that still says "active" (a wrong offset): the server knows
  -- where it stands, ask it.
  if status == "active" then return "resync", err end
  if res.status < 500 and not self.retries:retryable(err) then return "check", err end
  return "retry", err
end

-- The transfer spec of the chunk of `n` bytes at offset `at`.
function Upload:_chunk_spec(at, n, last)
  local fields
  if n == 0 then
    fields = { body = "" }
  elseif self.path then
    fields = { body_file = self.path, body_offset = at, body_length = n }
  elseif at == 0 and n == self.total then
    fields = { body = self.data }
  else
    fields = { body = self.data:sub(at + 1, at + n) }
  end
  fields.fresh_connect = self.fresh or nil
  if self.on_progress then
    fields.on_progress = function(up) self:_progress(at + math.min(up, n)) end
  end
  return self:_spec({
    ["X-Goog-Upload-Command"] = last and "upload, finalize" or "upload",
    ["X-Goog-Upload-Offset"] = fmt_int(at),
  }, fields)
end

--- Sends the next chunk, from the offset the server holds. Returns
-- "active" when the server took bytes (the offset has moved on); "final",
-- result when the upload is complete; else how it failed ("retry",
-- "resync", "check" or "fail", see `_outcome`) and the error.
function Upload:send_chunk()
  local client, at = self.client, self.offset
  local n = math.min(self.chunk, self.total - at)
  local last = at + n >= self.total
  local res, err = client:_send(self:_chunk_spec(at, n, last),
    string.format("upload: %d bytes at offset %d of %d", n, at, self.total), self.retries:attempt())
  local what, v, code = self:_outcome(res, err)
  if what ~= "active" then return what, v end
  local got = v or at + n     -- a server that does not say took the chunk
  if got == self.total and last then
    return "fail", client:error("api", "all bytes were sent, but the upload was not finalized",
      { code = code })
  elseif got <= at then
    -- An answer that moves nothing is a failure like any other: a server
    -- that keeps saying "active" must not be asked forever.
    return "resync", client:error("api", string.format("the server took none of the %d bytes"
      .. " sent at offset %d (X-Goog-Upload-Size-Received: %d)", n, at, got), { code = code })
  end
  self.offset = got
  return "active"
end

-- One failure more, `what` as `_outcome` says: true when the server is to
-- be asked where it stands (after the backoff for a "retry", at once for
-- a "resync" or a "check"), false to give up.
function Upload:_failed(what, err)
  self.fresh = true
  local go_on
  if what == "retry" then go_on = self.retries:wait(err) else go_on = self.retries:again() end
  if go_on then
    self.client:_log("gemini: upload: %s; asking the server for its offset", tostring(err))
  end
  return go_on
end

--- Asks the server how many bytes it holds, retrying as the policy says:
-- "active" (the offset is then what it holds), "final", result, or nil, err.
function Upload:query()
  while true do
    local res, err = self.client:_send(self:_spec{ ["X-Goog-Upload-Command"] = "query" },
      "upload: query", self.retries:attempt())
    local what, v = self:_outcome(res, err)
    if what == "final" then return "final", v end
    if what == "active" then
      if not v then
        return nil, self.client:error("decode", "the upload query answer has no"
          .. " X-Goog-Upload-Size-Received", { code = res.status })
      end
      self.offset = v
      return "active"
    end
    if what == "fail" or what == "check" or not self:_failed(what, v) then return nil, v end
  end
end

--- After a chunk sent at offset `at` failed (`what`, `err` from
-- `send_chunk`): waits as the policy says, asks the server where it
-- stands, and returns "active" to go on from there, "final", result, or nil,
-- err to give up.
function Upload:resume(what, err, at)
  if what == "fail" or not self:_failed(what, err) then return nil, err end
  local state, file = self:query()
  if state == "active" and what == "check" and self.offset == at then
    return nil, err     -- the server holds what it held: not about the offset
  end
  return state, file
end

--- Sends the chunks until the server holds the whole file: the result
-- (the File, or what `src.result` gives), or nil, `gemini.Error`.
function Upload:run()
  while true do
    local at = self.offset
    local state, v = self:send_chunk()
    if state ~= "active" and state ~= "final" then state, v = self:resume(state, v, at) end
    if state == "final" then
      self:_progress(self.total)   -- also the one (0, 0) call of an empty file
      return v
    elseif not state then
      return nil, v
    end
    if self.offset > self.best then
      self.best = self.offset
      self.retries:reset()
    end
  end
end

return M
