/* A text builder: strings appended in C, one Lua string made at the end.
 *
 *   local b = core.text_builder([s])   -- optionally starting with s
 *   b:add(s)                           -- appends the string s
 *   local text = b:result()            -- all of it; the builder is emptied
 *
 * gemini.stream joins each text part of a streamed answer with one: the
 * chunks' pieces are kept as bytes in one growing block (not one Lua string
 * and its overhead per chunk), and the joined text costs the block and the
 * result for a moment (table.concat holds the pieces, its own buffer and
 * the result at once).
 */
#include "core.h"

#include <string.h>

#define BUILDER_MT "gemini.core.text_builder"

static void add(lua_State *L, gm_buf *b, int i)
{
    size_t n;
    const char *s = luaL_checklstring(L, i, &n);
    if (n == 0)
        return;             /* the block may not exist yet: no memcpy to NULL */
    gm_buf_grow(L, b, n, GM_BUF_NO_LIMIT);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static int builder_add(lua_State *L)
{
    add(L, (gm_buf *)luaL_checkudata(L, 1, BUILDER_MT), 2);
    return 0;
}

static int builder_result(lua_State *L)
{
    gm_buf *b = (gm_buf *)luaL_checkudata(L, 1, BUILDER_MT);
    gm_buf_pushresult(L, b);    /* frees the block now: the text may be large */
    return 1;
}

static int builder_gc(lua_State *L)
{
    gm_buf_free((gm_buf *)luaL_checkudata(L, 1, BUILDER_MT));
    return 0;
}

static int text_builder(lua_State *L)
{
    int first = !lua_isnoneornil(L, 1);
    gm_buf *b;
    if (first)
        luaL_checkstring(L, 1);
    lua_settop(L, 1);
    b = (gm_buf *)gm_newuserdata(L, sizeof *b);
    memset(b, 0, sizeof *b);
    gm_setmetatable(L, BUILDER_MT);
    if (first)
        add(L, b, 1);
    return 1;
}

void gemini_open_text(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"add", builder_add},
        {"result", builder_result},
        {NULL, NULL}
    };
    static const luaL_Reg meta[] = {
        {"__gc", builder_gc},
        {NULL, NULL}
    };
    static const luaL_Reg funcs[] = {
        {"text_builder", text_builder},
        {NULL, NULL}
    };
    gm_newclass(L, BUILDER_MT, methods, meta);
    gm_setfuncs(L, funcs, 0);
}
