--- Audio helpers: raw PCM to WAV and back, for text-to-speech answers and
-- the Live API.
--
--    local res = client.models:generate_content{ model = "gemini-2.5-flash-preview-tts",
--      contents = "Say hi", config = { response_modalities = { "AUDIO" } } }
--    local blob = res.inline_data[1]                -- {mime_type = "audio/L16;codec=pcm;rate=24000", data = <PCM>}
--    local wav = gemini.audio.wav(blob.data, { mime_type = blob.mime_type })
--    local pcm, fmt = gemini.audio.read_wav("question.wav")   -- fmt = {rate =, channels =, bits =}
--
-- Gemini's audio is headerless little-endian signed PCM: TTS answers are
-- labelled "audio/L16;codec=pcm;rate=24000" (mono, 16 bits; the bytes are
-- little-endian whatever RFC 2586 says of L16: the SDKs' TTS examples write
-- them into a WAV file unchanged), and the Live API takes
-- "audio/pcm;rate=16000". A WAV file is that PCM after a RIFF header
-- ("RIFF" size "WAVE", a "fmt " chunk, a "data" chunk), so nothing here
-- converts samples.
--
-- Errors: a wrong argument raises, naming it; a file that cannot be read
-- gives nil and a `gemini.Error` of kind "io", bytes that are not a PCM WAV
-- file nil and one of kind "decode".
-- @module gemini.audio
local errors = require("gemini.errors")

local M = {}

-- Little-endian unsigned integers, without string.pack (Lua 5.1, LuaJIT).
local function le16(n)
  return string.char(n % 256, math.floor(n / 256) % 256)
end

local function le32(n)
  return le16(n % 65536) .. le16(math.floor(n / 65536))
end

local function read16(s, at)
  local a, b = s:byte(at, at + 1)
  return a + b * 256
end

local function read32(s, at)
  return read16(s, at) + read16(s, at + 2) * 65536
end

local BITS = { [8] = true, [16] = true, [24] = true, [32] = true }
local MAX_DATA = 0xFFFFFFFF - 36   -- the RIFF size (a u32) counts 36 header bytes

--- The sample rate in a MIME type's `rate=` parameter
-- ("audio/L16;codec=pcm;rate=24000" -> 24000), or nil when it has none.
-- @tparam string mime_type
function M.rate(mime_type)
  errors.arg("rate", 1, mime_type, "string")
  local r = mime_type:lower():match(";%s*rate%s*=%s*(%d+)%s*;?")
  return r and tonumber(r) or nil
end

-- A positive integer field of the options of `wav`, or its default.
local function count_field(opts, k, default)
  local v = opts[k]
  if v == nil then return default end
  if type(v) ~= "number" or v < 1 or v ~= math.floor(v) or v >= 2 ^ 32 then
    errors.misuse(string.format("bad field '%s' to 'wav' (a positive integer expected, got %s)", k,
      type(v) == "number" and tostring(v) or errors.typename(v)))
  end
  return v
end

--- WAV file bytes holding `pcm` (headerless little-endian PCM, the bytes
-- of `res.inline_data[i].data` or of a Live message's `msg.data`).
-- @tparam string pcm
-- @tparam table opts `{rate =, channels = 1, bits = 16, mime_type =}`: the
--   rate is `rate`, else the `rate=` of `mime_type` (as Gemini labels its
--   audio); one of the two is needed
-- @treturn string the WAV bytes
function M.wav(pcm, opts)
  errors.arg("wav", 1, pcm, "string")
  errors.arg("wav", 2, opts, "table")
  errors.known_fields("wav", opts, { "rate", "channels", "bits", "mime_type" })
  local mime = errors.field("wav", "mime_type", opts.mime_type, "string", true)
  local rate = count_field(opts, "rate", mime and M.rate(mime))
  if rate == nil then
    errors.misuse("bad field 'rate' to 'wav' (a sample rate expected: pass rate, or a mime_type"
      .. " with rate=" .. (mime and (", not " .. string.format("%q", mime)) or "") .. ")")
  end
  local channels = count_field(opts, "channels", 1)
  local bits = count_field(opts, "bits", 16)
  if not BITS[bits] then
    errors.misuse("bad field 'bits' to 'wav' (8, 16, 24 or 32 expected, got " .. bits .. ")")
  end
  local frame = channels * bits / 8
  if #pcm % frame ~= 0 then
    errors.misuse(string.format("bad argument #1 to 'wav' (%d bytes of PCM: not a whole number of"
      .. " %d-byte frames)", #pcm, frame))
  end
  if #pcm > MAX_DATA then
    errors.misuse(string.format("bad argument #1 to 'wav' (%d bytes of PCM: more than a WAV file holds)",
      #pcm))
  end
  return table.concat({
    "RIFF", le32(36 + #pcm), "WAVE",
    "fmt ", le32(16), le16(1), le16(channels), le32(rate), le32(rate * frame), le16(frame), le16(bits),
    "data", le32(#pcm), pcm,
  })
end

local function bad_wav(why)
  return nil, errors.new("decode", "not a PCM WAV file: " .. why)
end

-- WAVE_FORMAT_PCM, and WAVE_FORMAT_EXTENSIBLE, whose sub-format GUID then
-- says PCM by its first two bytes (KSDATAFORMAT_SUBTYPE_PCM is
-- 00000001-0000-0010-8000-00aa00389b71); sox and others write it for more
-- than two channels or 16 bits.
local PCM, EXTENSIBLE = 1, 0xFFFE

-- The fields of a "fmt " chunk: {rate=, channels=, bits=}, or nil, why.
local function parse_fmt(s, at, size)
  if size < 16 then return nil, "its fmt chunk is too short" end
  local tag = read16(s, at)
  if tag == EXTENSIBLE and size >= 40 then tag = read16(s, at + 24) end
  if tag ~= PCM then return nil, string.format("its samples are not PCM (format tag %d)", tag) end
  local fmt = { channels = read16(s, at + 2), rate = read32(s, at + 4), bits = read16(s, at + 14) }
  if fmt.channels == 0 or fmt.rate == 0 or not BITS[fmt.bits] then
    return nil, string.format("unsupported format (%d channels, %d Hz, %d bits)", fmt.channels, fmt.rate,
      fmt.bits)
  end
  if read16(s, at + 12) ~= fmt.channels * fmt.bits / 8 then
    return nil, "its block size does not match its channels and bits"
  end
  return fmt
end

--- The PCM of WAV file bytes and its format.
-- Chunks other than "fmt " and "data" (LIST, fact, ...) are skipped, with
-- the pad byte that follows a chunk of odd size. Bytes that are not a
-- whole PCM WAV file give nil and an error of kind "decode" saying why.
-- @tparam string bytes
-- @return pcm, `{rate =, channels =, bits =}`; or nil and a `gemini.Error` of kind "decode"
function M.from_wav(bytes)
  errors.arg("from_wav", 1, bytes, "string")
  if #bytes < 12 or bytes:sub(1, 4) ~= "RIFF" or bytes:sub(9, 12) ~= "WAVE" then
    return bad_wav("no RIFF/WAVE header")
  end
  local at, fmt = 13, nil
  while at + 8 <= #bytes + 1 do
    local id, size = bytes:sub(at, at + 3), read32(bytes, at + 4)
    local body = at + 8
    if id == "data" then
      if not fmt then return bad_wav("its data chunk comes before any fmt chunk") end
      if body + size - 1 > #bytes then
        return bad_wav(string.format("truncated (a data chunk of %d bytes, %d present)", size,
          #bytes - body + 1))
      end
      local frame = fmt.channels * fmt.bits / 8
      if size % frame ~= 0 then
        return bad_wav(string.format("truncated (%d bytes of data: not a whole number of %d-byte frames)",
          size, frame))
      end
      return bytes:sub(body, body + size - 1), fmt
    end
    if body + size - 1 > #bytes then
      return bad_wav(string.format("truncated (its %q chunk ends past the end)", id))
    end
    if id == "fmt " then
      local why
      fmt, why = parse_fmt(bytes, body, size)
      if not fmt then return bad_wav(why) end
    end
    at = body + size + size % 2
  end
  return bad_wav(fmt and "no data chunk" or "no fmt chunk")
end

--- The PCM of a WAV file and its format (see `from_wav`). A file that
-- cannot be read gives nil and an error of kind "io", one that is not a
-- PCM WAV file one of kind "decode"; the message names the file.
-- @tparam string path
-- @return pcm, `{rate =, channels =, bits =}`; or nil and a `gemini.Error` of kind "io" or "decode"
function M.read_wav(path)
  errors.arg("read_wav", 1, path, "string")
  local f, msg = io.open(path, "rb")      -- msg names the file
  local bytes
  if f then
    bytes, msg = f:read("*a")             -- a directory opens, but cannot be read
    f:close()
    msg = path .. ": " .. tostring(msg)
  end
  if not bytes then return nil, errors.new("io", "cannot read " .. msg) end
  local pcm, fmt = M.from_wav(bytes)
  if not pcm then
    fmt.message = path .. ": " .. fmt.message
    return nil, fmt
  end
  return pcm, fmt
end

return M
