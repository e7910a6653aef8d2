--- Lines of a body read piece by piece (a JSONL result file as it
-- downloads): only the line being put together is held, never the body.
-- A line may be split across any number of pieces, the last one may lack
-- its "\n", and "\r\n" ends a line as well.
-- @module gemini.lines
local M = {}

--- A line reader.
-- @type Lines
local Lines = {}
Lines.__index = Lines

--- The lines of `source`, whose `read()` gives the next piece of the body
-- (a string), nil at its end, or nil, err when it failed.
function M.new(source)
  return setmetatable({ source = source, piece = nil, pos = 1, head = {} }, Lines)
end

local function chomp(line)
  if line:byte(-1) == 13 then return line:sub(1, -2) end   -- "\r"
  return line
end

--- The next line, without its end ("" for a blank one); nil at the end of
-- the body; nil, err when the source failed (once: nil after that). A line
-- cut short by the failure is not returned: it is incomplete.
function Lines:next()
  if self.ended then return nil end
  while true do
    local piece = self.piece
    if piece then
      local nl = piece:find("\n", self.pos, true)
      if nl then
        local line = piece:sub(self.pos, nl - 1)
        self.pos = nl + 1
        local head = self.head
        if #head > 0 then
          head[#head + 1] = line
          line = table.concat(head)
          self.head = {}
        end
        return chomp(line)
      end
      if self.pos <= #piece then self.head[#self.head + 1] = piece:sub(self.pos) end
      self.piece = nil
    end
    local nextp, err = self.source:read()
    if nextp then
      self.piece, self.pos = nextp, 1
    else
      self.ended = true
      local head = self.head
      self.head = {}
      if err ~= nil then return nil, err end
      if #head > 0 then return chomp(table.concat(head)) end
      return nil
    end
  end
end

return M
