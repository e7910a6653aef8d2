/* The WebSocket framer's C API (src/ws.c, RFC 6455): the frame parser and
 * builder of either end, a client (frames from the server unmasked, ours
 * masked) or a server (the reverse), used by the Lua framer object
 * (core.ws_framer, fed by any byte source: an OpenResty cosocket) and by
 * the connection of src/ws_conn.c (libcurl's socket).
 *
 * Nothing here calls into Lua or raises: results are status codes, and
 * each complete message or control frame goes to the caller's emit.
 */
#ifndef GEMINI_WS_H
#define GEMINI_WS_H

#include "core.h"

#include <stddef.h>
#include <stdint.h>

/* Opcodes (RFC 6455 section 5.2). */
enum {
    GM_WS_CONT = 0x0, GM_WS_TEXT = 0x1, GM_WS_BINARY = 0x2,
    GM_WS_CLOSE = 0x8, GM_WS_PING = 0x9, GM_WS_PONG = 0xA
};

/* Status of a framer call. A framer that failed keeps failing with the
 * same status until it is reset. */
enum {
    GM_WS_OK = 0,
    GM_WS_PROTOCOL,         /* the peer broke the framing rules (close 1002) */
    GM_WS_TOO_BIG,          /* a message passed max_message_size (close 1009) */
    GM_WS_NO_MEMORY,        /* a buffer could not grow, or emit said so */
    GM_WS_BAD_TEXT          /* a text message not UTF-8 (close 1007, 8.1) */
};

/* The close code that tells the server why a framer failed (7.4.1). */
int gm_ws_close_code(int status);

/* "No status code" of a close frame without a payload (RFC 6455 7.4.1). */
#define GM_WS_NO_STATUS 1005

typedef struct {
    unsigned char hdr[14];  /* the header of the frame being read */
    size_t hlen, hneed;     /* header bytes held, and needed */
    int in_frame;           /* the header is complete: payload follows */
    unsigned char op, fin;
    unsigned char key[4];   /* the masking key of a client's frame (server role) */
    unsigned kpos;          /* payload bytes of the frame unmasked so far, mod 4 */
    uint64_t remain;        /* payload bytes of this frame still to come */
    gm_buf msg;             /* the data message being assembled */
    unsigned char msg_op;   /* its opcode (text/binary), 0 when none */
    gm_buf ctl;             /* the control frame being read (<= 125 bytes) */
    size_t max;             /* max_message_size */
    int server;             /* the role: 1 reads a client's masked frames */
    int closed;             /* a close frame came: the rest is ignored */
    int failed;             /* 0, or the status it failed with */
    char why[96];           /* what a GM_WS_PROTOCOL failure was */
} gm_ws;

/* Receives one complete message (text/binary) or control frame (close,
 * ping, pong): data is not NUL-terminated, valid only during the call.
 * For a close, code is its status (GM_WS_NO_STATUS when it had none) and
 * data its reason; else code is 0. Returns 0 to stop the feed (no memory). */
typedef int (*gm_ws_emit)(void *ud, int op, const char *data, size_t len, int code);

#define GM_WS_DEFAULT_MAX ((size_t)16 * 1024 * 1024)

/* server: 0 for a client's framer (the peer's frames must not be masked),
 * 1 for a server's (every frame must be masked, 5.1; unmasked here). */
void gm_ws_init(gm_ws *f, size_t max_message_size, int server);

/* Parses n more bytes from the peer; emits what they complete. */
int gm_ws_feed(gm_ws *f, const char *p, size_t n, gm_ws_emit emit, void *ud);

/* Ready for a new connection (buffers of moderate size are kept). */
void gm_ws_reset(gm_ws *f);

/* Frees the buffers; the framer may be reset and used again. */
void gm_ws_free(gm_ws *f);

/* The message of a failure status, e.g. "WebSocket message larger than N bytes". */
void gm_ws_message(const gm_ws *f, int status, char *buf, size_t size);

/* Appends one frame (FIN set) to out: a client's (mask 1: masked with a
 * fresh random key) or a server's (mask 0: unmasked, 5.1); a close frame
 * carries `code` (when non-zero) before the payload. Returns 0 when out
 * of memory or when no random key could be had. */
int gm_ws_build(gm_buf *out, int op, const char *p, size_t n, int code, int mask);

/* Whether n bytes are well-formed UTF-8 (what a text frame must carry). */
int gm_ws_utf8(const char *p, size_t n);

/* n bytes from the system's strong random source; 0 on failure. */
int gm_ws_random(unsigned char *p, size_t n);

/* A Sec-WebSocket-Key (24 base64 characters of 16 random bytes) into
 * key[25]; and the Sec-WebSocket-Accept a server must answer for it into
 * accept[29]. Each returns 0 on failure. */
int gm_ws_new_key(char key[25]);
int gm_ws_accept_for(const char *key, char accept[29]);

/* ---- shared by the Lua bindings of ws.c and ws_conn.c ---- */

/* Where the events of a feed go: out[count+1..] at stack index `out`,
 * three slots per event (kind, data, code or false). */
typedef struct {
    lua_State *L;
    int out, count, events;
} gm_ws_sink;

int gm_ws_emit_triple(void *ud, int op, const char *data, size_t len, int code);

/* "text", "binary", "close", "ping", "pong" <-> opcodes. */
const char *gm_ws_kind(int op);
int gm_ws_check_kind(lua_State *L, int arg);

/* The max_message_size of the options table at arg (nil: the default). */
size_t gm_ws_max_option(lua_State *L, int arg);

#endif
