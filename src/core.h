/* gemini.core: the C half of the gemini module.
 *
 * Each concern lives in its own file and adds its functions to the module
 * table that luaopen_gemini_core() leaves on top of the stack:
 *   http.c    libcurl transport (sessions, requests, sleep)
 *   sse.c     incremental Server-Sent-Events framer
 *   json.c    request encoder (Lua table -> JSON, key rules of API.md)
 *   json_decode.c  response decoder (JSON -> Lua, integers and markers kept)
 *   base64.c  base64 encode/decode for inline data, base64url for JWTs
 *   sign.c    RS256 signing and SHA-256 (libcrypto) for service accounts
 *   buf.c     the byte buffer all of them grow (below)
 *   compat.c  what the Lua versions do differently (compat.h)
 *   text.c    text builder (a streamed answer's text, joined once)
 *   ws.c      WebSocket framer (RFC 6455), ws_conn.c its connection on libcurl
 */
#ifndef GEMINI_CORE_H
#define GEMINI_CORE_H

#include "compat.h"

void gemini_open_buf(lua_State *L);         /* before any other part */
void gemini_open_http(lua_State *L);
void gemini_open_sse(lua_State *L);
void gemini_open_json(lua_State *L);
void gemini_open_json_decode(lua_State *L);   /* after gemini_open_json */
void gemini_open_base64(lua_State *L);
void gemini_open_sign(lua_State *L);
void gemini_open_text(lua_State *L);          /* after gemini_open_json (gm_buf) */
void gemini_open_ws(lua_State *L);
void gemini_open_ws_conn(lua_State *L);

/* The byte buffer (buf.c), the one growable block of the C parts.
 * len bytes of data are in use, cap allocated; all zero is an empty buffer.
 * Records (a session's socket changes) are appended as bytes too: the
 * block is malloc-aligned and each record starts at a multiple of its
 * size. */
typedef struct {
    char *data;
    size_t len, cap;
} gm_buf;

#define GM_BUF_NO_LIMIT ((size_t)-1)

/* Makes room for `extra` more bytes past len. The capacity doubles, but
 * not past `limit` when len + extra fits under it (the SSE framer bounds
 * its buffers by the event size). Returns 0 when out of memory or when
 * len + extra overflows, the buffer keeping its old block. Never raises,
 * so libcurl's callbacks may use it. */
int gm_buf_reserve(gm_buf *b, size_t extra, size_t limit);

/* Appends n bytes; 0 (nothing appended) when out of memory. Never raises. */
int gm_buf_append(gm_buf *b, const void *p, size_t n);

/* gm_buf_reserve() that raises "not enough memory" instead of returning 0. */
void gm_buf_grow(lua_State *L, gm_buf *b, size_t extra, size_t limit);

/* Frees the bytes now; the buffer is empty and usable again. */
void gm_buf_free(gm_buf *b);

/* Length of the well-formed UTF-8 sequence at s (s[0] >= 0x80, n bytes
 * left), or 0 (src/json.c). */
size_t gm_utf8_seq(const unsigned char *s, size_t n);

/* Pushes the bytes as a Lua string and frees them (like luaL_pushresult). */
void gm_buf_pushresult(lua_State *L, gm_buf *b);

/* Pushes a new empty buffer in a userdata whose __gc frees the bytes: a
 * raise midway (a bad value, out of memory) leaves them to the collector
 * instead of leaking them. */
gm_buf *gm_buf_push(lua_State *L);

/* The module entry: the one symbol the shared object exports. Everything
 * else is built with -fvisibility=hidden (see the Makefile), so the gm_*
 * functions shared between the parts cannot clash with another module's;
 * LUALIB_API is a plain extern, it does not undo that. */
#if defined(__GNUC__)
#  define GM_EXPORT __attribute__((visibility("default")))
#else
#  define GM_EXPORT
#endif
GM_EXPORT int luaopen_gemini_core(lua_State *L);

#endif
