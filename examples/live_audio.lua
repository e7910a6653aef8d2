-- Speak to the Live API: a WAV file in (your question), the spoken answer
-- out to another WAV file, with both transcriptions printed.
--
--   GEMINI_API_KEY=... lua5.4 examples/live_audio.lua question.wav [answer.wav]
--
-- The question is sent as it is recorded (16-bit PCM; the Live API wants
-- mono, and 16 kHz is its native rate), in 100 ms chunks, then the end of
-- the audio stream; the answer is 24 kHz mono PCM, saved as WAV. The key
-- comes from GEMINI_API_KEY (or GOOGLE_API_KEY), the server from
-- GEMINI_BASE_URL when set (a proxy, or the bundled mock server).
local gemini = require("gemini")

local input, output = arg[1], arg[2] or "answer.wav"

local function fail(msg)
  io.stderr:write(tostring(msg), "\n")
  os.exit(1)
end

if not input then fail("usage: live_audio.lua question.wav [answer.wav]") end
local pcm, fmt = gemini.audio.read_wav(input)
if not pcm then fail(fmt) end
if fmt.bits ~= 16 or fmt.channels ~= 1 then fail(input .. ": 16-bit mono PCM expected") end

local client = gemini.Client{}
local session, err = client.live:connect{
  model = os.getenv("GEMINI_LIVE_MODEL") or "gemini-2.5-flash-native-audio-preview-09-2025",
  config = { response_modalities = { "AUDIO" }, input_audio_transcription = {},
             output_audio_transcription = {} },
}
if not session then fail(err) end

local mime = "audio/pcm;rate=" .. fmt.rate
local chunk = math.floor(fmt.rate / 10) * 2   -- 100 ms of 16-bit samples
for at = 1, #pcm, chunk do
  local ok, serr = session:send_realtime_input{ audio = { data = pcm:sub(at, at + chunk - 1), mime_type = mime } }
  if not ok then fail(serr) end
end
local ok, serr = session:send_realtime_input{ audio_stream_end = true }
if not ok then fail(serr) end

local answer, heard, said = {}, {}, {}
-- The iterator raises the session's error (a server close, a dropped
-- connection): caught here to report it.
local rok, rerr = pcall(function()
  for msg in session:receive() do
    answer[#answer + 1] = msg.data
    local sc = msg.server_content or {}
    if sc.inputTranscription then heard[#heard + 1] = sc.inputTranscription.text end
    if sc.outputTranscription then said[#said + 1] = sc.outputTranscription.text end
  end
end)
session:close()
if not rok then fail(rerr) end

local audio = table.concat(answer)
local f, ferr = io.open(output, "wb")
if not f then fail(ferr) end
local wok, werr = f:write(gemini.audio.wav(audio, { rate = 24000 }))
f:close()
if not wok then fail(werr) end
print("you said: " .. table.concat(heard))
print("answer: " .. table.concat(said))
print(string.format("saved %s (%.2f s of audio)", output, #audio / 2 / 24000))
