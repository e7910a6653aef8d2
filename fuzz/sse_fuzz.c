/* libFuzzer target: the SSE framer (core.sse_framer): events from any split
 * of the bytes into feeds equal those from feeding them whole.
 * The properties are checked in fuzz/sse_fuzz.lua; see fuzz/fuzz_main.h. */
#define FUZZ_NAME "sse_fuzz"
#include "sse_fuzz.lua.h"
#include "fuzz_main.h"
