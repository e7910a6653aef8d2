/* libFuzzer target: the JSON encoder (core.json_encode): random nested values
 * encode to JSON that lua-cjson decodes back to the same value, or fail
 * with a clear error exactly when the value has no JSON form.
 * The properties are checked in fuzz/json_fuzz.lua; see fuzz/fuzz_main.h. */
#define FUZZ_NAME "json_fuzz"
#include "json_fuzz.lua.h"
#include "fuzz_main.h"
