-- Writes stdin (a Lua file) as a C header defining FUZZ_LUA, the file's
-- text as a string literal, one source line per literal line.
print("static const char FUZZ_LUA[] =")
for line in io.lines() do
  io.write('"', (line:gsub('[\\"]', "\\%0")), '\\n"\n')
end
print(";")
