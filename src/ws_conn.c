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
 *       -- target (path?query); timeout: seconds for the handshake, and
 *       -- that a send may wait on a socket taking nothing. On failure kind is "transport", "timeout" or
 *       -- "handshake" (status and body: a refusal's HTTP answer).
 *   local c = core.ws_open{ same }  -- the same, without waiting: then
 *   c:step() -> true (open) | false, {fd, what, ...}, timeout_ms | nil, kind,
 *       msg [, status, body]      -- false: wait until one of those fds is
 *       ready ("r", "w", "rw") or timeout_ms passed, then step again
 *   c:fd()                         the socket (CURLINFO_ACTIVESOCKET)
 *   c:watch_fd()                   what an event loop watches for reading:
 *                                  after step, on Linux, an epoll descriptor
 *                                  holding the socket (see ws_conn.epfd)
 *   c:send(kind, data [, code [, nowait]])  one frame -> true | nil, kind,
 *                                  msg [, code] (blocking: a "timeout" when
 *                                  the socket took nothing for timeout);
 *                                  nowait: never waits -> true, bytes
 *                                  still queued (then c:flush as the
 *                                  watched descriptor is ready: while
 *                                  bytes wait, it watches writability too)
 *   c:flush()                      -> bytes still queued | nil, kind, msg
 *                                  [, code]
 *   c:recv(out [, timeout_ms])     -> n events in out (triples kind, data,
 *                                  code as core.ws_framer's); 0: none yet
 *                                  | nil, kind, msg, code
 *   c:close([code [, reason [, wait_ms]]])  a close frame (unless one was
 *                                  sent; waiting up to wait_ms, default
 *                                  timeout), then the socket; harmless
 *                                  when repeated
 *                                  (__gc: the same with 1001, not waiting)
 *
 * ws_connect is ws_open and its steps, waiting in between (poll, and
 * curl_multi_wait while libcurl connects); an event loop waits for them
 * itself. recv never blocks longer than timeout_ms (default 0: not at all), so an
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
#include <sys/select.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#define HAVE_EPOLL 1
#endif

#define CONN_MT "gemini.core.ws_conn"
#define MAX_HEAD ((size_t)16 * 1024)   /* the handshake answer's header block */
#define MAX_REFUSAL ((size_t)64 * 1024) /* the body of a refusal that is kept */

/* Where the handshake is (a connection is made step by step, so that an
 * event loop can wait for each step without blocking). */
enum { ST_CONNECT, ST_SEND, ST_HEAD, ST_BODY, ST_OPEN };

typedef struct {
    CURL *easy;             /* NULL once closed */
    CURLM *multi;           /* drives the connect (TCP, proxy, TLS) without blocking */
    int state;
    double deadline;        /* of the handshake, ms (gm_now_ms) */
    char accept[29];        /* the Sec-WebSocket-Accept the server owes */
    size_t sent;            /* bytes of the request (in out) sent */
    long status;            /* of a refusal */
    size_t want;            /* body bytes of a refusal to read */
    curl_socket_t fd;
    /* For an event loop (step, watch_fd): one epoll descriptor holding the
     * sockets waited for, so that the loop watches a descriptor that never
     * reports an error of its own (libuv reports a socket in error as
     * EBADF, which luv prints; src/http.c does the same). -1: none. */
    int epfd;
    int watched[8], nwatched;
    gm_ws framer;
    gm_buf pending;         /* bytes read with the handshake answer, not yet framed */
    gm_buf out;             /* frames to send (a pong or close may be queued by recv) */
    size_t out_off;         /* once open: bytes of out already written */
    int timeout_ms;         /* a send (and the handshake) may take this long */
    int close_sent, eof, broken;   /* a close from the server: framer.closed */
    char errbuf[CURL_ERROR_SIZE];
} ws_conn;

/* Waits until fd is ready for `events` or deadline passes: 1 ready, 0 not. */
static int wait_fd(curl_socket_t fd, short events, double deadline)
{
    for (;;) {
        struct pollfd p;
        double left = deadline - gm_now_ms();
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

/* Writes what the socket takes now of the queued frames (never waits):
 * CURLE_OK (the rest stays queued, in order) or libcurl's failure, after
 * which the stream is unusable (a frame may have been cut short). */
static CURLcode write_some(ws_conn *c)
{
    while (c->out_off < c->out.len) {
        size_t sent = 0;
        CURLcode rc = curl_easy_send(c->easy, c->out.data + c->out_off, c->out.len - c->out_off, &sent);
        if (rc == CURLE_AGAIN)
            return CURLE_OK;
        if (rc != CURLE_OK) {
            c->broken = 1;
            return rc;
        }
        c->out_off += sent;
    }
    c->out.len = 0;
    c->out_off = 0;
    return CURLE_OK;
}

/* Writes every queued frame, waiting while the socket takes nothing, up
 * to wait_ms each time (a large frame on a slow link is not cut short
 * while it moves): CURLE_OK, CURLE_OPERATION_TIMEDOUT or libcurl's
 * failure (the stream is then unusable: a frame may have been cut short). */
static CURLcode flush_out(ws_conn *c, int wait_ms)
{
    for (;;) {
        size_t before = c->out_off;
        CURLcode rc = write_some(c);
        if (rc != CURLE_OK || c->out.len == 0)
            return rc;
        if (c->out_off == before && !wait_fd(c->fd, POLLOUT, gm_now_ms() + wait_ms)) {
            c->broken = 1;
            return CURLE_OPERATION_TIMEDOUT;
        }
    }
}

static void conn_release(ws_conn *c)
{
    if (c->easy != NULL) {
        if (c->multi != NULL)
            curl_multi_remove_handle(c->multi, c->easy);
        curl_easy_cleanup(c->easy);
    }
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    c->multi = NULL;
    if (c->epfd >= 0)
        close(c->epfd);
    c->epfd = -1;
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
    if (c->state != ST_OPEN)
        luaL_error(L, "WebSocket connection is not open yet (step until it is)");
    return c;
}

/* ---- the handshake, step by step ----------------------------------------- */

/* Why a connect failed: kind, message, and a refusal's status (its body
 * is the connection's pending bytes). */
typedef struct {
    const char *kind;
    char msg[CURL_ERROR_SIZE + 64];
    long status;
} failure;

static int failed(failure *f, const char *kind, const char *msg)
{
    f->kind = kind;
    snprintf(f->msg, sizeof f->msg, "%s", msg);
    return -1;
}

static int curl_failed(ws_conn *c, failure *f, CURLcode rc)
{
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return failed(f, "timeout", "WebSocket handshake timed out");
    f->kind = "transport";
    snprintf(f->msg, sizeof f->msg, "WebSocket connection failed: %s",
             c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
    return -1;
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

/* Drops the first n bytes of a buffer. */
static void consume(gm_buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* Checks the 101 answer (4.1, the client's checks 1-4). NULL when good. */
static const char *bad_upgrade(const ws_conn *c, size_t hlen)
{
    size_t len = 0;
    const char *v = header_value(c->pending.data, hlen, "Upgrade", &len);
    if (v == NULL || !has_token(v, len, "websocket"))
        return "WebSocket handshake failed: no \"Upgrade: websocket\" in the answer";
    v = header_value(c->pending.data, hlen, "Connection", &len);
    if (v == NULL || !has_token(v, len, "upgrade"))
        return "WebSocket handshake failed: no \"Connection: Upgrade\" in the answer";
    v = header_value(c->pending.data, hlen, "Sec-WebSocket-Accept", &len);
    if (v == NULL || len != strlen(c->accept) || memcmp(v, c->accept, len) != 0)
        return "WebSocket handshake failed: Sec-WebSocket-Accept does not match the key";
    if (header_value(c->pending.data, hlen, "Sec-WebSocket-Extensions", &len) != NULL)
        return "WebSocket handshake failed: the server chose an extension the client did not offer";
    return NULL;
}

/* The status of "HTTP/1.x NNN ..." (the block is not NUL-terminated: no
 * sscanf), or 0. */
static long status_of(const char *p, size_t n)
{
    int i;
    long st = 0;
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return 0;
    for (i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        st = st * 10 + (p[i] - '0');
    }
    return st;
}

/* The header block (hlen bytes of pending) is in: a refusal's body is
 * read next, a 101 is checked. */
static int got_head(ws_conn *c, size_t hlen, failure *f)
{
    size_t vlen = 0;
    const char *cl, *why;
    c->status = status_of(c->pending.data, hlen);
    if (c->status == 0)
        return failed(f, "handshake", "WebSocket handshake failed: not an HTTP answer");
    if (c->status != 101) {
        c->want = MAX_REFUSAL;
        cl = header_value(c->pending.data, hlen, "Content-Length", &vlen);
        if (cl != NULL) {
            char num[24];
            size_t n = vlen < sizeof num - 1 ? vlen : sizeof num - 1;
            memcpy(num, cl, n);
            num[n] = 0;
            c->want = (size_t)strtoul(num, NULL, 10);
            if (c->want > MAX_REFUSAL)
                c->want = MAX_REFUSAL;
        }
        consume(&c->pending, hlen);
        c->state = ST_BODY;
        return 1;
    }
    why = bad_upgrade(c, hlen);
    if (why != NULL)
        return failed(f, "handshake", why);
    consume(&c->pending, hlen);
    c->state = ST_OPEN;
    return 1;
}

/* The end of a refusal's body (or of what came of it). */
static int refused(ws_conn *c, failure *f)
{
    f->kind = "handshake";
    f->status = c->status;
    if (c->pending.len > c->want)
        c->pending.len = c->want;
    snprintf(f->msg, sizeof f->msg, "WebSocket handshake refused: HTTP %ld", c->status);
    return -1;
}

/* Takes what the socket holds into pending: 1 some, 0 none yet, -1 the
 * end (*rc: CURLE_GOT_NOTHING for an orderly one). */
static int recv_some(ws_conn *c, CURLcode *rc)
{
    char buf[4096];
    size_t got = 0;
    *rc = curl_easy_recv(c->easy, buf, sizeof buf, &got);
    if (*rc == CURLE_AGAIN)
        return 0;
    if (*rc != CURLE_OK || got == 0) {
        if (*rc == CURLE_OK)
            *rc = CURLE_GOT_NOTHING;
        return -1;
    }
    if (!gm_buf_append(&c->pending, buf, got)) {
        *rc = CURLE_OUT_OF_MEMORY;
        return -1;
    }
    return 1;
}

/* The length of the header block in pending, or 0 while it is not all in. */
static size_t head_length(const ws_conn *c)
{
    size_t i;
    for (i = 0; i + 4 <= c->pending.len; i++)
        if (memcmp(c->pending.data + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    return 0;
}

/* Advances the handshake as far as it goes without waiting: 1 open, 0
 * waiting (for the connect, or the socket in c->state), -1 failed (*f). */
static int step(ws_conn *c, failure *f)
{
    CURLcode rc = CURLE_OK;
    size_t hlen;
    int r;
    if (gm_now_ms() > c->deadline && c->state != ST_OPEN)
        return c->state == ST_BODY ? refused(c, f) : curl_failed(c, f, CURLE_OPERATION_TIMEDOUT);
    for (;;) {
        switch (c->state) {
        case ST_CONNECT: {
            int running = 0, left = 0;
            CURLMsg *m;
            curl_multi_perform(c->multi, &running);
            m = curl_multi_info_read(c->multi, &left);
            if (m == NULL || m->msg != CURLMSG_DONE)
                return 0;
            if (m->data.result != CURLE_OK)
                return curl_failed(c, f, m->data.result);
            if (curl_easy_getinfo(c->easy, CURLINFO_ACTIVESOCKET, &c->fd) != CURLE_OK
                || c->fd == CURL_SOCKET_BAD)
                return failed(f, "transport", "WebSocket connection failed: no socket");
            c->state = ST_SEND;
            break;
        }
        case ST_SEND:
            while (c->sent < c->out.len) {
                size_t n = 0;
                rc = curl_easy_send(c->easy, c->out.data + c->sent, c->out.len - c->sent, &n);
                if (rc == CURLE_AGAIN)
                    return 0;
                if (rc != CURLE_OK)
                    return curl_failed(c, f, rc);
                c->sent += n;
            }
            c->out.len = 0;
            c->state = ST_HEAD;
            break;
        case ST_HEAD:
            r = recv_some(c, &rc);
            if (r == 0)
                return 0;
            if (r < 0) {
                if (rc == CURLE_GOT_NOTHING)
                    return failed(f, "transport", "WebSocket handshake failed: the server closed the connection");
                return curl_failed(c, f, rc);
            }
            hlen = head_length(c);
            if (hlen == 0) {
                if (c->pending.len > MAX_HEAD)
                    return failed(f, "handshake", "WebSocket handshake failed: answer headers too large");
                break;
            }
            if (got_head(c, hlen, f) < 0)
                return -1;
            break;
        case ST_BODY:
            if (c->pending.len >= c->want)
                return refused(c, f);
            r = recv_some(c, &rc);
            if (r == 0)
                return 0;
            if (r < 0)
                return refused(c, f);
            break;
        default:
            return 1;
        }
    }
}

static double opt_seconds(lua_State *L, int t, const char *k, double def)
{
    double v;
    lua_getfield(L, t, k);
    v = lua_isnil(L, -1) ? def : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    if (!(v > 0))
        v = def;
    return v > MAX_SECONDS ? MAX_SECONDS : v;
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

/* Pushes nil, kind, message (and a refusal's status and body); frees
 * the connection. */
static int push_failure(lua_State *L, ws_conn *c, const failure *f)
{
    lua_pushnil(L);
    lua_pushstring(L, f->kind);
    lua_pushstring(L, f->msg);
    if (f->status == 0) {
        conn_release(c);
        return 3;
    }
    lua_pushinteger(L, f->status);
    lua_pushlstring(L, c->pending.data ? c->pending.data : "", c->pending.len);
    conn_release(c);
    return 5;
}

/* core.ws_open{...}: a connection started, not waited for (see step). */
static int l_ws_open(lua_State *L)
{
    ws_conn *c;
    char key[25];
    const char *url;

    luaL_checktype(L, 1, LUA_TTABLE);
    url = field_string(L, 1, "url");
    c = (ws_conn *)gm_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    c->fd = CURL_SOCKET_BAD;
    c->epfd = -1;
    gm_ws_init(&c->framer, gm_ws_max_option(L, 1), 0);
    gm_setmetatable(L, CONN_MT);
    c->timeout_ms = (int)(opt_seconds(L, 1, "timeout", 30) * 1000);
    if (!gm_ws_new_key(key) || !gm_ws_accept_for(key, c->accept))
        return luaL_error(L, "no random bytes for a WebSocket key");
    build_request(L, &c->out, 1, key);

    c->multi = curl_multi_init();
    c->easy = curl_easy_init();
    if (c->multi == NULL || c->easy == NULL)
        return luaL_error(L, "curl_easy_init failed");
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->easy, CURLOPT_CONNECT_ONLY, 1L);
    gm_curl_connection_options(L, c->easy, 1);
    lua_getfield(L, 1, "proxy");
    if (!lua_isnil(L, -1))   /* a raw byte stream through the proxy, not HTTP proxying */
        curl_easy_setopt(c->easy, CURLOPT_HTTPPROXYTUNNEL, 1L);
    lua_pop(L, 1);
    if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK)
        return luaL_error(L, "curl_multi_add_handle failed");
    c->deadline = gm_now_ms() + c->timeout_ms;
    c->state = ST_CONNECT;
    return 1;
}

/* ms to wait at most before the next step (the deadline, and libcurl's
 * own timer while it connects). */
static int wait_ms(ws_conn *c)
{
    double left = c->deadline - gm_now_ms();
    long t = -1;
    if (left < 0)
        left = 0;
    if (c->state == ST_CONNECT && curl_multi_timeout(c->multi, &t) == CURLM_OK && t >= 0 && t < left)
        left = (double)t;
    return (int)ceil(left);
}

/* What the handshake waits for now: up to 8 (fd, events) pairs, events
 * of POLLIN/POLLOUT. */
static int waits(ws_conn *c, int fds[8], short evs[8])
{
    int n = 0;
    if (c->state == ST_CONNECT) {
        fd_set rd, wr, ex;
        int maxfd = -1, fd;
        FD_ZERO(&rd);
        FD_ZERO(&wr);
        FD_ZERO(&ex);
        curl_multi_fdset(c->multi, &rd, &wr, &ex, &maxfd);
        for (fd = 0; fd <= maxfd && n < 8; fd++) {
            short ev = (short)((FD_ISSET(fd, &rd) ? POLLIN : 0) | (FD_ISSET(fd, &wr) ? POLLOUT : 0));
            if (ev) {
                fds[n] = fd;
                evs[n++] = ev;
            }
        }
    } else {
        fds[0] = c->fd;
        evs[0] = c->state == ST_SEND ? POLLOUT : POLLIN;
        n = 1;
    }
    return n;
}

#ifdef HAVE_EPOLL
/* The epoll set holds exactly the n fds given (a descriptor libcurl
 * closed has left it by itself: errors are ignored). */
static void sync_epoll(ws_conn *c, const int *fds, const short *evs, int n)
{
    int i, j;
    for (i = 0; i < c->nwatched; i++) {
        int keep = 0;
        for (j = 0; j < n; j++)
            keep |= fds[j] == c->watched[i];
        if (!keep)
            epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->watched[i], NULL);
    }
    for (j = 0; j < n; j++) {
        struct epoll_event e;
        memset(&e, 0, sizeof e);
        e.events = ((evs[j] & POLLIN) ? EPOLLIN : 0) | ((evs[j] & POLLOUT) ? EPOLLOUT : 0);
        e.data.fd = fds[j];
        if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, fds[j], &e) != 0)
            epoll_ctl(c->epfd, EPOLL_CTL_ADD, fds[j], &e);
        c->watched[j] = fds[j];
    }
    c->nwatched = n;
}
#endif

/* Once open, the epoll set watches the socket for reading, and for
 * writing too while frames wait in out: so an event loop watching the
 * one descriptor (watch_fd) is woken to flush them (c:flush). */
static void watch_out(ws_conn *c)
{
#ifdef HAVE_EPOLL
    int fd = (int)c->fd;
    short ev = (short)(POLLIN | (c->out.len > 0 ? POLLOUT : 0));
    if (c->epfd >= 0 && c->state == ST_OPEN && c->easy != NULL)
        sync_epoll(c, &fd, &ev, 1);
#else
    (void)c;
#endif
}

/* c:step() -> true (open) | false, {fd, what, ...}, timeout_ms (wait for
 * any of those: what is "r", "w" or "rw"; on Linux one epoll descriptor,
 * "r") | nil, kind, msg [, status, body] */
static int l_conn_step(lua_State *L)
{
    ws_conn *c = check_conn(L);
    failure f;
    int r, fds[8], i, n;
    short evs[8];
    if (c->easy == NULL)
        return luaL_error(L, "WebSocket connection is closed");
    memset(&f, 0, sizeof f);
    r = step(c, &f);
    if (r < 0)
        return push_failure(L, c, &f);
    n = r > 0 ? 1 : waits(c, fds, evs);
    if (r > 0) {            /* from now on: the socket, readable */
        fds[0] = c->fd;
        evs[0] = POLLIN;
    }
#ifdef HAVE_EPOLL
    if (c->epfd < 0)
        c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->epfd >= 0)
        sync_epoll(c, fds, evs, n);
#endif
    if (r > 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_newtable(L);
    if (c->epfd >= 0) {
        lua_pushinteger(L, c->epfd);
        lua_rawseti(L, -2, 1);
        lua_pushliteral(L, "r");
        lua_rawseti(L, -2, 2);
    } else {
        for (i = 0; i < n; i++) {
            lua_pushinteger(L, fds[i]);
            lua_rawseti(L, -2, 2 * i + 1);
            lua_pushstring(L, evs[i] == (POLLIN | POLLOUT) ? "rw" : evs[i] == POLLIN ? "r" : "w");
            lua_rawseti(L, -2, 2 * i + 2);
        }
    }
    lua_pushinteger(L, wait_ms(c));
    return 3;
}

/* core.ws_connect{...}: ws_open, then its steps, waiting here. */
static int l_ws_connect(lua_State *L)
{
    ws_conn *c;
    failure f;
    l_ws_open(L);
    c = (ws_conn *)lua_touserdata(L, -1);
    memset(&f, 0, sizeof f);
    for (;;) {
        int r = step(c, &f), ms;
        if (r < 0)
            return push_failure(L, c, &f);
        if (r > 0)
            return 1;
        ms = wait_ms(c);
        if (c->state == ST_CONNECT)
            curl_multi_wait(c->multi, NULL, 0, ms > 100 ? 100 : ms, NULL);
        else
            wait_fd(c->fd, c->state == ST_SEND ? POLLOUT : POLLIN, gm_now_ms() + ms);
    }
}

/* ---- frames --------------------------------------------------------------- */

static int push_send_error(lua_State *L, CURLcode rc, int timeout_ms)
{
    lua_pushnil(L);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        lua_pushstring(L, "timeout");
        lua_pushfstring(L, "WebSocket send timed out: the socket took nothing for %f s",
                        timeout_ms / 1000.0);
        return 3;
    }
    lua_pushstring(L, "transport");
    lua_pushfstring(L, "WebSocket send failed: %s", curl_easy_strerror(rc));
    return 3;
}

static int push_recv_error(lua_State *L, const char *kind, const char *msg, int code)
{
    lua_pushnil(L);
    lua_pushstring(L, kind);
    lua_pushstring(L, msg);
    lua_pushinteger(L, code);
    return 4;
}

/* The framer's failure as recv's (and send's) error: nil, "stream", msg,
 * close code. */
static int push_framer_error(lua_State *L, ws_conn *c)
{
    char msg[160];
    gm_ws_message(&c->framer, c->framer.failed, msg, sizeof msg);
    return push_recv_error(L, "stream", msg, gm_ws_close_code(c->framer.failed));
}

/* c:send(kind, data [, code [, nowait]]): one frame, queued behind those
 * not written yet. Blocking (the default): every queued byte is written,
 * waiting at most timeout_ms while the socket takes nothing -> true. nowait (an event loop): what the socket takes
 * now is written -> true, the bytes still queued (then c:flush when the
 * watched descriptor is ready). */
static int l_conn_send(lua_State *L)
{
    ws_conn *c = check_open(L);
    int op = gm_ws_check_kind(L, 2);
    size_t n;
    const char *p = luaL_optlstring(L, 3, "", &n);
    int code = (int)luaL_optinteger(L, 4, 0);
    int nowait = lua_toboolean(L, 5);
    CURLcode rc;

    if ((op & 0x8) && n + (code ? 2 : 0) > 125)
        return luaL_argerror(L, 3, "a control frame carries at most 125 bytes");
    if (c->framer.failed)   /* why the stream was given up */
        return push_framer_error(L, c);
    if (c->broken || c->close_sent) {
        lua_pushnil(L);
        lua_pushstring(L, "closed");
        lua_pushstring(L, c->broken ? "WebSocket connection is broken" : "WebSocket close already sent");
        return 3;
    }
    if (!gm_ws_build(&c->out, op, p, n, code, 1))
        return luaL_error(L, "cannot build a WebSocket frame (no memory or no random key)");
    if (op == GM_WS_CLOSE)
        c->close_sent = 1;
    rc = nowait ? write_some(c) : flush_out(c, c->timeout_ms);
    watch_out(c);
    if (rc != CURLE_OK)
        return push_send_error(L, rc, c->timeout_ms);
    lua_pushboolean(L, 1);
    if (!nowait)
        return 1;
    lua_pushinteger(L, (lua_Integer)(c->out.len - c->out_off));
    return 2;
}

/* c:flush(): writes what the socket takes now of the queued frames ->
 * the bytes still queued | nil, kind, msg. */
static int l_conn_flush(lua_State *L)
{
    ws_conn *c = check_open(L);
    CURLcode rc;
    if (c->framer.failed)
        return push_framer_error(L, c);
    if (c->broken) {
        lua_pushnil(L);
        lua_pushstring(L, "closed");
        lua_pushstring(L, "WebSocket connection is broken");
        return 3;
    }
    rc = write_some(c);
    watch_out(c);
    if (rc != CURLE_OK)
        return push_send_error(L, rc, c->timeout_ms);
    lua_pushinteger(L, (lua_Integer)(c->out.len - c->out_off));
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
        return gm_ws_build(&c->out, GM_WS_PONG, data, len, 0, 1);
    if (op == GM_WS_PONG)
        return 1;
    if (op == GM_WS_CLOSE && !c->close_sent) {
        c->close_sent = 1;
        if (!gm_ws_build(&c->out, GM_WS_CLOSE, "", 0, code == GM_WS_NO_STATUS ? 0 : code, 1))
            return 0;
    }
    return gm_ws_emit_triple(&r->sink, op, data, len, code);
}

/* Frames n bytes: GM_WS_OK or the framer's failure (the server is told
 * why and the stream given up; the events before it still count). */
static int frame(lua_State *L, recv_ctx *r, const char *p, size_t n)
{
    ws_conn *c = r->c;
    int st = gm_ws_feed(&c->framer, p, n, on_event, r);
    if (st == GM_WS_OK)
        return GM_WS_OK;
    if (st == GM_WS_NO_MEMORY) {
        char msg[160];
        gm_ws_message(&c->framer, st, msg, sizeof msg);
        luaL_error(L, "%s", msg);
    }
    /* Tell the server why, as 7.1.7 asks, then give up the stream. */
    if (!c->close_sent && gm_ws_build(&c->out, GM_WS_CLOSE, "", 0, gm_ws_close_code(st), 1))
        c->close_sent = 1;
    write_some(c);
    c->broken = 1;
    return st;
}

/* recv's answer once the framer failed: the events it gave before, if
 * any (the failure comes with the next recv), else the failure. */
static int after_failure(lua_State *L, recv_ctx *r)
{
    if (r->sink.events == 0)
        return push_framer_error(L, r->c);
    lua_pushinteger(L, r->sink.events);
    return 1;
}

static int l_conn_recv(lua_State *L)
{
    ws_conn *c = check_open(L);
    double wait = luaL_optnumber(L, 3, 0), deadline;
    recv_ctx r;
    CURLcode wrc;

    luaL_checktype(L, 2, LUA_TTABLE);
    if (c->framer.failed)   /* reported once more: the events before it went first */
        return push_framer_error(L, c);
    if (c->broken)
        return push_recv_error(L, "closed", "WebSocket connection is broken", 1006);
    if (c->eof)
        return push_recv_error(L, "closed", "WebSocket connection closed without a close frame", 1006);
    r.sink.L = L;
    r.sink.out = 2;
    r.sink.count = 0;
    r.sink.events = 0;
    r.c = c;
    deadline = gm_now_ms() + (wait > 0 ? wait : 0);
    if (c->pending.len > 0) {
        /* The bytes read with the handshake answer, framed once: marked
         * used first, but still owned by c, so that a raise from frame()
         * (no memory) leaves them to conn_release instead of leaking. */
        size_t n = c->pending.len;
        int st;
        c->pending.len = 0;
        st = frame(L, &r, c->pending.data, n);
        gm_buf_free(&c->pending);
        if (st != GM_WS_OK)
            return after_failure(L, &r);
    }
    while (!c->framer.closed && r.sink.events < 64) {
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
        if (frame(L, &r, buf, got) != GM_WS_OK)
            return after_failure(L, &r);
    }
    /* Pongs and the close echo go out as the socket takes them (never
     * waiting here; what stays queued goes with the next send or flush). */
    wrc = write_some(c);
    watch_out(c);
    if (wrc != CURLE_OK && !c->framer.closed)
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

/* What an event loop watches for reading once the connection is open:
 * the epoll descriptor holding the socket (after step), else the socket. */
static int l_conn_watch_fd(lua_State *L)
{
    ws_conn *c = check_open(L);
    lua_pushinteger(L, (lua_Integer)(c->epfd >= 0 ? c->epfd : (int)c->fd));
    return 1;
}

/* A close frame unless one was sent (best effort: behind the frames still
 * queued, within wait_ms), then the socket and the buffers. */
static void conn_close(ws_conn *c, int code, const char *reason, size_t n, int wait_ms)
{
    if (c->easy == NULL)
        return;
    if (c->state == ST_OPEN && !c->close_sent && !c->broken && !c->eof) {
        c->close_sent = 1;
        if (gm_ws_build(&c->out, GM_WS_CLOSE, reason, n > 123 ? 123 : n, code, 1))
            flush_out(c, wait_ms);
    }
    conn_release(c);
}

/* c:close([code [, reason [, wait_ms]]]): wait_ms (default: the send
 * timeout) bounds the wait for the close frame to go out; 0 never waits
 * (an event loop). */
static int l_conn_close(lua_State *L)
{
    ws_conn *c = check_conn(L);
    int code = (int)luaL_optinteger(L, 2, 1000);
    size_t n;
    const char *reason = luaL_optlstring(L, 3, "", &n);
    lua_Integer wait_ms = luaL_optinteger(L, 4, c->timeout_ms);
    conn_close(c, code, reason, n, wait_ms < 0 ? 0 : wait_ms > c->timeout_ms ? c->timeout_ms : (int)wait_ms);
    return 0;
}

/* Dropped without close(): "going away" (1001), if the socket takes it
 * at once; the collector must not wait. */
static int l_conn_gc(lua_State *L)
{
    ws_conn *c = check_conn(L);
    conn_close(c, 1001, "", 0, 0);
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
        {"watch_fd", l_conn_watch_fd},
        {"close", l_conn_close},
        {"flush", l_conn_flush},
        {"step", l_conn_step},
        {NULL, NULL}
    };
    static const luaL_Reg meta[] = {
        {"__gc", l_conn_gc},
        {"__tostring", l_conn_tostring},
        {NULL, NULL}
    };
    static const luaL_Reg funcs[] = {
        {"ws_connect", l_ws_connect},
        {"ws_open", l_ws_open},
        {NULL, NULL}
    };
    gm_newclass(L, CONN_MT, methods, meta);
    gm_setfuncs(L, funcs, 0);
}
