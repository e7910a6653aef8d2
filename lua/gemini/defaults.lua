--- Every default value of the library, in one place: the client's options,
-- the retry policy, uploads, automatic function calling, waiting for a
-- file, many requests at once and the cosocket transport's pool. The
-- modules read their defaults from here (none keeps a number of its own),
-- so a transport's fallback can never disagree with the client's option.
-- Times are in seconds, sizes in bytes.
-- @module gemini.defaults
local MiB = 1024 * 1024

return {
  --- The API's host, when neither `base_url` nor `GEMINI_BASE_URL` names one.
  base_url = "https://generativelanguage.googleapis.com",
  api_version = "v1beta",
  --- How the key is sent: "header" (x-goog-api-key) or "bearer".
  auth = "header",

  --- A whole call, retries and backoff waits included.
  timeout = 600,
  connect_timeout = 30,
  --- The longest silence of a stream.
  stall_timeout = 300,
  --- The largest whole answer, and the largest event of a stream.
  max_response_size = 256 * MiB,
  max_event_size = 16 * MiB,

  -- The retry policy of a client without a `retry` option (see gemini.retry).
  retry = {
    attempts = 5, initial_delay = 1, max_delay = 60, exp_base = 2, jitter = 1,
    http_status_codes = { 408, 429, 500, 502, 503, 504 },
  },

  --- An upload's chunk: both official SDKs' (a multiple of the server's 256 KiB).
  chunk_size = 8 * MiB,

  --- `batches:wait` (operations:wait with these): the first pause between
  -- polls, the longest (Google's guide polls every 30 s), and how long to
  -- wait: three days (a job not done in 48 hours ends EXPIRED).
  batch_interval = 5,
  batch_max_interval = 60,
  batch_timeout = 3 * 86400,

  --- Automatic function calling: the most requests one call makes (the SDK's).
  maximum_remote_calls = 10,

  --- `files:wait_active`: how long to wait for a file, and how often to ask.
  wait_timeout = 300,
  wait_interval = 2,

  --- `operations:wait`: the first wait between polls, how much longer each
  -- next one is, the longest (Google's Veo samples poll every 10 s).
  operation_interval = 1,
  operation_growth = 1.5,
  operation_max_interval = 10,

  --- Downloads: the most redirects followed (the API answers with one).
  max_redirects = 5,

  --- `models:generate_content_all`: requests in flight at once.
  concurrency = 8,

  --- The cosocket transport (OpenResty): idle connections kept per pool, how
  -- long one is kept, and the most bytes read from a socket at once.
  pool_size = 32,
  keepalive_timeout = 60,
  read_size = 65536,
}
