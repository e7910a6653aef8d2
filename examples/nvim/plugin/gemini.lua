-- :Gemini {prompt} -- streams the answer into a scratch buffer.
if vim.g.loaded_gemini_nvim then return end
vim.g.loaded_gemini_nvim = true

vim.api.nvim_create_user_command("Gemini", function(cmd)
  require("gemini_nvim").ask(cmd.args)
end, { nargs = "+", desc = "Ask Gemini; the answer streams into a scratch buffer" })
