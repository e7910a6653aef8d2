/* The byte buffer of gemini.core (see core.h): the one place where a C
 * part grows memory, whether it gathers bytes (the encoder's output, the
 * decoder's scratch, the SSE framer's line and event, a response's header
 * block and body) or records (a session's socket changes and events). */
#include "core.h"

#include <stdlib.h>
#include <string.h>

/* Capacity of a buffer's first block. */
#define FIRST_CAP 256

int gm_buf_reserve(gm_buf *b, size_t extra, size_t limit)
{
    size_t need = b->len + extra, cap;
    char *p;
    if (need < extra)
        return 0;           /* len + extra overflows */
    if (need <= b->cap)
        return 1;
    cap = b->cap ? b->cap : FIRST_CAP;
    /* Doubling up to limit, and never past what size_t holds. */
    while (cap < need && cap <= limit / 2)
        cap *= 2;
    if (cap < need)
        cap = need;
    if (cap > limit && need <= limit)
        cap = limit;        /* a first block larger than the limit */
    p = (char *)realloc(b->data, cap);
    if (p == NULL)
        return 0;
    b->data = p;
    b->cap = cap;
    return 1;
}

int gm_buf_append(gm_buf *b, const void *p, size_t n)
{
    if (!gm_buf_reserve(b, n, GM_BUF_NO_LIMIT))
        return 0;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 1;
}

void gm_buf_grow(lua_State *L, gm_buf *b, size_t extra, size_t limit)
{
    if (!gm_buf_reserve(b, extra, limit))
        luaL_error(L, "not enough memory");
}

void gm_buf_free(gm_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void gm_buf_pushresult(lua_State *L, gm_buf *b)
{
    lua_pushlstring(L, b->len ? b->data : "", b->len);
    gm_buf_free(b);
}

/* ---- the buffer in a userdata ------------------------------------------ */

#define BUF_MT "gemini.core.buffer"

static int box_gc(lua_State *L)
{
    gm_buf_free((gm_buf *)lua_touserdata(L, 1));
    return 0;
}

gm_buf *gm_buf_push(lua_State *L)
{
    gm_buf *b = (gm_buf *)gm_newuserdata(L, sizeof *b);
    b->data = NULL;
    b->len = b->cap = 0;
    gm_setmetatable(L, BUF_MT);
    return b;
}

void gemini_open_buf(lua_State *L)
{
    static const luaL_Reg meta[] = {
        {"__gc", box_gc},
        {NULL, NULL}
    };
    gm_newclass(L, BUF_MT, NULL, meta);
}
