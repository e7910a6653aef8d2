/* WebSocket framing (RFC 6455), incremental, for either end.
 *
 *   local f = core.ws_framer{ max_message_size = N, role = "client" | "server" }
 *   local n, err = f:feed(bytes, out)   -- out[3i-2], out[3i-1], out[3i]:
 *                                       -- kind, data, code of event i
 *   f:reset()
 *   f:frame(kind, data [, code]) -> bytes of one frame of the framer's role
 *                                   (a client's masked, a server's not)
 *   core.ws_frame(kind, data [, code]) -> bytes of one masked client frame
 *   core.ws_key() -> a fresh Sec-WebSocket-Key
 *   core.ws_accept(key) -> the Sec-WebSocket-Accept a server must answer
 *   core.utf8_valid(s) -> whether s is well-formed UTF-8 (a text frame's)
 *
 * The role (default "client") is chosen once: a client's framer reads a
 * server's frames, which must not be masked; a server's (an nginx endpoint
 * speaking to a browser: lua/gemini/live/relay.lua) reads a client's,
 * which must be (5.1: "a server MUST close the connection upon receiving
 * a frame that is not masked", status 1002), and unmasks them (5.3).
 * Everything else is the same for both.
 *
 * Kinds: "text", "binary" (a whole message, fragments joined), "ping",
 * "pong", "close" (data: the reason; code: its status, 1005 when it had
 * none). The framer knows nothing about where bytes come from: any split
 * of the stream into feeds gives the same events. It is the one parser of
 * both byte sources, libcurl's socket (src/ws_conn.c) and an OpenResty
 * cosocket (lua/gemini/live/resty.lua).
 *
 * What the parser refuses (RFC 6455 5.2-5.5; a refusal is final): a
 * reserved bit set (no extension is ever negotiated), an unknown opcode, a
 * masked frame from a server or an unmasked one from a client (5.1), a fragmented or oversized
 * (> 125 bytes) control frame, a continuation outside a message, a new
 * message inside a fragmented one, a 64-bit length with its top bit set,
 * a close payload of one byte or with a code that may not be sent
 * (7.4.1/7.4.2), and a message larger than max_message_size (the bound
 * is checked as each frame header arrives, before any byte is buffered).
 * A text message must be UTF-8 (8.1): one that is not fails the
 * connection with 1007 (the JSON decoder would take it as it is).
 *
 * A client's frames are built masked with a fresh key from OpenSSL's RAND_bytes
 * (5.3: "derived from a strong source of entropy"), and the accept value
 * is base64(SHA-1(key .. GUID)) (4.1, 4.2.2), both from libcrypto.
 */
#include "core.h"
#include "ws.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define FRAMER_MT "gemini.core.ws_framer"
#define MAX_LIMIT ((double)SIZE_MAX < 1e15 ? (double)SIZE_MAX : 1e15)
#define KEEP_CAP ((size_t)64 * 1024)

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void gm_ws_init(gm_ws *f, size_t max_message_size, int server)
{
    memset(f, 0, sizeof *f);
    f->max = max_message_size;
    f->server = server;
    f->hneed = 2;
}

void gm_ws_free(gm_ws *f)
{
    gm_buf_free(&f->msg);
    gm_buf_free(&f->ctl);
}

void gm_ws_reset(gm_ws *f)
{
    gm_buf msg = f->msg, ctl = f->ctl;
    size_t max = f->max;
    int server = f->server;
    if (msg.cap > KEEP_CAP)
        gm_buf_free(&msg);
    gm_ws_init(f, max, server);
    f->msg = msg;
    f->ctl = ctl;
    f->msg.len = f->ctl.len = 0;
}

static int fail(gm_ws *f, int status, const char *why)
{
    gm_ws_free(f);
    f->failed = status;
    if (why != NULL)
        snprintf(f->why, sizeof f->why, "%s", why);
    return status;
}

void gm_ws_message(const gm_ws *f, int status, char *buf, size_t size)
{
    if (status == GM_WS_TOO_BIG)
        snprintf(buf, size, "WebSocket message larger than %zu bytes", f->max);
    else if (status == GM_WS_PROTOCOL)
        snprintf(buf, size, "WebSocket protocol error: %s", f->why);
    else if (status == GM_WS_BAD_TEXT)
        snprintf(buf, size, "WebSocket text message is not valid UTF-8");
    else
        snprintf(buf, size, "not enough memory");
}

int gm_ws_close_code(int status)
{
    return status == GM_WS_TOO_BIG ? 1009 : status == GM_WS_BAD_TEXT ? 1007 : 1002;
}

/* Whether n bytes are well-formed UTF-8 (RFC 3629). */
int gm_ws_utf8(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        size_t len = s[i] < 0x80 ? 1 : gm_utf8_seq(s + i, n - i);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

/* Close codes a peer may send (RFC 6455 7.4.1, 7.4.2): 1000-1003,
 * 1007-1011 (1012-1014 are registered with IANA since), 3000-4999. */
static int sendable_code(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014)
        || (code >= 3000 && code <= 4999);
}

/* The header is complete: check it and set up the payload. */
static int start_frame(gm_ws *f)
{
    const unsigned char *h = f->hdr;
    unsigned op = h[0] & 0x0F, len7 = h[1] & 0x7F;
    uint64_t len = len7;
    int control = (op & 0x8) != 0;

    if (h[0] & 0x70)
        return fail(f, GM_WS_PROTOCOL, "reserved bits set (no extension was negotiated)");
    if (!(h[1] & 0x80) != !f->server)
        return fail(f, GM_WS_PROTOCOL, f->server ? "unmasked frame from the client"
                                                 : "masked frame from the server");
    if (op > GM_WS_BINARY && op != GM_WS_CLOSE && op != GM_WS_PING && op != GM_WS_PONG) {
        char why[40];
        snprintf(why, sizeof why, "unknown opcode %u", op);
        return fail(f, GM_WS_PROTOCOL, why);
    }
    if (len7 == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
    } else if (len7 == 127) {
        int i;
        if (h[2] & 0x80)
            return fail(f, GM_WS_PROTOCOL, "frame length with its top bit set");
        len = 0;
        for (i = 2; i < 10; i++)
            len = len << 8 | h[i];
    }
    f->op = (unsigned char)op;
    f->fin = (unsigned char)((h[0] & 0x80) != 0);
    f->remain = len;
    if (f->server)   /* the key ends the header (5.2) */
        memcpy(f->key, h + f->hneed - 4, 4);
    f->kpos = 0;
    if (control) {
        if (!f->fin)
            return fail(f, GM_WS_PROTOCOL, "fragmented control frame");
        if (len > 125)
            return fail(f, GM_WS_PROTOCOL, "control frame longer than 125 bytes");
        f->ctl.len = 0;
    } else {
        if (op == GM_WS_CONT && f->msg_op == 0)
            return fail(f, GM_WS_PROTOCOL, "continuation frame outside a message");
        if (op != GM_WS_CONT && f->msg_op != 0)
            return fail(f, GM_WS_PROTOCOL, "new message inside a fragmented one");
        if (op != GM_WS_CONT) {
            f->msg_op = (unsigned char)op;
            f->msg.len = 0;
        }
        /* Nothing is reserved for the announced length: memory grows with
         * the bytes that do arrive, not with what a header claims. */
        if (len > f->max || f->msg.len > f->max - len)
            return fail(f, GM_WS_TOO_BIG, NULL);
    }
    f->in_frame = 1;
    return GM_WS_OK;
}

/* The frame's payload is complete: emit what it ends. */
static int end_frame(gm_ws *f, gm_ws_emit emit, void *ud)
{
    int ok = 1;
    f->in_frame = 0;
    f->hlen = 0;
    f->hneed = 2;
    if (f->op == GM_WS_CLOSE) {
        const unsigned char *c = (const unsigned char *)f->ctl.data;
        int code = GM_WS_NO_STATUS;
        if (f->ctl.len == 1)
            return fail(f, GM_WS_PROTOCOL, "close frame with a one-byte payload");
        if (f->ctl.len >= 2) {
            code = c[0] << 8 | c[1];
            if (!sendable_code(code)) {
                char why[48];
                snprintf(why, sizeof why, "close code %d may not be sent", code);
                return fail(f, GM_WS_PROTOCOL, why);
            }
        }
        f->closed = 1;
        ok = emit(ud, GM_WS_CLOSE, f->ctl.len >= 2 ? f->ctl.data + 2 : "",
                  f->ctl.len >= 2 ? f->ctl.len - 2 : 0, code);
    } else if (f->op & 0x8) {
        ok = emit(ud, f->op, f->ctl.len ? f->ctl.data : "", f->ctl.len, 0);
    } else if (f->fin) {
        int op = f->msg_op;
        f->msg_op = 0;
        if (op == GM_WS_TEXT && !gm_ws_utf8(f->msg.data, f->msg.len))
            return fail(f, GM_WS_BAD_TEXT, NULL);
        ok = emit(ud, op, f->msg.len ? f->msg.data : "", f->msg.len, 0);
        f->msg.len = 0;
    }
    return ok ? GM_WS_OK : fail(f, GM_WS_NO_MEMORY, NULL);
}

/* Unmasks the next n payload bytes of a client's frame in place (5.3):
 * byte i of the payload is XORed with key[i mod 4]. */
static void unmask(gm_ws *f, char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] ^= (char)f->key[(f->kpos + i) & 3];
    f->kpos = (unsigned)((f->kpos + n) & 3);
}

int gm_ws_feed(gm_ws *f, const char *p, size_t n, gm_ws_emit emit, void *ud)
{
    const char *end = p + n;
    if (f->failed)
        return f->failed;
    while (!f->closed) {
        int st;
        if (!f->in_frame) {
            while (f->hlen < f->hneed && p < end)
                f->hdr[f->hlen++] = (unsigned char)*p++;
            if (f->hlen < f->hneed)
                return GM_WS_OK;
            if (f->hneed == 2) {
                unsigned len7 = f->hdr[1] & 0x7F;
                f->hneed = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0)
                    + ((f->hdr[1] & 0x80) ? 4 : 0);
                if (f->hneed > 2)
                    continue;
            }
            st = start_frame(f);
            if (st != GM_WS_OK)
                return st;
        }
        if (f->remain > 0) {
            size_t take = (size_t)(end - p) < f->remain ? (size_t)(end - p) : (size_t)f->remain;
            gm_buf *b = (f->op & 0x8) ? &f->ctl : &f->msg;
            if (take == 0)
                return GM_WS_OK;
            if (!gm_buf_reserve(b, take, (f->op & 0x8) ? 125 : f->max) || !gm_buf_append(b, p, take))
                return fail(f, GM_WS_NO_MEMORY, NULL);
            if (f->server)
                unmask(f, b->data + b->len - take, take);
            p += take;
            f->remain -= take;
            if (f->remain > 0)
                return GM_WS_OK;
        }
        st = end_frame(f, emit, ud);
        if (st != GM_WS_OK)
            return st;
    }
    return GM_WS_OK;
}

int gm_ws_random(unsigned char *p, size_t n)
{
    return RAND_bytes(p, (int)n) == 1;
}

int gm_ws_build(gm_buf *out, int op, const char *p, size_t n, int code, int mask)
{
    unsigned char head[14], key[4] = {0, 0, 0, 0};
    unsigned char mbit = mask ? 0x80 : 0;
    size_t hlen = 2, total = n + (code ? 2 : 0), i, start;
    unsigned char cb[2];

    if (mask && !gm_ws_random(key, sizeof key))
        return 0;
    head[0] = (unsigned char)(0x80 | (op & 0x0F));
    if (total < 126) {
        head[1] = (unsigned char)(mbit | total);
    } else if (total <= 0xFFFF) {
        head[1] = mbit | 126;
        head[2] = (unsigned char)(total >> 8);
        head[3] = (unsigned char)total;
        hlen = 4;
    } else {
        uint64_t t = total;
        head[1] = mbit | 127;
        for (i = 0; i < 8; i++)
            head[9 - i] = (unsigned char)(t >> (8 * i));
        hlen = 10;
    }
    if (mask) {
        memcpy(head + hlen, key, 4);
        hlen += 4;
    }
    if (!gm_buf_reserve(out, hlen + total, GM_BUF_NO_LIMIT))
        return 0;
    gm_buf_append(out, head, hlen);
    start = out->len;
    if (code) {
        cb[0] = (unsigned char)(code >> 8);
        cb[1] = (unsigned char)code;
        gm_buf_append(out, cb, 2);
    }
    if (n)
        gm_buf_append(out, p, n);
    for (i = 0; mask && i < total; i++)
        out->data[start + i] ^= (char)key[i & 3];
    return 1;
}

int gm_ws_new_key(char key[25])
{
    unsigned char raw[16];
    if (!gm_ws_random(raw, sizeof raw))
        return 0;
    return EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw) == 24;
}

int gm_ws_accept_for(const char *key, char accept[29])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha1(), NULL)
        && EVP_DigestUpdate(c, key, strlen(key))
        && EVP_DigestUpdate(c, GUID, sizeof GUID - 1)
        && EVP_DigestFinal_ex(c, digest, &dlen) && dlen == 20;
    EVP_MD_CTX_free(c);
    return ok && EVP_EncodeBlock((unsigned char *)accept, digest, 20) == 28;
}

/* ---- the Lua side ------------------------------------------------------- */

static const char *const KINDS[] = {"text", "binary", "close", "ping", "pong", NULL};
static const int OPS[] = {GM_WS_TEXT, GM_WS_BINARY, GM_WS_CLOSE, GM_WS_PING, GM_WS_PONG};

const char *gm_ws_kind(int op)
{
    size_t i;
    for (i = 0; KINDS[i] != NULL; i++)
        if (OPS[i] == op)
            return KINDS[i];
    return "?";
}

int gm_ws_check_kind(lua_State *L, int arg)
{
    return OPS[luaL_checkoption(L, arg, NULL, KINDS)];
}

/* The role of the options table at arg: 1 for "server", 0 for "client" (the default). */
static int role_option(lua_State *L, int arg)
{
    const char *role;
    int server = -1;
    if (lua_isnoneornil(L, arg))
        return 0;
    lua_getfield(L, arg, "role");
    role = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (lua_isnil(L, -1) || (role != NULL && strcmp(role, "client") == 0))
        server = 0;
    else if (role != NULL && strcmp(role, "server") == 0)
        server = 1;
    lua_pop(L, 1);
    if (server < 0)
        luaL_argerror(L, arg, "role must be \"client\" or \"server\"");
    return server;
}

size_t gm_ws_max_option(lua_State *L, int arg)
{
    size_t max = GM_WS_DEFAULT_MAX;
    if (lua_isnoneornil(L, arg))
        return max;
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_getfield(L, arg, "max_message_size");
    if (!lua_isnil(L, -1)) {
        lua_Number v = lua_tonumber(L, -1);
        if (!lua_isnumber(L, -1) || !(v >= 1 && v <= MAX_LIMIT))
            luaL_argerror(L, arg, "max_message_size must be a positive number");
        max = (size_t)v;
    }
    lua_pop(L, 1);
    return max;
}

int gm_ws_emit_triple(void *ud, int op, const char *data, size_t len, int code)
{
    gm_ws_sink *sink = ud;
    lua_State *L = sink->L;
    lua_pushstring(L, gm_ws_kind(op));
    lua_rawseti(L, sink->out, ++sink->count);
    lua_pushlstring(L, data, len);
    lua_rawseti(L, sink->out, ++sink->count);
    if (code)
        lua_pushinteger(L, code);
    else
        lua_pushboolean(L, 0);
    lua_rawseti(L, sink->out, ++sink->count);
    sink->events++;
    return 1;
}

static gm_ws *check_framer(lua_State *L)
{
    return (gm_ws *)luaL_checkudata(L, 1, FRAMER_MT);
}

static int framer_feed(lua_State *L)
{
    gm_ws *f = check_framer(L);
    size_t n;
    const char *p = luaL_checklstring(L, 2, &n);
    gm_ws_sink sink;
    int st;

    luaL_checktype(L, 3, LUA_TTABLE);
    sink.L = L;
    sink.out = 3;
    sink.count = 0;
    sink.events = 0;
    st = gm_ws_feed(f, p, n, gm_ws_emit_triple, &sink);
    if (st != GM_WS_OK) {
        char msg[160];
        gm_ws_message(f, st, msg, sizeof msg);
        if (st == GM_WS_NO_MEMORY)
            return luaL_error(L, "%s", msg);
        lua_pushnil(L);
        lua_pushstring(L, msg);
        lua_pushinteger(L, gm_ws_close_code(st));
        return 3;
    }
    lua_pushinteger(L, sink.events);
    return 1;
}

static int framer_reset(lua_State *L)
{
    gm_ws_reset(check_framer(L));
    return 0;
}

static int framer_gc(lua_State *L)
{
    gm_ws_free(check_framer(L));
    return 0;
}

static int framer_tostring(lua_State *L)
{
    gm_ws *f = check_framer(L);
    lua_pushfstring(L, "gemini.ws_framer (%s, %s): %p", f->server ? "server" : "client",
                    f->failed ? "failed" : f->closed ? "closed"
                    : (f->msg_op || f->hlen || f->in_frame) ? "mid-frame" : "idle", (void *)f);
    return 1;
}

static int ws_framer_new(lua_State *L)
{
    size_t max = gm_ws_max_option(L, 1);
    int server = role_option(L, 1);
    gm_ws *f = (gm_ws *)gm_newuserdata(L, sizeof *f);
    gm_ws_init(f, max, server);
    gm_setmetatable(L, FRAMER_MT);
    return 1;
}

/* One frame from the arguments kind, data [, code] at `arg`..arg+2,
 * masked or not. */
static int push_frame(lua_State *L, int arg, int mask)
{
    int op = gm_ws_check_kind(L, arg);
    size_t n;
    const char *p = luaL_optlstring(L, arg + 1, "", &n);
    int code = (int)luaL_optinteger(L, arg + 2, 0);
    gm_buf *b;

    if (code && (op != GM_WS_CLOSE || !sendable_code(code)))
        return luaL_argerror(L, arg + 2, "a close code (1000-1003, 1007-1014, 3000-4999) expected");
    if ((op & 0x8) && n + (code ? 2 : 0) > 125)
        return luaL_argerror(L, arg + 1, "a control frame carries at most 125 bytes");
    b = gm_buf_push(L);
    if (!gm_ws_build(b, op, p, n, code, mask))
        return luaL_error(L, "cannot build a WebSocket frame (no memory or no random key)");
    gm_buf_pushresult(L, b);
    return 1;
}

/* f:frame(kind, data [, code]): a frame of the framer's role. */
static int framer_frame(lua_State *L)
{
    return push_frame(L, 2, !check_framer(L)->server);
}

static int ws_frame(lua_State *L)
{
    return push_frame(L, 1, 1);
}

static int utf8_valid(lua_State *L)
{
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    lua_pushboolean(L, gm_ws_utf8(p, n));
    return 1;
}

static int ws_key(lua_State *L)
{
    char key[25];
    if (!gm_ws_new_key(key))
        return luaL_error(L, "no random bytes for a WebSocket key");
    lua_pushstring(L, key);
    return 1;
}

static int ws_accept(lua_State *L)
{
    char accept[29];
    if (!gm_ws_accept_for(luaL_checkstring(L, 1), accept))
        return luaL_error(L, "SHA-1 failed");
    lua_pushstring(L, accept);
    return 1;
}

void gemini_open_ws(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"feed", framer_feed},
        {"reset", framer_reset},
        {"frame", framer_frame},
        {NULL, NULL}
    };
    static const luaL_Reg meta[] = {
        {"__gc", framer_gc},
        {"__tostring", framer_tostring},
        {NULL, NULL}
    };
    static const luaL_Reg funcs[] = {
        {"ws_framer", ws_framer_new},
        {"ws_frame", ws_frame},
        {"ws_key", ws_key},
        {"ws_accept", ws_accept},
        {"utf8_valid", utf8_valid},
        {NULL, NULL}
    };
    gm_newclass(L, FRAMER_MT, methods, meta);
    gm_setfuncs(L, funcs, 0);
}
