--- Responses: the decoded REST JSON (camelCase keys, exactly as sent) with
-- read-only helpers computed on access through the metatable:
-- `text`, `thoughts`, `function_calls`, `parsed`, `inline_data`,
-- `executable_code`, `code_execution_result`, `grounding_metadata`,
-- `web_search_queries`, `sources`, `cited_text`,
-- `automatic_function_calling_history`.
-- @module gemini.response
local core = require("gemini.core")
local errors = require("gemini.errors")
local json = require("gemini.json")

local M = {}

local function parts0(res)
  local c = res.candidates
  c = type(c) == "table" and c[1]
  c = type(c) == "table" and c.content
  local p = type(c) == "table" and c.parts
  return type(p) == "table" and p or nil
end
M.parts = parts0

-- t[k] when t is a table (a part may be anything in a reply of a strange
-- shape; the helpers never raise on one).
local function field(t, k)
  if type(t) == "table" then return t[k] end
  return nil
end

--- The text of a list of parts (or nil), thought parts (want_thought) or
-- answer parts, joined; nil when none (also a Live message's `text`).
-- @local
function M.parts_text(parts, want_thought)
  if not parts then return nil end
  -- One matching part (the usual chunk) is returned as is: no list, no concat.
  local first, out
  for i = 1, #parts do
    local p = parts[i]
    if type(p) == "table" and type(p.text) == "string" and (p.thought == true) == want_thought then
      if first == nil then
        first = p.text
      else
        out = out or { first }
        out[#out + 1] = p.text
      end
    end
  end
  if out then return table.concat(out) end
  return first
end

-- Text of candidate 0, thought parts (want_thought) or answer parts.
local function joined_text(res, want_thought)
  return M.parts_text(parts0(res), want_thought)
end

local getters = {}

--- The non-thought text parts of the first candidate, joined; nil when none.
-- @tparam table res the response: read it as the field `res.text`
function getters.text(res) return joined_text(res, false) end

--- The thought-summary text (`thought = true` parts), joined; nil when none.
-- @tparam table res the response: read it as the field `res.thoughts`
function getters.thoughts(res) return joined_text(res, true) end

-- List of `pick(part[name])` for the parts of candidate 0 holding a table
-- under `name` (a nil pick is left out), or nil when there is none.
local function collect(res, name, pick)
  local parts = parts0(res)
  if not parts then return nil end
  local out
  for i = 1, #parts do
    local v = field(parts[i], name)
    if type(v) == "table" then
      v = pick(v)
      if v ~= nil then
        out = out or {}
        out[#out + 1] = v
      end
    end
  end
  return out
end

local function call_of(fc)
  return { name = fc.name, args = fc.args or {}, id = fc.id }
end

--- List of `{name=, args=, id=}` of the first candidate, or nil.
-- @tparam table res the response: read it as the field `res.function_calls`
function getters.function_calls(res)
  return collect(res, "functionCall", call_of)
end

--- The JSON-mode answer decoded, or nil (not JSON mode, or no text).
-- An answer that is not valid JSON raises a `gemini.Error` of kind "decode".
-- @tparam table res the response: read it as the field `res.parsed`
function getters.parsed(res)
  if not getmetatable(res).json_mode then return nil end
  local text = joined_text(res, false)
  if text == nil then return nil end
  local v, msg = json.decode(text)
  if v == nil then
    errors.raise(errors.new("decode", "the JSON-mode answer is not valid JSON: " .. tostring(msg)))
  end
  return v
end

-- `{mime_type=, data=<raw bytes>}` of one `inlineData`, or nil without data.
local function blob_of(d)
  if type(d.data) ~= "string" then return nil end
  local bytes, msg = core.b64decode(d.data)
  if bytes == nil then
    errors.raise(errors.new("decode", "inline data is not valid base64: " .. tostring(msg)))
  end
  return { mime_type = d.mimeType, data = bytes }
end

--- List of `{mime_type=, data=<raw bytes>}` for the inline data parts, or nil.
-- @tparam table res the response: read it as the field `res.inline_data`
function getters.inline_data(res)
  return collect(res, "inlineData", blob_of)
end

-- ---- code execution and grounding ------------------------------------------

--- The code the model ran with the code execution tool: list of
-- `{language=, code=}` (the `executableCode` parts of the first candidate,
-- in order), or nil.
-- @tparam table res the response: read it as the field `res.executable_code`
function getters.executable_code(res)
  return collect(res, "executableCode", function(v) return { language = v.language, code = v.code } end)
end

--- What that code gave: list of `{outcome=, output=}` (the
-- `codeExecutionResult` parts of the first candidate, in order; `outcome`
-- is e.g. "OUTCOME_OK"), or nil.
-- @tparam table res the response: read it as the field `res.code_execution_result`
function getters.code_execution_result(res)
  return collect(res, "codeExecutionResult", function(v) return { outcome = v.outcome, output = v.output } end)
end

local function candidate0(res)
  local c = res.candidates
  c = type(c) == "table" and c[1]
  return type(c) == "table" and c or nil
end

--- The first candidate's `groundingMetadata` (Google Search, Maps, URL
-- context, file search grounding), as sent, or nil.
-- @tparam table res the response: read it as the field `res.grounding_metadata`
function getters.grounding_metadata(res)
  local c = candidate0(res)
  local g = c and c.groundingMetadata
  return type(g) == "table" and g or nil
end

--- The Google Search queries the model made (`groundingMetadata.webSearchQueries`), or nil.
-- @tparam table res the response: read it as the field `res.web_search_queries`
function getters.web_search_queries(res)
  local g = getters.grounding_metadata(res)
  local q = g and g.webSearchQueries
  return type(q) == "table" and q or nil
end

-- The source of one grounding chunk: web, maps or retrieved context.
local function chunk_source(ch)
  if type(ch) ~= "table" then return nil end
  local s = ch.web or ch.maps or ch.retrievedContext
  return type(s) == "table" and s or nil
end

-- What a chunk retrieved from a file search store says beyond its title
-- and URI (`retrievedContext`, wire-format-2 §15.7), by the names `sources`
-- gives them.
local RETRIEVED = {
  text = "text", fileSearchStore = "file_search_store", pageNumber = "page_number",
  mediaId = "media_id", customMetadata = "custom_metadata",
}

--- The grounding sources: one table per grounding chunk, in order, so
-- that `sources[n]` is what the marker `[n]` of `cited_text` points to:
-- `{title=, uri=}` for a web or Maps chunk; for a chunk retrieved from a
-- file search store (`retrievedContext`) also, as sent, `text` (the
-- chunk's text), `file_search_store`, `page_number`, `media_id` and
-- `custom_metadata` (the document's list of `{key=, stringValue= | ...}`).
-- nil when the answer is not grounded.
-- @tparam table res the response: read it as the field `res.sources`
function getters.sources(res)
  local g = getters.grounding_metadata(res)
  local chunks = g and g.groundingChunks
  if type(chunks) ~= "table" or #chunks == 0 then return nil end
  local out = {}
  for i = 1, #chunks do
    local s = chunk_source(chunks[i]) or {}
    out[i] = { title = s.title, uri = s.uri }
    if s == field(chunks[i], "retrievedContext") then
      for k, name in pairs(RETRIEVED) do out[i][name] = s[k] end
    end
  end
  return out
end

--- The answer text (`res.text`) with citation markers such as
-- `[1](https://uri1), [2](https://uri2)` inserted after each grounded
-- segment, the way Google's grounding guide's `add_citations` does.
-- `segment.endIndex` is a byte offset into the UTF-8 text (relative to the
-- text part `segment.partIndex`, the first when absent), so the markers go
-- in at exact byte positions, the last segment first so that earlier
-- offsets stay valid; a marker never splits a multi-byte character.
-- The text unchanged when there is no grounding; nil when there is no text.
-- @tparam table res the response: read it as the field `res.cited_text`
function getters.cited_text(res)
  local parts = parts0(res)
  local text = joined_text(res, false)
  if not text then return nil end
  local g = getters.grounding_metadata(res)
  local supports = g and g.groundingSupports
  local chunks = g and type(g.groundingChunks) == "table" and g.groundingChunks or {}
  if type(supports) ~= "table" or #supports == 0 then return text end
  -- Byte offset of each answer text part in the joined text, so that an
  -- offset relative to its part maps to one in the whole text.
  local base, at = {}, 0
  for i = 1, #parts do
    local p = parts[i]
    base[i - 1] = at
    if type(p) == "table" and type(p.text) == "string" and p.thought ~= true then at = at + #p.text end
  end
  local marks = {}
  for i = 1, #supports do
    local s = supports[i]
    local seg = type(s) == "table" and s.segment
    local e = type(seg) == "table" and tonumber(seg.endIndex)
    e = e and math.floor(e)     -- string.sub wants an integral offset
    local idx = type(s) == "table" and s.groundingChunkIndices
    if e and type(idx) == "table" and #idx > 0 then
      local links = {}
      for j = 1, #idx do
        local n = tonumber(idx[j])
        local src = n and chunk_source(chunks[n + 1])
        if src then
          -- A chunk of a file search store may have no URI: `[n]` alone.
          local uri = type(src.uri) == "string" and src.uri ~= "" and src.uri
          links[#links + 1] = uri and string.format("[%d](%s)", n + 1, uri) or string.format("[%d]", n + 1)
        end
      end
      if #links > 0 then
        local pos = math.min(#text, math.max(0, (base[tonumber(seg.partIndex) or 0] or 0) + e))
        -- Never split a UTF-8 sequence: move past continuation bytes.
        while pos < #text and text:byte(pos + 1) >= 0x80 and text:byte(pos + 1) < 0xC0 do
          pos = pos + 1
        end
        marks[#marks + 1] = { pos = pos, order = i, text = table.concat(links, ", ") }
      end
    end
  end
  -- Last position first; at one position, the later support first, so the
  -- markers read in the order of the supports.
  table.sort(marks, function(a, b)
    if a.pos ~= b.pos then return a.pos > b.pos end
    return a.order > b.order
  end)
  for _, mk in ipairs(marks) do
    text = text:sub(1, mk.pos) .. mk.text .. text:sub(mk.pos + 1)
  end
  return text
end

--- With automatic function calling: the contents of the first request
-- followed by each (model function-call content, user function-response
-- content) pair that was sent, as in the SDK; an empty list when the
-- first answer had no calls; nil without automatic function calling. The
-- final answer is the response itself.
-- @tparam table res the response: read it as the field `res.automatic_function_calling_history`
function getters.automatic_function_calling_history(res)
  return getmetatable(res).afc_history
end

M.getters = getters

-- ---- the metatables -------------------------------------------------------
--
-- What a response is besides its JSON (a JSON-mode answer, the history of
-- automatic function calling) lives in its metatable, never in the table
-- (which stays exactly the decoded JSON for `pairs`) nor in a table keyed
-- by it (which a copy would not find): a copy given the same metatable is
-- the same response. Plain and JSON-mode answers share one metatable each;
-- a response of automatic function calling gets one of its own.

local function index(res, k)
  local g = getters[k]
  if g then return g(res) end
  return nil
end

local function metatable(json_mode, afc_history)
  return { __index = index, json_mode = json_mode, afc_history = afc_history }
end

local PLAIN, JSON_MODE = metatable(false, nil), metatable(true, nil)

--- Gives a decoded response its helpers.
-- @tparam table t the decoded JSON
-- @tparam[opt] boolean is_json the request asked for a JSON answer
function M.wrap(t, is_json)
  return setmetatable(t, is_json and JSON_MODE or PLAIN)
end

--- Records the automatic function calling history of a wrapped response
-- (used by `gemini.afc`).
-- @local
function M.set_afc_history(res, list)
  setmetatable(res, metatable(getmetatable(res).json_mode, list))
end

--- Whether `t` is a wrapped response.
-- @param t any value
function M.is_response(t)
  local mt = getmetatable(t)
  return type(mt) == "table" and mt.__index == index
end

return M
