-- A video from prompt to MP4 on disk, in every mode: generate_videos, then
-- operations:wait, then files:download, with callbacks on a luv loop (the
-- loop keeps turning while the wait sleeps and the download streams) and
-- inside nginx on cosockets (the worker keeps answering meanwhile), against
-- the mock through the real HTTP stack.
local ok_uv, uv = pcall(require, "luv")
local mock = require("support.mock")
local loop = require("support.loop")
local nginx = require("support.nginx")

local KEY = "video-spec-key-1"
local VEO = "veo-3.1-generate-preview"

local describe_uv = ok_uv and describe or pending
local describe_ngx = nginx.available and describe or pending

describe_uv("a video on a luv loop", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local c, tmpfiles

  setup(function()
    c = m:client{ loop = uv, retry = { initial_delay = 0.02, jitter = 0 } }
    tmpfiles = {}
  end)

  loop.hygiene(uv, { teardown = teardown, after_each = after_each }, function() return c end)

  teardown(function()
    for _, p in ipairs(tmpfiles) do os.remove(p) end
  end)

  it("generates, waits and downloads through callbacks, never blocking the loop", function()
    m:faults{ { type = "operation", polls = 3 }, { type = "download", cut = 20000 } }
    local path = os.tmpname()
    tmpfiles[#tmpfiles + 1] = path
    local r = { progress = {} }
    local tick = loop.ticker(uv, 20)
    local h = c.models:generate_videos({ model = VEO, prompt = "waves" }, function(err, op)
      r.generated = { err, op }
      c.operations:wait(op, { interval = 0.1, timeout = 10 }, function(err2, done)
        r.waited = { err2, done, tick.n }
        c.files:download({ file = done.response.generated_videos[1].video, path = path,
                           on_progress = function(d, t) r.progress[#r.progress + 1] = { d, t } end },
          function(err3, n)
            r.downloaded = { err3, n }
            tick.stop()
          end)
      end)
    end)
    assert.is_function(h.cancel)
    assert.is_nil(r.generated)             -- returned at once
    loop.run(uv, 10)
    assert.is_nil(r.generated[1])
    assert.matches("/operations/", r.generated[2].name)
    assert.is_nil(r.waited[1])
    assert.is_true(r.waited[2].done)
    -- waits of 0.1, 0.15 and 0.225 s: the 20 ms timer ticked through them
    assert.is_true(r.waited[3] >= 15, "ticks while waiting: " .. r.waited[3])
    assert.is_nil(r.downloaded[1])
    assert.equal(65536, r.downloaded[2])
    local mp4 = mock.read_file(path)
    assert.equal(65536, #mp4)
    assert.equal("ftyp", mp4:sub(5, 8))
    assert.same({ 65536, 65536 }, r.progress[#r.progress])
    -- the cut download was resumed with Range
    local ranges = {}
    for _, e in ipairs(m:log()) do
      if e.signed then ranges[#ranges + 1] = e.headers.range or "none" end
    end
    assert.same({ "none", "bytes=20000-" }, ranges)
  end)

  it("takes callbacks on operations:get and a download of bytes", function()
    m:faults{ { type = "operation", polls = 0 } }
    local r = {}
    c.models:generate_videos({ model = VEO, prompt = "x" }, function(_, op)
      c.operations:get(op, function(err, got)
        r.got = { err, got }
        c.files:download({ file = got.response.generated_videos[1] }, function(err2, bytes)
          r.bytes = { err2, bytes }
        end)
      end)
    end)
    loop.run(uv, 10)
    assert.is_nil(r.got[1])
    assert.is_true(r.got[2].done)
    assert.is_nil(r.bytes[1])
    assert.equal("ftyp", r.bytes[2]:sub(5, 8))
  end)

  it("cancels a wait: one 'canceled' callback, no poll after it", function()
    m:faults{ { type = "operation", polls = 1000 } }
    local calls, h = {}, nil
    c.models:generate_videos({ model = VEO, prompt = "x" }, function(_, op)
      h = c.operations:wait(op, { interval = 0.05 }, function(err, done)
        calls[#calls + 1] = { err = err, done = done }
      end)
      local t = uv.new_timer()
      t:start(200, 0, function()
        t:close()
        assert.is_true(h:cancel())
      end)
    end)
    loop.run(uv, 10)
    assert.equal(1, #calls)
    assert.equal("canceled", calls[1].err.kind)
    local polls = #m:log()
    mock.sleep(0.2)
    assert.equal(polls, #m:log())
  end)

  it("raises programmer errors at once", function()
    assert.has_error(function() c.files:download({}, function() end) end,
      "bad field 'file' to 'download' (a File, a video, a file name or a file URI expected, got no value)")
    assert.has_error(function() c.operations:wait("batches/x", { timeout = -1 }, function() end) end,
      "bad field 'timeout' to 'wait' (a finite number of seconds > 0 expected)")
  end)
end)

-- The nginx side: the signed URL's host is nginx itself on another port (a
-- cosocket resolves no names without nginx's `resolver`, so not
-- localhost), relayed to the mock with the Host the client sent, so the
-- mock still sees another origin.
local HTTP = [[
  init_worker_by_lua_block {
    package.loaded.video_client = require("gemini").Client{ api_key = "%s", base_url = "%s",
      retry = { initial_delay = 0.05, jitter = 0 } }
  }
  server {
    listen 127.0.0.1:%d;
    location /ping { return 204; }
    location /signed/ { proxy_pass %s; proxy_set_header Host $http_host; proxy_buffering off; }
    location /video {
      content_by_lua_block {
        local c = package.loaded.video_client
        local op, err = c.models:generate_videos{ model = "veo-3.1-generate-preview", prompt = "dunes" }
        if not op then ngx.say("ERROR ", tostring(err)) return end
        local polls = 0
        op, err = c.operations:wait(op, { interval = 0.2, timeout = 10,
                                          on_progress = function() polls = polls + 1 end })
        if not op then ngx.say("ERROR ", tostring(err)) return end
        local bytes
        bytes, err = c.files:download{ file = op.response.generated_videos[1].video }
        if not bytes then ngx.say("ERROR ", tostring(err)) return end
        ngx.say("polls ", polls, " bytes ", #bytes, " ", bytes:sub(5, 8))
      }
    }
  }
]]

describe_ngx("a video inside nginx (cosockets)", function()
  local m = mock.suite{ setup = setup, teardown = teardown, before_each = before_each, key = KEY }
  local n

  setup(function()
    n = nginx.new()
    n:start(string.format(HTTP, KEY, m.url, n.port, m.url))
  end)

  teardown(function()
    if n then n:stop() end
  end)

  it("waits with ngx.sleep and downloads through the redirect, the worker answering meanwhile", function()
    local host = "127.0.0.1:" .. n.port
    m:faults{ { type = "operation", polls = 3 }, { type = "download", host = host, cut = 30000 },
              { type = "download", host = host } }
    local out = os.tmpname()
    -- one worker: a /ping answered while /video waits shows it is not blocked
    local script = "curl -s --max-time 20 " .. mock.shell_quote(n:url("/video")) .. " > "
      .. mock.shell_quote(out) .. " & sleep 0.3; t0=$(date +%s.%N); curl -s -o /dev/null --max-time 5 "
      .. mock.shell_quote(n:url("/ping")) .. "; t1=$(date +%s.%N); wait; echo \"$t0 $t1\""
    local t0, t1 = nginx.sh("sh -c " .. mock.shell_quote(script)):match("([%d%.]+) ([%d%.]+)")
    local body = mock.read_file(out)
    os.remove(out)
    assert.equal("polls 4 bytes 65536 ftyp\n", body)
    assert.is_true(tonumber(t1) - tonumber(t0) < 0.2, "/ping took " .. (tonumber(t1) - tonumber(t0)))
    local signed = {}
    for _, e in ipairs(m:log()) do
      if e.signed then signed[#signed + 1] = e end
    end
    assert.equal(2, #signed)                                 -- cut, then resumed
    assert.equal("bytes=30000-", signed[2].headers.range)
    assert.equal(206, signed[2].status)
    for _, e in ipairs(signed) do
      assert.equal("127.0.0.1:" .. n.port, e.headers.host)
      assert.is_false(e.credentials)
    end
    assert.is_nil(n:error_log():find(KEY, 1, true))
  end)
end)
