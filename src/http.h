/* What src/http.c shares with the other users of libcurl (src/ws_conn.c). */
#ifndef GEMINI_HTTP_H
#define GEMINI_HTTP_H

#include "core.h"

#include <curl/curl.h>

/* The largest seconds a timeout option keeps: its ms fit an int, hence a
 * long on every platform (about 24.8 days; more is as good as none). */
#define MAX_SECONDS 2147483.0

/* A monotonic clock in ms (CLOCK_MONOTONIC), for deadlines. */
double gm_now_ms(void);

/* The connection options every transfer takes from its spec table at
 * index t, set on easy in one place: connect_timeout, proxy, ca_file,
 * verify, and the fixed ones (no signals, TCP keep-alive, http(s) only).
 * Raises for a field of the wrong type. */
void gm_curl_connection_options(lua_State *L, CURL *easy, int t);

#endif
