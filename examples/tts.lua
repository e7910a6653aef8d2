-- Text to speech: generate_content with response_modalities = { "AUDIO" }
-- answers with raw PCM (inline "audio/L16;codec=pcm;rate=24000"), which
-- gemini.audio.wav wraps into a WAV file any player opens.
--
--   GEMINI_API_KEY=... lua5.4 examples/tts.lua [answer.wav] ["text to say"]
--
-- The key comes from GEMINI_API_KEY (or GOOGLE_API_KEY), the server from
-- GEMINI_BASE_URL when set (a proxy, or the bundled mock server).
local gemini = require("gemini")

local out = arg[1] or "answer.wav"
local text = arg[2] or "Say cheerfully: have a wonderful day!"

local function fail(msg)
  io.stderr:write(tostring(msg), "\n")
  os.exit(1)
end

local client = gemini.Client{}
local res, err = client.models:generate_content{
  model = os.getenv("GEMINI_TTS_MODEL") or "gemini-2.5-flash-preview-tts",
  contents = text,
  config = {
    response_modalities = { "AUDIO" },
    speech_config = { voice_config = { prebuilt_voice_config = { voice_name = "Kore" } } },
  },
}
if not res then fail(err) end

local audio = res.inline_data and res.inline_data[1]
if not audio then fail("the answer holds no audio") end

-- The rate is in the MIME type; the PCM is 16-bit mono.
local wav = gemini.audio.wav(audio.data, { mime_type = audio.mime_type })
local f, ferr = io.open(out, "wb")
if not f then fail(ferr) end
local ok, werr = f:write(wav)
f:close()
if not ok then fail(werr) end
local rate = gemini.audio.rate(audio.mime_type)
print(string.format("saved %s (%s, %.2f s of audio)", out, audio.mime_type, #audio.data / 2 / rate))
