-- The rockspec as a user runs it: `luarocks make` of the 5.4 rock and the
-- 5.1 rock (Neovim, OpenResty) from one copy of the checkout, in both
-- orders, each into a tree of its own; each installed module must load in
-- its own interpreter. One build folder shared by the versions installed
-- the first version's core.so into the second tree ("undefined symbol:
-- luaL_pushresultsize" at the first Client{} on 5.1).
local mock = require("support.mock")

local q = mock.shell_quote
local read = mock.command_output

local function have(cmd)
  return read("command -v " .. q(cmd) .. " 2>/dev/null") ~= ""
end

-- What the spec needs beyond the suite's own packages (CI installs them:
-- .ci/install-deps --all).
local function missing()
  if not have("luarocks") then return "luarocks is not installed (apt-get install luarocks)" end
  for _, v in ipairs{ "5.4", "5.1" } do
    if not have("lua" .. v) then return "lua" .. v .. " is not installed" end
    if not io.open("/usr/include/lua" .. v .. "/lua.h") then
      return "the Lua " .. v .. " headers are not installed (liblua" .. (v == "5.1" and "5.1-0" or v) .. "-dev)"
    end
  end
end

-- Runs a shell command line; its output (stdout and stderr) and whether it exited 0.
local function sh(cmd)
  local out = read("(" .. cmd .. ") 2>&1; echo \"EXIT:$?\"")
  local status = out:match("EXIT:(%d+)%s*$")
  return out:gsub("EXIT:%d+%s*$", ""), status == "0"
end

describe("gemini-scm-1.rockspec", function()
  local why = missing()
  if why then
    it("installs the 5.4 and 5.1 rocks side by side", function() pending(why) end)
    return
  end

  local cwd = read("pwd"):gsub("%s+$", "")
  local tmp

  before_each(function()
    tmp = os.tmpname()
    os.remove(tmp)
    -- the checkout as it is on disk (uncommitted edits included), no build
    local _, ok = sh(table.concat({ "mkdir -p", q(tmp .. "/src"), "&& cd", q(cwd), "&& tar",
      "--exclude=./build --exclude=./.git --exclude=./docs/html -cf - . | tar -xf - -C", q(tmp .. "/src") }, " "))
    assert(ok, "copying the checkout failed")
  end)

  after_each(function()
    os.execute("rm -rf " .. q(tmp))
  end)

  -- `luarocks make` of the rock for Lua `v` into tmp/tree-v.
  local function make_rock(v)
    local out, ok = sh(table.concat({ "cd", q(tmp .. "/src"), "&& env -u LUA_INIT luarocks make",
      "--deps-mode=none", "--tree", q(tmp .. "/tree-" .. v), "--lua-version=" .. v,
      "gemini-scm-1.rockspec" }, " "))
    assert(ok, "luarocks make for Lua " .. v .. " failed:\n" .. out)
  end

  -- Loads the module installed in tmp/tree-v with lua<v>, with the paths
  -- that `luarocks path` gives for that tree.
  local function load_rock(v)
    local tree = tmp .. "/tree-" .. v
    local out, ok = sh(table.concat({ "eval \"$(luarocks path --tree", q(tree), "--lua-version=" .. v .. ")\"",
      "&& env -u LUA_INIT lua" .. v, "-e",
      q('local g = require("gemini"); g.Client{ api_key = false }; print(_VERSION, package.searchpath'
        .. ' and package.searchpath("gemini.core", package.cpath) or "")') }, " "))
    assert(ok, "the Lua " .. v .. " rock does not load:\n" .. out)
    assert.matches("^Lua " .. v:gsub("%.", "%%.") .. "\t", out)
    if v ~= "5.1" then  -- 5.1 has no searchpath
      assert.matches("\t" .. tree:gsub("%p", "%%%0") .. "/lib/lua/" .. v .. "/gemini/core%.so", out)
    end
  end

  for _, order in ipairs{ { "5.4", "5.1" }, { "5.1", "5.4" } } do
    it("installs the " .. order[1] .. " rock, then the " .. order[2] .. " rock, from one clone;"
       .. " each loads in its own interpreter", function()
      make_rock(order[1])
      make_rock(order[2])
      load_rock(order[1])
      load_rock(order[2])
    end)
  end
end)
