-- TLS: against a local HTTPS server with a self-signed certificate made
-- here with the openssl command line, the default client refuses the
-- server, `ca_file` pointing at the certificate makes it trusted, and
-- `verify = false` (documented as unsafe) is the only other way in.
local gemini = require("gemini")
local mock = require("support.mock")

local KEY = "tls-spec-key-7f3a9c"

-- (child_env: under `make test-asan`, tools must not inherit the sanitizer)
local function sh(cmd)
  local ok = os.execute((mock.child_env or "") .. cmd)
  return ok == true or ok == 0
end

local make_cert = mock.make_cert

local function read(path) return assert(mock.read_file(path)) end

describe("TLS", function()
  local dir, m

  setup(function()
    dir = make_cert()
    m = mock.start{ key = KEY, tls = { cert = dir .. "/cert.pem", key = dir .. "/key.pem" } }
  end)

  teardown(function()
    if m then m:stop() end
    if dir then sh("rm -rf " .. mock.shell_quote(dir)) end
  end)

  local function client(opts)
    opts.api_key, opts.base_url, opts.retry = KEY, m.url, false
    return gemini.Client(opts)
  end

  local REQ = { model = "gemini-2.5-flash", contents = "Hello over TLS" }

  it("serves HTTPS with the test's own certificate", function()
    assert.matches("^https://127%.0%.0%.1:%d+$", m.url)
    assert.matches("BEGIN CERTIFICATE", read(dir .. "/cert.pem"))
  end)

  it("is refused by default: a transport error that names the certificate", function()
    local c = client{}
    assert.is_true(c.verify)
    local res, err = c.models:generate_content(REQ)
    assert.is_nil(res)
    assert.equal("transport", err.kind)
    assert.matches("certificate", tostring(err):lower())
    assert.is_nil(tostring(err):find(KEY, 1, true))
  end)

  it("refuses a stream the same way", function()
    local s = client{}.models:generate_content_stream(REQ)
    local chunk, err = s:next()
    assert.is_nil(chunk)
    assert.equal("transport", err.kind)
    assert.matches("certificate", err.message:lower())
  end)

  it("accepts the server when ca_file points at its certificate", function()
    local c = client{ ca_file = dir .. "/cert.pem" }
    assert.is_true(c.verify)
    local res, err = c.models:generate_content(REQ)
    assert.is_nil(err)
    assert.is_truthy(res.text and #res.text > 0)
    local last = m:last()
    assert.equal(KEY, last.headers["x-goog-api-key"])   -- it really went through

    local text = {}
    for chunk in c.models:generate_content_stream(REQ) do text[#text + 1] = chunk.text end
    assert.is_true(#table.concat(text) > 0)
  end)

  it("downloads through an https redirect, and refuses one to http", function()
    local c = client{ ca_file = dir .. "/cert.pem" }
    m:reset()
    m:blob{ id = "abc", text = "over TLS" }
    assert.equal("over TLS", c.files:download{ file = "abc" })        -- https://localhost:PORT/signed/...
    m:faults{ { type = "download", location = "http://127.0.0.1:" .. m.port .. "/signed/abc?sig=x" } }
    local data, err = c.files:download{ file = "abc" }
    assert.is_nil(data)
    assert.equal("the download's redirect (HTTP 302) cannot be followed: it goes from https to http",
      err.message)
  end)

  it("still refuses with a ca_file that does not hold the server's certificate", function()
    -- Another self-signed certificate: valid PEM, wrong issuer.
    local other = make_cert()
    local c = client{ ca_file = other .. "/cert.pem" }
    local res, err = c.models:generate_content(REQ)
    sh("rm -rf " .. mock.shell_quote(other))
    assert.is_nil(res)
    assert.equal("transport", err.kind)
    assert.matches("certificate", err.message:lower())
  end)

  it("reports a missing ca_file as a transport error, not a crash", function()
    local res, err = client{ ca_file = dir .. "/no-such-file.pem" }.models:generate_content(REQ)
    assert.is_nil(res)
    assert.equal("transport", err.kind)
  end)

  it("skips verification only when verify = false is asked for", function()
    local c = client{ verify = false }
    assert.is_false(c.verify)
    local res, err = c.models:generate_content(REQ)
    assert.is_nil(err)
    assert.is_truthy(res.text)
    -- verify = nil is the default (on); anything but a boolean is refused.
    assert.is_true(client{ verify = nil }.verify)
    assert.has_error(function() client{ verify = "no" } end,
      "bad field 'verify' to 'Client' (boolean expected, got string)")
    assert.has_error(function() client{ verify = 0 } end,
      "bad field 'verify' to 'Client' (boolean expected, got number)")
  end)

  it("is documented: README calls verify = false unsafe", function()
    local readme = read("README.md")
    local line = readme:match("[^\n]*verify = false[^\n]*")
    assert.is_truthy(line)
    assert.matches("unsafe", line)
  end)
end)
