/* The libFuzzer driver shared by the fuzz targets.
 *
 * Each target is a Lua check function run in one long-lived lua_State that
 * has gemini.core (linked into the fuzzer binary, built with the
 * sanitizers) and the system's lua-cjson. The check gets the fuzzer's bytes
 * as a string and raises when a property fails; the driver turns that into
 * abort(), which libFuzzer reports as a crash with the input saved. A crash
 * or sanitizer report inside gemini.core's C code is found the same way.
 *
 * The Lua code comes from fuzz/<target>.lua, turned into a C string at build
 * time (see the fuzz rules of the Makefile), so the binary needs no files;
 * so does lua/gemini/keys.lua, the encoder's key rules, which the harness
 * can require as "gemini.keys".
 *
 * A target file defines FUZZ_NAME and includes the generated header that
 * defines FUZZ_LUA, then this file.
 */
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "keys.lua.h"

int luaopen_gemini_core(lua_State *L);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *FL;
static int check_ref = LUA_NOREF;

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", FUZZ_NAME, what);
    abort();
}

/* At exit the state is closed, so that LeakSanitizer's final check (which
 * runs after this handler) sees only memory that nothing owns any more:
 * a buffer or handle the C code forgot to free. The per-input leak check of
 * libFuzzer is off (see the Makefile): the garbage collector frees an
 * input's memory during later inputs, which that check cannot tell apart
 * from a leak, and running it on every input is very slow. */
static void close_state(void)
{
    if (FL != NULL) {
        lua_close(FL);
        FL = NULL;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FL = luaL_newstate();
    if (FL == NULL)
        die("cannot create a Lua state");
    luaL_openlibs(FL);
    /* The core under test is linked in: make require("gemini.core") find it
     * rather than any installed copy. */
    luaL_requiref(FL, "gemini.core", luaopen_gemini_core, 0);
    lua_pop(FL, 1);
    lua_getglobal(FL, "package");
    lua_getfield(FL, -1, "preload");
    if (luaL_loadbuffer(FL, GEMINI_KEYS_LUA, sizeof(GEMINI_KEYS_LUA) - 1, "=gemini/keys.lua") != 0)
        die(lua_tostring(FL, -1));
    lua_setfield(FL, -2, "gemini.keys");
    lua_pop(FL, 2);
    if (luaL_loadbuffer(FL, FUZZ_LUA, sizeof(FUZZ_LUA) - 1, "=" FUZZ_NAME ".lua") != 0
        || lua_pcall(FL, 0, 1, 0) != 0)
        die(lua_tostring(FL, -1));
    if (lua_type(FL, -1) != LUA_TFUNCTION)
        die("the harness must return its check function");
    check_ref = luaL_ref(FL, LUA_REGISTRYINDEX);
    atexit(close_state);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_rawgeti(FL, LUA_REGISTRYINDEX, check_ref);
    lua_pushlstring(FL, (const char *)data, size);
    if (lua_pcall(FL, 1, 0, 0) != 0)
        die(lua_tostring(FL, -1));
    return 0;
}
