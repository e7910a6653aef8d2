/* Entry point of gemini.core: builds the module table from each part. */
#include "core.h"

#ifndef GEMINI_VERSION
#define GEMINI_VERSION "scm"
#endif

int luaopen_gemini_core(lua_State *L)
{
    gemini_open_buf(L);
    lua_newtable(L);
    gemini_open_http(L);
    gemini_open_sse(L);
    gemini_open_json(L);
    gemini_open_json_decode(L);     /* uses the markers of json.c */
    gemini_open_base64(L);
    gemini_open_sign(L);
    gemini_open_text(L);
    gemini_open_ws(L);
    gemini_open_ws_conn(L);
    lua_pushliteral(L, GEMINI_VERSION);
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
