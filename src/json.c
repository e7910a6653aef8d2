/* Request encoder: Lua value -> JSON text, with the key rules of the API.
 *
 *   core.json_encode(value [, opts]) -> string
 *       opts.convert_keys  (default true)  snake_case keys -> lowerCamelCase
 *       opts.max_depth     (default 200)   nesting limit, 1..1000
 *       opts.root          (default "value") name of the root in error paths
 *   core.json_object_mt / core.json_array_mt   markers: a table with one of
 *       these metatables is always an object / an array ({} or [] if empty)
 *   core.json_null   encodes as null; the lightuserdata NULL, so it is the
 *       very value lua-cjson calls cjson.null
 *   core.json_key_rules(rules)   the key rules below (gemini.json hands
 *       over lua/gemini/keys.lua when it loads; until then there are none)
 *   core.camel(key) -> key   the key converter (camelize below), for the
 *       Lua code that looks fields up under either spelling
 *
 * Errors are raised as "cannot encode <path>: <what>", the path written the
 * Lua way from opts.root: request.contents[1].parts[2].text.
 *
 * Values. Strings must be valid UTF-8 (no overlongs, surrogates or code
 * points past U+10FFFF) and are written raw except for '"', '\\' and the
 * C0 controls. Integers (5.3+) stay integers; floats are written with the
 * fewest of 15, 16 or 17 significant digits that read back exactly, and on
 * 5.3+ always look like floats ("2.0"), so a round trip keeps the subtype.
 * On 5.1/LuaJIT, where every number is a double, integral values print as
 * integers. NaN and infinities are errors, as are functions, threads,
 * userdata, cycles and nesting past max_depth.
 *
 * Tables. Keys exactly 1..n make an array, all-string keys an object; a
 * mix, a hole or any other key type is an error (JSON has no way to say
 * it). An empty table is ambiguous: it is {} unless one of the markers says
 * otherwise or it is the value of a field the API defines as a list (a
 * "list" key rule), so that `stop_sequences = {}` still sends [].
 *
 * Keys, and which of them are the user's. With convert_keys the request is
 * written in Lua style (max_output_tokens) and sent in the API's style
 * (maxOutputTokens). But some parts of a request are not API structure,
 * they are the user's own data, whose keys must reach the model or the
 * user's tools exactly as written. Which fields those are is Lua's
 * knowledge, the key rules of lua/gemini/keys.lua (field -> words); the
 * encoder walks in one of four modes:
 *   CONVERT   an API object: keys are converted, and each key with a table
 *             value is looked up in the rules to pick the child's mode.
 *   FRESP     the value of a "function_response" field (functionResponse):
 *             CONVERT, except that its "tool_result" fields (`response`,
 *             the tool's result) are user data. A `response` elsewhere (a
 *             FunctionDeclaration's response schema) is API structure and
 *             stays CONVERT.
 *   MAP       the value of a "map" field (a Schema's `properties`): its
 *             keys are the user's property names, kept as written; each
 *             value is a Schema again (CONVERT).
 *   VERBATIM  the value of a "verbatim" field: user data through and
 *             through, no key below is touched, no key is looked up (a
 *             user's key named "contents" means nothing here).
 * The lookups use the converted key, so `function_response` and
 * `functionResponse` behave alike.
 */
#include "core.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_DEPTH 200
/* The encoder recurses in C, a few hundred bytes of C stack per level. */
#define MAX_DEPTH_LIMIT 1000

/* Upvalues of json_encode. */
#define UV_OBJECT_MT lua_upvalueindex(1)
#define UV_ARRAY_MT  lua_upvalueindex(2)
#define UV_RULES     lua_upvalueindex(3)   /* key_rules userdata (json_key_rules) */

enum { M_CONVERT, M_FRESP, M_MAP, M_VERBATIM };

/* ---- keys -------------------------------------------------------------- */

/* Rule flags, one per word of a rule in gemini.keys (see json_key_rules). */
#define R_LIST  1   /* "list": an empty plain table here is [] */
#define R_VERB  2   /* "verbatim": the value is user data: VERBATIM */
#define R_MAP   4   /* "map": the value's keys are user names: MAP */
#define R_FRESP 8   /* "function_response": the value is walked in FRESP */
#define R_RESP  16  /* "tool_result": VERBATIM when met in FRESP */

static const struct {
    const char *word;
    int flag;
} rule_words[] = {
    {"list", R_LIST},
    {"verbatim", R_VERB},
    {"map", R_MAP},
    {"function_response", R_FRESP},
    {"tool_result", R_RESP},
};

/* The rules compiled by json_key_rules(), in a userdata: sorted by name
 * (memcmp order, then length) for key_rule_find(), a binary search in C
 * per key with a table value in converting mode. The names are copies,
 * stored after the array in the same block. */
typedef struct {
    const char *name;
    size_t len;
    int flags;
} key_rule;

typedef struct {
    size_t n;
    key_rule rule[];
} key_rules;

static int key_rule_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int key_rule_order(const void *a, const void *b)
{
    const key_rule *x = (const key_rule *)a, *y = (const key_rule *)b;
    return key_rule_cmp(x->name, x->len, y->name, y->len);
}

/* The flags of field s (n bytes), 0 if it has no rule. */
static int key_rule_find(const key_rules *rs, const char *s, size_t n)
{
    size_t lo = 0, hi = rs->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = key_rule_cmp(s, n, rs->rule[mid].name, rs->rule[mid].len);
        if (c == 0)
            return rs->rule[mid].flags;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

/* snake_case -> lowerCamelCase, the one converter of the module: the
 * encoder's for the keys it writes, core.camel's for the Lua code that
 * looks fields up (gemini.request). Writes to dst (which may be src) and
 * returns the new length, never more than n.
 *   - leading underscores are kept: _a stays _a, __a stays __a;
 *   - a run of '_' inside goes, and the byte after it is upper-cased if it
 *     is an ASCII letter: a_b -> aB, a__b -> aB, v2_model -> v2Model,
 *     a_1 -> a1 (a digit has no case), a_B -> aB;
 *   - trailing underscores are kept, there is no letter to raise: a_ -> a_.
 * Works on the escaped key too (the same result, escaped): escapes hold no
 * '_' and start with '\\'. */
static size_t camelize(char *dst, const char *src, size_t n)
{
    size_t i = 0, w, us = 0;
    for (; i < n && src[i] == '_'; i++)
        dst[i] = '_';
    for (w = i; i < n; i++) {
        char c = src[i];
        if (c == '_') {
            us++;
            continue;
        }
        if (us > 0 && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        us = 0;
        dst[w++] = c;
    }
    while (us-- > 0)
        dst[w++] = '_';
    return w;
}

/* Whether camelize() may change a key: only one with a '_' past its first
 * byte. */
static int has_inner_underscore(const char *s, size_t n)
{
    return n > 1 && memchr(s + 1, '_', n - 1) != NULL;
}

/* ---- output buffer ---------------------------------------------------- */

/* The output lives in a gm_buf pushed by gm_buf_push (see core.h), first
 * thing in json_encode: any error raised midway (bad value, out of memory)
 * leaves the buffer to the collector instead of leaking it. */

/* One per table being encoded, on the C stack; they chain to the root and
 * serve both the cycle check and the path in error messages. */
typedef struct frame {
    const struct frame *parent;
    const void *table;
    const char *key;        /* current child: key, or index if key is NULL */
    size_t klen;
    lua_Integer index;
} frame;

typedef struct {
    lua_State *L;
    gm_buf *b;
    const key_rules *rules;
    const char *root;
    int max_depth;
} enc;

#define RESERVE(e, n) \
    do { \
        if ((e)->b->cap - (e)->b->len < (size_t)(n)) \
            gm_buf_grow((e)->L, (e)->b, (n), GM_BUF_NO_LIMIT); \
    } while (0)

static void put_lit(enc *e, const char *s, size_t n)
{
    RESERVE(e, n);
    memcpy(e->b->data + e->b->len, s, n);
    e->b->len += n;
}

#define PUT_CHAR(e, c) \
    do { RESERVE(e, 1); (e)->b->data[(e)->b->len++] = (c); } while (0)

/* ---- errors ----------------------------------------------------------- */

static void add_path(luaL_Buffer *lb, const frame *f, const char *root)
{
    if (f == NULL) {
        luaL_addstring(lb, root);
        return;
    }
    add_path(lb, f->parent, root);
    if (f->key != NULL) {
        if (f->parent != NULL || root[0] != '\0')
            luaL_addchar(lb, '.');
        luaL_addlstring(lb, f->key, f->klen);
    } else {
        char idx[32];
        snprintf(idx, sizeof idx, "[%lld]", (long long)f->index);
        luaL_addstring(lb, idx);
    }
}

/* Raises "cannot encode <path>: <what>"; `at` is the frame of the table
 * holding the bad value (its current key/index names it), NULL for the
 * root. */
static void fail(enc *e, const frame *at, const char *what)
{
    lua_State *L = e->L;
    luaL_Buffer lb;
    luaL_checkstack(L, 8, "json_encode");
    luaL_buffinit(L, &lb);
    luaL_addstring(&lb, "cannot encode ");
    add_path(&lb, at, e->root);
    luaL_addstring(&lb, ": ");
    luaL_addstring(&lb, what);
    luaL_pushresult(&lb);
    lua_error(L);
}

/* ---- strings ---------------------------------------------------------- */

/* 0: copied as is; 1: escaped; 2: start of a multi-byte UTF-8 sequence
 * (or an invalid byte), validated by gm_utf8_seq(). */
static const unsigned char str_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* " */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,   /* \ */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/* Length of the well-formed UTF-8 sequence at s (s[0] >= 0x80, n bytes
 * left), or 0. The second-byte ranges are those of Unicode's table of
 * well-formed sequences: they exclude overlongs (C0, C1, E0 80..9F,
 * F0 80..8F), surrogates (ED A0..BF) and code points past U+10FFFF
 * (F4 90.., F5..FF). */
size_t gm_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0)
            return s[1] >= 0xA0 && s[1] <= 0xBF ? 3 : 0;
        if (c == 0xED)
            return s[1] >= 0x80 && s[1] <= 0x9F ? 3 : 0;
        return (s[1] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0)
            return s[1] >= 0x90 && s[1] <= 0xBF ? 4 : 0;
        if (c == 0xF4)
            return s[1] >= 0x80 && s[1] <= 0x8F ? 4 : 0;
        return (s[1] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* Flags the special bytes (str_class != 0: below 0x20, '"', '\\', >= 0x80)
 * among the 8 at p, as the high bit of each byte of the result. "Has a
 * zero byte" is (v - 0x01..) & ~v & 0x80..; "has a byte below 0x20" is the
 * same with 0x20. A borrow only starts at a true match, so the lowest
 * flagged byte is always a true one; bytes above it may be false
 * positives, which is why only the first is used. */
static uint64_t special8(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t x, q, bs;
    memcpy(&x, p, 8);       /* unaligned-safe load, one mov on x86/arm64 */
    q = x ^ (ones * '"');
    bs = x ^ (ones * '\\');
    return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | x) & highs;
}

/* Offset of the first flagged byte of a nonzero special8() result: with a
 * little-endian load that is the lowest set bit. Elsewhere 0, which just
 * makes the caller look at the bytes one by one. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#  define FIRST_SPECIAL(m) ((size_t)__builtin_ctzll(m) >> 3)
#else
#  define FIRST_SPECIAL(m) ((void)(m), (size_t)0)
#endif

/* Writes s as a JSON string. Bytes that need nothing are skipped 8 at a
 * time, multi-byte UTF-8 is validated in passing, and each run between
 * escapes is copied with one memcpy. Returns 0, or -1 if s is not valid
 * UTF-8 (output then garbage: the caller raises). */
static int put_string(enc *e, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    gm_buf *b;

    /* Room for the common case: quotes and the bytes themselves. Each
     * escape then asks for its extra bytes. */
    RESERVE(e, n + 2);
    b = e->b;
    b->data[b->len++] = '"';
    while (i < n) {
        size_t start = i;
        unsigned c;
        while (i < n) {
            unsigned k;
            if (n - i >= 8) {
                uint64_t m = special8(s + i);
                if (m == 0) {
                    i += 8;
                    continue;
                }
                i += FIRST_SPECIAL(m);
            }
            k = str_class[s[i]];
            if (k == 0) {
                i++;
            } else if (k == 2) {
                /* non-Latin text: stay here while sequences follow */
                do {
                    size_t len = gm_utf8_seq(s + i, n - i);
                    if (len == 0)
                        return -1;
                    i += len;
                } while (i < n && s[i] >= 0x80);
            } else {
                break;
            }
        }
        memcpy(b->data + b->len, s + start, i - start);
        b->len += i - start;
        if (i == n)
            break;
        /* s[i] needs an escape: up to 6 bytes where 1 was reserved. */
        RESERVE(e, (n - i) + 1 + 5);
        b = e->b;
        c = s[i++];
        b->data[b->len++] = '\\';
        switch (c) {
        case '"':  b->data[b->len++] = '"'; break;
        case '\\': b->data[b->len++] = '\\'; break;
        case '\b': b->data[b->len++] = 'b'; break;
        case '\f': b->data[b->len++] = 'f'; break;
        case '\n': b->data[b->len++] = 'n'; break;
        case '\r': b->data[b->len++] = 'r'; break;
        case '\t': b->data[b->len++] = 't'; break;
        default:
            memcpy(b->data + b->len, "u00", 3);
            b->data[b->len + 3] = hex[c >> 4];
            b->data[b->len + 4] = hex[c & 15];
            b->len += 5;
            break;
        }
    }
    b->data[b->len++] = '"';
    return 0;
}

/* ---- numbers ---------------------------------------------------------- */

static void put_integer(enc *e, long long v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    put_lit(e, p, (size_t)(tmp + sizeof tmp - p));
}

/* Shortest of %.15g, %.16g, %.17g that strtod reads back as d (%.17g
 * always does). snprintf and strtod follow the same LC_NUMERIC, so the
 * check holds in any locale; the locale's decimal point is then replaced
 * by '.', as JSON wants, without touching the process locale. */
static void put_double(enc *e, double d)
{
    char tmp[40], out[40];
    int prec, n = 0;
    size_t i, w = 0;
    int dot = 0, floatish = 0;

    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (prec == 17 || strtod(tmp, NULL) == d)
            break;
    }
    for (i = 0; i < (size_t)n && i < sizeof tmp; i++) {
        char c = tmp[i];
        if ((c >= '0' && c <= '9') || c == '-' || c == '+') {
            out[w++] = c;
        } else if (c == 'e' || c == 'E') {
            out[w++] = 'e';
            floatish = 1;
        } else if (!dot) {      /* '.' or the first byte of the locale's */
            out[w++] = '.';
            dot = floatish = 1;
        }                       /* else: rest of a multi-byte decimal point */
    }
    /* Keep the float subtype across a round trip: 2.0, not 2. */
    if (GM_INTEGERS && !floatish) {
        out[w++] = '.';
        out[w++] = '0';
    }
    put_lit(e, out, w);
}

static void put_number(enc *e, const frame *at)
{
    lua_State *L = e->L;
    double d;
    if (gm_isinteger(L, -1)) {
        put_integer(e, (long long)lua_tointeger(L, -1));
        return;
    }
    d = (double)lua_tonumber(L, -1);
    if (d != d)
        fail(e, at, "NaN");
    if (d == HUGE_VAL)
        fail(e, at, "inf");
    if (d == -HUGE_VAL)
        fail(e, at, "-inf");
    /* Without an integer subtype every number is a double; integral ones
     * within 2^53 (exact as integers) print as integers, like Lua's own
     * %.14g would. */
    if (!GM_INTEGERS && d >= -9007199254740992.0 && d <= 9007199254740992.0
        && d == (double)(long long)d) {
        put_integer(e, (long long)d);
        return;
    }
    put_double(e, d);
}

/* ---- values and tables ------------------------------------------------ */

static void encode_table(enc *e, const frame *parent, int mode, int empty_list, int depth);

/* Encodes a non-table value at the top of the stack. */
static void encode_scalar(enc *e, const frame *at)
{
    lua_State *L = e->L;
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        if (put_string(e, s, n) != 0)
            fail(e, at, "invalid UTF-8 string");
        break;
    }
    case LUA_TNUMBER:
        put_number(e, at);
        break;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, -1))
            put_lit(e, "true", 4);
        else
            put_lit(e, "false", 5);
        break;
    case LUA_TNIL:
        put_lit(e, "null", 4);
        break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, -1) == NULL) {
            put_lit(e, "null", 4);
            break;
        }
        fail(e, at, "lightuserdata");
        break;
    default:
        fail(e, at, luaL_typename(L, -1));
        break;
    }
}

static void encode_child(enc *e, const frame *at, int mode, int empty_list, int depth)
{
    if (lua_type(e->L, -1) == LUA_TTABLE)
        encode_table(e, at, mode, empty_list, depth + 1);
    else
        encode_scalar(e, at);
}

/* Error for a key that fits neither an array nor an object. */
static void bad_key(enc *e, const frame *fr, int kidx, int marked)
{
    lua_State *L = e->L;
    int t = lua_type(L, kidx);
    if (marked == 1 && t != LUA_TSTRING)
        fail(e, fr->parent, "object-marked table has a non-string key");
    if (marked == 2 && t == LUA_TSTRING)
        fail(e, fr->parent, "array-marked table has a string key");
    if (t == LUA_TSTRING || t == LUA_TNUMBER)
        fail(e, fr->parent, "table mixes array and object keys");
    lua_pushfstring(L, "table has a %s key", luaL_typename(L, kidx));
    fail(e, fr->parent, lua_tostring(L, -1));
}

/* Object; the first key/value pair is already on the stack above t. */
static void encode_object(enc *e, frame *fr, int t, int mode, int depth, int marked)
{
    lua_State *L = e->L;
    int first = 1;
    PUT_CHAR(e, '{');
    do {
        size_t klen, ks, kn;
        const char *k;
        if (lua_type(L, -2) != LUA_TSTRING)
            bad_key(e, fr, -2, marked);
        k = lua_tolstring(L, -2, &klen);
        fr->key = k;
        fr->klen = klen;
        if (!first)
            PUT_CHAR(e, ',');
        first = 0;
        ks = e->b->len + 1;                 /* key text, after its quote */
        if (put_string(e, k, klen) != 0)
            fail(e, fr->parent, "invalid UTF-8 in a key");  /* don't echo it */
        kn = e->b->len - 1 - ks;
        /* converting modes only; most keys have no '_' and stop at memchr */
        if (mode <= M_FRESP && has_inner_underscore(k, klen)) {
            kn = camelize(e->b->data + ks, e->b->data + ks, kn);
            e->b->len = ks + kn;
            e->b->data[e->b->len++] = '"';  /* fits: the key only shrank */
        }
        PUT_CHAR(e, ':');
        if (lua_type(L, -1) == LUA_TTABLE) {
            int cmode = M_VERBATIM, list = 0;
            if (mode == M_MAP) {
                cmode = M_CONVERT;
            } else if (mode != M_VERBATIM) {
                /* by the key as sent: escaped, so a key with escapes
                 * matches no rule (no field name has any) */
                int r = key_rule_find(e->rules, e->b->data + ks, kn);
                list = r & R_LIST;
                if (r & R_VERB)
                    cmode = M_VERBATIM;
                else if (r & R_MAP)
                    cmode = M_MAP;
                else if (r & R_FRESP)
                    cmode = M_FRESP;
                else if ((r & R_RESP) && mode == M_FRESP)
                    cmode = M_VERBATIM;
                else
                    cmode = M_CONVERT;
            }
            encode_table(e, fr, cmode, list, depth + 1);
        } else {
            encode_scalar(e, fr);
        }
        lua_pop(L, 1);
    } while (lua_next(L, t));
    PUT_CHAR(e, '}');
}

/* A key that is a valid array index (a positive integer), into *k. */
static int array_index(lua_State *L, int idx, lua_Integer *k)
{
    lua_Number d;
    if (gm_isinteger(L, idx)) {
        *k = lua_tointeger(L, idx);
        return *k >= 1;
    }
    d = lua_tonumber(L, idx);
    if (d >= 1 && d <= 9007199254740992.0 && d == (lua_Number)(lua_Integer)d) {
        *k = (lua_Integer)d;
        return 1;
    }
    return 0;
}

/* Array: one lua_next pass to check that the keys are exactly 1..n, then
 * the elements in order with lua_rawgeti. */
static void encode_array(enc *e, frame *fr, int t, int mode, int depth, int marked)
{
    lua_State *L = e->L;
    lua_Integer n = 0, max = 0, i;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_Integer k = 0;
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TNUMBER)
            bad_key(e, fr, -1, marked);
        if (!array_index(L, -1, &k))
            fail(e, fr->parent, "array index is not a positive integer");
        n++;
        if (k > max)
            max = k;
    }
    if (max != n)
        fail(e, fr->parent, "sparse array (holes in the indices)");
    PUT_CHAR(e, '[');
    for (i = 1; i <= n; i++) {
        if (i > 1)
            PUT_CHAR(e, ',');
        fr->index = i;
        lua_rawgeti(L, t, i);
        encode_child(e, fr, mode, 0, depth);
        lua_pop(L, 1);
    }
    PUT_CHAR(e, ']');
}

/* Table at the top of the stack; depth counts it (the root table is 1). */
static void encode_table(enc *e, const frame *parent, int mode, int empty_list, int depth)
{
    lua_State *L = e->L;
    int t = lua_gettop(L);
    int marked = 0;     /* 1 object marker, 2 array marker */
    const frame *p;
    frame fr;

    fr.table = lua_topointer(L, t);
    /* Only the tables of the current path: a table used twice side by
     * side is fine; one inside itself is not. */
    for (p = parent; p != NULL; p = p->parent)
        if (p->table == fr.table)
            fail(e, parent, "cycle");
    if (depth > e->max_depth) {
        char msg[48];
        snprintf(msg, sizeof msg, "nesting deeper than %d", e->max_depth);
        fail(e, parent, msg);
    }
    fr.parent = parent;
    fr.key = NULL;
    fr.klen = 0;
    fr.index = 0;
    luaL_checkstack(L, 4, "json_encode");
    if (lua_getmetatable(L, t)) {
        if (lua_rawequal(L, -1, UV_OBJECT_MT))
            marked = 1;
        else if (lua_rawequal(L, -1, UV_ARRAY_MT))
            marked = 2;
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    if (!lua_next(L, t)) {
        if (marked == 2 || (marked == 0 && empty_list))
            put_lit(e, "[]", 2);
        else
            put_lit(e, "{}", 2);
        return;
    }
    if (marked == 1 || (marked == 0 && lua_type(L, -2) == LUA_TSTRING)) {
        encode_object(e, &fr, t, mode, depth, marked);
    } else {
        lua_pop(L, 2);
        encode_array(e, &fr, t, mode, depth, marked);
    }
}

/* ---- entry ------------------------------------------------------------ */

static int json_encode(lua_State *L)
{
    enc e;
    int convert = 1;
    gm_buf *b;

    luaL_checkany(L, 1);
    e.L = L;
    e.max_depth = DEFAULT_MAX_DEPTH;
    e.root = "value";
    lua_settop(L, 2);
    if (!lua_isnil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "convert_keys");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TBOOLEAN)
                luaL_argerror(L, 2, "convert_keys must be a boolean");
            convert = lua_toboolean(L, -1);
        }
        lua_getfield(L, 2, "max_depth");
        if (!lua_isnil(L, -1)) {
            lua_Number m = lua_tonumber(L, -1);
            if (lua_type(L, -1) != LUA_TNUMBER || !(m >= 1 && m <= MAX_DEPTH_LIMIT))
                luaL_argerror(L, 2, "max_depth must be a number in 1..1000");
            e.max_depth = (int)m;
        }
        lua_getfield(L, 2, "root");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_argerror(L, 2, "root must be a string");
            e.root = lua_tostring(L, -1);   /* stays on the stack: anchored */
        }
    }
    e.rules = (const key_rules *)lua_touserdata(L, UV_RULES);
    b = gm_buf_push(L);
    e.b = b;
    lua_pushvalue(L, 1);
    encode_child(&e, NULL, convert ? M_CONVERT : M_VERBATIM, 0, 0);
    gm_buf_pushresult(L, b);    /* frees now, rather than at the next GC cycle */
    return 1;
}

/* The flag of a rule word, 0 if there is no such word. */
static int rule_word(const char *w, size_t n)
{
    size_t i;
    for (i = 0; i < sizeof rule_words / sizeof rule_words[0]; i++)
        if (strlen(rule_words[i].word) == n && memcmp(rule_words[i].word, w, n) == 0)
            return rule_words[i].flag;
    return 0;
}

/* The flags of rule text `rule` (words separated by spaces) of field
 * `name`; raises on an unknown word. */
static int rule_flags(lua_State *L, const char *name, const char *rule, size_t n)
{
    size_t i = 0;
    int flags = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && rule[j] != ' ')
            j++;
        if (j > i) {
            int f = rule_word(rule + i, j - i);
            if (f == 0)
                luaL_argerror(L, 1, lua_pushfstring(L,
                    "unknown word in the rule of '%s': '%s'", name, rule));
            flags |= f;
        }
        i = j + 1;
    }
    return flags;
}

/* core.json_key_rules(rules): the encoder's key rules from now on, in
 * place of any before; `rules` maps field names to words (gemini.keys).
 * Compiled here, once, into a key_rules block, so that a lookup while
 * encoding stays in C. Upvalue 1 is json_encode. */
static int json_key_rules(lua_State *L)
{
    size_t n = 0, bytes = 0, len;
    key_rules *rs;
    char *names;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            return luaL_argerror(L, 1, "field names and rules must be strings");
        lua_tolstring(L, -2, &len);
        n++;
        bytes += len;
        lua_pop(L, 1);
    }
    rs = (key_rules *)gm_newuserdata(L, sizeof *rs + n * sizeof rs->rule[0] + bytes);
    names = (char *)&rs->rule[n];
    rs->n = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        size_t rlen;
        const char *name = lua_tolstring(L, -2, &len);
        const char *rule = lua_tolstring(L, -1, &rlen);
        key_rule *r = &rs->rule[rs->n++];
        r->flags = rule_flags(L, name, rule, rlen);
        memcpy(names, name, len);
        r->name = names;
        r->len = len;
        names += len;
        lua_pop(L, 1);
    }
    qsort(rs->rule, rs->n, sizeof rs->rule[0], key_rule_order);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 2);
    lua_setupvalue(L, -2, 3);       /* UV_RULES */
    return 0;
}

/* core.camel(key): the key as the encoder writes it in a converting mode. */
static int l_camel(lua_State *L)
{
    size_t n;
    const char *k;
    gm_buf *b;
    luaL_checktype(L, 1, LUA_TSTRING);
    k = lua_tolstring(L, 1, &n);
    if (!has_inner_underscore(k, n)) {
        lua_settop(L, 1);
        return 1;
    }
    b = gm_buf_push(L);
    gm_buf_grow(L, b, n, GM_BUF_NO_LIMIT);
    b->len = camelize(b->data, k, n);
    gm_buf_pushresult(L, b);
    return 1;
}

void gemini_open_json(lua_State *L)
{
    lua_newtable(L);
    lua_pushliteral(L, "gemini.json_object");
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "json_object_mt");

    lua_newtable(L);
    lua_pushliteral(L, "gemini.json_array");
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, "json_array_mt");

    /* no key rules until json_key_rules */
    ((key_rules *)gm_newuserdata(L, sizeof(key_rules)))->n = 0;
    lua_pushcclosure(L, json_encode, 3);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "json_encode");
    lua_pushcclosure(L, json_key_rules, 1);
    lua_setfield(L, -2, "json_key_rules");

    lua_pushcfunction(L, l_camel);
    lua_setfield(L, -2, "camel");

    /* The same value as lua-cjson's cjson.null. */
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "json_null");
}
