-- The shared object gemini.core exports one symbol, its entry point: the
-- functions its C parts share (gm_*, gemini_open_*) are built hidden
-- (-fvisibility=hidden, see the Makefile), so they cannot clash with the
-- symbols of another module loaded into the same process.

-- The file require("gemini.core") loads (package.searchpath is 5.2+).
local function core_path()
  for template in package.cpath:gmatch("[^;]+") do
    local path = template:gsub("%?", "gemini/core")
    local f = io.open(path, "rb")
    if f then
      f:close()
      return path
    end
  end
end

-- The dynamic symbols `path` defines, or nil when nm cannot tell.
local function exported(path)
  local p = io.popen("nm -D --defined-only '" .. path .. "' 2>/dev/null")
  local names = {}
  for line in p:lines() do
    names[#names + 1] = line:match("^%x*%s+%u%s+(%S+)$")
  end
  p:close()
  if #names == 0 then return nil end
  table.sort(names)
  return names
end

describe("gemini.core, the shared object", function()
  it("exports luaopen_gemini_core and nothing else", function()
    require("gemini.core")
    local path = core_path()
    assert.is_string(path, "gemini.core not found on package.cpath")
    local names = exported(path)
    if not names then
      pending("nm (binutils) cannot list the symbols of " .. path)
      return
    end
    assert.same({ "luaopen_gemini_core" }, names)
  end)
end)
