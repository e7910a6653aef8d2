/* libFuzzer target: base64 (core.b64encode / core.b64decode): round trips in
 * both alphabets, and decoding of arbitrary bytes agrees with a reference.
 * The properties are checked in fuzz/base64_fuzz.lua; see fuzz/fuzz_main.h. */
#define FUZZ_NAME "base64_fuzz"
#include "base64_fuzz.lua.h"
#include "fuzz_main.h"
