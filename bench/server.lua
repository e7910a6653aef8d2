--- The bench server's handler, run inside nginx's Lua module (LuaJIT,
-- ngx.* API). It serves the Gemini wire format from memory so that the
-- clients, not the server, are what `make bench` measures:
--
--   POST /v1beta/models/{m}:generateContent          a small JSON answer;
--        the model "slow-50ms" (any "slow-<N>ms") answers after N ms
--   POST /v1beta/models/{m}:streamGenerateContent?alt=sse
--        100,000 SSE events (~32 MB), `data: {...}\r\n\r\n`, chunked
--   GET  /bench/stream.sse                             the same bytes (for the floor)
--   GET  /bench/connections    how many connections have carried "slow-" calls
--        so far: the concurrency workloads report how many their client opened
--
-- Every API call must carry `x-goog-api-key` or `Authorization`, like the
-- real service; a missing one gets the real 401-shaped error.
-- @module server
local M = {}

local EVENTS = tonumber(os.getenv("BENCH_EVENTS")) or 100000
local BATCH = 1024 * 1024       -- bytes per ngx.print: few, big writes

local ANSWER = '{"candidates":[{"content":{"parts":[{"text":"Hello from the bench server:'
  .. ' a short answer of a few words."}],"role":"model"},"finishReason":"STOP","index":0}],'
  .. '"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":11,"totalTokenCount":20},'
  .. '"modelVersion":"gemini-2.5-flash","responseId":"bench-answer-0001"}'

local NO_KEY = '{"error":{"code":401,"message":"Method doesn\'t allow unregistered callers'
  .. ' (callers without established identity). Please use API Key or other form of API'
  .. ' consumer identity to call this API.","status":"UNAUTHENTICATED"}}'

-- The text of event i: ~110 bytes of words, different per event so the
-- decoder cannot be helped by repetition.
local WORDS = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
                "hotel", "india", "juliett", "kilo", "lima", "mike", "november" }
local function text_of(i)
  local out, n, k = {}, 0, i
  while n < 60 do
    local w = WORDS[k % #WORDS + 1]
    out[#out + 1] = w
    n = n + #w + 1
    k = (k * 7 + 3) % 1000003
  end
  return "token " .. i .. ": " .. table.concat(out, " ") .. " "
end

local function event(i, last)
  local cand = '{"content":{"parts":[{"text":"' .. text_of(i) .. '"}],"role":"model"}'
    .. (last and ',"finishReason":"STOP"' or "") .. ',"index":0}'
  return 'data: {"candidates":[' .. cand .. '],"usageMetadata":{"promptTokenCount":9,'
    .. '"candidatesTokenCount":' .. i .. ',"totalTokenCount":' .. (9 + i) .. '},'
    .. '"modelVersion":"gemini-2.5-flash","responseId":"bench-stream-0001"}\r\n\r\n'
end

--- Builds the stream body once (before nginx forks its workers, which then
-- share it): a list of ~1 MB strings.
function M.init()
  local batches, cur, size, total = {}, {}, 0, 0
  for i = 1, EVENTS do
    local e = event(i, i == EVENTS)
    cur[#cur + 1] = e
    size = size + #e
    if size >= BATCH or i == EVENTS then
      batches[#batches + 1] = table.concat(cur)
      total = total + size
      cur, size = {}, 0
    end
  end
  M.batches, M.total = batches, total
end

local function send_stream()
  ngx.header["Content-Type"] = "text/event-stream"
  for i = 1, #M.batches do
    ngx.print(M.batches[i])
    -- Wait for the socket to drain: nginx holds one batch, not 32 MB.
    ngx.flush(true)
  end
end

-- Counts the connection of a "slow-" call once (nginx numbers connections
-- across workers; an HTTP/2 stream carries its connection's number).
local function count_connection()
  local seen = ngx.shared.bench
  if seen:add("conn " .. ngx.var.connection, true) then seen:incr("connections", 1, 0) end
end

--- Handles one request (content_by_lua).
function M.handle()
  local uri = ngx.var.uri
  if uri == "/bench/stream.sse" then return send_stream() end
  if uri == "/bench/connections" then return ngx.print(ngx.shared.bench:get("connections") or 0) end
  local model, method = uri:match("^/v1beta/models/([^/:]+):(%a+)$")
  if not model then
    ngx.status = 404
    ngx.header["Content-Type"] = "application/json"
    return ngx.print('{"error":{"code":404,"message":"no such path","status":"NOT_FOUND"}}')
  end
  local h = ngx.req.get_headers()
  if not h["x-goog-api-key"] and not h["authorization"] then
    ngx.status = 401
    ngx.header["Content-Type"] = "application/json"
    return ngx.print(NO_KEY)
  end
  ngx.req.read_body()
  if method == "streamGenerateContent" then
    return send_stream()
  elseif method == "generateContent" then
    local ms = tonumber(model:match("^slow%-(%d+)ms$"))
    if ms then
      count_connection()
      ngx.sleep(ms / 1000)
    end
    ngx.header["Content-Type"] = "application/json; charset=UTF-8"
    return ngx.print(ANSWER)
  end
  ngx.status = 404
  ngx.header["Content-Type"] = "application/json"
  ngx.print('{"error":{"code":404,"message":"no such method","status":"NOT_FOUND"}}')
end

return M
