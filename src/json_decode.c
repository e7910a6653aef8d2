/* Response decoder: JSON text -> Lua value.
 *
 *   core.json_decode(text) -> value | nil, "<what> at byte N"
 *
 * Never raises on bad input (only on a non-string argument or when out of
 * memory), so the hot path of a stream needs no pcall.
 *
 * Why our own and not lua-cjson (Debian's 2.1.0): cjson pushes every number
 * as a float (usageMetadata.totalTokenCount prints as 38.0 on Lua 5.3+,
 * function-call args {"n": 3} reach a tool as 3.0) and decodes [] and {}
 * to the same empty table, which then goes back to the API as {} in a
 * model turn. Neither can be repaired after decoding: a walk cannot tell
 * [] from {}, and it would cost a second pass over every chunk.
 *
 * Values:
 *   numbers   an integer token (no fraction, no exponent) that fits a
 *             lua_Integer is an integer on 5.3+; anything else, and every
 *             number on 5.1/LuaJIT, is a double (the nearest one; past the
 *             double range +-inf, as lua-cjson and strtod give). "-0" is
 *             the float -0.0, so the sign survives. NaN, Infinity, hex,
 *             leading zeros, "1." and ".5" are errors.
 *   strings   byte-exact: every escape is decoded, \u surrogate pairs to
 *             one 4-byte UTF-8 sequence. A lone surrogate (\ud800 without
 *             its pair, or a stray \udc00) becomes U+FFFD: a server that
 *             cuts a UTF-16 string between the halves of a pair should not
 *             cost the whole answer, and the replacement is valid UTF-8
 *             that the encoder accepts when the text goes back in a
 *             history (the raw surrogate would not be). Bytes are passed
 *             through unchanged, invalid UTF-8 and raw control characters
 *             included, as lua-cjson does (a JSON-mode answer written by a
 *             model may hold a raw newline inside a string).
 *   [] and {} empty: a new table with core.json_array_mt or
 *             core.json_object_mt, so they encode back exactly; non-empty
 *             arrays and objects are plain tables.
 *   null      core.json_null (lua-cjson's cjson.null).
 * Nesting deeper than 200 arrays/objects is an error (lua-cjson's limit
 * as the client set it). Trailing text after the value, a leading byte
 * order mark and unterminated strings, arrays and objects are errors; the
 * message gives the 1-based byte offset. Duplicate keys: the last wins.
 *
 * Memory: values are built on the Lua stack (the recursion depth is the
 * nesting limit, so neither stack can overflow); strings with escapes are
 * decoded into a scratch gm_buf kept as an upvalue, whose __gc frees it
 * should a lua_* allocation raise. A scratch buffer grown past KEEP_CAP by
 * a big string is released at the end of the call.
 */
#include "core.h"

#include <float.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200
#define KEEP_CAP ((size_t)64 * 1024)

/* Upvalues of json_decode. */
#define UV_OBJECT_MT lua_upvalueindex(1)
#define UV_ARRAY_MT  lua_upvalueindex(2)
#define UV_SCRATCH   lua_upvalueindex(3)

typedef struct {
    lua_State *L;
    const char *start, *p, *end;
    gm_buf *scratch;
    int depth;
    const char *what;       /* the error, when a parse function returns -1 */
    const char *at;
} dec;

static int fail(dec *d, const char *what, const char *at)
{
    d->what = at >= d->end ? "unexpected end of input" : what;
    d->at = at;
    return -1;
}

/* JSON whitespace: space, \t, \n, \r. */
static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* ---- strings ---------------------------------------------------------- */

static int hex4(const char *p)
{
    int i, v = 0;
    for (i = 0; i < 4; i++) {
        int c = (unsigned char)p[i], h;
        if (c >= '0' && c <= '9')
            h = c - '0';
        else if (c >= 'a' && c <= 'f')
            h = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            h = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static char *put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Decodes the escapes of the string body [s, close) into o, which has room
 * for close - s bytes: no escape decodes to more bytes than it takes (6
 * for up to 3, 12 for a pair's 4). Returns the end of the output, or NULL
 * with the error set. */
static char *unescape(dec *d, const char *s, const char *close, char *o)
{
    while (s < close) {
        const char *b = (const char *)memchr(s, '\\', (size_t)(close - s));
        long cp;
        if (b == NULL)
            b = close;
        memcpy(o, s, (size_t)(b - s));
        o += b - s;
        if (b == close)
            break;
        s = b + 2;      /* b + 1 < close: the closing quote is never escaped */
        switch (b[1]) {
        case '"':  *o++ = '"'; continue;
        case '\\': *o++ = '\\'; continue;
        case '/':  *o++ = '/'; continue;
        case 'b':  *o++ = '\b'; continue;
        case 'f':  *o++ = '\f'; continue;
        case 'n':  *o++ = '\n'; continue;
        case 'r':  *o++ = '\r'; continue;
        case 't':  *o++ = '\t'; continue;
        case 'u':  break;
        default:
            fail(d, "invalid escape in string", b);
            return NULL;
        }
        if (close - s < 4 || (cp = hex4(s)) < 0) {
            fail(d, "invalid \\u escape in string", b);
            return NULL;
        }
        s += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            int lo;
            if (close - s >= 6 && s[0] == '\\' && s[1] == 'u'
                && (lo = hex4(s + 2)) >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                s += 6;
            } else {
                cp = 0xFFFD;    /* lone high surrogate (see the top) */
            }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            cp = 0xFFFD;        /* lone low surrogate */
        }
        o = put_utf8(o, (unsigned long)cp);
    }
    return o;
}

/* The string whose opening quote is at d->p: pushed. */
static int parse_string(dec *d)
{
    const char *s = d->p + 1, *end = d->end;
    const char *q = (const char *)memchr(s, '"', (size_t)(end - s));
    const char *bs;
    char *o;
    if (q == NULL)
        return fail(d, "unterminated string", d->p);
    bs = (const char *)memchr(s, '\\', (size_t)(q - s));
    if (bs == NULL) {
        /* the common case: no escape, the bytes as they are */
        lua_pushlstring(d->L, s, (size_t)(q - s));
        d->p = q + 1;
        return 0;
    }
    /* The closing quote is the first one after an even run of '\\'. */
    for (;;) {
        const char *r = q;
        while (r > bs && r[-1] == '\\')
            r--;
        if (((q - r) & 1) == 0)
            break;
        q = (const char *)memchr(q + 1, '"', (size_t)(end - q - 1));
        if (q == NULL)
            return fail(d, "unterminated string", d->p);
    }
    d->scratch->len = 0;
    if (d->scratch->cap < (size_t)(q - s))
        gm_buf_grow(d->L, d->scratch, (size_t)(q - s), GM_BUF_NO_LIMIT);
    o = unescape(d, s, q, d->scratch->data);
    if (o == NULL)
        return -1;
    lua_pushlstring(d->L, d->scratch->data, (size_t)(o - d->scratch->data));
    d->p = q + 1;
    return 0;
}

/* ---- numbers ---------------------------------------------------------- */

#define IS_DIGIT(c) ((unsigned)((c) - '0') < 10u)

/* Exact powers of ten for the fast path (10^22 is the last exact double). */
static const double pow10_exact[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* The number text [s, e) (valid JSON) read by strtod. strtod follows
 * LC_NUMERIC, so the '.' is swapped for the locale's decimal point in a
 * NUL-terminated copy (the input may hold anything after the number, even
 * "x1" that strtod would take for hex). */
static double slow_number(dec *d, const char *s, const char *e)
{
    const char *point = localeconv()->decimal_point;
    size_t plen = strlen(point), n = (size_t)(e - s);
    gm_buf *b = d->scratch;
    char *o;
    b->len = 0;
    if (b->cap < n + plen + 1)
        gm_buf_grow(d->L, b, n + plen + 1, GM_BUF_NO_LIMIT);
    o = b->data;
    for (; s < e; s++) {
        if (*s == '.') {
            memcpy(o, point, plen);
            o += plen;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return strtod(b->data, NULL);
}

/* The number at d->p: pushed. Digits are gathered into a 64-bit mantissa
 * (19 fit); an integer token within range becomes an integer (5.3+) or
 * its exact double; a decimal whose mantissa and power of ten are both
 * exact doubles is one multiplication or division, correctly rounded
 * (Clinger's fast path, valid where doubles are evaluated as doubles);
 * the rest goes to strtod. */
static int parse_number(dec *d)
{
    const char *s = d->p, *p = s, *end = d->end;
    uint64_t m = 0;
    int digits = 0, neg = 0, is_int = 1;
    long e10 = 0, ex = 0;

    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || !IS_DIGIT(*p))
        return fail(d, "invalid number", s);
    if (*p == '0') {
        p++;
        if (p < end && IS_DIGIT(*p))
            return fail(d, "invalid number (leading zero)", s);
    } else {
        for (; p < end && IS_DIGIT(*p); p++, digits++)
            if (digits < 19)
                m = m * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p == '.') {
        is_int = 0;
        p++;
        if (p >= end || !IS_DIGIT(*p))
            return fail(d, "invalid number", s);
        for (; p < end && IS_DIGIT(*p); p++, digits++) {
            if (digits < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                e10--;
            }
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0;
        is_int = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= end || !IS_DIGIT(*p))
            return fail(d, "invalid number", s);
        for (; p < end && IS_DIGIT(*p); p++)
            if (ex < 100000)
                ex = ex * 10 + (*p - '0');
        e10 += eneg ? -ex : ex;
    }
    d->p = p;

    if (is_int && digits <= 19) {
#if GM_INTEGERS
        if (!neg && m <= (uint64_t)LUA_MAXINTEGER) {
            lua_pushinteger(d->L, (lua_Integer)m);
            return 0;
        }
        if (neg && m != 0 && m - 1 <= (uint64_t)LUA_MAXINTEGER) {
            /* -m, written so that -2^63 does not overflow */
            lua_pushinteger(d->L, -(lua_Integer)(m - 1) - 1);
            return 0;
        }
#endif
        /* (double)m is correctly rounded; "-0" stays -0.0 */
        lua_pushnumber(d->L, (lua_Number)(neg ? -(double)m : (double)m));
        return 0;
    }
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    if (digits <= 19 && m <= ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
        double v = (double)m;
        v = e10 < 0 ? v / pow10_exact[-e10] : v * pow10_exact[e10];
        lua_pushnumber(d->L, (lua_Number)(neg ? -v : v));
        return 0;
    }
#endif
    lua_pushnumber(d->L, (lua_Number)slow_number(d, s, p));
    return 0;
}

/* ---- values ----------------------------------------------------------- */

static int parse_value(dec *d);

/* Enters an array or object: the depth limit, and stack room for the
 * table, a key and a value. */
static int enter(dec *d)
{
    if (++d->depth > MAX_DEPTH)
        return fail(d, "nested too deep (more than 200 levels)", d->p);
    if (!lua_checkstack(d->L, 4))
        return fail(d, "nested too deep for the Lua stack", d->p);
    d->p = skip_ws(d->p + 1, d->end);
    lua_newtable(d->L);
    return 0;
}

/* After an element of an array or object: 1 when a ',' announces another
 * (d->p then at it, past whitespace), 0 at the closing byte (stepped
 * over: the container is done), -1 on anything else. */
static int after_element(dec *d, char close, const char *what)
{
    d->p = skip_ws(d->p, d->end);
    if (d->p < d->end && *d->p == ',') {
        d->p = skip_ws(d->p + 1, d->end);
        return 1;
    }
    if (d->p < d->end && *d->p == close) {
        d->p++;
        d->depth--;
        return 0;
    }
    return fail(d, what, d->p);
}

/* An empty container: its marker (upvalue uv), and the closing byte
 * stepped over. */
static int empty_container(dec *d, int uv)
{
    lua_pushvalue(d->L, uv);
    lua_setmetatable(d->L, -2);
    d->p++;
    d->depth--;
    return 0;
}

static int parse_array(dec *d)
{
    lua_Integer i;
    int more;
    if (enter(d) != 0)
        return -1;
    if (d->p < d->end && *d->p == ']')
        return empty_container(d, UV_ARRAY_MT);
    for (i = 1;; i++) {
        if (parse_value(d) != 0)
            return -1;
        if (i == GM_INDEX_MAX)
            return fail(d, "array too long", d->p);
        gm_rawseti(d->L, -2, i);
        more = after_element(d, ']', "expected ',' or ']' in array");
        if (more <= 0)
            return more;
    }
}

static int parse_object(dec *d)
{
    int more;
    if (enter(d) != 0)
        return -1;
    if (d->p < d->end && *d->p == '}')
        return empty_container(d, UV_OBJECT_MT);
    for (;;) {
        if (d->p >= d->end || *d->p != '"')
            return fail(d, "expected a string key in object", d->p);
        if (parse_string(d) != 0)
            return -1;
        d->p = skip_ws(d->p, d->end);
        if (d->p >= d->end || *d->p != ':')
            return fail(d, "expected ':' after a key in object", d->p);
        d->p = skip_ws(d->p + 1, d->end);
        if (parse_value(d) != 0)
            return -1;
        lua_rawset(d->L, -3);
        more = after_element(d, '}', "expected ',' or '}' in object");
        if (more <= 0)
            return more;
    }
}

static int parse_literal(dec *d, const char *lit, size_t n)
{
    if ((size_t)(d->end - d->p) < n || memcmp(d->p, lit, n) != 0)
        return fail(d, "expected a value", d->p);
    d->p += n;
    return 0;
}

/* The value at d->p (past any whitespace): pushed. */
static int parse_value(dec *d)
{
    if (d->p >= d->end)
        return fail(d, "expected a value", d->p);
    switch (*d->p) {
    case '"':
        return parse_string(d);
    case '{':
        return parse_object(d);
    case '[':
        return parse_array(d);
    case 't':
        if (parse_literal(d, "true", 4) != 0)
            return -1;
        lua_pushboolean(d->L, 1);
        return 0;
    case 'f':
        if (parse_literal(d, "false", 5) != 0)
            return -1;
        lua_pushboolean(d->L, 0);
        return 0;
    case 'n':
        if (parse_literal(d, "null", 4) != 0)
            return -1;
        lua_pushlightuserdata(d->L, NULL);
        return 0;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(d);
    default:
        if ((unsigned char)d->p[0] == 0xEF && d->end - d->p >= 3
            && (unsigned char)d->p[1] == 0xBB && (unsigned char)d->p[2] == 0xBF)
            return fail(d, "unexpected byte order mark", d->p);
        return fail(d, "expected a value", d->p);
    }
}

/* ---- entry ------------------------------------------------------------ */

static int json_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    int rc;
    dec d;

    d.L = L;
    d.start = s;
    d.end = s + n;
    d.p = skip_ws(s, d.end);
    d.scratch = (gm_buf *)lua_touserdata(L, UV_SCRATCH);
    d.depth = 0;
    d.what = NULL;
    d.at = NULL;
    lua_settop(L, 1);
    rc = parse_value(&d);
    if (rc == 0) {
        d.p = skip_ws(d.p, d.end);
        if (d.p < d.end)
            rc = fail(&d, "unexpected text after the value", d.p);
    }
    if (d.scratch->cap > KEEP_CAP)
        gm_buf_free(d.scratch);
    if (rc != 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s at byte %lu", d.what,
                 (unsigned long)(d.at - d.start) + 1);
        lua_settop(L, 1);
        lua_pushnil(L);
        lua_pushstring(L, msg);
        return 2;
    }
    return 1;
}

/* Registers core.json_decode; json.c's part must be open already (the
 * markers are its). */
void gemini_open_json_decode(lua_State *L)
{
    lua_getfield(L, -1, "json_object_mt");
    lua_getfield(L, -2, "json_array_mt");
    gm_buf_push(L);
    lua_pushcclosure(L, json_decode, 3);
    lua_setfield(L, -2, "json_decode");
}
