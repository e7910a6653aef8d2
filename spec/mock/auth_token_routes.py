"""Ephemeral auth tokens of the mock: what a server holding the API key mints
for a browser, which then opens a Live API session with the token instead of
the key. Loaded by gemini_mock.py, which calls `register(module)`.

Wire format (python-genai tokens.py / _tokens_converters.py, js-genai
src/tokens.ts):

    POST v1alpha/auth_tokens   (x-goog-api-key: the API key, as any call)
        {"uses": N, "expireTime": T, "newSessionExpireTime": T,
         "bidiGenerateContentSetup": {BidiGenerateContentSetup},
         "fieldMask": "generationConfig.temperature,systemInstruction,..."}
        every field optional; snake_case spellings accepted, as Google's
        JSON parser does. Answer: the AuthToken
        {"name": "auth_tokens/<random>", "uses": N, "expireTime": T,
         "newSessionExpireTime": T} with the defaults filled in: uses 1 (0 =
        no limit), expireTime 30 min from now, newSessionExpireTime 60 s
        from now.
        400 INVALID_ARGUMENT: a body that is not an object; an unknown field
        (top level, setup, setup.generationConfig); uses not an integer >= 0;
        a time that is not RFC 3339, not in the future or 20 hours or more
        ahead; a setup that is not an object, a model not "models/..."; a
        fieldMask that is not a string or names a path the setup does not
        have (its first name a setup field; after "generationConfig." a
        generation config field). Another version than v1alpha: 404, as at
        Google (the service exists only in v1alpha).

For the Live API's WebSocket route (the constrained endpoint), which
receives the token as its key (`?access_token=auth_tokens/...` or the
`Authorization: Token auth_tokens/...` header, as the SDKs send it):

    lookup(name) -> a copy of the token's record, or None (unknown name):
        {"name": "auth_tokens/...", "uses": N (0: no limit), "used": n
         (sessions started), "expire_time": epoch s, "new_session_expire_time":
         epoch s, "setup": the bidiGenerateContentSetup as sent (camelCase
         keys as sent) or None, "field_mask": list of paths or None}
        With a setup: field_mask None locks the whole setup (the client's
        setup is ignored where the token's says something); a list locks
        those paths only.
    start_session(name) -> (record copy, None), or (None, why) where why is
        "unknown", "expired" (past expire_time), "new sessions expired"
        (past new_session_expire_time) or "used up"; on success one use is
        counted. Resuming a session should not call it (no use counted).
    expired(name) -> True when messages of a session with this token must
        be refused now (past expire_time, or unknown).

Control endpoint (no auth): GET /_mock/auth_tokens -> {"tokens": [record,
...]} in issue order. /_mock/reset forgets every token.
"""
import copy
import datetime
import re
import secrets
import threading
import time

LOCK = threading.Lock()
TOKENS = {}  # name -> record (see the docstring), in issue order

MAX_AHEAD = 20 * 3600          # times must be less than 20 hours ahead
DEFAULT_EXPIRE = 30 * 60
DEFAULT_NEW_SESSION = 60

TOKEN_FIELDS = {"name", "uses", "expireTime", "newSessionExpireTime", "bidiGenerateContentSetup",
                "fieldMask"}
# BidiGenerateContentSetup (python-genai types.LiveClientSetup, and the
# fields its converters write).
SETUP_FIELDS = {"model", "generationConfig", "systemInstruction", "tools", "realtimeInputConfig",
                "sessionResumption", "contextWindowCompression", "inputAudioTranscription",
                "outputAudioTranscription", "proactivity", "explicitVadSignal", "historyConfig",
                "avatarConfig", "safetySettings"}
LIVE_GENERATION_FIELDS = {"enableAffectiveDialog", "translationConfig"}

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)\Z")


def _epoch(text):
    """Epoch seconds of an RFC 3339 timestamp, or None."""
    if not isinstance(text, str) or not RFC3339.match(text):
        return None
    frac = re.search(r"\.(\d+)", text)
    base = re.sub(r"\.\d+", "", text).replace("Z", "+00:00")
    try:
        t = datetime.datetime.fromisoformat(base).timestamp()
    except ValueError:
        return None
    return t + (float("0." + frac.group(1)) if frac else 0.0)


def _rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def lookup(name):
    """A copy of the record of token `name`, or None."""
    with LOCK:
        t = TOKENS.get(name)
        return copy.deepcopy(t) if t else None


def start_session(name):
    """Checks that token `name` may start a new Live session now and counts
    one use: (record copy, None), or (None, why)."""
    now = time.time()
    with LOCK:
        t = TOKENS.get(name)
        if t is None:
            return None, "unknown"
        if now >= t["expire_time"]:
            return None, "expired"
        if now >= t["new_session_expire_time"]:
            return None, "new sessions expired"
        if t["uses"] and t["used"] >= t["uses"]:
            return None, "used up"
        t["used"] += 1
        return copy.deepcopy(t), None


def expired(name):
    """Whether a session's messages with token `name` must be refused now."""
    with LOCK:
        t = TOKENS.get(name)
        return t is None or time.time() >= t["expire_time"]


def reset():
    with LOCK:
        TOKENS.clear()


def register(mock):
    mock.RESET_HOOKS.append(reset)
    known_top = mock._with_snake(TOKEN_FIELDS)
    known_setup = mock._with_snake(SETUP_FIELDS)
    known_gen = mock.GENERATION_CONFIG_FIELDS_ALL | mock._with_snake(LIVE_GENERATION_FIELDS)

    def get(d, camel):
        return mock._get(d, camel)

    def bad(ctx, message):
        ctx.send_error(400, message)

    def check_time(ctx, body, camel, now):
        """(epoch seconds or None when absent, ok)."""
        v = get(body, camel)
        if v is None:
            return None, True
        snake = mock._snake(camel)
        t = _epoch(v)
        if t is None:
            bad(ctx, "Invalid value at '%s' (type.googleapis.com/google.protobuf.Timestamp), Field "
                     "'%s', Invalid time format: Failed to parse input" % (snake, camel))
            return None, False
        if t <= now or t >= now + MAX_AHEAD:
            bad(ctx, "%s must be in the future and less than 20 hours from now." % snake)
            return None, False
        return t, True

    def check_object(ctx, obj, known, where=None):
        """Whether `obj` is an object of known fields (camelCase or
        snake_case); else a 400 naming the place `where` was sent."""
        if not isinstance(obj, dict):
            bad(ctx, "Invalid JSON payload received. Invalid value at '%s': expected an object." % where)
            return False
        for k in obj:
            if k not in known:
                mock.unknown_field_error(ctx, k, where)
                return False
        return True

    def check_setup(ctx, setup):
        where = "bidi_generate_content_setup"
        if not check_object(ctx, setup, known_setup, where):
            return False
        gc = get(setup, "generationConfig")
        if gc is not None and not check_object(ctx, gc, known_gen, where + ".generation_config"):
            return False
        model = get(setup, "model")
        if model is not None and not (isinstance(model, str) and model.startswith("models/")):
            bad(ctx, "bidi_generate_content_setup.model: the model name must look like"
                     " \"models/{model}\", got %s." % mock.json.dumps(model))
            return False
        si = get(setup, "systemInstruction")
        if si is not None and not isinstance(si, dict):
            bad(ctx, "Invalid JSON payload received. Invalid value at "
                     "'bidi_generate_content_setup.system_instruction': expected an object.")
            return False
        return True

    def check_mask(ctx, mask):
        """The list of paths of a fieldMask string, or None after a 400."""
        if not isinstance(mask, str):
            bad(ctx, "Invalid value at 'field_mask' (type.googleapis.com/google.protobuf.FieldMask),"
                     " expected a string.")
            return None
        paths = [p for p in mask.split(",") if p]
        for p in paths:
            names = p.split(".")
            ok = names[0] in known_setup
            if ok and mock._camel(names[0]) == "generationConfig" and len(names) > 1:
                ok = names[1] in known_gen
            if not ok:
                bad(ctx, "Invalid field mask path \"%s\": no such field in"
                         " BidiGenerateContentSetup." % p)
                return None
        return paths

    @mock.route("POST", r"auth_tokens")
    def create(ctx):
        if ctx.version != "v1alpha":
            ctx.send_error(404, "Method not found.")
            return
        body = ctx.json_object()
        if body is None or not check_object(ctx, body, known_top):
            return
        uses = get(body, "uses")
        if isinstance(uses, str) and re.fullmatch(r"\d+", uses):
            uses = int(uses)  # an int32 may come as a JSON string
        if uses is None:
            uses = 1
        if isinstance(uses, bool) or not isinstance(uses, int) or uses < 0:
            bad(ctx, "Invalid value at 'uses' (TYPE_INT32): must be an integer >= 0, got %s."
                % mock.json.dumps(get(body, "uses")))
            return
        now = time.time()
        expire, ok = check_time(ctx, body, "expireTime", now)
        if not ok:
            return
        new_session, ok = check_time(ctx, body, "newSessionExpireTime", now)
        if not ok:
            return
        setup = get(body, "bidiGenerateContentSetup")
        if setup is not None and not check_setup(ctx, setup):
            return
        mask = get(body, "fieldMask")
        if mask is not None:
            mask = check_mask(ctx, mask)
            if mask is None:
                return
        record = {
            "name": "auth_tokens/" + secrets.token_hex(16),
            "uses": uses, "used": 0,
            "expire_time": expire or now + DEFAULT_EXPIRE,
            "new_session_expire_time": new_session or now + DEFAULT_NEW_SESSION,
            "setup": setup, "field_mask": mask,
        }
        with LOCK:
            TOKENS[record["name"]] = record
        ctx.send_json(200, {"name": record["name"], "uses": uses,
                            "expireTime": _rfc3339(record["expire_time"]),
                            "newSessionExpireTime": _rfc3339(record["new_session_expire_time"])})

    def listing(state, data, query):
        with LOCK:
            return 200, {"tokens": copy.deepcopy(list(TOKENS.values()))}

    mock.CONTROL_ROUTES[("GET", "/_mock/auth_tokens")] = listing
