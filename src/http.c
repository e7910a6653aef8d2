/* HTTP transport of gemini.core, on libcurl's multi interface.
 *
 * A session owns one CURLM: its connection cache is the client's connection
 * pool (keep-alive reuse, HTTP/2 multiplexing where the server offers it).
 * A request owns one CURL easy handle attached to its session's multi.
 *
 * Requests never call into Lua from libcurl callbacks: the callbacks only
 * fill C buffers, and Lua asks for what has arrived (status, headers, body
 * bytes, error) between drives. That keeps libcurl's stack free of longjmp
 * and lets the same request object serve every way of driving the multi:
 *   - blocking: req:await() runs curl_multi_perform/curl_multi_poll itself;
 *   - an external event loop: the session records socket and timer
 *     interest in C arrays, Lua applies it to its loop's handles and drives
 *     the session with sess:socket_action() (see the "event loop" section
 *     below).
 *
 *   local sess = core.session()
 *   local req  = sess:request{ method=, url=, headers={"k: v",...}, body=,
 *                              body_file=, body_offset=, body_length=,
 *                              timeout=, connect_timeout=, stall_timeout=,
 *                              proxy=, ca_file=, verify=, max_body=,
 *                              fresh_connect=, streamed= }
 *   req:await("headers"|"data"|"done" [, timeout_ms]) -> ready (boolean)
 *   req:status(), req:headers(), req:take(), req:error(), req:is_done(),
 *   req:progress(), req:close(), req:id(), req:check_stall()
 *
 *   -- a Server-Sent-Events body, framed in C as it arrives (blocking mode):
 *   req:frame_sse{ max_event_size=, lenient= }  -- from now on, instead of take:
 *   req:take_events(queue) -> n      -- event data in queue[1..n] (nil: none yet)
 *   req:finish_sse() -> data | nil   -- at the end: an event the body cut off
 *
 *   -- event-loop mode (no sess:step / req:await on such a session):
 *   sess:watch([aggregate]) -> fd | nil  -- fd: one descriptor for all sockets
 *   sess:ready_action()             -- that fd is readable (epoll)
 *   sess:socket_action(fd, flags)   -- else, per socket: flags of core.POLL_IN,
 *                                      core.POLL_OUT, core.POLL_ERR
 *   sess:timeout_action()
 *   sess:take_changes() -> {fd, what, fd, what, ...} | nil, timer_ms | nil
 *                          (what: POLL_IN, POLL_OUT or both; 0: no longer watched)
 *   sess:take_events()  -> {id, ...} | nil   (requests that progressed)
 *
 *   core.MAX_SECONDS   the longest timeout a request keeps (longer ones are cut)
 */
#include "core.h"
#include "http.h"
#include "sse.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#define HAVE_EPOLL 1
#endif

#define SESSION_MT "gemini.core.session"
#define REQUEST_MT "gemini.core.request"

/* Body bytes a streamed request may hold untaken before it is paused. */
#define FLOW_LIMIT ((size_t)256 * 1024)

/* ---- types --------------------------------------------------------------- */

/* A change of socket interest asked for by libcurl: what is 0 (stop
 * watching), 1 (readable), 2 (writable) or 3 (both). */
typedef struct {
    int fd, what;
} sock_change;

typedef struct session {
    CURLM *multi;
    int next_id;            /* request ids, for take_events */
    /* Event-loop mode: libcurl's socket and timer callbacks only record
     * here; Lua takes the records after each action and applies them. */
    int watching;
    gm_buf changes;         /* sock_change records */
    gm_buf events;          /* ids (int) of requests that progressed, in order */
    long timer_ms;
    int timer_changed;
    int oom;                /* a record could not be stored */
    int epfd;               /* with epoll: libcurl's sockets, watched in C; else -1 */
    int watch_errno;        /* epoll_ctl failed with this */
} session;

typedef struct request {
    CURL *easy;
    session *sess;          /* kept alive by sess_ref */
    int sess_ref;
    int body_ref;           /* the request body string, kept alive for curl */
    struct curl_slist *headers;
    int fd;                 /* body_file, read with pread */
    curl_off_t file_offset, file_length, file_pos;

    int id;                 /* unique in its session */
    long status;
    int headers_done;       /* a final (non-1xx) header block has ended */
    gm_buf head;            /* raw header block of the final response */
    gm_buf body;            /* body bytes not yet taken */
    size_t received, max_body;
    int overflow;
    int streamed;           /* the body is taken piece by piece (a stream) */
    int paused;             /* paused by on_body until the next take() */
    /* With frame_sse, the body goes through the framer instead of `body`,
     * and `events` holds the events not yet taken, each as its size_t
     * length and its bytes. sse_status is the framer's failure, which
     * ends the transfer, and sse_error its message. */
    gm_sse *sse;
    gm_buf events;
    int sse_status;
    char sse_error[64];

    double stall_ms;        /* fail when no byte arrives for this long */
    double last_byte_ms;    /* when the last byte arrived (or the start) */

    int attached;           /* in the multi */
    int done;
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
} request;

/* In event-loop mode, remembers that a request has something new (headers,
 * body bytes, its end) for the next sess:take_events(). */
static void note_progress(request *r)
{
    session *s = r->sess;
    const int *ids;
    size_t n;
    if (s == NULL || !s->watching)
        return;
    ids = (const int *)s->events.data;
    n = s->events.len / sizeof *ids;
    if (n > 0 && ids[n - 1] == r->id)
        return;     /* consecutive duplicates are common: one per body piece */
    if (!gm_buf_append(&s->events, &r->id, sizeof r->id))
        s->oom = 1;
}

/* ---- libcurl callbacks: fill buffers only ------------------------------- */

/* The framer's emit function: queues one event for take_events. */
static int queue_event(void *ud, const char *data, size_t len)
{
    request *r = ud;
    return gm_buf_append(&r->events, (const char *)&len, sizeof len)
        && gm_buf_append(&r->events, data, len);
}

/* Frames body bytes into events; 0 (the transfer must end) when the
 * framer fails. */
static int frame_body(request *r, const char *p, size_t len)
{
    int st = gm_sse_feed(r->sse, p, len, queue_event, r);
    if (st == GM_SSE_OK)
        return 1;
    r->sse_status = st;
    gm_sse_message(r->sse, st, r->sse_error, sizeof r->sse_error);
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    request *r = ud;
    size_t len = size * n;
    size_t waiting = r->sse != NULL ? r->events.len : r->body.len;
    r->headers_done = 1;
    r->last_byte_ms = gm_now_ms();
    /* Flow control: a stream whose reader is behind is paused rather than
     * buffered, so a fast server cannot fill memory (one curl_multi_perform
     * may read megabytes). libcurl keeps these bytes and hands them over
     * again after take() resumes it. Blocking mode only: an event loop
     * would not hear of the resumption. */
    if (r->streamed && waiting >= FLOW_LIMIT && !r->sess->watching) {
        r->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (r->max_body && r->received + len > r->max_body) {
        r->overflow = 1;
        return 0;           /* makes curl fail with CURLE_WRITE_ERROR */
    }
    r->received += len;
    if (r->sse != NULL ? !frame_body(r, p, len) : !gm_buf_append(&r->body, p, len))
        return 0;
    note_progress(r);
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    request *r = ud;
    size_t len = size * n;
    r->last_byte_ms = gm_now_ms();
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* A new status line: a 1xx or a proxy CONNECT answer came first. */
        r->head.len = 0;
        r->headers_done = 0;
    }
    if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200) {
            r->status = code;
            r->headers_done = 1;
            note_progress(r);
        }
        return len;
    }
    return gm_buf_append(&r->head, p, len) ? len : 0;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    request *r = ud;
    size_t want = size * n;
    curl_off_t left = r->file_length - r->file_pos;
    ssize_t got;
    if (left <= 0)
        return 0;
    if ((curl_off_t)want > left)
        want = (size_t)left;
    do {
        got = pread(r->fd, buf, want, (off_t)(r->file_offset + r->file_pos));
    } while (got < 0 && errno == EINTR);
    if (got <= 0)
        return CURL_READFUNC_ABORT;     /* file shrank or failed: never send short */
    r->file_pos += got;
    return (size_t)got;
}

/* libcurl rewinds the body when it re-sends a request (a reused connection
 * that turned out dead): seek within this request's slice of the file. */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    request *r = ud;
    if (origin != SEEK_SET || offset < 0 || offset > r->file_length)
        return CURL_SEEKFUNC_FAIL;
    r->file_pos = offset;
    return CURL_SEEKFUNC_OK;
}

/* ---- helpers -------------------------------------------------------------- */

static session *check_session(lua_State *L, int i)
{
    session *s = luaL_checkudata(L, i, SESSION_MT);
    if (s->multi == NULL)
        luaL_error(L, "session is closed");
    return s;
}

static request *check_request(lua_State *L, int i)
{
    return luaL_checkudata(L, i, REQUEST_MT);
}

/* The largest byte count or offset: exact in a double, and within size_t
 * and curl_off_t. */
#define MAX_BYTES ((double)SIZE_MAX < 9007199254740992.0 ? (double)SIZE_MAX : 9007199254740992.0)

/* A number option >= 0, at most `max`: NaN and negative numbers are
 * refused, larger ones clamped, so that converting it to an integer type
 * is defined (a double out of the type's range is undefined behaviour;
 * math.huge or 1e300 for a timeout would be). */
static double opt_number(lua_State *L, int t, const char *k, double def, double max)
{
    double v;
    lua_getfield(L, t, k);
    /* luaL_checknumber here would blame "bad argument #-1 to '?'" */
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "request option '%s' must be a number", k);
    v = lua_isnil(L, -1) ? def : lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(v >= 0))
        luaL_error(L, "request option '%s' must be a number >= 0", k);
    return v > max ? max : v;
}

static const char *opt_string(lua_State *L, int t, const char *k, size_t *len)
{
    const char *v = NULL;
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "request option '%s' must be a string", k);
        v = lua_tolstring(L, -1, len);
    }
    lua_pop(L, 1);  /* the string stays alive: the caller keeps the table */
    return v;
}

/* Collects messages of finished transfers into their request objects;
 * returns how many finished. */
static int collect_done(session *s)
{
    CURLMsg *msg;
    int left, n = 0;
    while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
        request *r = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r == NULL)
            continue;
        r->done = 1;
        r->result = msg->data.result;
        if (r->status == 0)
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
        if (r->result == CURLE_OK)
            r->headers_done = 1;
        note_progress(r);
        n++;
    }
    return n;
}

static void request_detach(request *r)
{
    /* A closed session's multi already let go of its handles. */
    if (r->attached && r->sess->multi != NULL) {
        curl_multi_remove_handle(r->sess->multi, r->easy);
        r->attached = 0;
    }
}

/* Releases everything a request owns. Safe to call more than once. */
static void request_release(lua_State *L, request *r)
{
    if (r->easy != NULL) {
        request_detach(r);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    if (r->headers != NULL) {
        curl_slist_free_all(r->headers);
        r->headers = NULL;
    }
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    gm_buf_free(&r->head);
    gm_buf_free(&r->body);
    gm_buf_free(&r->events);
    if (r->sse != NULL) {
        gm_sse_free(r->sse);
        free(r->sse);
        r->sse = NULL;
    }
    luaL_unref(L, LUA_REGISTRYINDEX, r->body_ref);
    r->body_ref = LUA_NOREF;
    luaL_unref(L, LUA_REGISTRYINDEX, r->sess_ref);
    r->sess_ref = LUA_NOREF;
    if (!r->done) {
        r->done = 1;
        r->result = CURLE_ABORTED_BY_CALLBACK;
        strcpy(r->errbuf, "request closed");
    }
}

/* Ends a transfer that has received nothing for stall_ms; returns whether
 * it did. */
static int check_stall(request *r)
{
    if (r->done || r->stall_ms <= 0 || gm_now_ms() - r->last_byte_ms < r->stall_ms)
        return 0;
    request_detach(r);
    r->done = 1;
    r->result = CURLE_OPERATION_TIMEDOUT;
    snprintf(r->errbuf, sizeof r->errbuf,
             "no data received for %.3g s (stall_timeout)", r->stall_ms / 1000);
    return 1;
}

double gm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- session ---------------------------------------------------------------- */

static int l_session(lua_State *L)
{
    session *s = gm_newuserdata(L, sizeof *s);
    memset(s, 0, sizeof *s);
    s->epfd = -1;
    s->multi = curl_multi_init();
    if (s->multi == NULL)
        return luaL_error(L, "curl_multi_init failed");
    gm_setmetatable(L, SESSION_MT);
    curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    return 1;
}

static int l_session_close(lua_State *L)
{
    session *s = luaL_checkudata(L, 1, SESSION_MT);
    if (s->multi != NULL) {
        /* Requests keep their session alive through a reference, so by the
         * time a session is collected no attached request is left. */
        curl_multi_cleanup(s->multi);
        s->multi = NULL;
    }
    /* After the cleanup: it may still report sockets going away. */
    if (s->epfd >= 0) {
        close(s->epfd);
        s->epfd = -1;
    }
    gm_buf_free(&s->changes);
    gm_buf_free(&s->events);
    return 0;
}

static void set_headers(lua_State *L, request *r, int t)
{
    lua_getfield(L, t, "headers");
    if (!lua_isnil(L, -1)) {
        int i, n;
        luaL_checktype(L, -1, LUA_TTABLE);
        n = (int)gm_rawlen(L, -1);
        for (i = 1; i <= n; i++) {
            struct curl_slist *next;
            lua_rawgeti(L, -1, i);
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "request headers[%d] must be a string", i);
            next = curl_slist_append(r->headers, lua_tostring(L, -1));
            if (next == NULL)
                luaL_error(L, "out of memory");
            r->headers = next;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    /* No "Expect: 100-continue" round trip before a large body. */
    r->headers = curl_slist_append(r->headers, "Expect:");
}

static void set_body(lua_State *L, request *r, int t, const char *method)
{
    size_t len = 0;
    const char *file = opt_string(L, t, "body_file", NULL);
    if (file != NULL) {
        r->fd = open(file, O_RDONLY);
        if (r->fd < 0)
            luaL_error(L, "cannot open body_file: %s", strerror(errno));
        r->file_offset = (curl_off_t)opt_number(L, t, "body_offset", 0, MAX_BYTES);
        r->file_length = (curl_off_t)opt_number(L, t, "body_length", 0, MAX_BYTES);
        curl_easy_setopt(r->easy, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(r->easy, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(r->easy, CURLOPT_READDATA, r);
        curl_easy_setopt(r->easy, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(r->easy, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(r->easy, CURLOPT_INFILESIZE_LARGE, r->file_length);
        return;
    }
    lua_getfield(L, t, "body");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0) {
            curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, 0L);
            curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, "");
        }
        return;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "request body must be a string");
    lua_tolstring(L, -1, &len);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, lua_tostring(L, -1));
    r->body_ref = luaL_ref(L, LUA_REGISTRYINDEX);   /* pops the body */
}

void gm_curl_connection_options(lua_State *L, CURL *easy, int t)
{
    double connect_timeout = opt_number(L, t, "connect_timeout", 0, MAX_SECONDS);
    const char *proxy = opt_string(L, t, "proxy", NULL);
    const char *ca_file = opt_string(L, t, "ca_file", NULL);
    int verify;

    lua_getfield(L, t, "verify");
    verify = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (connect_timeout > 0)
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(connect_timeout * 1000));
    if (proxy != NULL)
        curl_easy_setopt(easy, CURLOPT_PROXY, proxy);
    if (ca_file != NULL)
        curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
}

static int l_session_request(lua_State *L)
{
    session *s = check_session(L, 1);
    request *r;
    const char *url, *method;
    double timeout, stall;

    luaL_checktype(L, 2, LUA_TTABLE);
    r = gm_newuserdata(L, sizeof *r);
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->sess_ref = r->body_ref = LUA_NOREF;
    gm_setmetatable(L, REQUEST_MT);
    r->easy = curl_easy_init();
    if (r->easy == NULL)
        return luaL_error(L, "curl_easy_init failed");
    r->sess = s;
    r->id = ++s->next_id;
    lua_pushvalue(L, 1);
    r->sess_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    url = opt_string(L, 2, "url", NULL);
    if (url == NULL)
        return luaL_error(L, "request needs a url");
    method = opt_string(L, 2, "method", NULL);
    if (method == NULL)
        method = "GET";
    /* 0: none. */
    timeout = opt_number(L, 2, "timeout", 0, MAX_SECONDS);
    stall = opt_number(L, 2, "stall_timeout", 0, MAX_SECONDS);
    r->max_body = (size_t)opt_number(L, 2, "max_body", 0, MAX_BYTES);
    /* A body read piece by piece is under flow control from its first
     * byte: one curl_multi_perform waiting for the headers may read on
     * into the body. (Else it starts with the first take.) */
    lua_getfield(L, 2, "streamed");
    r->streamed = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 2, "fresh_connect");
    if (lua_toboolean(L, -1)) {
        /* A connection of its own, closed afterwards: libcurl re-sends a
         * request by itself (body and all) only over a reused connection
         * that died before the answer. */
        curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, 1L);
    }
    lua_pop(L, 1);

    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    gm_curl_connection_options(L, r->easy, 2);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Over TLS the server may offer HTTP/2: a transfer started while the
     * session's connection is still being set up waits to learn whether it
     * can share it, rather than opening its own (50 calls at once would
     * otherwise pay 50 handshakes and keep 50 connections). Plain http://
     * is HTTP/1.1 here, where waiting would only delay the first calls
     * until the first answer. */
    if (strncasecmp(url, "https://", 8) == 0)
        curl_easy_setopt(r->easy, CURLOPT_PIPEWAIT, 1L);
    if (timeout > 0)
        curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)ceil(timeout * 1000));
    /* Not CURLOPT_LOW_SPEED_*: libcurl averages the speed over several
     * seconds, so a burst followed by silence is noticed far too late. */
    r->stall_ms = stall > 0 ? stall * 1000 : 0;
    r->last_byte_ms = gm_now_ms();

    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") != 0)
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
    set_body(L, r, 2, method);
    set_headers(L, r, 2);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);

    if (curl_multi_add_handle(s->multi, r->easy) != CURLM_OK)
        return luaL_error(L, "curl_multi_add_handle failed");
    r->attached = 1;
    lua_settop(L, 3);
    return 1;
}

/* Runs whatever transfers are ready, without waiting; *finished gets
 * how many ended. Returns how many still run. */
static int session_perform(session *s, int *finished)
{
    int running = 0;
    curl_multi_perform(s->multi, &running);
    *finished = collect_done(s);
    return running;
}

/* One round of work: run what is ready and, unless that ended a transfer
 * (its owner has work to do now: hand over the answer, start the next
 * call), wait up to timeout_ms for sockets and run again. */
static int session_step(session *s, int timeout_ms)
{
    int finished;
    int running = session_perform(s, &finished);
    if (running > 0 && timeout_ms > 0 && finished == 0) {
        curl_multi_poll(s->multi, NULL, 0, timeout_ms, NULL);
        running = session_perform(s, &finished);
    }
    return running;
}

static int l_session_step(lua_State *L)
{
    session *s = check_session(L, 1);
    if (s->watching)
        return luaL_error(L, "step on a session driven by an event loop");
    int timeout_ms = (int)luaL_optinteger(L, 2, 1000);
    lua_pushinteger(L, session_step(s, timeout_ms));
    return 1;
}

/* ---- event loop ------------------------------------------------------------ */

/* Where epoll exists, the session watches libcurl's sockets itself, in one
 * epoll set, and the loop watches only that set's descriptor (readable when
 * a socket is ready). A poll handle of the loop on each socket would do,
 * but libuv reports a socket with an error (a refused connection, a reset)
 * as UV_EBADF, and luv prints "EBADF: bad file descriptor" on stderr for
 * it, once per failed connection: on the editor's screen in Neovim. The
 * epoll descriptor itself never has an error. epoll_ctl is a plain system
 * call, safe inside libcurl's callback; a socket libcurl closed is already
 * gone from the set (the kernel drops it), so stale interest cannot arise.
 * Elsewhere the changes are recorded for the loop to apply per socket. */
#ifdef HAVE_EPOLL
static int epoll_watch(session *s, curl_socket_t fd, int what)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    if (what == CURL_POLL_REMOVE) {
        /* Fails when libcurl has closed the socket already: nothing to do. */
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, &ev);
        return 0;
    }
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    ev.data.fd = fd;
    if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev) == 0
        || (errno == ENOENT && epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) == 0))
        return 0;
    s->watch_errno = errno;
    return -1;
}
#endif

/* What a socket is ready for (socket_action) or watched for (take_changes):
 * bit flags, exported as core.POLL_IN, core.POLL_OUT and core.POLL_ERR. */
#define GM_POLL_IN 1
#define GM_POLL_OUT 2
#define GM_POLL_ERR 4

/* libcurl's socket callback. It runs inside libcurl (during an action, an
 * add or a remove), where calling into Lua is not safe, so it only records
 * the change; the order is kept, because a socket number that was removed
 * may come back at once as a new connection. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *sockp)
{
    session *s = ud;
    sock_change c;
    (void)easy;
    (void)sockp;
#ifdef HAVE_EPOLL
    if (s->epfd >= 0)
        return epoll_watch(s, fd, what);
#endif
    c.fd = (int)fd;
    c.what = 0;
    if (what == CURL_POLL_IN)
        c.what = GM_POLL_IN;
    else if (what == CURL_POLL_OUT)
        c.what = GM_POLL_OUT;
    else if (what == CURL_POLL_INOUT)
        c.what = GM_POLL_IN | GM_POLL_OUT;
    if (!gm_buf_append(&s->changes, &c, sizeof c)) {
        s->oom = 1;
        return -1;
    }
    return 0;
}

/* libcurl's timer callback: only the latest value matters. */
static int on_timer(CURLM *multi, long timeout_ms, void *ud)
{
    session *s = ud;
    (void)multi;
    s->timer_ms = timeout_ms;
    s->timer_changed = 1;
    return 0;
}

/* Switches the session to event-loop mode. Call it before the first
 * request; from then on the session is driven by ready_action (or
 * socket_action) and timeout_action only. Returns the descriptor to watch
 * for reading when the session watches its sockets itself (then call
 * ready_action when it is readable); else nothing (then apply the socket
 * changes of take_changes). watch(false) asks for the changes even where
 * epoll exists (the specs cover that path on Linux too). */
static int l_session_watch(lua_State *L)
{
    session *s = check_session(L, 1);
    if (!s->watching) {
#ifdef HAVE_EPOLL
        if (lua_isnone(L, 2) || lua_toboolean(L, 2)) {
            s->epfd = epoll_create1(EPOLL_CLOEXEC);
            if (s->epfd < 0)
                return luaL_error(L, "epoll_create1 failed: %s", strerror(errno));
        }
#endif
        curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
        curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
        s->watching = 1;
    }
    if (s->epfd < 0)
        return 0;
    lua_pushinteger(L, s->epfd);
    return 1;
}

static int session_action(lua_State *L, session *s, curl_socket_t fd, int ev)
{
    int running = 0;
    if (!s->watching)
        return luaL_error(L, "session is not in event-loop mode (call watch first)");
    curl_multi_socket_action(s->multi, fd, ev, &running);
    collect_done(s);
    lua_pushinteger(L, running);
    return 1;
}

/* Tells libcurl that fd is ready: flags of GM_POLL_IN, GM_POLL_OUT, GM_POLL_ERR.
 * Returns the number of transfers still running. */
static int l_session_socket_action(lua_State *L)
{
    session *s = check_session(L, 1);
    int fd = (int)luaL_checkinteger(L, 2);
    int flags = (int)luaL_optinteger(L, 3, 0);
    int ev = 0;
    if (flags & GM_POLL_IN)
        ev |= CURL_CSELECT_IN;
    if (flags & GM_POLL_OUT)
        ev |= CURL_CSELECT_OUT;
    if (flags & GM_POLL_ERR)
        ev |= CURL_CSELECT_ERR;
    return session_action(L, s, (curl_socket_t)fd, ev);
}

#ifdef HAVE_EPOLL
/* Tells libcurl about every socket of the epoll set that is ready; returns
 * how many there were. */
static int epoll_dispatch(session *s)
{
    struct epoll_event evs[64];
    int i, n, running;
    do
        n = epoll_wait(s->epfd, evs, 64, 0);
    while (n < 0 && errno == EINTR);
    for (i = 0; i < n; i++) {
        uint32_t e = evs[i].events;
        int ev = 0;
        /* With the error flag also "readable": libcurl then reads the
         * socket and reports the real cause (connection reset...). */
        if (e & (EPOLLIN | EPOLLHUP | EPOLLERR))
            ev |= CURL_CSELECT_IN;
        if (e & EPOLLOUT)
            ev |= CURL_CSELECT_OUT;
        if (e & EPOLLERR)
            ev |= CURL_CSELECT_ERR;
        /* A socket closed by an earlier action of this batch is unknown to
         * libcurl by now, which ignores it. */
        curl_multi_socket_action(s->multi, evs[i].data.fd, ev, &running);
    }
    return n < 0 ? 0 : n;
}
#endif

/* The descriptor of watch() is readable: tells libcurl about every socket
 * that is ready. Returns how many there were. */
static int l_session_ready_action(lua_State *L)
{
    session *s = check_session(L, 1);
    int n = 0;
    if (s->epfd < 0)
        return luaL_error(L, "session does not watch its sockets (use socket_action)");
#ifdef HAVE_EPOLL
    n = epoll_dispatch(s);
#endif
    collect_done(s);
    lua_pushinteger(L, n);
    return 1;
}

/* Tells libcurl that its timer has expired. */
static int l_session_timeout_action(lua_State *L)
{
    return session_action(L, check_session(L, 1), CURL_SOCKET_TIMEOUT, 0);
}

/* The socket changes recorded since the last call, as a flat list
 * {fd, what, fd, what, ...} in order (nil when none), and the new timer in
 * ms (-1: stop it; nil: unchanged). */
static int l_session_take_changes(lua_State *L)
{
    session *s = check_session(L, 1);
    const sock_change *c = (const sock_change *)s->changes.data;
    size_t i, n = s->changes.len / sizeof *c;
    if (s->oom) {
        s->oom = 0;
        return luaL_error(L, "out of memory recording socket changes");
    }
    if (s->watch_errno) {
        int e = s->watch_errno;
        s->watch_errno = 0;
        return luaL_error(L, "cannot watch a socket: %s", strerror(e));
    }
    if (n == 0) {
        lua_pushnil(L);
    } else {
        lua_createtable(L, (int)(n * 2), 0);
        for (i = 0; i < n; i++) {
            lua_pushinteger(L, c[i].fd);
            lua_rawseti(L, -2, (int)(2 * i + 1));
            lua_pushinteger(L, c[i].what);
            lua_rawseti(L, -2, (int)(2 * i + 2));
        }
        s->changes.len = 0;
    }
    if (!s->timer_changed)
        return 1;
    s->timer_changed = 0;
    lua_pushinteger(L, s->timer_ms);
    return 2;
}

/* The ids of requests that got headers, body bytes or their end since the
 * last call, in order (a request may appear more than once); nil when none. */
static int l_session_take_events(lua_State *L)
{
    session *s = check_session(L, 1);
    const int *ids = (const int *)s->events.data;
    size_t i, n = s->events.len / sizeof *ids;
    if (n == 0)
        return 0;
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, (int)(i + 1));
    }
    s->events.len = 0;
    return 1;
}

/* ---- request --------------------------------------------------------------- */

enum { READY_HEADERS, READY_DATA, READY_DONE };

static int ready(const request *r, int what)
{
    if (r->done)
        return 1;
    if (what == READY_HEADERS)
        return r->headers_done;
    if (what == READY_DATA)
        return r->body.len > 0 || r->events.len > 0;
    return 0;
}

/* Drives the session until the request has its headers, has body bytes
 * waiting, or is done (whichever `what` asks), or until timeout_ms passes.
 * Returns whether it is ready. Other requests of the session progress too. */
static int l_request_await(lua_State *L)
{
    static const char *const whats[] = { "headers", "data", "done", NULL };
    request *r = check_request(L, 1);
    int what = luaL_checkoption(L, 2, "done", whats);
    double limit = luaL_optnumber(L, 3, -1);
    double deadline = limit >= 0 ? gm_now_ms() + limit : 0;

    if (!r->done && r->sess->watching)
        return luaL_error(L, "await on a session driven by an event loop");
    if (!r->done && (r->easy == NULL || r->sess->multi == NULL)) {
        r->done = 1;
        r->result = CURLE_ABORTED_BY_CALLBACK;
        strcpy(r->errbuf, "session closed");
    }
    while (!ready(r, what)) {
        int wait = 1000, finished;
        session_perform(r->sess, &finished);
        if (ready(r, what) || check_stall(r))
            break;
        if (r->stall_ms > 0) {
            double left = r->last_byte_ms + r->stall_ms - gm_now_ms();
            if (left < wait)
                wait = (int)left + 1;
        }
        if (limit >= 0) {
            double left = deadline - gm_now_ms();
            if (left <= 0)
                break;
            if (left < wait)
                wait = (int)left + 1;
        }
        curl_multi_poll(r->sess->multi, NULL, 0, wait, NULL);
    }
    lua_pushboolean(L, ready(r, what));
    return 1;
}

static int l_request_status(lua_State *L)
{
    request *r = check_request(L, 1);
    if (!r->headers_done && r->status == 0)
        return 0;
    lua_pushinteger(L, r->status);
    return 1;
}

/* Response headers as a table with lower-case names; repeated headers are
 * joined with ", " as HTTP allows. */
static int l_request_headers(lua_State *L)
{
    request *r = check_request(L, 1);
    const char *p = r->head.data, *end = p + r->head.len;
    lua_newtable(L);
    while (p != NULL && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon != NULL && colon > p) {
            const char *v = colon + 1, *ve = line_end;
            luaL_Buffer name;
            const char *c;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            luaL_buffinit(L, &name);
            for (c = p; c < colon; c++)
                luaL_addchar(&name, (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c));
            luaL_pushresult(&name);
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            } else {
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            }
            lua_rawset(L, -3);
        }
        p = eol ? eol + 1 : end;
    }
    return 1;
}

/* After the reader took what waited: a transfer paused by on_body goes on. */
static void resume(request *r)
{
    if (r->paused) {
        r->paused = 0;
        r->last_byte_ms = gm_now_ms();     /* a paused transfer is not stalled */
        if (!r->done && r->easy != NULL)
            curl_easy_pause(r->easy, CURLPAUSE_CONT);
    }
}

/* Hands over the body bytes received so far (nil when none). */
static int l_request_take(lua_State *L)
{
    request *r = check_request(L, 1);
    if (!r->done)
        r->streamed = 1;    /* taken before the end: flow control applies */
    if (r->body.len == 0)
        return 0;
    lua_pushlstring(L, r->body.data, r->body.len);
    r->body.len = 0;
    resume(r);
    return 1;
}

/* Ends a transfer whose framer failed on bytes it already had. */
static void end_framing(request *r)
{
    request_detach(r);
    if (!r->done) {
        r->done = 1;
        r->result = CURLE_WRITE_ERROR;
    }
}

/* From now on the body is framed as Server-Sent Events as it arrives
 * (src/sse.c's rules; options as core.sse_framer's); the bytes received so
 * far go through the framer first. The body is then handed over as
 * events by take_events only. Blocking mode: an event loop takes bytes. */
static int l_request_frame_sse(lua_State *L)
{
    request *r = check_request(L, 1);
    size_t max;
    int lenient;
    gm_sse_options(L, 2, &max, &lenient);
    if (r->sse != NULL)
        return luaL_error(L, "the request is already framed");
    r->sse = malloc(sizeof *r->sse);
    if (r->sse == NULL)
        return luaL_error(L, "not enough memory");
    gm_sse_init(r->sse, max, lenient);
    r->streamed = 1;
    if (r->body.len > 0) {
        int ok = frame_body(r, r->body.data, r->body.len);
        gm_buf_free(&r->body);
        if (!ok)
            end_framing(r);
        resume(r);
    }
    return 0;
}

/* Stores the data of the events framed so far in the table at index 2,
 * from [1] on; returns how many (nothing when none is complete yet, as
 * take does). */
static int l_request_take_events(lua_State *L)
{
    request *r = check_request(L, 1);
    const char *p, *end;
    int n = 0;
    luaL_checktype(L, 2, LUA_TTABLE);
    p = r->events.data;
    end = p + r->events.len;
    while (p < end) {
        size_t len;
        memcpy(&len, p, sizeof len);
        p += sizeof len;
        lua_pushlstring(L, p, len);
        lua_rawseti(L, 2, ++n);
        p += len;
    }
    r->events.len = 0;
    resume(r);
    if (n == 0)
        return 0;
    lua_pushinteger(L, n);
    return 1;
}

/* At the end of a framed body: the data of a last event the body cut off
 * (nil when none). */
static int l_request_finish_sse(lua_State *L)
{
    request *r = check_request(L, 1);
    const char *data;
    size_t len;
    if (r->sse == NULL)
        return luaL_error(L, "the request is not framed (frame_sse)");
    if (gm_sse_finish(r->sse, &data, &len) != GM_SSE_OK || data == NULL)
        return 0;
    lua_pushlstring(L, data, len);
    gm_sse_reset(r->sse);
    return 1;
}

/* Whether a libcurl result is one that trying again cannot help: the
 * request cannot ever work as made (a malformed URL, a port past 65535, a
 * scheme or option libcurl refuses) or the local TLS set-up is wrong (a CA
 * or certificate file that cannot be used, a certificate that does not
 * verify). */
static int is_final(CURLcode rc)
{
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_FAILED_INIT:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
        return 1;
    default:
        return 0;
    }
}

/* nil while the transfer is fine; else kind ("timeout"|"transport"), a
 * message, and true when trying again cannot help (a limit was hit, or
 * see is_final). The message names no URL or header, so no key can leak. */
static int l_request_error(lua_State *L)
{
    request *r = check_request(L, 1);
    const char *msg;
    if (!r->done)
        return 0;
    if (r->sse_status != GM_SSE_OK) {
        lua_pushstring(L, r->sse_status == GM_SSE_TOO_BIG ? "stream" : "transport");
        lua_pushstring(L, r->sse_error);
        lua_pushboolean(L, 1);
        return 3;
    }
    if (r->result == CURLE_OK)
        return 0;
    if (r->overflow) {
        char line[96];
        snprintf(line, sizeof line, "response larger than %llu bytes (max_response_size)",
                 (unsigned long long)r->max_body);
        lua_pushliteral(L, "transport");
        lua_pushstring(L, line);
        lua_pushboolean(L, 1);
        return 3;
    }
    msg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result);
    lua_pushstring(L, r->result == CURLE_OPERATION_TIMEDOUT ? "timeout" : "transport");
    lua_pushstring(L, msg);
    if (!is_final(r->result))
        return 2;
    lua_pushboolean(L, 1);
    return 3;
}

static int l_request_is_done(lua_State *L)
{
    lua_pushboolean(L, check_request(L, 1)->done);
    return 1;
}

/* Bytes sent of the body and bytes of the response received so far. */
static int l_request_progress(lua_State *L)
{
    request *r = check_request(L, 1);
    curl_off_t up = 0;
    if (r->easy != NULL)
        curl_easy_getinfo(r->easy, CURLINFO_SIZE_UPLOAD_T, &up);
    /* Byte counts: integers where Lua has them. */
    lua_pushinteger(L, (lua_Integer)up);
    lua_pushinteger(L, (lua_Integer)r->received);
    return 2;
}

static int l_request_id(lua_State *L)
{
    lua_pushinteger(L, check_request(L, 1)->id);
    return 1;
}

/* For event loops, which have no await to notice a stall: true when the
 * request has just been ended by its stall_timeout; else false and the ms
 * left before it would be (nil when there is no stall timeout to watch). */
static int l_request_check_stall(lua_State *L)
{
    request *r = check_request(L, 1);
    if (!r->done && check_stall(r)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    if (r->done || r->stall_ms <= 0)
        return 1;
    lua_pushnumber(L, r->last_byte_ms + r->stall_ms - gm_now_ms());
    return 2;
}

static int l_request_close(lua_State *L)
{
    request_release(L, check_request(L, 1));
    return 0;
}

static int l_request_tostring(lua_State *L)
{
    request *r = check_request(L, 1);
    lua_pushfstring(L, "gemini.core.request (%s)", r->done ? "done" : "active");
    return 1;
}

/* ---- misc -------------------------------------------------------------- */

static int l_sleep(lua_State *L)
{
    double secs = luaL_checknumber(L, 1);
    struct timespec ts;
    if (!(secs > 0))
        return 0;       /* NaN too */
    if (secs > MAX_SECONDS)
        secs = MAX_SECONDS;     /* (time_t)1e300 would be undefined */
    ts.tv_sec = (time_t)secs;
    ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 0;
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, gm_now_ms() / 1e3);
    return 1;
}

static int l_curl_version(lua_State *L)
{
    lua_pushstring(L, curl_version());
    return 1;
}

void gemini_open_http(lua_State *L)
{
    static const luaL_Reg session_methods[] = {
        { "request", l_session_request },
        { "step", l_session_step },
        { "watch", l_session_watch },
        { "ready_action", l_session_ready_action },
        { "socket_action", l_session_socket_action },
        { "timeout_action", l_session_timeout_action },
        { "take_changes", l_session_take_changes },
        { "take_events", l_session_take_events },
        { "close", l_session_close },
        { NULL, NULL }
    };
    static const luaL_Reg session_meta[] = {
        { "__gc", l_session_close },
        { NULL, NULL }
    };
    static const luaL_Reg request_methods[] = {
        { "await", l_request_await },
        { "status", l_request_status },
        { "headers", l_request_headers },
        { "take", l_request_take },
        { "frame_sse", l_request_frame_sse },
        { "take_events", l_request_take_events },
        { "finish_sse", l_request_finish_sse },
        { "error", l_request_error },
        { "is_done", l_request_is_done },
        { "progress", l_request_progress },
        { "id", l_request_id },
        { "check_stall", l_request_check_stall },
        { "close", l_request_close },
        { NULL, NULL }
    };
    static const luaL_Reg request_meta[] = {
        { "__gc", l_request_close },
        { "__tostring", l_request_tostring },
        { NULL, NULL }
    };
    static const luaL_Reg funcs[] = {
        { "session", l_session },
        { "sleep", l_sleep },
        { "now", l_now },
        { "curl_version", l_curl_version },
        { NULL, NULL }
    };
    /* curl_global_init is not thread-safe and must run once; libcurl >= 7.84
     * does it lazily and safely, so only older versions need it here. */
#if LIBCURL_VERSION_NUM < 0x075400
    curl_global_init(CURL_GLOBAL_DEFAULT);
#endif
    gm_newclass(L, SESSION_MT, session_methods, session_meta);
    gm_newclass(L, REQUEST_MT, request_methods, request_meta);
    gm_setfuncs(L, funcs, 0);
    /* Constants the Lua side shares with this file. */
    lua_pushinteger(L, GM_POLL_IN);
    lua_setfield(L, -2, "POLL_IN");
    lua_pushinteger(L, GM_POLL_OUT);
    lua_setfield(L, -2, "POLL_OUT");
    lua_pushinteger(L, GM_POLL_ERR);
    lua_setfield(L, -2, "POLL_ERR");
    lua_pushinteger(L, (lua_Integer)MAX_SECONDS);
    lua_setfield(L, -2, "MAX_SECONDS");
}
