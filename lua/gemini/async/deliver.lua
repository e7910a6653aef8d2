--- Delivery of user callbacks on an event loop.
--
-- Inside Neovim, user callbacks run through `vim.schedule`, where the editor
-- API may be called, unless the client has `fast_callbacks = true` (then
-- they run directly in libuv's callback, a "fast" context: quicker, but
-- most of `vim.api` is off limits there). Elsewhere they run at once.
-- @module gemini.async.deliver
local M = {}

local unpack = table.unpack or unpack

local function in_nvim()
  return type(vim) == "table" and type(vim.schedule) == "function"
end

--- Raises `msg` on the host's loop, outside our bookkeeping: Neovim reports
-- it; luv reports it through its callback error handler (`driver:defer`).
-- Without either, raises it at once.
function M.raise_later(driver, msg)
  if in_nvim() then
    vim.schedule(function() error(msg, 0) end)
  elseif driver and driver.defer then
    driver:defer(function() error(msg, 0) end)
  else
    error(msg, 0)
  end
end

--- Calls `fn(...)`, a user callback of `client`: scheduled inside Neovim
-- (unless `fast_callbacks`), else at once, protected so an error in it
-- cannot break a transfer's bookkeeping (it is re-raised on the loop).
function M.deliver(client, fn, ...)
  if not fn then return end
  if in_nvim() and not client.fast_callbacks then
    local args = { n = select("#", ...), ... }
    vim.schedule(function() fn(unpack(args, 1, args.n)) end)
    return
  end
  local ok, err = pcall(fn, ...)
  if not ok then M.raise_later(client._luv, err) end
end

return M
