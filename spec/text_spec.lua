-- core.text_builder (src/text.c): a streamed answer's text, joined once.
local core = require("gemini.core")

describe("text_builder", function()
  it("joins what was added, in order, and starts empty again", function()
    local b = core.text_builder("ab")
    b:add("")
    b:add("c\0d")
    b:add(("x"):rep(100000))
    assert.equal("abc\0d" .. ("x"):rep(100000), b:result())
    assert.equal("", b:result())
    b:add("again")
    assert.equal("again", b:result())
    assert.equal("", core.text_builder():result())
    local empty = core.text_builder("")     -- nothing to copy into no block yet
    empty:add("")
    assert.equal("", empty:result())
  end)

  it("takes strings only", function()
    local b = core.text_builder()
    assert.has_error(function() b:add({}) end, "bad argument #1 to 'add' (string expected, got table)")
    assert.has_error(function() core.text_builder(true) end,
      "bad argument #1 to 'text_builder' (string expected, got boolean)")
    assert.has_error(function() b.add(nil, "x") end)
  end)
end)
