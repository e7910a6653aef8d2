-- core.b64encode / core.b64decode (src/base64.c)
local core = require("gemini.core")

local enc, dec = core.b64encode, core.b64decode

-- Random bytes from a seeded generator, so failures reproduce.
local function random_bytes(n)
  local t = {}
  for i = 1, n do t[i] = string.char(math.random(0, 255)) end
  return table.concat(t)
end

-- A check that `decode` refuses `s`, naming byte `pos`:
-- "invalid <name> at byte <pos>".
local function refuser(decode, name)
  return function(s, pos)
    local r, err = decode(s)
    assert.is_nil(r, s)
    assert.equal("invalid " .. name .. " at byte " .. pos, err)
  end
end

describe("b64encode", function()
  it("matches the RFC 4648 section 10 test vectors", function()
    assert.equal("", enc(""))
    assert.equal("Zg==", enc("f"))
    assert.equal("Zm8=", enc("fo"))
    assert.equal("Zm9v", enc("foo"))
    assert.equal("Zm9vYg==", enc("foob"))
    assert.equal("Zm9vYmE=", enc("fooba"))
    assert.equal("Zm9vYmFy", enc("foobar"))
  end)

  it("uses + and / by default, - and _ when urlsafe, padded either way", function()
    local s = "\251\255\191\254"
    assert.equal("+/+//g==", enc(s))
    assert.equal("-_-__g==", enc(s, true))
    assert.equal("+/+//g==", enc(s, false))
  end)

  it("handles embedded NULs and all byte values", function()
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    all = table.concat(all)
    assert.equal(all, dec(enc(all)))
    assert.equal("AAAA", enc("\0\0\0"))
  end)

  it("rejects non-strings", function()
    assert.has_error(function() enc({}) end,
      "bad argument #1 to 'enc' (string expected, got table)")
    assert.has_error(function() enc() end,
      "bad argument #1 to 'enc' (string expected, got no value)")
  end)
end)

describe("b64decode", function()
  it("decodes the RFC 4648 test vectors", function()
    assert.equal("", dec(""))
    assert.equal("f", dec("Zg=="))
    assert.equal("fo", dec("Zm8="))
    assert.equal("foo", dec("Zm9v"))
    assert.equal("foob", dec("Zm9vYg=="))
    assert.equal("fooba", dec("Zm9vYmE="))
    assert.equal("foobar", dec("Zm9vYmFy"))
  end)

  it("accepts unpadded input", function()
    assert.equal("f", dec("Zg"))
    assert.equal("fo", dec("Zm8"))
    assert.equal("fooba", dec("Zm9vYmE"))
  end)

  it("accepts the URL-safe alphabet, and both mixed", function()
    assert.equal("\251\255\191\254", dec("-_-__g=="))
    assert.equal("\251\255\191\254", dec("-_-__g"))
    assert.equal("\251\255\191\254", dec("+_-/_g=="))
  end)

  it("ignores ASCII whitespace anywhere, line breaks included", function()
    assert.equal("foobar", dec("Zm9v\r\nYmFy\r\n"))
    assert.equal("foobar", dec(" Z m 9 v\tY\nm\vF\fy "))
    assert.equal("fo", dec("Zm8\n=\n"))
    assert.equal("f", dec("Zg= =  "))
    assert.equal("", dec(" \n\t "))
  end)

  it("round-trips random binary strings of every length 0..300", function()
    math.randomseed(4648)
    for n = 0, 300 do
      local s = random_bytes(n)
      local e = enc(s)
      assert.equal(4 * math.ceil(n / 3), #e)
      assert.equal(s, dec(e))
      local u = enc(s, true)
      assert.is_nil(u:find("[+/]"))
      assert.equal(s, dec(u))
      -- base64url of a JWT: the same without padding, strictly decoded
      assert.equal((u:gsub("=", "")), core.b64url_encode(s))
      assert.equal(s, core.b64url_decode((u:gsub("=", ""))))
      -- unpadded, and line-wrapped at 76 like MIME
      assert.equal(s, dec((e:gsub("=", ""))))
      assert.equal(s, dec((e:gsub(("."):rep(76), "%0\r\n"))))
    end
  end)

  it("reports the first bad byte of invalid input", function()
    local bad = refuser(dec, "base64")
    bad("Zm9v!", 5)
    bad("Zm9v\0YmFy", 5)
    bad("Zm9v\200", 5)
    bad("Z", 1)              -- a lone sextet is not a byte
    bad("Zm9vY", 5)
    bad("Zm9vY\n", 5)
    bad("=", 1)              -- padding cannot start a quantum
    bad("Zg===", 5)          -- too much padding
    bad("Zm9=v", 5)          -- data after padding
    bad("Zg==Zg==", 5)       -- concatenated padded blocks
    bad("Zg=", 3)            -- padding must complete the quantum
    bad("Z===", 2)
    bad("Zm.9", 3)
  end)

  it("rejects non-strings", function()
    assert.has_error(function() dec(nil) end,
      "bad argument #1 to 'dec' (string expected, got nil)")
  end)
end)

-- base64url without padding: the three parts of a JWT (RFC 7515 section 2).
describe("b64url_encode / b64url_decode", function()
  local uenc, udec = core.b64url_encode, core.b64url_decode

  it("encodes the RFC 4648 vectors in the URL-safe alphabet, unpadded", function()
    local want = { [""] = "", f = "Zg", fo = "Zm8", foo = "Zm9v", foob = "Zm9vYg",
                   fooba = "Zm9vYmE", foobar = "Zm9vYmFy", ["\251\255\191\254"] = "-_-__g" }
    for data, text in pairs(want) do
      assert.equal(text, uenc(data))
      assert.equal(data, udec(text))
    end
  end)

  it("decodes strictly: only A-Za-z0-9-_, no padding, no whitespace, no lone sextet", function()
    local bad = refuser(udec, "base64url")
    bad("Zg==", 3)
    bad("Zm9v+A", 5)
    bad("Zm9v/A", 5)
    bad("Zm 9v", 3)
    bad("Zm9v\n", 5)
    bad("Z", 1)
    bad("Zm9vY", 5)
    bad("Zm.9", 3)
    bad("\0", 1)
  end)

  it("rejects non-strings", function()
    assert.has_error(function() uenc(nil) end, "bad argument #1 to 'uenc' (string expected, got nil)")
    assert.has_error(function() udec({}) end, "bad argument #1 to 'udec' (string expected, got table)")
  end)
end)
