-- Many calls at once on one session (generate_content_all, sess:step):
-- a finished transfer is handed over without waiting for the others.
local core = require("gemini.core")
local mock = require("support.mock")

local KEY = "concurrency-key-2b7e"
local MODEL = "gemini-2.5-flash"

describe("sess:step", function()
  local m

  setup(function() m = mock.start{ key = KEY } end)
  teardown(function() m:stop() end)
  before_each(function() m:reset() end)

  local function call(model)
    return {
      method = "POST", url = m.url .. "/v1beta/models/" .. model .. ":generateContent",
      headers = { "x-goog-api-key: " .. KEY, "Content-Type: application/json" },
      body = '{"contents":[{"parts":[{"text":"x"}]}]}',
    }
  end

  it("returns at once when a transfer has ended, without waiting for the others", function()
    m:script{ { latency = 0.3 } }                                       -- a: 0.3 s late
    m:faults{ { type = "stall", seconds = 3, match = "slow-model" } }   -- b: silent for 3 s
    local s = core.session()
    local a, b = s:request(call(MODEL)), s:request(call("slow-model"))
    for _ = 1, 3 do s:step(50) end      -- both sent; a's answer is not due yet
    assert.is_false(a:is_done())
    core.sleep(0.5)                     -- a's answer waits on its socket
    local t0 = core.now()
    s:step(3000)
    assert.is_true(a:is_done())
    assert.equal(200, a:status())
    assert.is_true(core.now() - t0 < 1, ("the step took %.2f s"):format(core.now() - t0))
    a:close()
    b:close()
    s:close()
  end)
end)
