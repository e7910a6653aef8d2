/* gemini.core: the C half of the gemini module.
 *
 * Each concern lives in its own file and adds its functions to the module
 * table that luaopen_gemini_core() leaves on top of the stack:
 *   http.c    libcurl transport (sessions, requests, sleep)
 *   sse.c     incremental Server-Sent-Events framer
 *   json.c    request encoder (Lua table -> JSON, key rules of API.md)
 *   base64.c  base64 encode/decode for inline data
 */
#ifndef GEMINI_CORE_H
#define GEMINI_CORE_H

#include "compat.h"

void gemini_open_http(lua_State *L);
void gemini_open_sse(lua_State *L);
void gemini_open_json(lua_State *L);
void gemini_open_base64(lua_State *L);

/* The module entry, exported; LUALIB_API gives it default visibility. */
LUALIB_API int luaopen_gemini_core(lua_State *L);

#endif
