/* The Server-Sent-Events framer's C API (src/sse.c): one implementation of
 * the framing rules, used by the Lua framer object (core.sse_framer) and by
 * a streamed request that frames its body as it arrives (src/http.c).
 *
 * Nothing here calls into Lua or raises: results are status codes, and
 * each complete event goes to the caller's emit function.
 */
#ifndef GEMINI_SSE_H
#define GEMINI_SSE_H

#include "core.h"

#include <stddef.h>

/* Status of a framer call. A framer that failed keeps failing with the
 * same status until it is reset. */
enum {
    GM_SSE_OK = 0,
    GM_SSE_TOO_BIG,         /* an event passed max_event_size */
    GM_SSE_NO_MEMORY        /* a buffer could not grow, or emit said so */
};

typedef struct {
    gm_buf line;            /* current unterminated line */
    gm_buf data;            /* data buffer: each data value + "\n" */
    size_t max;             /* max_event_size */
    unsigned char bom;      /* 0..2: BOM bytes seen at stream start */
    unsigned char skip_lf;  /* last feed ended in CR: a leading LF is its pair */
    unsigned char lenient;
    unsigned char failed;   /* 0, or the status it failed with */
} gm_sse;

/* Receives the data of one complete event (not NUL-terminated; valid only
 * during the call). Returns 0 to stop the feed (out of memory). */
typedef int (*gm_sse_emit)(void *ud, const char *data, size_t len);

/* The default max_event_size. */
#define GM_SSE_DEFAULT_MAX ((size_t)16 * 1024 * 1024)

void gm_sse_init(gm_sse *f, size_t max_event_size, int lenient);

/* Frames n more bytes of the stream; emits each event they complete. */
int gm_sse_feed(gm_sse *f, const char *p, size_t n, gm_sse_emit emit, void *ud);

/* The end of the stream: *data and *len get the data of an event cut off by
 * it (NULL when none), valid until the next call on f; then gm_sse_reset. */
int gm_sse_finish(gm_sse *f, const char **data, size_t *len);

/* Ready for a new stream (buffers of moderate size are kept). */
void gm_sse_reset(gm_sse *f);

/* Frees the buffers; the framer may be reset and used again. */
void gm_sse_free(gm_sse *f);

/* The message of a failure status, e.g. "SSE event larger than N bytes". */
void gm_sse_message(const gm_sse *f, int status, char *buf, size_t size);

/* Reads the options table at index arg ({max_event_size=, lenient=}, or
 * nil/none) into *max and *lenient; raises on a bad option. */
void gm_sse_options(lua_State *L, int arg, size_t *max, int *lenient);

#endif
