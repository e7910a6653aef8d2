--- OAuth access tokens of Vertex AI mode: one cache per credentials
-- identity in a Lua state (so in OpenResty, per worker), shared by every
-- client made with the same credentials.
--
-- A token is sent as `Authorization: Bearer <token>` (with
-- `x-goog-user-project` when the credentials name a quota project, as
-- python-genai's _api_client.py does), reused until a safety margin before
-- it expires, and minted once for all the requests that need one at the
-- same time: the first fetches, the others wait for it (tasks of
-- gemini.async.task yield until it is there, nginx light threads sleep on
-- the cosocket timer). A 401 answer to a request sent with a cached token
-- drops that token; the request is sent once more with a fresh one (the
-- SDKs let the 401 through).
--
-- The token request goes through the client's own request path (its
-- transport, timeouts, proxy and CA: blocking, on a luv loop or over
-- cosockets alike). Its failures are `gemini.Error`s of kind "auth" (with
-- `code`, the token endpoint's status, or `cause`, the failed transfer's
-- kind: the call's retries try again as after the API's); tokens are added
-- to the client's secrets, so no error or log line shows them.
--
-- The same single flight fetches the project of a "metadata" source (the
-- machine's, when the client was given none): `M.cache(source, "project")`.
-- @module gemini.auth.tokens
local core = require("gemini.core")
local errors = require("gemini.errors")
local task = require("gemini.async.task")

local M = {}

--- The lifetime assumed when a source gives none (google-auth's default).
M.DEFAULT_LIFETIME = 3600

--- google-auth's REFRESH_THRESHOLD (_helpers.py: 3 min 45 s): a token is
-- renewed that long before it expires, or after three quarters of its
-- life when that is shorter (a 10 s token is still used for 7.5 s).
M.REFRESH_THRESHOLD = 225

--- How long a waiter sleeps between looks in OpenResty.
local POLL = 0.005

--- The credentials source of a `credentials` option: a function is its own
-- source; anything else (nil: Application Default Credentials, a path, a
-- table) is gemini.auth.credentials's business.
function M.source(spec)
  if type(spec) == "function" then
    return { kind = "function", fn = spec, secrets = {},
             id = "function:" .. tostring(spec):gsub("^function:%s*", "") }
  end
  local ok, credentials = pcall(require, "gemini.auth.credentials")
  if not ok then
    errors.misuse("bad field 'credentials' to 'Client' (this build has no gemini.auth.credentials:"
      .. " pass a function returning access_token, expires_in)")
  end
  return credentials.load(spec)
end


local function bad_token(t)
  return type(t) ~= "string" or t == "" or t:find("[%s%c]") ~= nil
end

-- Asks the source's server for something: `make(source)` is the request,
-- sent through the client's request path (its transport, timeouts, proxy
-- and CA: blocking, on a luv loop or over cosockets alike), and
-- `read(source, res)` reads the answer. `what` names it ("access token");
-- `describe(source, msg)`, when given, words a transfer that failed.
-- Returns what `read` gave, or nil, err (kind "auth"; `read`'s third
-- value true marks a refusal worth another try: `cause` "server_error").
local function ask(source, client, what, make, read, describe)
  -- (pcall: a raise here would leave the calls waiting for this fetch
  -- waiting for ever; neither function yields, so Lua 5.1 allows it.)
  local ok, req = pcall(make, source)
  if not ok then
    return nil, client:error("auth", "cannot make the " .. what .. " request of the " .. source.kind
      .. " credentials: " .. tostring(req))
  end
  local spec = client:_spec{ method = req.method, url = req.url, headers = req.headers,
                             body = req.body, content_type = req.content_type, anonymous = true }
  local res, err = client:_transfer(spec, what)
  if not res then
    -- (`cause`: the call's retries try again as after any failed transfer.)
    local failed = { cause = err.kind, final = err.final }
    if describe then return nil, client:error("auth", describe(source, err.message), failed) end
    return nil, client:error("auth", "no " .. what .. " from the " .. source.kind .. " credentials: "
      .. tostring(err.message), failed)
  end
  local value, extra, transient
  ok, value, extra, transient = pcall(read, source, res)
  if not ok then value, extra = nil, value end
  if bad_token(value) then
    -- (`code`: the server's status, which the call's retries judge as
    -- they judge the API's; `cause`: an OAuth error they try again.)
    return nil, client:error("auth", "no " .. what .. " from the " .. source.kind .. " credentials: "
      .. tostring(value and "a malformed " .. what or extra),
      res.status ~= 200 and { code = res.status, cause = transient and "server_error" or nil } or nil)
  end
  return value, extra
end

-- A token from the source: token, lifetime, or nil, err (kind "auth").
local function mint(source, client)
  local token, lifetime
  if source.kind == "function" then
    -- pcall: a function that raises is an "auth" error like any failed fetch.
    local ok, t, l = pcall(source.fn)
    if not ok then
      return nil, client:error("auth", "the credentials function failed: " .. tostring(t))
    end
    token, lifetime = t, l
    if bad_token(token) then
      return nil, client:error("auth", "the credentials function returned no access token (a"
        .. " non-empty string without spaces expected as its first value, got "
        .. errors.typename(token) .. ")")
    end
  else
    -- The source words a transfer that failed: where it asked, and for
    -- the metadata server (the last resort of Application Default
    -- Credentials) that no credentials were found, and where they were
    -- looked for.
    token, lifetime = ask(source, client, "access token", source.token_request, source.parse_token,
      source.describe_failure)
    if not token then return nil, lifetime end
  end
  if lifetime == nil then lifetime = M.DEFAULT_LIFETIME end
  lifetime = tonumber(lifetime)
  if not (lifetime and lifetime > 0 and lifetime < math.huge) then
    return nil, client:error("auth", "an access token's lifetime must be a positive number of seconds")
  end
  return token, lifetime
end

-- The project of the machine from the metadata server (python-genai has
-- it from google.auth.default(), which asks the same): the id and an
-- endless lifetime, or nil, err (kind "auth").
local function mint_project(source, client)
  local id, err = ask(source, client, "project id", source.project_request, source.parse_project)
  if not id then
    err.message = err.message .. " (pass project, or set GOOGLE_CLOUD_PROJECT)"
    return nil, err
  end
  return id, math.huge
end

local Cache = {}
Cache.__index = Cache

-- What a cache holds: the access tokens of a source, or the project of
-- the machine (a "metadata" source's).
local FETCHES = {
  token = { mint = mint, what = "an access token", prefix = "" },
  project = { mint = mint_project, what = "the project id", prefix = "project:" },
}

-- id -> cache; weak, so a cache lives as long as a client holds it.
local CACHES = setmetatable({}, { __mode = "v" })

--- The cache of a credentials source's access tokens, or with `what` =
-- "project" of its project id (a "metadata" source: kept for good);
-- shared by `source.id`. Either is fetched once for all who need it.
function M.cache(source, what)
  local fetch = FETCHES[what or "token"]
  local id = fetch.prefix .. source.id
  local c = CACHES[id]
  if not c then
    c = setmetatable({ source = source, waiters = {}, fetch = fetch }, Cache)
    CACHES[id] = c
  end
  return c
end

-- The coroutine a flight belongs to has ended without finishing it (a
-- canceled task, a killed light thread): nobody will.
local function abandoned(flight)
  if flight.task then return flight.task.finished end
  return flight.co ~= nil and coroutine.status(flight.co) == "dead"
end

-- Waits until `flight` is over (or abandoned); false when the running code
-- cannot wait (a blocking call outside any task: it fetches on its own).
function Cache:_wait(flight)
  local t = task.running()
  if t then
    self.waiters[t] = true
    t:wait(function() return self.flight ~= flight or abandoned(flight) end)
    self.waiters[t] = nil
    return true
  end
  if type(ngx) == "table" and type(ngx.sleep) == "function" and coroutine.running() then
    while self.flight == flight and not abandoned(flight) do ngx.sleep(POLL) end
    return true
  end
  return false
end

-- Wakes the tasks waiting for a flight, each from its own driver's loop
-- turn when it has one (not nested in the fetching coroutine).
function Cache:_release()
  local list = {}
  for t in pairs(self.waiters) do list[#list + 1] = t end
  for _, t in ipairs(list) do
    if t.driver and t.driver.defer then
      t.driver:defer(function() t:wake() end)
    else
      t:wake()
    end
  end
end

-- Fetches the value for everyone: the value, or nil, err.
function Cache:_fetch(client)
  local t = task.running()
  local flight = { task = t, co = not t and coroutine.running() or nil }
  self.flight = flight
  local started = core.now()
  client:_log("gemini: fetching %s (%s credentials)", self.fetch.what, self.source.kind)
  -- A task stopped while it fetches (a canceled call) leaves the others
  -- waiting: they are woken, see the flight abandoned and fetch anew.
  if t then t.on_stop = function() self:_release() end end
  local token, lifetime = self.fetch.mint(self.source, client)
  if t then t.on_stop = nil end
  if token then
    self.value = token
    self.refresh_at = started + lifetime - math.min(M.REFRESH_THRESHOLD, lifetime / 4)
  else
    flight.err = lifetime
  end
  if self.flight == flight then self.flight = nil end
  self:_release()
  return token, lifetime
end

-- The client will show `token` nowhere: it joins its secrets (the last few
-- tokens only, so that the list does not grow with every refresh).
local function remember(client, token)
  local seen, secrets = client._bearer_seen, client._secrets
  for i = 1, #seen do
    if seen[i] == token then return token end
  end
  seen[#seen + 1] = token
  secrets[#secrets + 1] = token
  if #seen > 4 then
    local old = table.remove(seen, 1)
    for i = #secrets, 1, -1 do
      if secrets[i] == old then table.remove(secrets, i) break end
    end
  end
  return token
end

--- The value: the cached one while fresh, the one another request is
-- fetching, or a new one; or nil, err (kind "auth").
function Cache:get(client)
  while true do
    if self.value and core.now() < self.refresh_at then return self.value end
    local flight = self.flight
    if not (flight and not abandoned(flight) and self:_wait(flight)) then
      return self:_fetch(client)
    end
    if flight.err then return nil, flight.err end
  end
end

--- A valid access token (see `get`), or nil, err (kind "auth").
function Cache:token(client)
  local token, err = self:get(client)
  if not token then return nil, err end
  return remember(client, token)
end

--- Forgets `token` when it is the cached one (the server refused it).
function Cache:invalidate(token)
  if self.value == token then self.value, self.refresh_at = nil, nil end
end

-- Puts the bearer token (and the quota project) on a transfer spec,
-- replacing those of an earlier attempt.
local function authorize(spec, token, quota_project)
  local h = {}
  for _, line in ipairs(spec.headers) do
    local name = line:match("^([^:]*):"):lower()
    if name ~= "authorization" and name ~= "x-goog-user-project" then h[#h + 1] = line end
  end
  h[#h + 1] = "Authorization: Bearer " .. token
  if quota_project then h[#h + 1] = "x-goog-user-project: " .. quota_project end
  spec.headers = h
end

--- Sends `spec` with a token: `attempt(client, spec)` (a whole request or
-- an opened stream); a 401 drops the token and sends once more with a
-- fresh one. Returns what the attempt returned, or nil, err.
function Cache:authorized(client, spec, attempt)
  local token, err = self:token(client)
  if not token then return nil, err end
  local qp = self.source.quota_project_id
  authorize(spec, token, qp)
  local res, aerr = attempt(client, spec)
  if res and res.status == 401 then
    client:_log("gemini: HTTP 401 with a cached access token: fetching a new one, then once more")
    if res.close then res:close() end
    self:invalidate(token)
    token, err = self:token(client)
    if not token then return nil, err end
    authorize(spec, token, qp)
    res, aerr = attempt(client, spec)
  end
  return res, aerr
end

return M
