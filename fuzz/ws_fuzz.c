/* libFuzzer target: the WebSocket frame parser (core.ws_framer): events
 * from any split of the bytes into feeds equal those from feeding them
 * whole, and agree with a plain reading of RFC 6455.
 * The properties are checked in fuzz/ws_fuzz.lua; see fuzz/fuzz_main.h. */
#define FUZZ_NAME "ws_fuzz"
#include "ws_fuzz.lua.h"
#include "fuzz_main.h"
