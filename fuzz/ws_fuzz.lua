-- Fuzz check of core.ws_framer (src/ws.c), run by fuzz/ws_fuzz.c.
--
-- Input layout (every byte string is a valid input):
--   byte 1     bits 0-3 pick max_message_size from MAXES, bit 4 reuses a
--              framer that already saw a stream (then reset); bits 5-7
--              seed the masking keys of the server role's stream
--   byte 2     number of split points (0..31)
--   2 bytes    per split point: its offset into the stream (mod length + 1)
--   the rest   the bytes from the "server"
--
-- Properties:
--   * feeding the stream whole, or cut at the split points (empty pieces
--     included), gives the same events and the same failure (or none);
--   * a framer that was used and then reset() behaves like a new one;
--   * no message is larger than max_message_size; feed() returns the
--     number of events it stored (three slots each);
--   * a failure is a "WebSocket protocol error: ...", "WebSocket message
--     larger than N bytes" or "WebSocket text message is not valid UTF-8"
--     message with close code 1002 / 1009 / 1007, and once failed, feed()
--     keeps failing with the same message;
--   * every text message is valid UTF-8 (Lua 5.4's strict utf8.len);
--   * the events agree with `reference` below up to where the framer
--     stopped: a plain reading of RFC 6455 5.2 without the checks;
--   * the server role: the same stream as a client would send it (`masked`
--     below: each unmasked frame masked with a key, each masked one
--     unmasked), fed whole and split, gives the client role's events and
--     failure, but for the one message of the mask rule ("unmasked frame
--     from the client" for "masked frame from the server").
local core = require("gemini.core")

local MAXES = { 1, 2, 5, 16, 125, 126, 127, 200, 1000, 65535, 65536, 70000, 1e6, 1e7, 16 * 1024 * 1024, 2 ^ 40 }

local function fail(fmt, ...)
  error(string.format(fmt, ...), 0)
end

-- The reference parser: events (kind, data, code) of the complete frames,
-- fragments joined; it stops at the first close, at a masked frame and at
-- what it cannot read.
local KIND = { [1] = "text", [2] = "binary", [8] = "close", [9] = "ping", [10] = "pong" }
local function reference(s)
  local events, i, msg, msg_kind = {}, 1, nil, nil
  while i + 1 <= #s do
    local b1, b2 = s:byte(i, i + 1)
    if b2 >= 128 then break end   -- masked: refused by the framer
    local op, fin, len, h = b1 % 16, b1 >= 128, b2 % 128, 2
    if len == 126 then
      if i + 3 > #s then break end
      len = s:byte(i + 2) * 256 + s:byte(i + 3); h = 4
    elseif len == 127 then
      if i + 9 > #s then break end
      len = 0
      for k = 2, 9 do len = len * 256.0 + s:byte(i + k) end   -- a float: no wrap-around
      h = 10
    end
    if i + h + len - 1 > #s then break end
    local data = s:sub(i + h, i + h + len - 1)
    i = i + h + len
    if op >= 8 then
      if op == 8 then
        local code = #data >= 2 and data:byte(1) * 256 + data:byte(2) or 1005
        events[#events + 1] = { "close", #data >= 2 and data:sub(3) or "", code }
        break
      end
      events[#events + 1] = { KIND[op] or "?", data, false }
    else
      if op ~= 0 then msg, msg_kind = {}, KIND[op] end
      if msg then msg[#msg + 1] = data end
      if fin and msg then
        events[#events + 1] = { msg_kind, table.concat(msg), false }
        msg = nil
      end
    end
  end
  return events
end

-- The stream as a client sends it: each frame's mask bit flipped, a key
-- (from `seed`) inserted after the header of a frame that had none and its
-- payload masked, the key of one that had one taken out. It ends where the
-- client role would stop reading: after the header of a frame masked in s
-- (its payload ignored), and a header cut short stays cut short (one byte
-- short of complete when s lacks the key a client framer still waits for).
local function masked(s, seed)
  local out, i, n = {}, 1, 0
  while i <= #s do
    local b1, b2 = s:byte(i, i + 1)
    if not b2 then out[#out + 1] = s:sub(i); break end
    local len7, was_masked = b2 & 127, b2 >= 128
    local h = 2 + (len7 == 126 and 2 or len7 == 127 and 8 or 0)
    local head = string.char(b1, b2 ~ 128) .. s:sub(i + 2, i + h - 1)
    if was_masked then
      -- the client role reads h + 4 header bytes and fails; the server role h
      out[#out + 1] = #s >= i + h + 3 and head or head:sub(1, math.min(#head, #s - i + 1, h - 1))
      break
    end
    if #s < i + h - 1 then out[#out + 1] = head:sub(1, #s - i + 1); break end
    local len = 0
    if len7 == 126 then len = s:byte(i + 2) * 256 + s:byte(i + 3)
    elseif len7 == 127 then for k = 2, 9 do len = len * 256.0 + s:byte(i + k) end
    else len = len7 end
    n = n + 1
    local key = { (seed * 7 + n * 31) % 256, (seed + n * 3) % 256, (n * 101) % 256, (seed * n) % 256 }
    local payload = s:sub(i + h, math.min(#s, i + h + len - 1))
    local bytes = {}
    for k = 1, #payload do bytes[k] = string.char(payload:byte(k) ~ key[(k - 1) % 4 + 1]) end
    out[#out + 1] = head .. string.char(key[1], key[2], key[3], key[4]) .. table.concat(bytes)
    i = i + h + #payload
    if #payload < len then break end
  end
  return table.concat(out)
end

-- Pieces of s cut at the given offsets (mod #s + 1), in order.
local function cut(s, offsets)
  local cuts = {}
  for k, c in ipairs(offsets) do cuts[k] = c % (#s + 1) end
  table.sort(cuts)
  local pieces, from = {}, 1
  for _, c in ipairs(cuts) do
    pieces[#pieces + 1] = s:sub(from, c)
    from = c + 1
  end
  pieces[#pieces + 1] = s:sub(from)
  return pieces
end

local function run(f, pieces, max)
  local events, err, code = {}, nil, nil
  for _, piece in ipairs(pieces) do
    local out = {}
    local n, ferr, fcode = f:feed(piece, out)
    for k = 1, #out, 3 do events[#events + 1] = { out[k], out[k + 1], out[k + 2] } end
    if n == nil then
      if not (ferr:find("^WebSocket protocol error: ") and fcode == 1002
              or ferr:find("^WebSocket message larger than %d+ bytes$") and fcode == 1009
              or ferr == "WebSocket text message is not valid UTF-8" and fcode == 1007) then
        fail("feed failed without a clear message: %s (%s)", tostring(ferr), tostring(fcode))
      end
      err = ferr
      code = fcode
      local n2, e2 = f:feed("\129\1x", {})
      if n2 ~= nil or e2 ~= err then fail("a failed framer accepted more input") end
      break
    end
    if n * 3 ~= #out then fail("feed returned %d but stored %d slots", n, #out) end
  end
  for k, ev in ipairs(events) do
    if (ev[1] == "text" or ev[1] == "binary") and #ev[2] > max then
      fail("message %d has %d bytes, max_message_size is %d", k, #ev[2], max)
    end
    if ev[1] == "text" and not utf8.len(ev[2]) then fail("text message %d is not UTF-8", k) end
  end
  return { events = events, err = err, code = code }
end

local function same(a, b, what)
  if a.err ~= b.err then fail("%s: failure differs: %s vs %s", what, tostring(a.err), tostring(b.err)) end
  if #a.events ~= #b.events then fail("%s: %d events vs %d", what, #a.events, #b.events) end
  for k = 1, #a.events do
    for j = 1, 3 do
      if a.events[k][j] ~= b.events[k][j] then fail("%s: event %d differs in slot %d", what, k, j) end
    end
  end
end

return function(input)
  if #input < 2 then return end
  local flags, nsplit = input:byte(1), input:byte(2) % 32
  local max = MAXES[flags % 16 + 1]
  local opts = { max_message_size = max }
  local pos, cuts = 3, {}
  for k = 1, nsplit do
    if pos + 1 > #input then break end
    cuts[k] = input:byte(pos) * 256 + input:byte(pos + 1)
    pos = pos + 2
  end
  local stream = input:sub(pos)
  local pieces = cut(stream, cuts)

  local whole = run(core.ws_framer(opts), { stream }, max)
  same(whole, run(core.ws_framer(opts), pieces, max), "whole vs split")
  -- What the framer accepted is what the plain reading gives, event by
  -- event (after a failure the reference reads on: compare the prefix).
  local ref = reference(stream)
  local n = #whole.events
  if not whole.err and #ref ~= n then fail("framer gave %d events, reference %d", n, #ref) end
  for k = 1, n do
    local a, b = whole.events[k], ref[k]
    if not b or a[1] ~= b[1] or a[2] ~= b[2] or a[3] ~= b[3] then
      fail("event %d differs from the reference", k)
    end
  end
  if (flags & 16) ~= 0 then
    local f = core.ws_framer(opts)
    f:feed(stream:sub(1, #stream // 2), {})
    f:reset()
    same(whole, run(f, pieces, max), "new vs reset framer")
  end

  -- The server role on what a client would send.
  local sopts = { max_message_size = max, role = "server" }
  local client_stream = masked(stream, flags >> 5)
  local as_server = run(core.ws_framer(sopts), { client_stream }, max)
  same(as_server, run(core.ws_framer(sopts), cut(client_stream, cuts), max), "server: whole vs split")
  if as_server.err == "WebSocket protocol error: unmasked frame from the client" then
    as_server.err = "WebSocket protocol error: masked frame from the server"
  end
  same(whole, as_server, "client vs server role")
  if whole.code ~= as_server.code then fail("close code %s vs %s", tostring(whole.code), tostring(as_server.code)) end
end
