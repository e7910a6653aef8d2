--- gemini_nvim: `:Gemini {prompt}` streams Gemini's answer into a scratch
-- buffer, without ever blocking the editor (the `gemini` module drives
-- libcurl from Neovim's own event loop: `vim.uv`, called `vim.loop`
-- before Neovim 0.10).
--
--   require("gemini_nvim").setup{ model = "gemini-2.5-flash" }
--
-- The key comes from GEMINI_API_KEY / GOOGLE_API_KEY (or `api_key`);
-- GEMINI_BASE_URL or `base_url` points it at a proxy such as CometAPI.
local M = {}

local config = { model = "gemini-2.5-flash" }
local client

-- Neovim 0.10+ names libuv `vim.uv` (and deprecates `vim.loop`); 0.7-0.9
-- have only `vim.loop`. Both are the same luv module.
local uv = vim.uv or vim.loop

-- The C core (gemini.core) that `make LUA=luajit` builds in the repository
-- this plugin lives in (lazy.nvim's `build`): its place is known from this
-- file's own, <repo>/examples/nvim/lua/gemini_nvim/init.lua, so nobody has
-- to set package.cpath. A core installed elsewhere (a LuaRocks 5.1 tree on
-- LUA_CPATH) is used when the repository holds none.
local function find_core()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) ~= "@" then return end
  local root = vim.fn.fnamemodify(src:sub(2), ":p:h:h:h:h:h")
  if uv.fs_stat(root .. "/build/luajit/gemini/core.so") then
    local entry = root .. "/build/luajit/?.so"
    if not package.cpath:find(entry, 1, true) then
      package.cpath = entry .. ";" .. package.cpath
    end
  end
end

local function get_client()
  if not client then
    find_core()
    local gemini = require("gemini")
    -- Callbacks are scheduled by default (the editor API may be called in
    -- them): exactly what updating a buffer needs.
    client = gemini.Client{ api_key = config.api_key, base_url = config.base_url, loop = uv }
  end
  return client
end

--- Sets the options: `model`, `api_key`, `base_url`, `config` (a
-- GenerateContentConfig table for every prompt, e.g. a system instruction).
function M.setup(opts)
  config = vim.tbl_extend("force", config, opts or {})
  client = nil
end

-- A scratch buffer in a split, wiped when its window closes.
local function scratch(title)
  vim.cmd("botright new")
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = "markdown"
  pcall(vim.api.nvim_buf_set_name, buf, "gemini://" .. title)
  vim.keymap.set("n", "q", "<cmd>close<cr>", { buffer = buf, nowait = true })
  return buf
end

-- Appends text to the end of the buffer (continuing its last line).
local function append(buf, text)
  if not vim.api.nvim_buf_is_valid(buf) or text == "" then return end
  local lines = vim.split(text, "\n", { plain = true })
  local last = vim.api.nvim_buf_line_count(buf)
  local tail = vim.api.nvim_buf_get_lines(buf, last - 1, last, false)[1] or ""
  lines[1] = tail .. lines[1]
  vim.api.nvim_buf_set_lines(buf, last - 1, last, false, lines)
end

--- Asks `prompt`; the answer streams into a new scratch buffer. Returns the
-- buffer and the call's handle (`handle:cancel()` stops it; closing the
-- buffer does too).
function M.ask(prompt)
  local buf = scratch(prompt:sub(1, 40))
  local handle = get_client().models:generate_content_stream(
    { model = config.model, contents = prompt, config = config.config },
    {
      on_chunk = function(chunk) append(buf, chunk.text or "") end,
      on_done = function(err, response)
        if err then
          if err.kind ~= "canceled" then append(buf, "\n\n[error] " .. tostring(err)) end
        elseif response and response.usageMetadata then
          append(buf, string.format("\n\n[%s, %d tokens]", config.model,
            response.usageMetadata.totalTokenCount or 0))
        end
        vim.b[buf].gemini_done = true
      end,
    })
  vim.api.nvim_create_autocmd("BufWipeout", {
    buffer = buf, once = true, callback = function() handle:cancel() end,
  })
  return buf, handle
end

return M
