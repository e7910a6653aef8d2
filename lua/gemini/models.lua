--- `client.models`: generate (whole and streamed), count tokens, embed,
-- generate videos, get and list models.
-- @module gemini.models
local errors = require("gemini.errors")
local json = require("gemini.json")
local request = require("gemini.request")
local response = require("gemini.response")
local stream = require("gemini.stream")
local afc = require("gemini.afc")
local async = require("gemini.async")
local all = require("gemini.async.all")
local operations = require("gemini.operations")
local videos = require("gemini.videos")

local Models = {}
Models.__index = Models

function Models.new(client)
  return setmetatable({ client = client }, Models)
end

local function check_self(self, fname)
  if getmetatable(self) ~= Models then
    errors.misuse(string.format("bad self to '%s' (call it as client.models:%s{...})", fname, fname))
  end
end

local function encode(body)
  return json.encode(body, { root = "request" })
end

--- The request of a generate call: `{model=, body=, config=, http_options=,
-- is_json=}`, where `config` is the flat config with the REST fields given
-- at the top level of `req` merged in (see `request.generate_config`).
-- Exposed so chats and later layers build requests the same way.
-- @tparam table req
-- @tparam string fname the call, for messages
-- @tparam[opt] boolean model_optional `req.model` may be absent (a line of
--   a batch's request file, whose model is the batch's): then `model` is
--   nil and the checks that depend on it (thinking) are left to the server
-- @local
function Models:build_generate(req, fname, model_optional)
  check_self(self, fname)
  errors.arg(fname, 1, req, "table")
  local config = request.generate_config(req, fname)
  local model = (req.model ~= nil or not model_optional) and self.client:_model(req.model, fname) or nil
  if model then require("gemini.thinking").check(model, config, self.client.check_thinking) end
  local body = request.split_config(config, fname)
  body.contents = request.contents(req.contents, fname)
  return {
    model = model,
    body = body,
    config = config,
    http_options = self.client:_http_options(config, fname),
    is_json = request.json_mode(config),
  }
end

--- Generates a whole answer.
-- When the config's tools carry Lua handlers, the automatic function
-- calling loop runs instead of the single call (see `gemini.afc`).
-- @tparam table req `{model=, contents=, config=}`; the REST request fields
-- (`generationConfig`, `systemInstruction`, `tools`, ...) may also be given
-- at the top level, as in a REST body (see `request.generate_config`)
-- @tparam[opt] function cb with the client's loop: `cb(err, res)`, and a handle is returned at once
-- @return a response (with helpers), or nil, `gemini.Error`
function Models:generate_content(req, cb)
  check_self(self, "generate_content")
  -- With a trailing callback: the callback API (gemini.async).
  if cb ~= nil then
    return async.call(self.client, "generate_content", 2, cb,
      function(c) return c.models:generate_content(req) end)
  end
  local r = self:build_generate(req, "generate_content")
  local handlers, max = afc.settings(r.config, "generate_content")
  if handlers then return afc.generate(self, r, handlers, max) end
  return self:_generate_once(r)
end

--- One generateContent request of a request built by `build_generate`:
-- a response, or nil, err.
-- @local
function Models:_generate_once(r)
  local res, err = self.client:_call{
    path = r.model .. ":generateContent", body = encode(r.body), http_options = r.http_options,
  }
  if not res then return nil, err end
  return response.wrap(res, r.is_json)
end

--- Streams an answer: returns the stream object (see `gemini.stream`),
-- which is also usable directly in a generic `for` (and, on Lua 5.4, closes
-- on `break` as the for loop's closing value).
-- @tparam table req as for `generate_content`
-- @tparam[opt] table handlers with the client's loop: `{on_chunk = function(chunk),
--   on_done = function(err, response)}`, and a handle is returned at once
-- @return a `gemini.stream` Stream (or, with handlers, a handle with `:cancel()`)
function Models:generate_content_stream(req, handlers)
  check_self(self, "generate_content_stream")
  -- With `{on_chunk=, on_done=}`: the callback API (gemini.async).
  if handlers ~= nil then
    return async.stream(self.client, "generate_content_stream", 2, handlers,
      function(c) return c.models:generate_content_stream(req) end)
  end
  local r = self:build_generate(req, "generate_content_stream")
  local s
  -- With Lua handlers: automatic function calling over several streamed
  -- requests, all chunks in this one stream (see `gemini.afc`).
  local fns, max = afc.settings(r.config, "generate_content_stream")
  if fns then
    s = afc.generate_stream(self, r, fns, max)
  else
    s = self:_stream(r)
  end
  return s, nil, nil, s
end

--- The stream (not yet opened) of a request built by `build_generate`;
-- `on_done(response)` is called when it ends well (chats record the turn).
-- @local
function Models:_stream(r, on_done)
  return stream.new(self.client, {
    path = r.model .. ":streamGenerateContent", query = { alt = "sse" },
    body = encode(r.body), http_options = r.http_options,
  }, r.is_json, on_done)
end

--- Counts tokens of `contents` (with the config's system instruction,
-- tools and generation config when given, through the API's
-- `generateContentRequest` form, which the SDKs do not offer).
-- @tparam table req `{model=, contents=, config=}` (the REST fields may be given at the top level)
-- @tparam[opt] function cb with the client's loop: `cb(err, res)`, and a handle is returned at once
-- @return `{totalTokens=, ...}`, or nil, `gemini.Error`
function Models:count_tokens(req, cb)
  check_self(self, "count_tokens")
  if cb ~= nil then
    return async.call(self.client, "count_tokens", 2, cb,
      function(c) return c.models:count_tokens(req) end)
  end
  errors.arg("count_tokens", 1, req, "table")
  local config = request.generate_config(req, "count_tokens")
  local model = self.client:_model(req.model, "count_tokens")
  local contents = request.contents(req.contents, "count_tokens")
  local body
  if self.client._vertex then
    body = require("gemini.vertex").count_tokens_body(contents, config)
  elseif config ~= nil and next(config) ~= nil then
    local inner = request.split_config(config, "count_tokens")
    inner.model = model
    inner.contents = contents
    body = { generateContentRequest = inner }
  else
    body = { contents = contents }
  end
  return self.client:_call{
    path = model .. ":countTokens", body = encode(body),
    http_options = self.client:_http_options(config, "count_tokens"),
  }
end

--- The contents of an embed request, one per embedding: a list of plain
-- strings is one content per string (several embeddings), whereas for
-- generate it would be one content of several parts.
-- @param contents as `embed_content` takes them
-- @tparam string fname the call, for messages
-- @local
function Models.embed_contents(contents, fname)
  local list = request.contents(contents, fname)
  if type(contents) == "table" and #contents > 0 and #list == 1 then
    list = {}
    for i, v in ipairs(contents) do list[i] = request.contents(v, fname)[1] end
  end
  return list
end

--- One EmbedContentRequest: `content` and the fields of the embed `config`
-- (`task_type`, `title`, `output_dimensionality`; not `http_options`), and
-- `model` when given.
-- @local
function Models.embed_request(content, config, model)
  local r = { model = model, content = content }
  for k, v in pairs(config) do
    if request.camel(k) ~= "httpOptions" then r[k] = v end
  end
  return r
end

--- Embeds one text (embedContent) or several (batchEmbedContents); either
-- way the answer has `embeddings[i].values`, one per input.
-- @tparam table req `{model=, contents= "text" or {"a", "b"}, config={task_type=, output_dimensionality=, title=}}`
-- @tparam[opt] function cb with the client's loop: `cb(err, res)`, and a handle is returned at once
function Models:embed_content(req, cb)
  check_self(self, "embed_content")
  if cb ~= nil then
    return async.call(self.client, "embed_content", 2, cb,
      function(c) return c.models:embed_content(req) end)
  end
  errors.arg("embed_content", 1, req, "table")
  request.check_keys(req, "embed", "embed_content")
  local model = self.client:_model(req.model, "embed_content")
  local config = errors.field("embed_content", "config", req.config, "table", true) or {}
  local items = Models.embed_contents(req.contents, "embed_content")
  local ho = self.client:_http_options(config, "embed_content")
  if self.client._vertex then
    -- embedContent or predict, as python-genai chooses (gemini.vertex.embed).
    local method, body, answer = require("gemini.vertex").embed(req.model, items, config)
    local res, err = self.client:_call{ path = model .. ":" .. method, body = body,
                                        http_options = ho }
    if not res then return nil, err end
    return answer(res)
  end
  if #items == 1 then
    local res, err = self.client:_call{
      path = model .. ":embedContent", body = encode(Models.embed_request(items[1], config, model)),
      http_options = ho,
    }
    if not res then return nil, err end
    res.embeddings = res.embeddings or { res.embedding }
    return res
  end
  local requests = {}
  for i, c in ipairs(items) do requests[i] = Models.embed_request(c, config, model) end
  return self.client:_call{
    path = model .. ":batchEmbedContents", body = encode({ requests = requests }), http_options = ho,
  }
end

--- One model's description, or nil, err.
-- @tparam string name `gemini-2.5-flash` or `models/gemini-2.5-flash`
-- @tparam[opt] function cb with the client's loop: `cb(err, model)`, and a handle is returned at once
function Models:get(name, cb)
  check_self(self, "get")
  if cb ~= nil then
    return async.call(self.client, "get", 2, cb, function(c) return c.models:get(name) end)
  end
  errors.arg("get", 1, name, "string")
  return self.client:_call{ method = "GET", path = self.client:_model(name, "get") }
end

--- Iterates over every model, page after page, in order; raises the
-- `gemini.Error` when a page fails.
-- @tparam[opt] table opts `{page_size=, page_token=}`
-- @tparam[opt] function cb with a loop: `cb(err, models)`, every model in a list
function Models:list(opts, cb)
  check_self(self, "list")
  if type(opts) == "function" and cb == nil then opts, cb = nil, opts end
  if cb ~= nil then
    return async.list(self.client, "list", 2, cb, function(c) return c.models:list(opts) end)
  end
  errors.arg("list", 1, opts, "table", true)
  if not self.client._vertex then return self.client:_pages("models", "models", opts) end
  -- Vertex AI: base models, or with query_base = false the tuned ones.
  opts = opts or {}
  errors.known_fields("list", opts, { "page_size", "page_token", "query_base", "filter" }, nil, true)
  local base = errors.field("list", "query_base", request.get(opts, "queryBase", "query_base"),
    "boolean", true)
  local filter = errors.field("list", "filter", opts.filter, "string", true)
  local paged = {}
  for k, v in pairs(opts) do
    if k ~= "filter" and k ~= "query_base" and k ~= "queryBase" then paged[k] = v end
  end
  local path, key, query = require("gemini.vertex").models_list(base, filter)
  return self.client:_pages(path, key, paged, nil, query)
end

--- Starts generating videos (Veo, `:predictLongRunning`): the operation,
-- not done yet; `client.operations:wait(op)` waits for it, and then
-- `op.response.generated_videos[i].video` goes to `files:download`.
-- @tparam table req `{model=, prompt=, image=, video=, config = {number_of_videos=,
--   duration_seconds=, aspect_ratio=, resolution=, person_generation=,
--   negative_prompt=, enhance_prompt=, last_frame=, reference_images=,
--   webhook_config=, http_options=}}`, or prompt, image and video in
--   `source = {...}`; an image is `{image_bytes=, mime_type=}`, an answer's
--   `res.inline_data[i]` or `gemini.parts.from_file(path)` (see gemini.videos)
-- @tparam[opt] function cb with the client's loop: `cb(err, op)`, and a handle is returned at once
-- @return the operation (`op.name`), or nil, `gemini.Error`
function Models:generate_videos(req, cb)
  check_self(self, "generate_videos")
  if cb ~= nil then
    return async.call(self.client, "generate_videos", 2, cb,
      function(c) return c.models:generate_videos(req) end)
  end
  local r = videos.request(req, "generate_videos", self.client._vertex ~= nil)
  local op, err = self.client:_call{
    path = self.client:_model(req.model, "generate_videos") .. ":predictLongRunning",
    body = json.encode_verbatim(r.body),
    http_options = self.client:_check_http_options(r.http_options, "generate_videos"),
  }
  if not op then return nil, err end
  return operations.wrap(op)
end

--- Generates answers to many requests at once over one connection pool:
-- `responses[i]` answers `requests[i]`, else `errors[i]` holds its
-- `gemini.Error`; each request has its own retries. Blocking, or with a
-- trailing `cb(responses, errors)` on the client's loop (returns a handle).
-- @tparam table requests a list of `generate_content` requests
-- @tparam[opt] table opts `{concurrency = 8}`
-- @tparam[opt] function cb with the client's loop: `cb(responses, errors)`
function Models:generate_content_all(requests, opts, cb)
  if type(opts) == "function" and cb == nil then opts, cb = nil, opts end
  check_self(self, "generate_content_all")
  return all(self, requests, opts, cb)
end

return Models
