/* A WebSocket client connection on libcurl (RFC 6455 section 4).
 *
 * Debian's libcurl 7.88 has no WebSocket API, so libcurl only makes the
 * connection (CURLOPT_CONNECT_ONLY: TCP, the proxy tunnel, TLS, with the
 * same options as every other call, gm_curl_connection_options), and
 * this file speaks HTTP/1.1 Upgrade and the frames over it with
 * curl_easy_send / curl_easy_recv, framed by the one parser of src/ws.c.
 *
 *   local c, kind, msg, status, body = core.ws_connect{ url =, target =,
 *       host =, headers = {"Name: value", ...}, connect_timeout =,
 *       timeout =, proxy =, ca_file =, verify =, max_message_size = }
 *       -- url: scheme://host[:port] to connect to; target: the request
 *       -- target (path?query); timeout: seconds for the handshake and for
 *       -- each send. On failure kind is "transport", "timeout" or
 *       -- "handshake" (status and body: a refusal's HTTP answer).
 *   c:fd()                         the socket, for an event loop to watch
 *   c:send(kind, data [, code])    one frame -> true | nil, kind, msg
 *   c:recv(out [, timeout_ms])     -> n events in out (triples kind, data,
 *                                  code as core.ws_framer's); 0: none yet
 *                                  | nil, kind, msg, code
 *   c:close([code [, reason]])     a close frame (unless one was sent),
 *                                  then the socket; harmless when repeated
 *                                  (__gc: the same with 1001, not waiting)
 *
 * recv never blocks longer than timeout_ms (default 0: not at all), so an
 * event loop calls it when the fd is readable. Pings are answered with
 * pongs here and not reported; a close from the server is answered with a
 * close echoing its code (7.1.5) and reported. A connection that ends
 * without a close frame gives nil, "closed", message, 1006 (7.1.5: "the
 * WebSocket Connection Close Code is considered to be 1006").
 *
 * The handshake (4.1): a GET with Upgrade: websocket, Connection: Upgrade,
 * Sec-WebSocket-Version: 13 and a fresh Sec-WebSocket-Key; the answer
 * must be 101 with Upgrade: websocket, a Connection header naming upgrade
 * and the Sec-WebSocket-Accept of that key, else the connection fails.
 * Header values are never put in a message (they may carry credentials).
 */
#include "core.h"
#include "http.h"
#include "ws.h"

#include <curl/curl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CONN_MT "gemini.core.ws_conn"
#define MAX_HEAD ((size_t)16 * 1024)   /* the handshake answer's header block */
#define MAX_REFUSAL ((size_t)64 * 1024) /* the body of a refusal that is kept */
#define MAX_SECONDS_WS 2147483.0        /* ms in a C int */

typedef struct {
    CURL *easy;             /* NULL once closed */
    curl_socket_t fd;
    gm_ws framer;
    gm_buf pending;         /* bytes read with the handshake answer, not yet framed */
    gm_buf out;             /* frames to send (a pong or close may be queued by recv) */
    int timeout_ms;         /* a send (and the handshake) may take this long */
    int close_sent, close_received, eof, broken;
    char errbuf[CURL_ERROR_SIZE];
} ws_conn;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Waits until fd is ready for `events` or deadline passes: 1 ready, 0 not. */
static int wait_fd(curl_socket_t fd, short events, double deadline)
{
    for (;;) {
        struct pollfd p;
        double left = deadline - now_ms();
        int rc;
        if (left <= 0)
            return 0;
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        rc = poll(&p, 1, (int)ceil(left));
        if (rc > 0)
            return 1;
        if (rc == 0)
            return 0;
    }
}

/* Sends every byte of p before the deadline: CURLE_OK, CURLE_OPERATION_TIMEDOUT
 * or libcurl's failure. */
static CURLcode send_all(ws_conn *c, const char *p, size_t n, double deadline)
{
    while (n > 0) {
        size_t sent = 0;
        CURLcode rc = curl_easy_send(c->easy, p, n, &sent);
        if (rc == CURLE_AGAIN) {
            if (!wait_fd(c->fd, POLLOUT, deadline))
                return CURLE_OPERATION_TIMEDOUT;
            continue;
        }
        if (rc != CURLE_OK)
            return rc;
        p += sent;
        n -= sent;
    }
    return CURLE_OK;
}

/* Sends the queued frames; a frame cut short leaves the stream unusable. */
static CURLcode flush_out(ws_conn *c)
{
    CURLcode rc;
    if (c->out.len == 0)
        return CURLE_OK;
    rc = send_all(c, c->out.data, c->out.len, now_ms() + c->timeout_ms);
    c->out.len = 0;
    if (rc != CURLE_OK)
        c->broken = 1;
    return rc;
}

static void conn_release(ws_conn *c)
{
    if (c->easy != NULL)
        curl_easy_cleanup(c->easy);
    c->easy = NULL;
    gm_ws_free(&c->framer);
    gm_buf_free(&c->pending);
    gm_buf_free(&c->out);
}

static ws_conn *check_conn(lua_State *L)
{
    return (ws_conn *)luaL_checkudata(L, 1, CONN_MT);
}

static ws_conn *check_open(lua_State *L)
{
    ws_conn *c = check_conn(L);
    if (c->easy == NULL)
        luaL_error(L, "WebSocket connection is closed");
    return c;
}

/* ---- the handshake -------------------------------------------------------- */

/* Pushes nil, kind, message (and the status and body of a refusal) and
 * frees the connection. */
static int connect_failed(lua_State *L, ws_conn *c, const char *kind, const char *msg,
                          long status, const char *body, size_t blen)
{
    lua_pushnil(L);
    lua_pushstring(L, kind);
    lua_pushstring(L, msg);
    if (status == 0) {
        conn_release(c);
        return 3;
    }
    lua_pushinteger(L, status);
    lua_pushlstring(L, body, blen);
    conn_release(c);
    return 5;
}

static int curl_failed(lua_State *L, ws_conn *c, CURLcode rc)
{
    char msg[CURL_ERROR_SIZE + 64];
    const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(msg, sizeof msg, "WebSocket handshake timed out");
        return connect_failed(L, c, "timeout", msg, 0, NULL, 0);
    }
    snprintf(msg, sizeof msg, "WebSocket connection failed: %s", detail);
    return connect_failed(L, c, "transport", msg, 0, NULL, 0);
}

/* The value of header `name` in a raw header block (after the status
 * line), or NULL; *len gets its length without surrounding blanks. */
static const char *header_value(const char *head, size_t hlen, const char *name, size_t *len)
{
    const char *p = memchr(head, '\n', hlen), *end = head + hlen;
    size_t nlen = strlen(name);
    while (p != NULL && ++p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *v;
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            v = p + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            *len = (size_t)(eol - v);
            while (*len > 0 && (v[*len - 1] == '\r' || v[*len - 1] == ' ' || v[*len - 1] == '\t'))
                (*len)--;
            return v;
        }
        p = eol;
    }
    return NULL;
}

/* Whether a comma-separated header value holds `token` (any case). */
static int has_token(const char *v, size_t len, const char *token)
{
    size_t tlen = strlen(token), i = 0;
    while (i < len) {
        size_t j = i, k;
        while (j < len && v[j] != ',')
            j++;
        while (i < j && (v[i] == ' ' || v[i] == '\t'))
            i++;
        k = j;
        while (k > i && (v[k - 1] == ' ' || v[k - 1] == '\t'))
            k--;
        if (k - i == tlen && strncasecmp(v + i, token, tlen) == 0)
            return 1;
        i = j + 1;
    }
    return 0;
}

/* Reads the answer's header block into c->pending; returns the block's
 * length (bytes past it stay in pending), 0 on a timeout, -1 on failure. */
static long read_head(ws_conn *c, double deadline, CURLcode *err)
{
    for (;;) {
        char buf[4096];
        size_t got = 0;
        char *end;
        CURLcode rc = curl_easy_recv(c->easy, buf, sizeof buf, &got);
        if (rc == CURLE_AGAIN) {
            if (!wait_fd(c->fd, POLLIN, deadline))
                return 0;
            continue;
        }
        if (rc != CURLE_OK || got == 0) {
            *err = rc != CURLE_OK ? rc : CURLE_GOT_NOTHING;
            return -1;
        }
        if (!gm_buf_append(&c->pending, buf, got)) {
            *err = CURLE_OUT_OF_MEMORY;
            return -1;
        }
        end = NULL;
        if (c->pending.len >= 4) {
            size_t i;
            for (i = 0; i + 4 <= c->pending.len; i++)
                if (memcmp(c->pending.data + i, "\r\n\r\n", 4) == 0) {
                    end = c->pending.data + i + 4;
                    break;
                }
        }
        if (end != NULL)
            return (long)(end - c->pending.data);
        if (c->pending.len > MAX_HEAD) {
            *err = CURLE_WEIRD_SERVER_REPLY;
            return -1;
        }
    }
}

/* Drops the first n bytes of a buffer. */
static void consume(gm_buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* A refusal (not 101): its body, up to its Content-Length or MAX_REFUSAL,
 * read until the deadline, for the caller's error. */
static int refused(lua_State *L, ws_conn *c, long status, size_t hlen, double deadline)
{
    char msg[96];
    size_t vlen = 0, want = MAX_REFUSAL;
    const char *cl = header_value(c->pending.data, hlen, "Content-Length", &vlen);
    if (cl != NULL) {
        char num[24];
        size_t n = vlen < sizeof num - 1 ? vlen : sizeof num - 1;
        memcpy(num, cl, n);
        num[n] = 0;
        want = (size_t)strtoul(num, NULL, 10);
        if (want > MAX_REFUSAL)
            want = MAX_REFUSAL;
    }
    consume(&c->pending, hlen);
    while (c->pending.len < want) {
        char buf[4096];
        size_t got = 0;
        CURLcode rc = curl_easy_recv(c->easy, buf, sizeof buf, &got);
        if (rc == CURLE_AGAIN) {
            if (!wait_fd(c->fd, POLLIN, deadline))
                break;
            continue;
        }
        if (rc != CURLE_OK || got == 0 || !gm_buf_append(&c->pending, buf, got))
            break;
    }
    snprintf(msg, sizeof msg, "WebSocket handshake refused: HTTP %ld", status);
    return connect_failed(L, c, "handshake", msg, status, c->pending.data ? c->pending.data : "",
                          c->pending.len < want ? c->pending.len : want);
}

/* Checks the 101 answer (4.1, the client's checks 1-4). NULL when good. */
static const char *bad_upgrade(const ws_conn *c, size_t hlen, const char *accept)
{
    size_t len = 0;
    const char *v = header_value(c->pending.data, hlen, "Upgrade", &len);
    if (v == NULL || !has_token(v, len, "websocket"))
        return "WebSocket handshake failed: no \"Upgrade: websocket\" in the answer";
    v = header_value(c->pending.data, hlen, "Connection", &len);
    if (v == NULL || !has_token(v, len, "upgrade"))
        return "WebSocket handshake failed: no \"Connection: Upgrade\" in the answer";
    v = header_value(c->pending.data, hlen, "Sec-WebSocket-Accept", &len);
    if (v == NULL || len != strlen(accept) || memcmp(v, accept, len) != 0)
        return "WebSocket handshake failed: Sec-WebSocket-Accept does not match the key";
    if (header_value(c->pending.data, hlen, "Sec-WebSocket-Extensions", &len) != NULL)
        return "WebSocket handshake failed: the server chose an extension the client did not offer";
    return NULL;
}

static double opt_seconds(lua_State *L, int t, const char *k, double def)
{
    double v;
    lua_getfield(L, t, k);
    v = lua_isnil(L, -1) ? def : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    if (!(v > 0))
        v = def;
    return v > MAX_SECONDS_WS ? MAX_SECONDS_WS : v;
}

static const char *field_string(lua_State *L, int t, const char *k)
{
    const char *s;
    lua_getfield(L, t, k);
    s = lua_tostring(L, -1);
    if (s == NULL)
        luaL_error(L, "ws_connect needs a string '%s'", k);
    lua_pop(L, 1);   /* the table keeps it alive */
    return s;
}

/* The request of the handshake, into b. */
static void build_request(lua_State *L, gm_buf *b, int t, const char *key)
{
    const char *target = field_string(L, t, "target"), *host = field_string(L, t, "host");
    const char *parts[] = {"GET ", target, " HTTP/1.1\r\nHost: ", host,
                           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ", key, "\r\n"};
    size_t i, n;
    for (i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (!gm_buf_append(b, parts[i], strlen(parts[i])))
            luaL_error(L, "not enough memory");
    lua_getfield(L, t, "headers");
    n = lua_istable(L, -1) ? gm_rawlen(L, -1) : 0;
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *h;
        lua_rawgeti(L, -1, (int)i);
        h = lua_tolstring(L, -1, &len);
        if (h == NULL || memchr(h, '\r', len) || memchr(h, '\n', len))
            luaL_error(L, "ws_connect: headers[%d] must be a string without line breaks", (int)i);
        if (!gm_buf_append(b, h, len) || !gm_buf_append(b, "\r\n", 2))
            luaL_error(L, "not enough memory");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (!gm_buf_append(b, "\r\n", 2))
        luaL_error(L, "not enough memory");
}

static int l_ws_connect(lua_State *L)
{
    ws_conn *c;
    gm_buf *req;
    char key[25], accept[29];
    double deadline;
    long hlen;
    CURLcode rc = CURLE_OK;
    curl_socket_t fd = CURL_SOCKET_BAD;
    const char *url, *why;

    luaL_checktype(L, 1, LUA_TTABLE);
    url = field_string(L, 1, "url");
    c = (ws_conn *)gm_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    gm_ws_init(&c->framer, gm_ws_max_option(L, 1));
    gm_setmetatable(L, CONN_MT);
    c->timeout_ms = (int)(opt_seconds(L, 1, "timeout", 30) * 1000);
    if (!gm_ws_new_key(key) || !gm_ws_accept_for(key, accept))
        return luaL_error(L, "no random bytes for a WebSocket key");
    req = gm_buf_push(L);
    build_request(L, req, 1, key);

    c->easy = curl_easy_init();
    if (c->easy == NULL)
        return luaL_error(L, "curl_easy_init failed");
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->easy, CURLOPT_CONNECT_ONLY, 1L);
    gm_curl_connection_options(L, c->easy, 1);
    lua_getfield(L, 1, "proxy");
    if (!lua_isnil(L, -1))   /* a raw byte stream through the proxy, not HTTP proxying */
        curl_easy_setopt(c->easy, CURLOPT_HTTPPROXYTUNNEL, 1L);
    lua_pop(L, 1);

    rc = curl_easy_perform(c->easy);
    if (rc != CURLE_OK)
        return curl_failed(L, c, rc);
    if (curl_easy_getinfo(c->easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD)
        return connect_failed(L, c, "transport", "WebSocket connection failed: no socket", 0, NULL, 0);
    c->fd = fd;
    deadline = now_ms() + c->timeout_ms;
    rc = send_all(c, req->data, req->len, deadline);
    gm_buf_free(req);
    if (rc != CURLE_OK)
        return curl_failed(L, c, rc);
    hlen = read_head(c, deadline, &rc);
    if (hlen == 0)
        return curl_failed(L, c, CURLE_OPERATION_TIMEDOUT);
    if (hlen < 0) {
        if (rc == CURLE_WEIRD_SERVER_REPLY)
            return connect_failed(L, c, "handshake", "WebSocket handshake failed: answer headers too large", 0, NULL, 0);
        if (rc == CURLE_GOT_NOTHING)
            return connect_failed(L, c, "transport", "WebSocket handshake failed: the server closed the connection", 0, NULL, 0);
        return curl_failed(L, c, rc);
    }
    {
        long status = 0;
        if (sscanf(c->pending.data, "HTTP/1.%*1[01] %3ld", &status) != 1)
            return connect_failed(L, c, "handshake", "WebSocket handshake failed: not an HTTP answer", 0, NULL, 0);
        if (status != 101)
            return refused(L, c, status, (size_t)hlen, deadline);
    }
    why = bad_upgrade(c, (size_t)hlen, accept);
    if (why != NULL)
        return connect_failed(L, c, "handshake", why, 0, NULL, 0);
    consume(&c->pending, (size_t)hlen);
    lua_settop(L, 2);   /* the connection */
    return 1;
}

/* ---- frames --------------------------------------------------------------- */

static int push_send_error(lua_State *L, CURLcode rc)
{
    lua_pushnil(L);
    lua_pushstring(L, rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "transport");
    lua_pushfstring(L, "WebSocket send failed: %s", rc == CURLE_OPERATION_TIMEDOUT
                    ? "timed out" : curl_easy_strerror(rc));
    return 3;
}

static int l_conn_send(lua_State *L)
{
    ws_conn *c = check_open(L);
    int op = gm_ws_check_kind(L, 2);
    size_t n;
    const char *p = luaL_optlstring(L, 3, "", &n);
    int code = (int)luaL_optinteger(L, 4, 0);
    CURLcode rc;

    if ((op & 0x8) && n + (code ? 2 : 0) > 125)
        return luaL_argerror(L, 3, "a control frame carries at most 125 bytes");
    if (c->broken || c->close_sent) {
        lua_pushnil(L);
        lua_pushstring(L, "closed");
        lua_pushstring(L, c->broken ? "WebSocket connection is broken" : "WebSocket close already sent");
        return 3;
    }
    if (!gm_ws_build(&c->out, op, p, n, code))
        return luaL_error(L, "cannot build a WebSocket frame (no memory or no random key)");
    if (op == GM_WS_CLOSE)
        c->close_sent = 1;
    rc = flush_out(c);
    if (rc != CURLE_OK)
        return push_send_error(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

typedef struct {
    gm_ws_sink sink;
    ws_conn *c;
} recv_ctx;

/* Data messages and closes go to Lua; a ping queues its pong, a close
 * our echo of it. */
static int on_event(void *ud, int op, const char *data, size_t len, int code)
{
    recv_ctx *r = ud;
    ws_conn *c = r->c;
    if (op == GM_WS_PING)
        return gm_ws_build(&c->out, GM_WS_PONG, data, len, 0);
    if (op == GM_WS_PONG)
        return 1;
    if (op == GM_WS_CLOSE) {
        c->close_received = 1;
        if (!c->close_sent) {
            c->close_sent = 1;
            if (!gm_ws_build(&c->out, GM_WS_CLOSE, "", 0, code == GM_WS_NO_STATUS ? 0 : code))
                return 0;
        }
    }
    return gm_ws_emit_triple(&r->sink, op, data, len, code);
}

static int push_recv_error(lua_State *L, const char *kind, const char *msg, int code)
{
    lua_pushnil(L);
    lua_pushstring(L, kind);
    lua_pushstring(L, msg);
    lua_pushinteger(L, code);
    return 4;
}

/* Frames n bytes: GM_WS_OK or the framer's failure (then the error is on
 * the stack: *nret values). */
static int frame(lua_State *L, recv_ctx *r, const char *p, size_t n, int *nret)
{
    ws_conn *c = r->c;
    int st = gm_ws_feed(&c->framer, p, n, on_event, r);
    if (st == GM_WS_OK)
        return GM_WS_OK;
    {
        char msg[160];
        gm_ws_message(&c->framer, st, msg, sizeof msg);
        if (st == GM_WS_NO_MEMORY)
            luaL_error(L, "%s", msg);
        /* Tell the server why, as 7.1.7 asks, then give up the stream. */
        if (!c->close_sent && gm_ws_build(&c->out, GM_WS_CLOSE, "", 0, st == GM_WS_TOO_BIG ? 1009 : 1002))
            c->close_sent = 1;
        flush_out(c);
        c->broken = 1;
        *nret = push_recv_error(L, "stream", msg, st == GM_WS_TOO_BIG ? 1009 : 1002);
    }
    return st;
}

static int l_conn_recv(lua_State *L)
{
    ws_conn *c = check_open(L);
    double wait = luaL_optnumber(L, 3, 0), deadline;
    recv_ctx r;
    int nret = 0;

    luaL_checktype(L, 2, LUA_TTABLE);
    if (c->broken)
        return push_recv_error(L, "closed", "WebSocket connection is broken", 1006);
    if (c->eof)
        return push_recv_error(L, "closed", "WebSocket connection closed without a close frame", 1006);
    r.sink.L = L;
    r.sink.out = 2;
    r.sink.count = 0;
    r.sink.events = 0;
    r.c = c;
    deadline = now_ms() + (wait > 0 ? wait : 0);
    if (c->pending.len > 0) {
        gm_buf held = c->pending;
        memset(&c->pending, 0, sizeof c->pending);
        if (frame(L, &r, held.data, held.len, &nret) != GM_WS_OK) {
            gm_buf_free(&held);
            return nret;
        }
        gm_buf_free(&held);
    }
    while (!c->close_received && r.sink.events < 64) {
        char buf[16384];
        size_t got = 0;
        CURLcode rc = curl_easy_recv(c->easy, buf, sizeof buf, &got);
        if (rc == CURLE_AGAIN) {
            /* Bytes that completed no event (a ping, half a frame) do not
             * end the wait: only an event, or the deadline, does. */
            if (r.sink.events > 0 || !wait_fd(c->fd, POLLIN, deadline))
                break;
            continue;
        }
        if (rc != CURLE_OK || got == 0) {
            c->eof = 1;
            if (r.sink.events > 0)
                break;
            if (rc != CURLE_OK)
                return push_recv_error(L, "closed", curl_easy_strerror(rc), 1006);
            return push_recv_error(L, "closed", "WebSocket connection closed without a close frame", 1006);
        }
        if (frame(L, &r, buf, got, &nret) != GM_WS_OK)
            return nret;
    }
    if (flush_out(c) != CURLE_OK && !c->close_received)
        return push_recv_error(L, "closed", "WebSocket connection lost while answering", 1006);
    lua_pushinteger(L, r.sink.events);
    return 1;
}

static int l_conn_fd(lua_State *L)
{
    ws_conn *c = check_open(L);
    lua_pushinteger(L, (lua_Integer)c->fd);
    return 1;
}

/* A close frame unless one was sent (best effort: within timeout_ms), then
 * the socket and the buffers. */
static void conn_close(ws_conn *c, int code, const char *reason, size_t n)
{
    if (c->easy == NULL)
        return;
    if (!c->close_sent && !c->broken && !c->eof) {
        c->close_sent = 1;
        if (gm_ws_build(&c->out, GM_WS_CLOSE, reason, n > 123 ? 123 : n, code))
            flush_out(c);
    }
    conn_release(c);
}

static int l_conn_close(lua_State *L)
{
    ws_conn *c = check_conn(L);
    int code = (int)luaL_optinteger(L, 2, 1000);
    size_t n;
    const char *reason = luaL_optlstring(L, 3, "", &n);
    conn_close(c, code, reason, n);
    return 0;
}

/* Dropped without close(): "going away" (1001), if the socket takes it
 * at once; the collector must not wait. */
static int l_conn_gc(lua_State *L)
{
    ws_conn *c = check_conn(L);
    c->timeout_ms = 0;
    conn_close(c, 1001, "", 0);
    return 0;
}

static int l_conn_tostring(lua_State *L)
{
    ws_conn *c = check_conn(L);
    lua_pushfstring(L, "gemini.ws_conn (%s): %p", c->easy == NULL ? "closed" : "open", (void *)c);
    return 1;
}

void gemini_open_ws_conn(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"send", l_conn_send},
        {"recv", l_conn_recv},
        {"fd", l_conn_fd},
        {"close", l_conn_close},
        {NULL, NULL}
    };
    static const luaL_Reg meta[] = {
        {"__gc", l_conn_gc},
        {"__tostring", l_conn_tostring},
        {NULL, NULL}
    };
    static const luaL_Reg funcs[] = {
        {"ws_connect", l_ws_connect},
        {NULL, NULL}
    };
    gm_newclass(L, CONN_MT, methods, meta);
    gm_setfuncs(L, funcs, 0);
}
