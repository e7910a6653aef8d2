/* Incremental Server-Sent-Events framer (WHATWG "event stream" parsing).
 *
 *   local f = core.sse_framer{ max_event_size = N, lenient = true }
 *   local n, err = f:feed(bytes, out)  -- out[1..n] = data of complete events
 *   local pending = f:finish()         -- data of a cut-off last event, or nil
 *   f:reset()
 *
 * The framer knows nothing about where bytes come from: any split of the
 * stream into feeds (mid-line, mid-CRLF, mid-BOM) gives the same events.
 *
 * Only the `data` field matters to the client, so `event`, `id` and `retry`
 * are recognised and dropped. With `lenient` (the default) a line whose
 * field name is none of the four is taken as a data line holding the whole
 * line: Gemini and the proxies in front of it sometimes answer a streaming
 * request with a bare (possibly pretty-printed) JSON error body, and this
 * way it reaches the caller as one event instead of vanishing.
 *
 * The rules live in the C functions of src/sse.h (gm_sse_feed...), shared with the
 * streamed requests of src/http.c, which frame their body as it arrives;
 * the Lua object below is a thin wrapper for the other transports.
 *
 * Memory: the framer keeps only the current unterminated line and the data
 * buffer of the event being built, each bounded by max_event_size (a line
 * by 6 bytes more: its "data: " prefix); complete lines inside a feed are
 * parsed in place without copying.
 */
#include "core.h"
#include "sse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAMER_MT "gemini.core.sse_framer"
#define MAX_LIMIT ((double)SIZE_MAX < 1e15 ? (double)SIZE_MAX : 1e15)
/* reset() keeps buffers up to this size for the next stream. */
#define KEEP_CAP ((size_t)64 * 1024)

static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
#define BOM_DONE 3      /* f->bom: bytes of the BOM matched, or decided */

/* Size of the event the data buffer holds now (its last "\n" is not part
 * of the event). */
static size_t data_size(const gm_sse *f)
{
    return f->data.len ? f->data.len - 1 : 0;
}

void gm_sse_init(gm_sse *f, size_t max_event_size, int lenient)
{
    memset(f, 0, sizeof *f);
    f->max = max_event_size;
    f->lenient = (unsigned char)(lenient != 0);
}

void gm_sse_free(gm_sse *f)
{
    gm_buf_free(&f->line);
    gm_buf_free(&f->data);
}

void gm_sse_reset(gm_sse *f)
{
    if (f->line.cap > KEEP_CAP)
        gm_buf_free(&f->line);
    if (f->data.cap > KEEP_CAP)
        gm_buf_free(&f->data);
    f->line.len = f->data.len = 0;
    f->bom = 0;
    f->skip_lf = 0;
    f->failed = 0;
}

/* The framer is dead after this: drop its memory now rather than later. */
static int set_failed(gm_sse *f, int status)
{
    gm_sse_free(f);
    f->failed = (unsigned char)status;
    return status;
}

void gm_sse_message(const gm_sse *f, int status, char *buf, size_t size)
{
    if (status == GM_SSE_TOO_BIG)
        snprintf(buf, size, "SSE event larger than %zu bytes", f->max);
    else
        snprintf(buf, size, "not enough memory");
}

/* The event bound, checked on every line as it grows: the event being
 * built (the data so far, a "\n" joining it to more, and this line) must
 * fit in max bytes. A leading "data:" or "data: " is not charged, as it
 * never reaches the event, so an event of exactly max bytes passes; lines
 * that add nothing (comments, other fields) are charged in full, so the
 * line buffer stays bounded too. The line is a + b (buffered part and new
 * bytes); a blank line always fits, it dispatches. */
static int fits(const gm_sse *f, const char *a, size_t alen, const char *b, size_t blen)
{
    char head[6];
    size_t total = alen + blen, k = 0, skip = 0, used, i;
    if (total == 0)
        return 1;
    for (i = 0; i < alen && k < sizeof head; i++)
        head[k++] = a[i];
    for (i = 0; i < blen && k < sizeof head; i++)
        head[k++] = b[i];
    if (k >= 5 && memcmp(head, "data:", 5) == 0)
        skip = k == 6 && head[5] == ' ' ? 6 : 5;
    else if (k < 5 && memcmp(head, "data", k) == 0)
        skip = k;   /* a cut-off "data:" prefix: charged once the line shows what it is */
    used = data_size(f) + (f->data.len ? 1 : 0);
    return total - skip <= f->max && used + (total - skip) <= f->max;
}

/* Room a line may take: max plus the "data: " prefix fits() forgives. */
#define LINE_LIMIT(f) ((f)->max + 6)

/* Appends bytes of an unterminated line. */
static int line_append(gm_sse *f, const char *p, size_t n)
{
    if (!fits(f, f->line.data, f->line.len, p, n))
        return GM_SSE_TOO_BIG;
    if (!gm_buf_reserve(&f->line, n, LINE_LIMIT(f)))
        return GM_SSE_NO_MEMORY;
    memcpy(f->line.data + f->line.len, p, n);
    f->line.len += n;
    return GM_SSE_OK;
}

static int data_append(gm_sse *f, const char *p, size_t n)
{
    size_t old = f->data.len;
    /* New event size: old content, a "\n" joining it to this value (if
     * there was content), the value. */
    if (n > f->max || data_size(f) + (old ? 1 : 0) > f->max - n)
        return GM_SSE_TOO_BIG;
    if (!gm_buf_reserve(&f->data, n + 1, f->max + 1))
        return GM_SSE_NO_MEMORY;
    memcpy(f->data.data + old, p, n);
    f->data.data[old + n] = '\n';
    f->data.len = old + n + 1;
    return GM_SSE_OK;
}

/* Interprets one complete line (without its terminator). A blank line
 * dispatches the event built so far to emit (never called for a non-blank
 * line). */
static int process_line(gm_sse *f, const char *s, size_t len, gm_sse_emit emit, void *ud)
{
    const char *colon, *v;
    size_t flen, vlen;

    if (len == 0) {
        if (f->data.len > 0) {
            size_t n = f->data.len - 1;
            f->data.len = 0;
            if (!emit(ud, f->data.data, n))
                return GM_SSE_NO_MEMORY;
        }
        return GM_SSE_OK;
    }
    if (s[0] == ':')
        return GM_SSE_OK;   /* comment */
    colon = (const char *)memchr(s, ':', len);
    if (colon != NULL) {
        flen = (size_t)(colon - s);
        v = colon + 1;
        vlen = len - flen - 1;
        if (vlen > 0 && *v == ' ') {
            v++;
            vlen--;
        }
    } else {
        flen = len;     /* a whole line is a field name with empty value */
        v = s + len;
        vlen = 0;
    }
    switch (flen) {
    case 4:
        if (memcmp(s, "data", 4) == 0)
            return data_append(f, v, vlen);
        break;
    case 5:
        if (memcmp(s, "event", 5) == 0 || memcmp(s, "retry", 5) == 0)
            return GM_SSE_OK;
        break;
    case 2:
        if (memcmp(s, "id", 2) == 0)
            return GM_SSE_OK;
        break;
    }
    if (f->lenient)
        return data_append(f, s, len);
    return GM_SSE_OK;   /* unknown field: ignored */
}

/* Lets stream-start bytes through the BOM check; *pp moves to where
 * parsing resumes. A partial match that turns out not to be a BOM is real
 * data: it goes to the line buffer (it holds no line terminator). */
static int skip_bom(gm_sse *f, const char **pp, const char *end)
{
    const char *p = *pp;
    while (f->bom < BOM_DONE && p < end) {
        if ((unsigned char)*p == bom[f->bom]) {
            f->bom++;
            p++;
        } else {
            size_t k = f->bom;
            int st;
            f->bom = BOM_DONE;
            if (k > 0 && (st = line_append(f, (const char *)bom, k)) != GM_SSE_OK)
                return st;
        }
    }
    *pp = p;
    return GM_SSE_OK;
}

int gm_sse_feed(gm_sse *f, const char *p, size_t n, gm_sse_emit emit, void *ud)
{
    const char *end = p + n;
    const char *cr = NULL, *lf = NULL;  /* next CR / LF from p on, or end */
    int st;

    if (f->failed)
        return f->failed;
    if (f->bom < BOM_DONE && (st = skip_bom(f, &p, end)) != GM_SSE_OK)
        return set_failed(f, st);
    if (p < end && f->skip_lf) {
        if (*p == '\n')
            p++;
        f->skip_lf = 0;
    }
    while (p < end) {
        const char *eol, *s;
        size_t len;
        /* Each memchr result is kept until the scan passes it, so a stream
         * with only LF (or only CR) is not rescanned line after line. */
        if (cr == NULL || cr < p) {
            cr = (const char *)memchr(p, '\r', (size_t)(end - p));
            if (cr == NULL)
                cr = end;
        }
        if (lf == NULL || lf < p) {
            lf = (const char *)memchr(p, '\n', (size_t)(end - p));
            if (lf == NULL)
                lf = end;
        }
        eol = cr < lf ? cr : lf;
        if (eol == end) {
            if ((st = line_append(f, p, (size_t)(end - p))) != GM_SSE_OK)
                return set_failed(f, st);
            break;
        }
        len = (size_t)(eol - p);
        if (f->line.len > 0) {
            if ((st = line_append(f, p, len)) != GM_SSE_OK)
                return set_failed(f, st);
            s = f->line.data;
            len = f->line.len;
            f->line.len = 0;    /* process_line never touches the line buffer */
        } else {
            if (!fits(f, NULL, 0, p, len))
                return set_failed(f, GM_SSE_TOO_BIG);
            s = p;
        }
        if ((st = process_line(f, s, len, emit, ud)) != GM_SSE_OK)
            return set_failed(f, st);
        p = eol + 1;
        if (*eol == '\r') {
            if (p < end) {
                if (*p == '\n')
                    p++;
            } else {
                f->skip_lf = 1;
            }
        }
    }
    return GM_SSE_OK;
}

/* process_line on a non-blank line never dispatches. */
static int no_emit(void *ud, const char *data, size_t len)
{
    (void)ud;
    (void)data;
    (void)len;
    return 1;
}

int gm_sse_finish(gm_sse *f, const char **data, size_t *len)
{
    int st;
    *data = NULL;
    *len = 0;
    if (f->failed)
        return f->failed;
    /* A stream that ended inside what looked like a BOM: those bytes are
     * the start of a line. */
    if (f->bom > 0 && f->bom < BOM_DONE) {
        size_t k = f->bom;
        f->bom = BOM_DONE;
        if ((st = line_append(f, (const char *)bom, k)) != GM_SSE_OK)
            return set_failed(f, st);
    }
    if (f->line.len > 0) {
        size_t n = f->line.len;
        f->line.len = 0;
        if ((st = process_line(f, f->line.data, n, no_emit, NULL)) != GM_SSE_OK)
            return set_failed(f, st);
    }
    if (f->data.len > 0) {
        *data = f->data.data;
        *len = f->data.len - 1;
    }
    return GM_SSE_OK;
}

void gm_sse_options(lua_State *L, int arg, size_t *max, int *lenient)
{
    *max = GM_SSE_DEFAULT_MAX;
    *lenient = 1;
    if (lua_isnoneornil(L, arg))
        return;
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_getfield(L, arg, "max_event_size");
    if (!lua_isnil(L, -1)) {
        lua_Number m;
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_argerror(L, arg, "max_event_size must be a number");
        m = lua_tonumber(L, -1);
        if (!(m >= 1))
            luaL_argerror(L, arg, "max_event_size must be >= 1");
        /* More is as good as no limit; clamped, the cast is defined
         * (also where size_t has 32 bits). */
        if (m > MAX_LIMIT)
            m = MAX_LIMIT;
        *max = (size_t)m;
    }
    lua_pop(L, 1);
    lua_getfield(L, arg, "lenient");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TBOOLEAN)
            luaL_argerror(L, arg, "lenient must be a boolean");
        *lenient = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
}

/* ---- the Lua object ------------------------------------------------------ */

static gm_sse *check_framer(lua_State *L)
{
    return (gm_sse *)luaL_checkudata(L, 1, FRAMER_MT);
}

/* A failure as feed and finish return it: nil, message; "not enough
 * memory" is raised, as Lua does. */
static int push_failure(lua_State *L, const gm_sse *f, int status)
{
    char msg[64];
    gm_sse_message(f, status, msg, sizeof msg);
    if (status == GM_SSE_NO_MEMORY)
        return luaL_error(L, "%s", msg);
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

/* Where feed's events go: out[++count], out at stack index 3. */
typedef struct {
    lua_State *L;
    int count;
} lua_sink;

static int emit_to_table(void *ud, const char *data, size_t len)
{
    lua_sink *sink = ud;
    lua_pushlstring(sink->L, data, len);
    lua_rawseti(sink->L, 3, ++sink->count);
    return 1;
}

static int framer_feed(lua_State *L)
{
    gm_sse *f = check_framer(L);
    size_t n;
    const char *p = luaL_checklstring(L, 2, &n);
    lua_sink sink;
    int st;

    luaL_checktype(L, 3, LUA_TTABLE);
    sink.L = L;
    sink.count = 0;
    st = gm_sse_feed(f, p, n, emit_to_table, &sink);
    if (st != GM_SSE_OK)
        return push_failure(L, f, st);
    lua_pushinteger(L, sink.count);
    return 1;
}

static int framer_finish(lua_State *L)
{
    gm_sse *f = check_framer(L);
    const char *data;
    size_t len;
    int st = gm_sse_finish(f, &data, &len);
    if (st != GM_SSE_OK)
        return push_failure(L, f, st);
    if (data != NULL)
        lua_pushlstring(L, data, len);
    else
        lua_pushnil(L);
    gm_sse_reset(f);
    return 1;
}

static int framer_reset(lua_State *L)
{
    gm_sse_reset(check_framer(L));
    return 0;
}

static int framer_gc(lua_State *L)
{
    gm_sse_free(check_framer(L));
    return 0;
}

static int framer_tostring(lua_State *L)
{
    gm_sse *f = check_framer(L);
    lua_pushfstring(L, "gemini.sse_framer (%s): %p",
                    f->failed ? "failed" : (f->data.len || f->line.len) ? "mid-event" : "idle",
                    (void *)f);
    return 1;
}

static int sse_framer_new(lua_State *L)
{
    size_t max;
    int lenient;
    gm_sse *f;

    gm_sse_options(L, 1, &max, &lenient);
    f = (gm_sse *)gm_newuserdata(L, sizeof *f);
    gm_sse_init(f, max, lenient);
    gm_setmetatable(L, FRAMER_MT);
    return 1;
}

void gemini_open_sse(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"feed", framer_feed},
        {"finish", framer_finish},
        {"reset", framer_reset},
        {NULL, NULL}
    };
    static const luaL_Reg meta[] = {
        {"__gc", framer_gc},
        {"__tostring", framer_tostring},
        {NULL, NULL}
    };
    static const luaL_Reg funcs[] = {
        {"sse_framer", sse_framer_new},
        {NULL, NULL}
    };
    gm_newclass(L, FRAMER_MT, methods, meta);
    gm_setfuncs(L, funcs, 0);
}
