-- `make docs` as a user reads its output: the LDoc reference (built here
-- into a temp folder with the repository's config.ld) lists the public
-- modules and names only, describes every parameter, renders markdown
-- (with Debian's lua-markdown), puts Chats:create and the Stream where
-- they belong, and links docs/API.md.
local mock = require("support.mock")

local q, read = mock.shell_quote, mock.command_output

local function installed(pkg)
  return read("dpkg-query -W -f='${Status}' " .. pkg .. " 2>/dev/null"):find("ok installed", 1, true)
end

local why = (read("command -v ldoc 2>/dev/null") == "" and "ldoc is not installed (make docs installs lua-ldoc)")
  or (not installed("lua-markdown") and "lua-markdown is not installed (make docs installs it)")

describe("the LDoc reference (make docs)", function()
  if why then
    it("is built from the sources", function() pending(why) end)
    return
  end

  local dir, pages = nil, {}

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    local out = read("ldoc -q -d " .. q(dir) .. " . 2>&1; echo EXIT:$?")
    assert(out:find("EXIT:0", 1, true), out)
    for name in read("ls " .. q(dir .. "/modules")):gmatch("[^\n]+") do
      pages[name:gsub("%.html$", "")] = assert(mock.read_file(dir .. "/modules/" .. name))
    end
  end)

  teardown(function()
    os.execute("rm -rf " .. q(dir))
  end)

  -- The names of a page's entries (`Client:close`, `Chats:create`, ...).
  local function entries(page)
    local out = {}
    for name in page:gmatch('<dt>%s*<a name = "([^"]+)"></a>') do out[#out + 1] = name end
    return out
  end

  it("lists the public modules, not the internal ones", function()
    for _, m in ipairs{ "gemini", "gemini.client", "gemini.models", "gemini.stream", "gemini.chats",
                        "gemini.files", "gemini.errors", "gemini.schema", "gemini.parts", "gemini.audio",
                        "gemini.live", "gemini.live.relay", "gemini.auth_tokens", "gemini.vertex_batches" } do
      assert(pages[m], "missing " .. m)
    end
    for name in pairs(pages) do
      for _, internal in ipairs{ "transport", "async", "afc", "request", "keys", "retry", "upload", "lines",
                                 "vertex$", "auth%.", "live%.loop", "live%.resty" } do
        assert(not name:find("^gemini%." .. internal), "internal module listed: " .. name)
      end
    end
  end)

  it("shows no internal names (_call, _send, _generate_once, ...)", function()
    for m, page in pairs(pages) do
      for _, name in ipairs(entries(page)) do
        assert(not name:find("[.:]_%l"), m .. " lists " .. name)
      end
    end
  end)

  it("describes every parameter", function()
    local bare = {}
    for m, page in pairs(pages) do
      for params in page:gmatch("<h3>Parameters:</h3>%s*<ul>(.-)</ul>") do
        for li in params:gmatch("<li>(.-)</li>") do
          local name, rest = li:match('<span class="parameter">([^<]*)</span>(.*)')
          if name then
            rest = rest:gsub('<span class="types">.-</span>%s*</span>', ""):gsub("<[^>]+>", "")
            rest = rest:gsub("%(optional%)", ""):gsub("%s+", "")
            if rest == "" then bare[#bare + 1] = m .. ": " .. name end
          end
        end
      end
    end
    assert(#bare == 0, "parameters without a description:\n" .. table.concat(bare, "\n"))
  end)

  it("renders markdown: code spans, not backticks", function()
    assert.matches("<code>{model=, contents=, config=}</code>", pages["gemini.models"], 1, true)
    for m, page in pairs(pages) do
      local body = page:match("<body>(.*)</body>") or page
      assert(not body:gsub("<pre>.-</pre>", ""):find("`", 1, true), m .. " shows raw backticks")
    end
  end)

  it("puts Chats:create under the Chats class, and Stream's methods under Stream", function()
    local chats = pages["gemini.chats"]
    local create = chats:find('<a name = "Chats:create">', 1, true)
    local chat_class = chats:find('<h2 class="section-header has-description"><a name="Class_Chat">', 1, true)
      or chats:find('<a name="Class_Chat">', 1, true)
    assert(create and chat_class and create < chat_class, "Chats:create is not before Class Chat")
    assert.same({ "Stream:next", "Stream:close", "Stream:__call" }, entries(pages["gemini.stream"]))
    assert.matches("a response with the helpers; nil until the end", pages["gemini.stream"], 1, true)
  end)

  it("has docs/API.md as a topic, linked from every page", function()
    local api = assert(mock.read_file(dir .. "/topics/API.md.html"))
    assert.matches("<h2>Conventions</h2>", api, 1, true)
    assert.is_nil(api:find("```", 1, true))
    assert.is_nil(api:find("| --- |", 1, true))
    assert.matches('href="../topics/API.md.html"', pages["gemini.models"], 1, true)
  end)
end)
