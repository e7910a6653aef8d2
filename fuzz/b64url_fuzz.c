/* libFuzzer target: base64url (core.b64url_encode / core.b64url_decode, the
 * parts of a JWT) and the key loading of core.rs256_sign on arbitrary
 * bytes. The properties are checked in fuzz/b64url_fuzz.lua; see
 * fuzz/fuzz_main.h. */
#define FUZZ_NAME "b64url_fuzz"
#include "b64url_fuzz.lua.h"
#include "fuzz_main.h"
