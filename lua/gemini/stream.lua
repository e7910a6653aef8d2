--- Streams of `streamGenerateContent?alt=sse`.
-- A stream is opened on its first `next()`, hands over each chunk as soon
-- as its SSE event is complete on the wire, and keeps nothing of the body
-- but the events not yet handed over. Failures before the first chunk are
-- retried like any call; once a chunk has been delivered nothing is
-- retried (the caller has seen part of an answer).
-- @module gemini.stream
local core = require("gemini.core")
local errors = require("gemini.errors")
local json = require("gemini.json")
local response = require("gemini.response")

local M = {}

--- The stream object of `models:generate_content_stream` and
-- `chat:send_message_stream`: callable (drives a generic `for`), `next`,
-- `close`, and `response` (the merged answer) once it has ended.
-- @type Stream
-- @field response the whole answer merged (text joined, last `finishReason`,
--   final `usageMetadata`), a response with the helpers; nil until the end
local Stream = {}
Stream.__index = Stream

--- Makes a stream for one call (not yet opened).
-- @local
-- @param client the client
-- @tparam table call `{path=, body=, http_options=, stream=true}`
-- @tparam boolean is_json whether chunks are JSON-mode answers
-- @tparam[opt] function on_done called with (response) when the stream ends well
function M.new(client, call, is_json, on_done)
  call.stream = true
  local self = setmetatable({
    client = client, call = call, is_json = is_json, on_done = on_done,
    q = {}, qi = 1, qn = 0, delivered = 0,
  }, Stream)
  -- Lua 5.1 and LuaJIT run no __gc of a table: a userdata held by the
  -- stream alone closes it when both are collected (newproxy exists there
  -- only). A finalizer must not raise (LuaJIT passes the error on to
  -- whatever ran the collector), hence the pcall.
  if newproxy then
    local sentinel = newproxy(true)
    getmetatable(sentinel).__gc = function() pcall(Stream.close, self) end
    self.gc_sentinel = sentinel
  end
  return self
end

-- Text parts that differ only in their text merge into one part. (Parts
-- are decoded JSON: no __pairs, hence `next`.)
local TEXT_PART_KEYS = { text = true, thought = true, thoughtSignature = true }
local function text_only(p)
  if type(p) ~= "table" or type(p.text) ~= "string" then return false end
  for k in next, p do
    if not TEXT_PART_KEYS[k] then return false end
  end
  return true
end

-- The merged candidate for candidate `c`, the i-th of its chunk. Candidates
-- are told apart by `index` (i - 1 when absent, as the API omits a zero)
-- and kept as a dense list ordered by it: index 0 may never come, and
-- indexes may be sparse.
local function merged_candidate(self, c, i)
  local key = tonumber(c.index) or (i - 1)
  if key ~= key then key = i - 1 end          -- NaN: no table key
  local mc = self.by_index[key]
  if mc then return mc end
  mc = {}
  self.by_index[key] = mc
  local keys, list = self.index_keys, self.merged.candidates
  local pos = #list + 1
  while pos > 1 and keys[pos - 1] > key do pos = pos - 1 end
  table.insert(keys, pos, key)
  table.insert(list, pos, mc)
  return mc
end

-- Appends the parts of one chunk's content to the merged parts. `texts`
-- maps each merged text part to the builder of its text (core.text_builder):
-- a long answer's text is kept as bytes in C, not as a Lua string per
-- chunk, and joined once at the end.
local function merge_parts(texts, parts, cparts)
  local j, p = 1, cparts[1]
  while p ~= nil do
    local last = parts[#parts]
    local b = last and texts[last]
    if b and type(p) == "table" and next(p, next(p)) == nil and type(p.text) == "string"
      and last.thought ~= true then
      b:add(p.text)                           -- the usual chunk: `{text = ...}` alone
    elseif b and text_only(p)
      and (last.thought == true) == (p.thought == true)
      and not (p.thoughtSignature and last.thoughtSignature) then
      b:add(p.text)
      if p.thoughtSignature then last.thoughtSignature = p.thoughtSignature end
    elseif type(p) == "table" then
      local np = {}
      for k, v in next, p do np[k] = v end
      parts[#parts + 1] = np
      if text_only(np) then texts[np] = core.text_builder(np.text) end
    else
      parts[#parts + 1] = p                   -- not a part: kept as sent
    end
    j = j + 1
    p = cparts[j]
  end
end

-- Adds a chunk to the merged response: text joined (through a builder per
-- text part, so a long stream is not quadratic), other parts appended in
-- order, the last finishReason, usageMetadata and other fields kept. Runs
-- once per chunk, hence plain loops (chunks are decoded JSON: no holes, no
-- metamethods below the top). Any JSON shape is taken without a raise: a
-- candidate that is not an object has nothing to merge and is skipped,
-- a part that is not one is kept as it came.
function Stream:_merge(chunk)
  local m = self.merged
  if not m then
    m = { candidates = {} }
    self.merged, self.texts = m, {}
    self.by_index, self.index_keys = {}, {}
  end
  for k, v in next, chunk do
    if k ~= "candidates" then m[k] = v end
  end
  local cands = chunk.candidates
  if type(cands) ~= "table" then return end
  local by_index = self.by_index
  for i = 1, #cands do
    local c = cands[i]
    if type(c) == "table" then
      -- The usual case first: an index already seen (a key that cannot be
      -- one, such as NaN or a string, reads nil and takes the long way).
      local index = c.index
      local mc = by_index[index == nil and i - 1 or index] or merged_candidate(self, c, i)
      for k, v in next, c do
        if k ~= "content" then mc[k] = v end
      end
      local content = c.content
      if type(content) == "table" then
        local mcontent = mc.content
        if not mcontent then
          mcontent = { role = content.role or "model", parts = {} }
          mc.content = mcontent
        end
        local cparts = content.parts
        if type(cparts) == "table" then merge_parts(self.texts, mcontent.parts, cparts) end
      end
    end
  end
end

function Stream:_finish_merge()
  local m = self.merged or { candidates = {} }
  for part, b in pairs(self.texts or {}) do
    part.text = b:result()
  end
  self.texts, self.by_index, self.index_keys = nil, nil, nil
  if #m.candidates == 0 then m.candidates = nil end
  return response.wrap(m, self.is_json)
end

-- ---- events from a reader ----------------------------------------------------

-- A byte reader of a transport that does not frame events itself (luv,
-- OpenResty), framed here by `core.sse_framer`: the same `read_events`
-- and `cut_event` as `gemini.transport.curl`'s reader, which frames in C.
local Framed = {}
Framed.__index = Framed

function Framed:read_events(q)
  while true do
    local bytes, kind, msg, final = self.reader:read()
    if not bytes then return nil, kind, msg, final end
    local n, err = self.framer:feed(bytes, q)
    if not n then return nil, "stream", err, true end
    if n > 0 then return n end
  end
end

function Framed:cut_event()
  return self.framer:finish()
end

function Framed:close()
  self.reader:close()
end

-- The events of an opened reader: `read_events(q) -> n | nil, kind, msg,
-- final` (data of the next events in q[1..n]) and `cut_event()`.
local function events_of(reader, opts)
  if reader.frame_events then
    reader:frame_events(opts)
    return reader
  end
  return setmetatable({ reader = reader, framer = core.sse_framer(opts) }, Framed)
end

function Stream:_release()
  if self.reader then
    self.reader:close()
    self.reader = nil
  end
end

function Stream:_fail(err)
  self:_release()
  self.err = err
  return nil, err
end

-- Before the first chunk a failed attempt is retried, within the call's
-- timeout; true when it was.
function Stream:_retry(err)
  if self.delivered > 0 then return false end
  self:_release()
  return self.retries:wait(err)
end

-- Opens the stream (again, after a retry). The call's deadline starts at
-- the first opening and covers every attempt and the reading of the body:
-- each attempt's transfer has what is left of it as its libcurl timeout.
function Stream:_open()
  local client = self.client
  if not self.retries then self.spec, self.retries = client:_prepare(self.call) end
  self.spec.timeout = self.retries:time_left()
  local reader, err = client:_open_once(self.spec)
  if not reader then return nil, err end
  self.reader = events_of(reader, { max_event_size = client.max_event_size })
  self.qi, self.qn = 1, 0
  return true
end

-- One event's data -> a chunk, or nil, err.
function Stream:_chunk(data)
  local v, msg = json.decode(data)
  if not json.is_object(v) then
    local shown = errors.snippet(data, 80, self.client._secrets)
    return nil, self.client:error("decode", "stream event is not a JSON object"
      .. (msg and (" (" .. msg .. ")") or "") .. ": " .. shown)
  end
  if type(v.error) == "table" then
    return nil, errors.from_object(v, self.client._secrets)
  end
  return response.wrap(v, self.is_json)
end

-- The end of the body: a clean end, or an event cut short.
function Stream:_eof()
  local pending = self.reader:cut_event()
  if pending and pending:find("%S") then
    local v = json.decode(pending)
    if type(v) == "table" and type(v.error) == "table" then
      return errors.from_object(v, self.client._secrets)
    end
    return self.client:error("stream", "the stream ended in the middle of an event")
  end
  return nil
end

--- The next chunk; nil at the end; nil, err on failure.
function Stream:next()
  if self.err then return nil, self.err end
  if self.finished then return nil end
  while true do
    local err
    if self.qi <= self.qn then
      local data = self.q[self.qi]
      self.q[self.qi] = nil
      self.qi = self.qi + 1
      if data ~= "" then            -- an empty event is a keep-alive
        local chunk
        chunk, err = self:_chunk(data)
        if chunk then
          self.delivered = self.delivered + 1
          self:_merge(chunk)
          return chunk
        end
      end
    elseif not self.reader then
      local _
      _, err = self:_open()
    else
      local n, kind, msg, final = self.reader:read_events(self.q)
      if n then
        self.qi, self.qn = 1, n
      elseif kind then
        err = self.client:transport_error(kind, msg, final)
      else
        err = self:_eof()
        if not err then
          self:_release()
          self.finished = true
          self.response = self:_finish_merge()
          if self.on_done then self.on_done(self.response) end
          return nil
        end
      end
    end
    if err and not self:_retry(err) then return self:_fail(err) end
  end
end

--- Ends the transfer at once (the connection is closed). Later calls of
-- `next` return nil.
function Stream:close()
  self:_release()
  if not self.finished and not self.err then
    self.finished = true
  end
end

--- Drives a generic `for`: the next chunk, nil at the end; raises the
-- `gemini.Error` on failure so a failure is never a silent end.
function Stream:__call()
  local chunk, err = self:next()
  if err then errors.raise(err) end
  return chunk
end

Stream.__close = Stream.close
Stream.__gc = Stream.close

function Stream:__tostring()
  return "gemini.Stream (" .. (self.finished and "ended" or self.err and "failed" or "open") .. ")"
end

M.Stream = Stream

--- Whether `x` is a stream.
-- @local
function M.is_stream(x) return getmetatable(x) == Stream end

return M
