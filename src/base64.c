/* Base64 (RFC 4648) for inline data.
 *
 *   core.b64encode(s [, urlsafe]) -> string
 *       standard alphabet, or the URL-safe one ("-_") when urlsafe is true;
 *       padded with '=' in both cases (the decoder takes either form).
 *   core.b64decode(s) -> string | nil, "invalid base64 at byte N"
 *       accepts both alphabets (even mixed), padded or unpadded input, and
 *       skips ASCII whitespace so that MIME-style line-wrapped text decodes.
 *   core.b64url_encode(s) -> string
 *       base64url without padding (RFC 4648 section 5; RFC 7515 section 2),
 *       the form of a JWT's three parts.
 *   core.b64url_decode(s) -> string | nil, "invalid base64url at byte N"
 *       the strict inverse: only "A-Za-z0-9-_", no padding, no whitespace,
 *       and no length that leaves a single character over.
 *
 * Both directions size their output exactly (or as an upper bound) first,
 * in a gm_buf (freed by the collector should an allocation raise), and
 * write it in one pass: no per-byte calls into Lua.
 */
#include "core.h"

#include <string.h>

static const char enc_std[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char enc_url[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Decoding classes above the 64 sextet values. */
#define D_BAD 0xFF
#define D_WS  0xFE
#define D_PAD 0xFD

/* Byte -> sextet, or one of the classes above. Written out as a table (not
 * built at open time) so the module keeps no mutable state. */
#define X D_BAD
#define W D_WS
static const unsigned char dec[256] = {
    X, X, X, X, X, X, X, X, X, W, W, W, W, W, X, X,   /* 00: \t \n \v \f \r */
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,   /* 10 */
    W, X, X, X, X, X, X, X, X, X, X, 62, X, 62, X, 63, /* 20: sp + - / */
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, D_PAD, X, X, /* 30 */
    X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,           /* 40 */
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, 63,    /* 50: _ */
    X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, /* 60 */
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,     /* 70 */
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
};
#undef X
#undef W

/* Pushes the encoding of s[0..n) in alphabet `a`, padded with '=' or not. */
static void encode(lua_State *L, const unsigned char *s, size_t n, const char *a, int pad)
{
    size_t olen, i;
    gm_buf *o = gm_buf_push(L);
    char *d;

    if (n > ((size_t)-1 / 4) * 3 - 3)
        luaL_error(L, "b64encode: input too large");
    olen = pad ? (n + 2) / 3 * 4 : n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
    gm_buf_grow(L, o, olen, GM_BUF_NO_LIMIT);
    d = o->data;
    for (i = 0; i + 3 <= n; i += 3) {
        unsigned long v = (unsigned long)s[i] << 16 | (unsigned long)s[i + 1] << 8 | s[i + 2];
        d[0] = a[v >> 18];
        d[1] = a[(v >> 12) & 63];
        d[2] = a[(v >> 6) & 63];
        d[3] = a[v & 63];
        d += 4;
    }
    if (n - i == 1) {
        unsigned long v = (unsigned long)s[i] << 16;
        d[0] = a[v >> 18];
        d[1] = a[(v >> 12) & 63];
        if (pad) {
            d[2] = '=';
            d[3] = '=';
        }
    } else if (n - i == 2) {
        unsigned long v = (unsigned long)s[i] << 16 | (unsigned long)s[i + 1] << 8;
        d[0] = a[v >> 18];
        d[1] = a[(v >> 12) & 63];
        d[2] = a[(v >> 6) & 63];
        if (pad)
            d[3] = '=';
    }
    o->len = olen;
    gm_buf_pushresult(L, o);
}

static int b64encode(lua_State *L)
{
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    encode(L, s, n, lua_toboolean(L, 2) ? enc_url : enc_std, 1);
    return 1;
}

static int b64url_encode(lua_State *L)
{
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    encode(L, s, n, enc_url, 0);
    return 1;
}

/* nil and the message; the output so far is dropped now, not at GC. */
static int bad_input(lua_State *L, gm_buf *o, size_t pos)
{
    gm_buf_free(o);
    lua_pushnil(L);
    lua_pushfstring(L, "invalid base64 at byte %d", (int)(pos + 1));
    return 2;
}

static int b64decode(lua_State *L)
{
    size_t n, i = 0, qstart = 0;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    unsigned long acc = 0;
    int q = 0;              /* sextets in the current quantum */
    gm_buf *o = gm_buf_push(L);
    char *d;

    /* 3 bytes per 4 input characters, rounded up: an upper bound whatever
     * the whitespace and padding, so the loop never checks for room. */
    gm_buf_grow(L, o, n / 4 * 3 + 3, GM_BUF_NO_LIMIT);
    d = o->data;
    while (i < n) {
        unsigned c;
        /* Fast path: a whole quantum of four plain sextets. */
        if (q == 0 && n - i >= 4) {
            unsigned c0 = dec[s[i]], c1 = dec[s[i + 1]], c2 = dec[s[i + 2]], c3 = dec[s[i + 3]];
            if (((c0 | c1 | c2 | c3) & 0xC0) == 0) {
                unsigned long v = (unsigned long)c0 << 18 | (unsigned long)c1 << 12 | c2 << 6 | c3;
                d[0] = (char)(v >> 16);
                d[1] = (char)(v >> 8);
                d[2] = (char)v;
                d += 3;
                i += 4;
                continue;
            }
        }
        c = dec[s[i]];
        if (c < 64) {
            if (q == 0)
                qstart = i;
            acc = acc << 6 | c;
            if (++q == 4) {
                d[0] = (char)(acc >> 16);
                d[1] = (char)(acc >> 8);
                d[2] = (char)acc;
                d += 3;
                q = 0;
                acc = 0;
            }
        } else if (c == D_WS) {
            /* skipped */
        } else if (c == D_PAD) {
            break;
        } else {
            return bad_input(L, o, i);
        }
        i++;
    }
    if (i < n) {
        /* Padding at s[i]: it must close a quantum of 2 or 3 sextets, with
         * exactly 4 - q '=' (whitespace may sit between them), and only
         * whitespace may follow. */
        size_t first = i;
        int need = 4 - q;
        if (q < 2)
            return bad_input(L, o, i);
        for (; i < n; i++) {
            unsigned c = dec[s[i]];
            if (c == D_WS)
                continue;
            if (c != D_PAD || need == 0)
                return bad_input(L, o, i);
            need--;
        }
        if (need != 0)
            return bad_input(L, o, first);
    } else if (q == 1) {
        /* One sextet holds only 6 bits: not even one byte. */
        return bad_input(L, o, qstart);
    }
    if (q == 2) {
        *d++ = (char)(acc >> 4);
    } else if (q == 3) {
        *d++ = (char)(acc >> 10);
        *d++ = (char)(acc >> 2);
    }
    o->len = (size_t)(d - o->data);
    gm_buf_pushresult(L, o);
    return 1;
}

/* The strict base64url of a JWT: every byte of the URL-safe alphabet, and
 * a length that is not 1 more than a multiple of 4 (6 bits are no byte).
 * Checked here; the general decoder above then does the decoding. */
static int b64url_decode(lua_State *L)
{
    size_t n, i;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);

    for (i = 0; i < n; i++) {
        if (dec[s[i]] >= 64 || s[i] == '+' || s[i] == '/')
            break;
    }
    if (i == n && n % 4 == 1)
        i = n - 1;
    if (i < n) {
        lua_pushnil(L);
        lua_pushfstring(L, "invalid base64url at byte %d", (int)(i + 1));
        return 2;
    }
    lua_settop(L, 1);
    return b64decode(L);
}

void gemini_open_base64(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"b64encode", b64encode},
        {"b64decode", b64decode},
        {"b64url_encode", b64url_encode},
        {"b64url_decode", b64url_decode},
        {NULL, NULL}
    };
    gm_setfuncs(L, funcs, 0);
}
