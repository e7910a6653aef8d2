/* gemini.core: the C half of the gemini module.
 *
 * Each concern lives in its own file and adds its functions to the module
 * table that luaopen_gemini_core() leaves on top of the stack:
 *   http.c    libcurl transport (sessions, requests, sleep)
 *   sse.c     incremental Server-Sent-Events framer
 *   json.c    request encoder (Lua table -> JSON, key rules of API.md)
 *   json_decode.c  response decoder (JSON -> Lua, integers and markers kept)
 *   base64.c  base64 encode/decode for inline data
 *   text.c    text builder (a streamed answer's text, joined once)
 */
#ifndef GEMINI_CORE_H
#define GEMINI_CORE_H

#include "compat.h"

void gemini_open_http(lua_State *L);
void gemini_open_sse(lua_State *L);
void gemini_open_json(lua_State *L);
void gemini_open_json_decode(lua_State *L);   /* after gemini_open_json */
void gemini_open_base64(lua_State *L);
void gemini_open_text(lua_State *L);          /* after gemini_open_json (gm_buf) */

/* A growable byte buffer that lives in a userdata of metatable GM_BUF_MT
 * (registered by gemini_open_json), whose __gc frees the bytes: a raise
 * midway (a bad value, out of memory) leaves them to the collector instead
 * of leaking them. */
#define GM_BUF_MT "gemini.core.json_buffer"
typedef struct {
    char *buf;
    size_t len, cap;
} gm_buf;

/* Makes room for `extra` more bytes past len (capacity doubles); raises on
 * overflow or out of memory, the buffer keeping its old block. */
void gm_buf_grow(lua_State *L, gm_buf *b, size_t extra);

/* Frees the bytes now, rather than at the next GC cycle. */
void gm_buf_free(gm_buf *b);

/* The module entry, exported; LUALIB_API gives it default visibility. */
LUALIB_API int luaopen_gemini_core(lua_State *L);

#endif
