-- Writes stdin (a Lua file) as a C header defining FUZZ_LUA (or the name
-- given as the argument), the file's text as a string literal, one source
-- line per literal line.
print("static const char " .. (arg[1] or "FUZZ_LUA") .. "[] =")
for line in io.lines() do
  io.write('"', (line:gsub('[\\"]', "\\%0")), '\\n"\n')
end
print(";")
