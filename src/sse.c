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
 * Memory: the framer keeps only the current unterminated line and the data
 * buffer of the event being built, each bounded by max_event_size (a line
 * by 6 bytes more: its "data: " prefix); complete lines inside a feed are
 * parsed in place without copying.
 */
#include "core.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define FRAMER_MT "gemini.core.sse_framer"
#define DEFAULT_MAX ((size_t)16 * 1024 * 1024)
#define MAX_LIMIT ((double)SIZE_MAX < 1e15 ? (double)SIZE_MAX : 1e15)
/* reset() keeps buffers up to this size for the next stream. */
#define KEEP_CAP ((size_t)64 * 1024)

static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
#define BOM_DONE 3      /* f->bom: bytes of the BOM matched, or decided */

typedef struct {
    gm_buf line;            /* current unterminated line */
    gm_buf data;            /* data buffer: each data value + "\n" */
    size_t max;             /* max_event_size */
    unsigned char bom;      /* 0..2: BOM bytes seen at stream start */
    unsigned char skip_lf;  /* last feed ended in CR: a leading LF is its pair */
    unsigned char lenient;
    unsigned char failed;
} framer;

static framer *check_framer(lua_State *L)
{
    return (framer *)luaL_checkudata(L, 1, FRAMER_MT);
}

/* Size of the event the data buffer holds now (its last "\n" is not part
 * of the event). */
static size_t data_size(const framer *f)
{
    return f->data.len ? f->data.len - 1 : 0;
}

static void clear(framer *f)
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

/* The framer is dead after this: drop its memory now rather than at GC. */
static void set_failed(framer *f)
{
    gm_buf_free(&f->line);
    gm_buf_free(&f->data);
    f->failed = 1;
}

static int push_failure(lua_State *L, const framer *f)
{
    char msg[64];
    snprintf(msg, sizeof msg, "SSE event larger than %zu bytes", f->max);
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

/* The event bound, checked on every line as it grows: the event being
 * built (the data so far, a "\n" joining it to more, and this line) must
 * fit in max bytes. A leading "data:" or "data: " is not charged, as it
 * never reaches the event, so an event of exactly max bytes passes; lines
 * that add nothing (comments, other fields) are charged in full, so the
 * line buffer stays bounded too. The line is a + b (buffered part and new
 * bytes); a blank line always fits, it dispatches. */
static int fits(const framer *f, const char *a, size_t alen, const char *b, size_t blen)
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

/* Appends bytes of an unterminated line. 0 if that breaks the bound. */
static int line_append(lua_State *L, framer *f, const char *p, size_t n)
{
    if (!fits(f, f->line.data, f->line.len, p, n))
        return 0;
    gm_buf_grow(L, &f->line, n, LINE_LIMIT(f));
    memcpy(f->line.data + f->line.len, p, n);
    f->line.len += n;
    return 1;
}

static int data_append(lua_State *L, framer *f, const char *p, size_t n)
{
    size_t old = f->data.len;
    /* New event size: old content, a "\n" joining it to this value (if
     * there was content), the value. */
    if (n > f->max || data_size(f) + (old ? 1 : 0) > f->max - n)
        return 0;
    gm_buf_grow(L, &f->data, n + 1, f->max + 1);
    memcpy(f->data.data + old, p, n);
    f->data.data[old + n] = '\n';
    f->data.len = old + n + 1;
    return 1;
}

/* Interprets one complete line (without its terminator). A blank line
 * dispatches into out[++*count] (out is at stack index 3). 0 when the
 * event bound is exceeded. */
static int process_line(lua_State *L, framer *f, const char *s, size_t len, int *count)
{
    const char *colon, *v;
    size_t flen, vlen;

    if (len == 0) {
        if (f->data.len > 0) {
            lua_pushlstring(L, f->data.data, f->data.len - 1);
            lua_rawseti(L, 3, ++*count);
            f->data.len = 0;
        }
        return 1;
    }
    if (s[0] == ':')
        return 1;   /* comment */
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
            return data_append(L, f, v, vlen);
        break;
    case 5:
        if (memcmp(s, "event", 5) == 0 || memcmp(s, "retry", 5) == 0)
            return 1;
        break;
    case 2:
        if (memcmp(s, "id", 2) == 0)
            return 1;
        break;
    }
    if (f->lenient)
        return data_append(L, f, s, len);
    return 1;   /* unknown field: ignored */
}

/* Lets stream-start bytes through the BOM check; returns where parsing
 * resumes, or NULL if the event bound broke. A partial match that turns
 * out not to be a BOM is real data: it goes to the line buffer (it holds
 * no line terminator). */
static const char *skip_bom(lua_State *L, framer *f, const char *p, const char *end)
{
    while (f->bom < BOM_DONE && p < end) {
        if ((unsigned char)*p == bom[f->bom]) {
            f->bom++;
            p++;
        } else {
            size_t k = f->bom;
            f->bom = BOM_DONE;
            if (k > 0 && !line_append(L, f, (const char *)bom, k))
                return NULL;
        }
    }
    return p;
}

static int framer_feed(lua_State *L)
{
    framer *f = check_framer(L);
    size_t n;
    const char *p = luaL_checklstring(L, 2, &n);
    const char *end = p + n;
    const char *cr = NULL, *lf = NULL;  /* next CR / LF from p on, or end */
    int count = 0;

    luaL_checktype(L, 3, LUA_TTABLE);
    if (f->failed)
        goto fail;
    if (f->bom < BOM_DONE) {
        p = skip_bom(L, f, p, end);
        if (p == NULL)
            goto fail_now;
    }
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
            if (!line_append(L, f, p, (size_t)(end - p)))
                goto fail_now;
            break;
        }
        len = (size_t)(eol - p);
        if (f->line.len > 0) {
            if (!line_append(L, f, p, len))
                goto fail_now;
            s = f->line.data;
            len = f->line.len;
            f->line.len = 0;    /* process_line never touches the line buffer */
        } else {
            if (!fits(f, NULL, 0, p, len))
                goto fail_now;
            s = p;
        }
        if (!process_line(L, f, s, len, &count))
            goto fail_now;
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
    lua_pushinteger(L, count);
    return 1;
fail_now:
    set_failed(f);
fail:
    return push_failure(L, f);
}

static int framer_finish(lua_State *L)
{
    framer *f = check_framer(L);
    int count = 0;
    if (f->failed)
        return push_failure(L, f);
    /* A stream that ended inside what looked like a BOM: those bytes are
     * the start of a line. */
    if (f->bom > 0 && f->bom < BOM_DONE) {
        size_t k = f->bom;
        f->bom = BOM_DONE;
        if (!line_append(L, f, (const char *)bom, k))
            goto fail;
    }
    if (f->line.len > 0) {
        size_t len = f->line.len;
        f->line.len = 0;
        /* non-empty, so it never dispatches (index 3 is not used) */
        if (!process_line(L, f, f->line.data, len, &count))
            goto fail;
    }
    if (f->data.len > 0)
        lua_pushlstring(L, f->data.data, f->data.len - 1);
    else
        lua_pushnil(L);
    clear(f);
    return 1;
fail:
    set_failed(f);
    return push_failure(L, f);
}

static int framer_reset(lua_State *L)
{
    clear(check_framer(L));
    return 0;
}

static int framer_gc(lua_State *L)
{
    framer *f = check_framer(L);
    gm_buf_free(&f->line);
    gm_buf_free(&f->data);
    return 0;
}

static int framer_tostring(lua_State *L)
{
    framer *f = check_framer(L);
    lua_pushfstring(L, "gemini.sse_framer (%s): %p",
                    f->failed ? "failed" : (f->data.len || f->line.len) ? "mid-event" : "idle",
                    (void *)f);
    return 1;
}

static int sse_framer_new(lua_State *L)
{
    size_t max = DEFAULT_MAX;
    int lenient = 1;
    framer *f;

    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_getfield(L, 1, "max_event_size");
        if (!lua_isnil(L, -1)) {
            lua_Number m;
            if (lua_type(L, -1) != LUA_TNUMBER)
                luaL_argerror(L, 1, "max_event_size must be a number");
            m = lua_tonumber(L, -1);
            if (!(m >= 1))
                luaL_argerror(L, 1, "max_event_size must be >= 1");
            /* More is as good as no limit; clamped, the cast is defined
             * (also where size_t has 32 bits). */
            if (m > MAX_LIMIT)
                m = MAX_LIMIT;
            max = (size_t)m;
        }
        lua_pop(L, 1);
        lua_getfield(L, 1, "lenient");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TBOOLEAN)
                luaL_argerror(L, 1, "lenient must be a boolean");
            lenient = lua_toboolean(L, -1);
        }
        lua_pop(L, 1);
    }
    f = (framer *)gm_newuserdata(L, sizeof *f);
    memset(f, 0, sizeof *f);
    f->max = max;
    f->lenient = (unsigned char)lenient;
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
