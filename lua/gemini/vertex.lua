--- Vertex AI (enterprise) mode: which mode a client is in, its project,
-- location, host and API version, and the paths and model names of its
-- requests. `Client.new` asks `resolve`; the request path asks `path`.
--
-- Every rule here is python-genai's (google/genai/_api_client.py
-- BaseApiClient.__init__ and _build_request, _base_url.py, _transformers.py
-- t_model / t_caches_model), as docs/wire-format-2.md "Vertex AI mode" lists.
-- @module gemini.vertex
local errors = require("gemini.errors")
local json = require("gemini.json")

local M = {}

--- The options of Client{} this mode adds.
M.OPTIONS = { "vertexai", "enterprise", "project", "location", "credentials" }

-- _api_client.py: `env.lower() in ['true', '1']`; unset is "not said".
local function env_flag(name)
  local v = os.getenv(name)
  if v == nil then return nil end
  v = v:lower()
  return v == "true" or v == "1"
end

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

-- _api_client.py _MULTI_REGIONAL_LOCATIONS: served at aiplatform.{loc}.rep.
local MULTI_REGIONS = { us = true, eu = true }

--- Whether the client is in Vertex mode: `enterprise`, else `vertexai`,
-- else env GOOGLE_GENAI_USE_ENTERPRISE (which wins over), else
-- GOOGLE_GENAI_USE_VERTEXAI.
local function wanted(opts)
  if opts.enterprise ~= nil then return opts.enterprise end
  if opts.vertexai ~= nil then return opts.vertexai end
  local e = env_flag("GOOGLE_GENAI_USE_ENTERPRISE")
  if e ~= nil then return e end
  return env_flag("GOOGLE_GENAI_USE_VERTEXAI") == true
end

-- A project or location goes into the request path: one segment of URL
-- characters.
local function check_segment(v, field)
  if v ~= nil and not v:find("^[%w][%w%-_%.]*$") then
    errors.misuse(string.format("bad field '%s' to 'Client' (a Google Cloud %s id expected)", field,
      field))
  end
end

--- The Vertex settings of `opts` (already type-checked), or nil in the
-- Gemini API mode. `env_key` is the API key of the environment (nil when
-- none); `load` returns the credentials source of a `credentials` spec
-- (see gemini.auth.tokens). Raises, naming the option, for what the SDK
-- rejects.
-- @treturn table `{project=, location=, api_key= (express), base_url=,
--   custom_base= (base_url given), source= (credentials, nil in express mode),
--   project_later= (true: the project is the metadata server's, see `needs_project`)}`
function M.resolve(opts, env_key, load)
  if not wanted(opts) then
    for _, k in ipairs({ "project", "location", "credentials" }) do
      if opts[k] ~= nil then
        errors.misuse(string.format("bad field '%s' to 'Client' (only in Vertex AI mode: pass"
          .. " vertexai = true; the Gemini API does not support project, location or"
          .. " credentials)", k))
      end
    end
    return nil
  end
  if opts.credentials ~= nil and type(opts.api_key) == "string" then
    errors.misuse("bad field 'credentials' to 'Client' (credentials and api_key are mutually"
      .. " exclusive)")
  end
  check_segment(opts.project, "project"); check_segment(opts.location, "location")
  local env_project, env_location = env("GOOGLE_CLOUD_PROJECT"), env("GOOGLE_CLOUD_LOCATION")
  if opts.api_key == false then env_key = nil end
  local explicit_key = type(opts.api_key) == "string" and opts.api_key or nil
  local project = opts.project or env_project
  local location = opts.location or env_location
  local key = explicit_key or env_key
  -- Explicit beats env; env project/location beat an env key.
  if opts.credentials ~= nil and env_key and not explicit_key then
    key = nil
  elseif explicit_key and not opts.project and not opts.location then
    project, location = nil, nil
  elseif not explicit_key and env_key and (opts.project or opts.location or env_project
                                            or env_location) then
    key = nil
  end
  local custom = opts.base_url or env("GOOGLE_VERTEX_BASE_URL")
  if not location and not key and (not custom or custom:find("%.googleapis%.com/?$")) then
    location = "global"
  end
  local source
  if not key then
    source = load(opts.credentials)
    project = project or source.project_id
  end
  -- The metadata server knows the project of the machine it serves (as
  -- google.auth.default() asks it): fetched at the first request.
  local project_later = not project and location ~= nil and source ~= nil
    and source.project_request ~= nil
  if not ((project and location) or key or project_later) and not custom then
    errors.misuse("gemini.Client: Vertex AI mode needs a project (pass project, set"
      .. " GOOGLE_CLOUD_PROJECT, or use credentials that name one) or an API key (express mode)")
  end
  check_segment(project, "project"); check_segment(location, "location")
  local base
  if custom then
    -- A gateway of one's own that is not a googleapis.com host gets the
    -- paths without projects/.../locations/... unless both were passed.
    base = custom
    if not custom:find("%.googleapis%.com/?$") and not ((opts.project and opts.location) or key) then
      project, location, project_later = nil, nil, false
    end
  elseif (key and not location) or location == "global" then
    base = "https://aiplatform.googleapis.com"
  elseif MULTI_REGIONS[location] then
    base = "https://aiplatform." .. location .. ".rep.googleapis.com"
  else
    base = "https://" .. location .. "-aiplatform.googleapis.com"
  end
  return { project = project, location = location, api_key = key, base_url = base,
           source = source, project_later = project_later or nil }
end

--- A model name as python-genai's t_model gives it on Vertex: "x" ->
-- "publishers/google/models/x", "pub/x" -> "publishers/pub/models/x";
-- "projects/...", "models/..." (a tuned model of the project) and
-- "publishers/..." as they are.
-- @tparam string name a name `request.model` accepted (path segments only)
function M.model(name)
  if name:find("^projects/") or name:find("^models/") or name:find("^publishers/") then
    return name
  end
  local publisher, id = name:match("^([^/]+)/(.+)$")
  if publisher then return "publishers/" .. publisher .. "/models/" .. id end
  return "publishers/google/models/" .. name
end

--- The path of a request: `projects/{p}/locations/{l}/` before any path
-- that does not start with "projects/", except the GET of base models
-- ("publishers/..."), as _api_client.py _build_request; express mode (no
-- project) as it is.
-- @tparam table vx what `resolve` returned
function M.path(vx, path, method)
  if not (vx.project and vx.location) or path:find("^projects/") then return path end
  if method == "GET" and path:find("^publishers/") then return path end
  return "projects/" .. vx.project .. "/locations/" .. vx.location .. "/" .. path
end

--- Whether `path` needs the project before it is known (it comes from the
-- metadata server: the client asks it, sets `vx.project`, then `path`).
function M.needs_project(vx, path, method)
  return vx.project == nil and vx.project_later == true and not path:find("^projects/")
    and not (method == "GET" and path:find("^publishers/"))
end

--- A model's full resource name (a cache's `model`, t_caches_model):
-- "projects/{p}/locations/{l}/publishers/google/models/x".
function M.full_model(vx, name)
  name = M.model(name)
  if name:find("^models/") then name = "publishers/google/" .. name end
  return M.path(vx, name, "POST")
end

-- The filter that makes a models list the project's tuned models (models.py list).
local TUNED = "labels.tune-type:*"

--- The models list on Vertex AI, as python-genai's models.list: the base
-- models (`query_base`, the default) at GET publishers/google/models (no
-- project), answered in `publisherModels`; with `query_base = false` the
-- project's tuned models at GET models, filtered by `labels.tune-type:*`
-- after the caller's `filter` (the SDK sends `filter=A&filter=labels...`).
-- (_transformers.py t_models_url and t_extract_models; models.py list, _list.)
-- @return path, the list's field in a page, the query (filter) of every page
function M.models_list(query_base, filter)
  if query_base == false then
    return "models", "models", { filter = filter and { filter, TUNED } or TUNED }
  end
  return "publishers/google/models", "publisherModels", filter and { filter = filter } or nil
end

--- The body of countTokens on Vertex AI: contents, systemInstruction, tools
-- and generationConfig side by side (models.py _CountTokensParameters_to_vertex;
-- no generateContentRequest wrapper there).
-- @tparam table contents request.contents' list
-- @tparam[opt] table config the flat generate config
function M.count_tokens_body(contents, config)
  local body = { contents = contents }
  if config ~= nil and next(config) ~= nil then
    local inner = require("gemini.request").split_config(config, "count_tokens")
    body.systemInstruction, body.tools = inner.systemInstruction, inner.tools
    body.generationConfig = inner.generationConfig
  end
  return body
end

-- The embed config's fields by camelCase name: where each goes in the two
-- Vertex requests (models.py _EmbedContentConfig_to_vertex).
local EMBED_CONFIG = {
  taskType = { "instance", "task_type" }, title = { "instance", "title" },
  mimeType = { "instance", "mimeType" }, outputDimensionality = { "parameters" },
  autoTruncate = { "parameters" },
}

--- An embed_content call on Vertex AI, as python-genai's models.py
-- embed_content: Gemini embedding models (`'gemini' in name` but not
-- gemini-embedding-001) and MaaS ones (`'maas'`, t_is_vertex_embed_content_model)
-- take `:embedContent` with one content and `embedContentConfig`; the
-- others (text-embedding-*) `:predict` with one instance per text part.
-- @tparam string name the model as the caller gave it
-- @tparam table items the contents (Models.embed_contents)
-- @tparam table config the embed config (snake or camel names)
-- @return method, the body (JSON text), and a function giving the answer
--   (`embeddings[i].values`) from the response
function M.embed(name, items, config)
  local request = require("gemini.request")
  local cfg = {}
  for k, v in pairs(config) do
    local ck = request.camel(k)
    if ck ~= "httpOptions" then cfg[ck] = v end
  end
  if (name:find("gemini", 1, true) and not name:find("gemini%-embedding%-001$"))
     or name:find("maas", 1, true) then
    if #items > 1 then
      errors.misuse("bad field 'contents' to 'embed_content' (on Vertex AI the embedContent API of"
        .. " this model takes one content at a time)")
    end
    return "embedContent", json.encode({ content = items[1], embedContentConfig = next(cfg) and cfg
      or nil }, { root = "request" }),
      function(res)
        -- (_EmbedContentResponse_from_vertex: the one embedding, its statistics.)
        res.embeddings = res.embeddings or { res.embedding }
        return res
      end
  end
  local instances, parameters = {}, {}
  for _, content in ipairs(items) do
    for _, part in ipairs(content.parts or {}) do
      if type(part.text) == "string" then instances[#instances + 1] = { content = part.text } end
    end
  end
  for k, v in pairs(cfg) do
    local where = EMBED_CONFIG[k]
    if not where then
      errors.misuse(string.format("bad field 'config.%s' to 'embed_content' (not for this model on"
        .. " Vertex AI; known: task_type, title, mime_type, output_dimensionality, auto_truncate)", k))
    end
    if where[1] == "parameters" then
      parameters[k] = v
    else
      for _, inst in ipairs(instances) do inst[where[2]] = v end
    end
  end
  -- Verbatim: the instances' keys are snake_case on the wire (task_type).
  return "predict", json.encode_verbatim{ instances = instances,
                                          parameters = next(parameters) and parameters or nil },
    function(res)
      -- (predictions[].embeddings -> embeddings, _EmbedContentResponse_from_vertex.)
      local list = {}
      for i, p in ipairs(type(res.predictions) == "table" and res.predictions or {}) do
        list[i] = type(p) == "table" and p.embeddings or nil
      end
      res.embeddings = list
      return res
    end
end

--- A service Vertex AI does not have: any use of it raises, naming the mode.
-- @tparam string what e.g. "client.files (the files API)"
function M.unsupported(what)
  return setmetatable({}, { __index = function(_, k)
    errors.misuse(string.format("gemini: %s is not available in Vertex AI mode (%s%s)", what,
      "use it with an API key of the Gemini API", type(k) == "string" and "; called: " .. k or ""))
  end })
end

-- A generated video's bytes for `download`: the video (or the generated
-- video holding it) when its bytes came inline; raises for one stored in
-- Cloud Storage, which this library does not fetch, and for anything else.
local function video_bytes(file)
  local v = type(file) == "table" and type(file.video) == "table" and file.video or file
  if type(v) == "table" and type(v.video_bytes) == "string" then return v.video_bytes end
  if type(v) == "table" and type(v.uri) == "string" and v.uri:find("^gs://") then
    errors.misuse(string.format("bad field 'file' to 'download' (the video is in Cloud Storage,"
      .. " %s: this library does not fetch gs:// URIs; copy it with `gcloud storage cp` or the"
      .. " Cloud Storage API, or leave out config.output_gcs_uri to have its bytes inline)",
      errors.snippet(v.uri, 120)))
  end
  errors.misuse("bad field 'file' to 'download' (in Vertex AI mode only a generated video with"
    .. " inline bytes, op.response.generated_videos[i].video, can be downloaded; got "
    .. require("gemini.download").describe(file) .. ")")
end

--- `client.files` in Vertex AI mode: Vertex has no files API (any use
-- raises, naming the mode), but `download` takes a generated video whose
-- bytes came inline (Veo on Vertex answers `bytesBase64Encoded` unless
-- config.output_gcs_uri is given) and writes it to `path` (the number of
-- bytes) or returns the bytes, as the files API's `download` does. A video
-- in Cloud Storage (a gs:// URI) raises, saying so.
-- @param client
function M.files(client)
  local files = M.unsupported("client.files (the files API)")
  rawset(files, "download", function(self, args, cb)
    if cb ~= nil then
      return require("gemini.async").call(client, "download", 2, cb,
        function(c) return c.files:download(args) end)
    end
    errors.arg("download", 1, args, "table")
    errors.known_fields("download", args, { "file", "path", "on_progress", "http_options" })
    local path = errors.field("download", "path", args.path, "string", true)
    local on_progress = errors.field("download", "on_progress", args.on_progress, "function", true)
    local bytes = video_bytes(args.file)
    if path then
      -- (written aside and renamed, as the files API's download)
      local download = require("gemini.download")
      local n, err = download.save(client, path, function(out, tmp)
        local werr = download.written(client, tmp, out:write(bytes))
        if werr then return nil, werr end
        return #bytes
      end)
      if not n then return nil, err end
    end
    if on_progress then on_progress(#bytes, #bytes) end
    if path then return #bytes end
    return bytes
  end)
  return files
end

return M
