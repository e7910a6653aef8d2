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
-- `close`, and the field `stream.response`.
--
-- `stream.response` is the whole answer merged once the stream has ended
-- (text joined, last `finishReason`, final `usageMetadata`),
-- a response with the helpers; nil until the end.
-- @type Stream
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

-- ---- function calls whose arguments come in pieces (Vertex AI) ----------------
-- With tool_config.function_calling_config.stream_function_call_arguments,
-- Vertex AI streams a call as a first part `{functionCall = {name =,
-- willContinue = true}}`, then parts `{functionCall = {partialArgs = {{jsonPath
-- = "$.city", stringValue = "Par", willContinue = true}, ...}, willContinue =
-- true}}`, the last one without willContinue (python-genai types.py
-- FunctionCall.partial_args / will_continue, PartialArg: json_path,
-- string_value, number_value, bool_value, null_value, will_continue). The
-- merged response holds one part per call, its `args` assembled.

-- The keys of a JSON Path ("$.a.b[0]['c d']" -> {"a", "b", 1, "c d"}), or nil.
local function path_keys(p)
  if type(p) ~= "string" or p:sub(1, 1) ~= "$" then return nil end
  local keys, i = {}, 2
  while i <= #p do
    local k, j = p:match("^%.([%w_%-]+)()", i)
    if not k then
      k, j = p:match("^%[(%d+)%]()", i)
      if k then k = tonumber(k) + 1 else k, j = p:match("^%[['\"]([^'\"]*)['\"]%]()", i) end
    end
    if not k then return nil end
    keys[#keys + 1], i = k, j
  end
  return keys
end

-- The value of one PartialArg (nil for none).
local function partial_value(pa)
  if pa.stringValue ~= nil then return pa.stringValue end
  if pa.numberValue ~= nil then return pa.numberValue end
  if pa.boolValue ~= nil then return pa.boolValue end
  if pa.nullValue ~= nil then return json.null end
  return nil
end

-- Assembles a call's collected partialArgs into its args: a string arg
-- streamed in pieces (willContinue) is their concatenation. What cannot be
-- placed (no JSON path, or a path through a non-object) stays in partialArgs.
local function assemble_call(fc)
  local args = type(fc.args) == "table" and fc.args or {}
  local left, open = {}, {}
  for _, pa in ipairs(fc.partialArgs) do
    local keys = type(pa) == "table" and path_keys(pa.jsonPath)
    local t = args
    for i = 1, keys and #keys - 1 or 0 do
      if t[keys[i]] == nil then t[keys[i]] = {} end
      t = t[keys[i]]
      if type(t) ~= "table" then keys = nil break end
    end
    if keys and #keys > 0 then
      local k, v = keys[#keys], partial_value(pa)
      if open[pa.jsonPath] and type(t[k]) == "string" and type(v) == "string" then v = t[k] .. v end
      t[k] = v
      open[pa.jsonPath] = pa.willContinue == true
    else
      left[#left + 1] = pa
    end
  end
  fc.args, fc.willContinue = args, nil
  fc.partialArgs = #left > 0 and left or nil
end

-- The functionCall of a merged part still waiting for pieces, or nil.
local function open_call(part)
  local fc = type(part) == "table" and part.functionCall
  return type(fc) == "table" and fc.willContinue == true and fc or nil
end

-- Folds a piece of a call into the open call `into`.
local function fold_call(into, fc)
  for _, pa in ipairs(type(fc.partialArgs) == "table" and fc.partialArgs or {}) do
    into.partialArgs[#into.partialArgs + 1] = pa
  end
  for k, v in next, fc do
    if k ~= "partialArgs" and k ~= "willContinue" then into[k] = v end
  end
  into.willContinue = fc.willContinue
end

-- Appends the parts of one chunk's content to the merged parts. `texts`
-- maps each merged text part to the builder of its text (core.text_builder):
-- a long answer's text is kept as bytes in C, not as a Lua string per
-- chunk, and joined once at the end.
local function merge_parts(texts, parts, cparts, calls)
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
      -- (looked at only here: a text chunk pays nothing for calls in pieces)
      local fc = p.functionCall
      local into = type(fc) == "table" and open_call(last)
      if into and (fc.name == nil or fc.name == into.name) then
        fold_call(into, fc)
      else
        local np = {}
        for k, v in next, p do np[k] = v end
        if type(fc) == "table" and (fc.willContinue == true or fc.partialArgs ~= nil) then
          -- A call in pieces: its own copy (the chunk keeps what it had).
          np.functionCall = { partialArgs = {} }
          fold_call(np.functionCall, fc)
          calls[#calls + 1] = np.functionCall
        end
        parts[#parts + 1] = np
        if text_only(np) then texts[np] = core.text_builder(np.text) end
      end
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
    self.merged, self.texts, self.calls = m, {}, {}
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
        if type(cparts) == "table" then merge_parts(self.texts, mcontent.parts, cparts, self.calls) end
      end
    end
  end
end

function Stream:_finish_merge()
  local m = self.merged or { candidates = {} }
  for part, b in pairs(self.texts or {}) do
    part.text = b:result()
  end
  for _, fc in ipairs(self.calls or {}) do assemble_call(fc) end
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
    self.bytes = self.bytes + #bytes
    local n, err = self.framer:feed(bytes, q)
    if not n then return nil, "stream", err, true end
    if n > 0 then return n end
  end
end

function Framed:cut_event()
  return self.framer:finish()
end

--- The bytes of the body read so far (curl's reader counts them in C).
-- @local
function Framed:received()
  return self.bytes
end

function Framed:close()
  self.reader:close()
end

-- The events of an opened reader: `read_events(q) -> n | nil, kind, msg,
-- final` (data of the next events in q[1..n]), `cut_event()` and
-- `received()`.
local function events_of(reader, opts)
  if reader.frame_events then
    reader:frame_events(opts)
    return reader
  end
  return setmetatable({ reader = reader, framer = core.sse_framer(opts), bytes = 0 }, Framed)
end

-- Ends the transfer of the attempt under way, if any, and traces it (the
-- whole body: `kind` says how it ended, nil when it ended well).
function Stream:_release(kind)
  if self.reader then
    if self.traced_end then
      self.traced_end(kind, self.reader:received())
      self.traced_end = nil
    end
    self.reader:close()
    self.reader = nil
  end
end

function Stream:_fail(err)
  self:_release(err.kind)
  self.err = err
  return nil, err
end

-- Before the first chunk a failed attempt is retried, within the call's
-- timeout; true when it was.
function Stream:_retry(err)
  if self.delivered > 0 then return false end
  self:_release(err.kind)
  return self.retries:wait(err)
end

-- Opens the stream (again, after a retry). The call's deadline starts at
-- the first opening and covers every attempt and the reading of the body:
-- each attempt's transfer has what is left of it as its libcurl timeout.
function Stream:_open()
  local client = self.client
  if not self.retries then self.spec, self.retries = client:_prepare(self.call) end
  self.spec.timeout = self.retries:time_left()
  local reader, err, traced_end = client:_open_once(self.spec, self.retries:attempt())
  if not reader then return nil, err end
  self.traced_end = traced_end
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
  self:_release("canceled")
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
