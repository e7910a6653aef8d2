-- gemini.audio: PCM to WAV and back, checked against Python's `wave`
-- module (an independent reader and writer), and a text-to-speech answer
-- of the mock (through the real HTTP stack) saved as a WAV file.
local gemini = require("gemini")
local mock = require("support.mock")
local cjson = require("cjson")

local audio = gemini.audio
local q = mock.shell_quote

-- A temp file name, removed by the teardown of the block that asked.
local tmpfiles = {}
local function tmpname()
  local p = os.tmpname()
  tmpfiles[#tmpfiles + 1] = p
  return p
end

local function cleanup()
  for _, p in ipairs(tmpfiles) do os.remove(p) end
  tmpfiles = {}
end

-- Runs a Python program (its argv after the script: `args`); returns what
-- it printed, decoded as JSON.
local function python(program, args)
  local script = tmpname()
  mock.write_file(script, program)
  local out = mock.command_output("python3 " .. q(script) .. " " .. table.concat(args or {}, " ") .. " 2>&1")
  local ok, v = pcall(cjson.decode, out)
  assert(ok, "python printed: " .. out)
  return v
end

-- What Python's wave module reads in a WAV file.
local WAVE_READ = [[
import json, sys, wave
with wave.open(sys.argv[1], "rb") as w:
    frames = w.readframes(w.getnframes())
    print(json.dumps({"rate": w.getframerate(), "channels": w.getnchannels(),
                      "width": w.getsampwidth(), "frames": w.getnframes(), "hex": frames.hex()}))
]]

-- A WAV file written by Python's wave module: stereo, 16 bits, 8000 Hz,
-- 5 frames of known samples.
local WAVE_WRITE = [[
import json, struct, sys, wave
samples = [0, 1, -1, 32767, -32768, 1234, -1234, 2, 3, 4]
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(2); w.setsampwidth(2); w.setframerate(8000)
    w.writeframes(struct.pack("<10h", *samples))
print(json.dumps({"hex": struct.pack("<10h", *samples).hex()}))
]]

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function le32(n)
  return string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256,
    math.floor(n / 16777216) % 256)
end

-- A WAV file made by hand from its chunks ({id, body} pairs), the RIFF
-- size right, each chunk of odd size padded.
local function riff(chunks)
  local parts = { "WAVE" }
  for _, c in ipairs(chunks) do
    parts[#parts + 1] = c[1] .. le32(c.size or #c[2]) .. c[2] .. (#c[2] % 2 == 1 and "\0" or "")
  end
  local body = table.concat(parts)
  return "RIFF" .. le32(#body) .. body
end

-- A "fmt " chunk body: format tag, channels, rate, bits.
local function fmt_chunk(tag, channels, rate, bits)
  local block = math.ceil(channels * bits / 8)
  local function le16(n) return string.char(n % 256, math.floor(n / 256)) end
  return le16(tag) .. le16(channels) .. le32(rate) .. le32(rate * block) .. le16(block) .. le16(bits)
end

describe("gemini.audio", function()
  teardown(cleanup)

  local pcm = ""
  for i = 0, 99 do pcm = pcm .. string.char(i % 256, (i * 7) % 256) end   -- 100 16-bit frames, mono

  it("wav writes a 44-byte RIFF/WAVE header (fmt PCM, data) before the PCM", function()
    local wav = audio.wav(pcm, { rate = 24000 })
    assert.equal(44 + #pcm, #wav)
    assert.equal("RIFF" .. le32(36 + #pcm) .. "WAVE" .. "fmt " .. le32(16) .. fmt_chunk(1, 1, 24000, 16)
      .. "data" .. le32(#pcm), wav:sub(1, 44))
    assert.equal(pcm, wav:sub(45))
  end)

  it("wav -> file -> read_wav gives back the same PCM, byte for byte, and its format", function()
    local path = tmpname()
    mock.write_file(path, audio.wav(pcm, { rate = 16000, channels = 2 }))
    local back, fmt = audio.read_wav(path)
    assert.equal(pcm, back)
    assert.same({ rate = 16000, channels = 2, bits = 16 }, fmt)
    -- and so through from_wav with bytes in memory
    local back2, fmt2 = audio.from_wav(audio.wav(pcm, { rate = 8000, bits = 8 }))
    assert.equal(pcm, back2)
    assert.same({ rate = 8000, channels = 1, bits = 8 }, fmt2)
  end)

  it("Python's wave module reads our WAV: rate, channels, sample width, frames, samples", function()
    local path = tmpname()
    mock.write_file(path, audio.wav(pcm, { rate = 24000, channels = 1, bits = 16 }))
    local r = python(WAVE_READ, { q(path) })
    assert.same({ rate = 24000, channels = 1, width = 2, frames = 100, hex = hex(pcm) }, r)
    mock.write_file(path, audio.wav(pcm, { rate = 44100, channels = 2 }))
    r = python(WAVE_READ, { q(path) })
    assert.same({ 44100, 2, 50 }, { r.rate, r.channels, r.frames })
  end)

  it("read_wav reads a WAV file written by Python's wave module", function()
    local path = tmpname()
    local want = python(WAVE_WRITE, { q(path) })
    local got, fmt = audio.read_wav(path)
    assert.equal(want.hex, hex(got))
    assert.same({ rate = 8000, channels = 2, bits = 16 }, fmt)
  end)

  it("from_wav skips unknown chunks (LIST of odd size, with its pad byte) and takes WAVE_FORMAT_EXTENSIBLE PCM",
    function()
      local fmt = fmt_chunk(1, 1, 22050, 16)
      local got, f = audio.from_wav(riff{ { "LIST", "INFOISFT\5\0\0\0lua!\0" }, { "fmt ", fmt },
                                          { "fact", "\100\0\0\0" }, { "data", pcm } })
      assert.equal(pcm, got)
      assert.same({ rate = 22050, channels = 1, bits = 16 }, f)
      -- extensible: cbSize 22, valid bits, channel mask, the PCM sub-format GUID
      local ext = fmt_chunk(0xFFFE, 1, 22050, 16) .. "\22\0" .. "\16\0" .. le32(4)
        .. "\1\0\0\0\0\0\16\0\128\0\0\170\0\56\155\113"
      got = audio.from_wav(riff{ { "fmt ", ext }, { "data", pcm } })
      assert.equal(pcm, got)
    end)

  describe("refuses with nil and a decode error", function()
    local fmt = fmt_chunk(1, 1, 24000, 16)
    local cases = {
      { "an empty file", "", "no RIFF/WAVE header" },
      { "not a WAV file", "\137PNG\r\n\26\n0000000000000000", "no RIFF/WAVE header" },
      { "a RIFF file of another kind", "RIFF\4\0\0\0AVI ", "no RIFF/WAVE header" },
      { "float samples", riff{ { "fmt ", fmt_chunk(3, 1, 24000, 32) }, { "data", "\0\0\0\0" } },
        "its samples are not PCM (format tag 3)" },
      { "extensible float samples", riff{ { "fmt ", fmt_chunk(0xFFFE, 1, 24000, 32) .. "\22\0\32\0" .. le32(4)
        .. "\3\0\0\0\0\0\16\0\128\0\0\170\0\56\155\113" }, { "data", "\0\0\0\0" } },
        "its samples are not PCM (format tag 3)" },
      { "12-bit samples", riff{ { "fmt ", fmt_chunk(1, 1, 24000, 12) }, { "data", "\0\0" } },
        "unsupported format (1 channels, 24000 Hz, 12 bits)" },
      { "a truncated data chunk", riff{ { "fmt ", fmt }, { "data", pcm } }:sub(1, -11),
        "truncated (a data chunk of 200 bytes, 190 present)" },
      { "half a frame of data", riff{ { "fmt ", fmt }, { "data", "\1\2\3" } },
        "truncated (3 bytes of data: not a whole number of 2-byte frames)" },
      { "a chunk running past the end", riff{ { "fmt ", fmt }, { "LIST", "abcd", size = 99 } },
        'truncated (its "LIST" chunk ends past the end)' },
      { "no fmt chunk", riff{ { "LIST", "abc" } }, "no fmt chunk" },
      { "data before fmt", riff{ { "data", pcm }, { "fmt ", fmt } }, "its data chunk comes before any fmt chunk" },
      { "no data chunk", riff{ { "fmt ", fmt } }, "no data chunk" },
      { "a short fmt chunk", riff{ { "fmt ", "\1\0\1\0" }, { "data", pcm } }, "its fmt chunk is too short" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local got, err = audio.from_wav(c[2])
        assert.is_nil(got)
        assert.is_true(gemini.is_error(err))
        assert.equal("decode", err.kind)
        assert.equal("not a PCM WAV file: " .. c[3], err.message)
      end)
    end

    it("read_wav names the file", function()
      local path = tmpname()
      mock.write_file(path, "RIFF....WAVEfmt ")
      local got, err = audio.read_wav(path)
      assert.is_nil(got)
      assert.equal("decode", err.kind)
      assert.equal(path .. ": not a PCM WAV file: no fmt chunk", err.message)
    end)
  end)

  it("read_wav of a file that cannot be read: nil and an io error naming it", function()
    local got, err = audio.read_wav("/nonexistent/x.wav")
    assert.is_nil(got)
    assert.equal("io", err.kind)
    assert.equal("cannot read /nonexistent/x.wav: No such file or directory", err.message)
    got, err = audio.read_wav("/")
    assert.is_nil(got)
    assert.equal("io", err.kind)
    assert.matches("^cannot read /: ", err.message)
  end)

  it("rate reads the rate= of a MIME type", function()
    assert.equal(24000, audio.rate("audio/L16;codec=pcm;rate=24000"))
    assert.equal(16000, audio.rate("audio/pcm; rate=16000"))
    assert.is_nil(audio.rate("audio/pcm"))
    assert.equal(24000, audio.wav("", { mime_type = "audio/L16;codec=pcm;rate=24000" }):byte(25)
      + audio.wav("", { mime_type = "audio/L16;codec=pcm;rate=24000" }):byte(26) * 256)
  end)

  it("raises for wrong arguments, naming them", function()
    assert.has_error(function() audio.wav(nil, { rate = 1 }) end,
      "bad argument #1 to 'wav' (string expected, got no value)")
    assert.has_error(function() audio.wav(pcm) end, "bad argument #2 to 'wav' (table expected, got no value)")
    assert.has_error(function() audio.wav(pcm, {}) end,
      "bad field 'rate' to 'wav' (a sample rate expected: pass rate, or a mime_type with rate=)")
    assert.has_error(function() audio.wav(pcm, { mime_type = "audio/pcm" }) end,
      "bad field 'rate' to 'wav' (a sample rate expected: pass rate, or a mime_type with rate=, not \"audio/pcm\")")
    assert.has_error(function() audio.wav(pcm, { rate = 0 }) end,
      "bad field 'rate' to 'wav' (a positive integer expected, got 0)")
    assert.has_error(function() audio.wav(pcm, { rate = "24000" }) end,
      "bad field 'rate' to 'wav' (a positive integer expected, got string)")
    assert.has_error(function() audio.wav(pcm, { rate = 24000, bits = 12 }) end,
      "bad field 'bits' to 'wav' (8, 16, 24 or 32 expected, got 12)")
    assert.has_error(function() audio.wav("abc", { rate = 24000 }) end,
      "bad argument #1 to 'wav' (3 bytes of PCM: not a whole number of 2-byte frames)")
    assert.has_error(function() audio.wav(pcm, { rate = 24000, rat = 1 }) end,
      "bad field 'rat' to 'wav' (unknown field; known: rate, channels, bits, mime_type)")
    assert.has_error(function() audio.read_wav(42) end, "bad argument #1 to 'read_wav' (string expected, got number)")
    assert.has_error(function() audio.from_wav() end, "bad argument #1 to 'from_wav' (string expected, got no value)")
    assert.has_error(function() audio.rate(nil) end, "bad argument #1 to 'rate' (string expected, got no value)")
  end)
end)

describe("a text-to-speech answer", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = "audio-spec-key" }
  teardown(cleanup)

  it("comes as inline L16 PCM, decoded by res.inline_data, and becomes a WAV file Python reads", function()
    local c = m:client{ retry = false }
    local res, err = c.models:generate_content{
      model = "gemini-2.5-flash-preview-tts", contents = "Say cheerfully: have a wonderful day!",
      config = { response_modalities = { "AUDIO" },
                 speech_config = { voice_config = { prebuilt_voice_config = { voice_name = "Kore" } } } },
    }
    assert.is_nil(err)
    local sent = m:last().json
    assert.same({ "AUDIO" }, sent.generationConfig.responseModalities)
    assert.equal("Kore", sent.generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName)
    local blob = res.inline_data[1]
    assert.equal("audio/L16;codec=pcm;rate=24000", blob.mime_type)
    assert.equal(12000, #blob.data)                  -- 0.25 s of 16-bit mono at 24 kHz
    local path = tmpname()
    mock.write_file(path, audio.wav(blob.data, { mime_type = blob.mime_type }))
    local r = python(WAVE_READ, { q(path) })
    assert.same({ 24000, 1, 2, 6000 }, { r.rate, r.channels, r.width, r.frames })
    assert.equal(hex(blob.data), r.hex)
  end)
end)
