/* libFuzzer target: the JSON decoder (core.json_decode): raw bytes and
 * generated JSON text decode exactly as a reference decoder in plain Lua
 * says, or fail with "<what> at byte N", never raising or crashing.
 * The properties are checked in fuzz/json_decode_fuzz.lua; see fuzz/fuzz_main.h. */
#define FUZZ_NAME "json_decode_fuzz"
#include "json_decode_fuzz.lua.h"
#include "fuzz_main.h"
