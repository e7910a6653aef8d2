-- Fuzz check of core.sse_framer (src/sse.c), run by fuzz/sse_fuzz.c.
--
-- Input layout (every byte string is a valid input):
--   byte 1     options: bits 0-3 pick max_event_size from MAXES, bit 4 turns
--              lenient off, bit 5 reuses a framer that already saw a stream
--   byte 2     number of split points (0..31)
--   2 bytes    per split point: its offset into the stream (mod length + 1)
--   the rest   the stream bytes
--
-- Properties:
--   * feeding the stream whole, or cut at the split points (empty pieces
--     included), gives the same events, the same failure (or none) and the
--     same finish() result;
--   * a framer that was used and then reset() behaves like a new one;
--   * no event is larger than max_event_size and none holds a CR;
--   * feed() returns the number of events it stored in `out`;
--   * once failed, feed() and finish() keep failing with the same message;
--   * when the framer does not fail, its events and finish() agree with
--     `reference` below, a plain reading of the rules in src/sse.c's header.
local core = require("gemini.core")

-- The reference framer: the whole stream at once, no size bound.
local function reference(stream, lenient)
  if stream:sub(1, 3) == "\239\187\191" then stream = stream:sub(4) end
  local events, data = {}, nil
  local function line(l)
    if l == "" then
      if data then events[#events + 1] = table.concat(data, "\n") end
      data = nil
      return
    end
    if l:sub(1, 1) == ":" then return end
    local name, value = l:match("^([^:]*):(.*)$")
    if not name then name, value = l, "" end
    if value:sub(1, 1) == " " then value = value:sub(2) end
    if name == "data" then
      data = data or {}
      data[#data + 1] = value
    elseif name ~= "event" and name ~= "id" and name ~= "retry" and lenient then
      data = data or {}
      data[#data + 1] = l
    end
  end
  local i = 1
  while true do
    local a = stream:find("[\r\n]", i)
    if not a then break end
    line(stream:sub(i, a - 1))
    i = a + 1
    if stream:sub(a, a + 1) == "\r\n" then i = a + 2 end
  end
  if i <= #stream then line(stream:sub(i)) end   -- an unterminated last line
  return { events = events, pending = data and table.concat(data, "\n") or nil }
end

local MAXES = { 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 31, 64, 200, 1000, 65536, 16 * 1024 * 1024 }

local function fail(fmt, ...)
  error(string.format(fmt, ...), 0)
end

local function show(s)
  return string.format("%q", s)
end

-- Feeds the pieces into `f`; returns { events, err, pending }.
local function run(f, pieces, max)
  local events, err = {}, nil
  for _, piece in ipairs(pieces) do
    local out = {}
    local n, ferr = f:feed(piece, out)
    -- Events dispatched before a failure stay in `out`: they were complete.
    for i = 1, #out do events[#events + 1] = out[i] end
    if n == nil then
      if type(ferr) ~= "string" or not ferr:find("^SSE event larger than %d+ bytes$") then
        fail("feed failed without a clear message: %s", tostring(ferr))
      end
      err = ferr
      break
    end
    if n ~= #out then fail("feed returned %d but stored %d events", n, #out) end
  end
  local pending
  if err then
    local n2, e2 = f:feed("data: more\n\n", {})
    if n2 ~= nil or e2 ~= err then fail("a failed framer accepted more input") end
    local p2, e3 = f:finish()
    if p2 ~= nil or e3 ~= err then fail("a failed framer finished without its error") end
  else
    local p, ferr = f:finish()
    if p == nil and ferr ~= nil then
      err = ferr
    else
      pending = p
    end
  end
  for i, ev in ipairs(events) do
    if #ev > max then fail("event %d has %d bytes, max_event_size is %d", i, #ev, max) end
    if ev:find("\r", 1, true) then fail("event %d holds a CR: %s", i, show(ev)) end
  end
  if pending and #pending > max then fail("finish() gave %d bytes past the bound %d", #pending, max) end
  return { events = events, err = err, pending = pending }
end

local function same(a, b, what)
  if (a.err == nil) ~= (b.err == nil) then
    fail("%s: failure differs: %s vs %s", what, tostring(a.err), tostring(b.err))
  end
  if #a.events ~= #b.events then
    fail("%s: %d events vs %d", what, #a.events, #b.events)
  end
  for i = 1, #a.events do
    if a.events[i] ~= b.events[i] then
      fail("%s: event %d differs: %s vs %s", what, i, show(a.events[i]), show(b.events[i]))
    end
  end
  if a.pending ~= b.pending then
    fail("%s: finish() differs: %s vs %s", what, show(tostring(a.pending)), show(tostring(b.pending)))
  end
end

-- A framer left in some mid-stream state, then reset.
local function used_framer(opts, stream)
  local f = core.sse_framer(opts)
  f:feed(stream:sub(1, #stream // 2) .. "data: left over", {})
  f:reset()
  return f
end

return function(input)
  if #input < 2 then return end
  local flags, nsplit = input:byte(1), input:byte(2) % 32
  local max = MAXES[flags % 16 + 1]
  local opts = { max_event_size = max, lenient = (flags & 16) == 0 }
  local pos = 3
  local cuts = {}
  for i = 1, nsplit do
    if pos + 1 > #input then break end
    cuts[i] = input:byte(pos) * 256 + input:byte(pos + 1)
    pos = pos + 2
  end
  local stream = input:sub(pos)
  for i = 1, #cuts do cuts[i] = cuts[i] % (#stream + 1) end
  table.sort(cuts)
  local pieces, from = {}, 1
  for _, c in ipairs(cuts) do
    pieces[#pieces + 1] = stream:sub(from, c)
    from = c + 1
  end
  pieces[#pieces + 1] = stream:sub(from)

  local whole = run(core.sse_framer(opts), { stream }, max)
  local split = run(core.sse_framer(opts), pieces, max)
  same(whole, split, "whole vs split")
  if not whole.err then same(whole, reference(stream, opts.lenient), "framer vs reference") end
  if (flags & 32) ~= 0 then
    same(whole, run(used_framer(opts, stream), pieces, max), "new vs reset framer")
  end
end
