--- The key rules of request bodies: which fields hold the user's own data
-- (whose keys must reach the model or the user's tools exactly as
-- written, never converted to camelCase) and which fields are lists (so
-- that an empty plain table goes out as `[]`, not `{}`).
--
-- The encoder (src/json.c) applies them; gemini.json hands this table to it
-- once, when it loads. A new API field is a new line here: no C rebuild.
--
-- Each field is named as the API spells it (camelCase): the encoder looks a
-- key up after converting it, so `function_response` and `functionResponse`
-- meet the same rule. A rule is one or more of these words:
--   list               a repeated field: an empty plain table is `[]`
--   verbatim           the user's data through and through: no key below is
--                      converted or looked up here
--   map                the keys are the user's names (a Schema's
--                      `properties`), each value an API object again
--   function_response  an API object (its keys converted) whose
--                      `tool_result` fields are the user's data
--   tool_result        the user's data inside a `function_response` field
--                      (the tool's result); an API object elsewhere (a
--                      FunctionDeclaration's `response` is a Schema)
-- @module gemini.keys
return {
  -- functionCall arguments, as the tool defines them
  args = "verbatim",
  -- values in a Schema, of the user's own type
  default = "verbatim",
  example = "verbatim",
  enum = "list verbatim",
  -- user key/value pairs (billing labels, metadata)
  labels = "verbatim",
  metadata = "verbatim",
  userMetadata = "verbatim",      -- a batch's webhookConfig
  -- JSON Schema documents, whose keywords and property names are spelled
  -- as JSON Schema says
  parametersJsonSchema = "verbatim",
  responseJsonSchema = "verbatim",

  properties = "map",
  functionResponse = "function_response",
  -- a Live session's toolResponse: FunctionResponses, each with its result
  functionResponses = "list function_response",
  response = "tool_result",

  -- The repeated fields of the API requests (and of the responses, for
  -- requests rebuilt from earlier answers).
  allowedFunctionNames = "list",
  anyOf = "list",
  candidates = "list",
  contents = "list",
  details = "list",
  embeddings = "list",
  excludedPredefinedFunctions = "list",
  functionDeclarations = "list",
  history = "list",
  parts = "list",
  propertyOrdering = "list",
  requests = "list",
  required = "list",
  responseModalities = "list",
  safetySettings = "list",
  speakerVoiceConfigs = "list",
  stopSequences = "list",
  tools = "list",
  turns = "list",                 -- a Live session's clientContent
  values = "list",
}
