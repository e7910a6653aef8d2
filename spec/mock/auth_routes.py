"""Google's OAuth token endpoint and the Compute Engine metadata server, as
the mock plays them for Vertex AI credentials (lua/gemini/auth/credentials.lua).
Every access token handed out comes from token_registry.issue, so the
Vertex routes accept it as a bearer token.

Wire formats (sources in docs/wire-format-credentials.md):
google-auth-library-python's google/oauth2/_client.py (jwt_grant,
refresh_grant, error answers), google/oauth2/service_account.py (the
assertion) and google/auth/compute_engine/_metadata.py (metadata server).

Routes (whole paths, no API key check; the "any" faults apply to them):

    POST /oauth2/token   application/x-www-form-urlencoded
      grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT
        The JWT is verified for real: three base64url parts (no padding),
        header {"alg": "RS256", "typ": "JWT"} (and "kid" == the registered
        private_key_id, when one was registered), the RS256 signature
        (RSASSA-PKCS1-v1_5, SHA-256: pow(sig, e, n) against the DigestInfo)
        under the registered public key of the claim "iss", "scope" holding
        https://www.googleapis.com/auth/cloud-platform, "aud" == this
        endpoint's URL (scheme://Host/oauth2/token), "iat" within 60 s of
        now, "exp" == iat + 3600.
      grant_type=refresh_token&client_id=&client_secret=&refresh_token=
        A registered user: known client_id and client_secret, its refresh
        token.
      -> 200 {"access_token": T, "expires_in": S, "token_type": "Bearer"}
         (the JWT grant adds nothing else: no "refresh_token")
      Refusals, as Google's token endpoint answers them (RFC 6749 5.2):
         400 {"error": "invalid_grant", "error_description": "Invalid JWT
             Signature."} (bad signature, unknown key), "Invalid JWT: Token
             must be a short-lived token (60 minutes) and in a reasonable
             timeframe. Check your iat and exp values in the JWT claim."
             (iat/exp), "Invalid JWT: Failed audience check. ..." (aud),
             "Invalid JWT Signature." also for an unknown iss;
             400 {"error": "invalid_scope", ...} (scope);
             400 {"error": "invalid_grant", "error_description": "Token has
             been expired or revoked."} (unknown refresh token);
             401 {"error": "invalid_client", "error_description":
             "Unauthorized"} (unknown client_id or wrong client_secret);
             400 {"error": "invalid_request", ...} (a malformed JWT, missing
             fields, not a form body);
             400 {"error": "unsupported_grant_type", "error_description":
             "Invalid grant_type: X"}.

    GET /computeMetadata/v1/instance/service-accounts/default/token[?scopes=...]
      -> 200 {"access_token": T, "expires_in": S, "token_type": "Bearer"},
         header Metadata-Flavor: Google
    GET /computeMetadata/v1/project/project-id
      -> 200 text/plain, the project id ("mock-project" unless set)
      Both need the request header "Metadata-Flavor: Google": without it,
      403 text/html, as the real server does.

Control endpoints (no auth, JSON):

    POST /_mock/auth/service_accounts  {"client_email": E, "modulus": "<hex n>",
        "exponent": e (65537), "private_key_id": K (optional)}
        -> {"ok": true}    a key the JWT grant accepts for iss E
    POST /_mock/auth/users  {"client_id", "client_secret", "refresh_token"}
        -> {"ok": true}    a user the refresh grant accepts
    POST /_mock/auth/settings  {"expires_in": S, "latency": seconds,
        "project_id": P, "oauth_errors": [E, ...]}   (each optional; kept
        until /_mock/reset)
        expires_in: the lifetime of the tokens minted from now on (default
        3600; short expiries for refresh specs); latency: a wait before
        each token answer (token endpoint and metadata token route), so
        that requests in flight overlap (single-flight specs);
        oauth_errors: the next token requests are refused in turn, one per
        E, with 400 {"error": E, "error_description": "mock: E"} (before
        the grant is looked at: "server_error" and "temporarily_unavailable"
        are the ones google-auth tries again).
        -> {"ok": true, "settings": {...}}
    GET  /_mock/auth/counts
        -> {"jwt_bearer": N, "refresh_token": N, "other_grant": N,
            "metadata_token": N, "metadata_project": N, "issued": N,
            "refused": N}
        token requests received by kind (refused ones included), tokens
        issued, requests refused.

/_mock/reset forgets keys, users, settings and counts.
"""
import base64
import hashlib
import json
import ssl
import threading
import time
import urllib.parse

import token_registry

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/oauth2/token"
MD_ROOT = "/computeMetadata/v1/"
ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 60

# DER of DigestInfo{sha256, NULL} before the 32-byte hash (RFC 8017 9.2).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")

LOCK = threading.Lock()
DEFAULTS = {"expires_in": 3600, "latency": 0, "project_id": "mock-project", "oauth_errors": ()}
KEYS = {}      # client_email -> {"n": int, "e": int, "kid": str | None}
USERS = {}     # client_id -> {"client_secret", "refresh_token"}
SETTINGS = dict(DEFAULTS)
COUNTS = {}


def reset():
    with LOCK:
        KEYS.clear()
        USERS.clear()
        SETTINGS.clear()
        SETTINGS.update(DEFAULTS)
        COUNTS.clear()


def count(kind):
    with LOCK:
        COUNTS[kind] = COUNTS.get(kind, 0) + 1


class Refused(Exception):
    """An OAuth error answer: status, error code, description."""

    def __init__(self, status, error, description):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def b64url(part):
    """Strict unpadded base64url (RFC 7515 2) -> bytes."""
    if not part or "=" in part or len(part) % 4 == 1 or \
            any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                for c in part):
        raise Refused(400, "invalid_request", "Invalid JWT: not base64url.")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def rs256_valid(signing_input, sig, n, e):
    """RSASSA-PKCS1-v1_5 verification with SHA-256 (RFC 8017 8.2.2)."""
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    s = int.from_bytes(sig, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(k, "big")
    t = SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest()
    want = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return em == want


def endpoint_url(ctx):
    scheme = "https" if isinstance(ctx.h.connection, ssl.SSLSocket) else "http"
    return "%s://%s%s" % (scheme, ctx.headers.get("host", ""), TOKEN_PATH)


def json_object(raw, what):
    try:
        v = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        v = None
    if not isinstance(v, dict):
        raise Refused(400, "invalid_request", "Invalid JWT: the %s is not a JSON object." % what)
    return v


def jwt_grant(ctx, form):
    count("jwt_bearer")
    assertion = form.get("assertion")
    if not assertion:
        raise Refused(400, "invalid_request", "Missing required parameter: assertion")
    parts = assertion.split(".")
    if len(parts) != 3:
        raise Refused(400, "invalid_request", "Invalid JWT: expected three parts.")
    header = json_object(b64url(parts[0]), "header")
    claims = json_object(b64url(parts[1]), "claim set")
    sig = b64url(parts[2])
    if header.get("alg") != "RS256" or header.get("typ", "JWT") != "JWT":
        raise Refused(400, "invalid_request", "Invalid JWT: alg must be RS256.")
    with LOCK:
        key = KEYS.get(claims.get("iss"))
    if key is None or not rs256_valid((parts[0] + "." + parts[1]).encode("ascii"), sig,
                                      key["n"], key["e"]):
        raise Refused(400, "invalid_grant", "Invalid JWT Signature.")
    if key["kid"] is not None and header.get("kid") != key["kid"]:
        raise Refused(400, "invalid_grant", "Invalid JWT Signature.")
    if claims.get("aud") != endpoint_url(ctx):
        raise Refused(400, "invalid_grant", "Invalid JWT: Failed audience check. The expected "
                                            "audience is %s." % endpoint_url(ctx))
    scope = claims.get("scope")
    if not isinstance(scope, str) or SCOPE not in scope.split(" "):
        raise Refused(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (iat, exp)) \
            or abs(iat - time.time()) > CLOCK_SKEW or exp != iat + ASSERTION_LIFETIME:
        raise Refused(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token "
                                            "(60 minutes) and in a reasonable timeframe. Check "
                                            "your iat and exp values in the JWT claim.")


def refresh_grant(form):
    count("refresh_token")
    for name in ("client_id", "client_secret", "refresh_token"):
        if not form.get(name):
            raise Refused(400, "invalid_request", "Missing required parameter: " + name)
    with LOCK:
        user = USERS.get(form["client_id"])
    if user is None or user["client_secret"] != form["client_secret"]:
        raise Refused(401, "invalid_client", "Unauthorized")
    if user["refresh_token"] != form["refresh_token"]:
        raise Refused(400, "invalid_grant", "Token has been expired or revoked.")


def mint():
    """A token answer with the current lifetime, after the set latency."""
    with LOCK:
        lifetime, latency = SETTINGS["expires_in"], SETTINGS["latency"]
        COUNTS["issued"] = COUNTS.get("issued", 0) + 1
    if latency:
        time.sleep(latency)
    return {"access_token": token_registry.issue(lifetime), "expires_in": lifetime,
            "token_type": "Bearer"}


def register(mock):
    mock.RESET_HOOKS.append(reset)

    @mock.plain_route("POST", TOKEN_PATH)
    def token(ctx):
        try:
            ctype = ctx.headers.get("content-type", "")
            if not ctype.lower().startswith("application/x-www-form-urlencoded"):
                raise Refused(400, "invalid_request",
                              "Bad Request: expected application/x-www-form-urlencoded")
            try:
                form = {k: v[0] for k, v in urllib.parse.parse_qs(
                    ctx.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False).items()}
            except (UnicodeDecodeError, ValueError):
                raise Refused(400, "invalid_request", "Bad Request")
            grant = form.get("grant_type", "")
            with LOCK:
                queued = SETTINGS["oauth_errors"]
                SETTINGS["oauth_errors"] = queued[1:]
            if queued:
                raise Refused(400, queued[0], "mock: " + queued[0])
            if grant == JWT_GRANT:
                jwt_grant(ctx, form)
            elif grant == "refresh_token":
                refresh_grant(form)
            else:
                count("other_grant")
                raise Refused(400, "unsupported_grant_type", "Invalid grant_type: " + grant)
        except Refused as r:
            count("refused")
            ctx.send_json(r.status, {"error": r.error, "error_description": r.description})
            return
        ctx.send_json(200, mint())

    def flavored(ctx):
        """Whether the request says Metadata-Flavor: Google; else answers 403."""
        if ctx.headers.get("metadata-flavor") == "Google":
            return True
        count("refused")
        ctx.h.send_bytes(403, b"<html><body>Missing Metadata-Flavor:Google header.</body></html>",
                         "text/html; charset=UTF-8")
        return False

    @mock.plain_route("GET", MD_ROOT + "instance/service-accounts/default/token")
    def metadata_token(ctx):
        count("metadata_token")
        if flavored(ctx):
            ctx.send_json(200, mint(), {"Metadata-Flavor": "Google"})

    @mock.plain_route("GET", MD_ROOT + "project/project-id")
    def metadata_project(ctx):
        count("metadata_project")
        if flavored(ctx):
            with LOCK:
                project = SETTINGS["project_id"]
            ctx.h.send_bytes(200, project.encode("utf-8"), "text/plain; charset=UTF-8",
                             {"Metadata-Flavor": "Google"})

    def bad(msg):
        return 400, mock.error_body(400, msg)

    def add_key(state, data, query):
        if not isinstance(data, dict) or not isinstance(data.get("client_email"), str):
            return bad("expected {\"client_email\", \"modulus\" (hex), \"exponent\"}")
        try:
            n = int(str(data.get("modulus", "")), 16)
        except ValueError:
            return bad("'modulus' must be the key's modulus in hex")
        e = data.get("exponent", 65537)
        if not isinstance(e, int) or isinstance(e, bool) or e < 3:
            return bad("'exponent' must be an integer")
        with LOCK:
            KEYS[data["client_email"]] = {"n": n, "e": e, "kid": data.get("private_key_id")}
        return 200, {"ok": True}

    def add_user(state, data, query):
        names = ("client_id", "client_secret", "refresh_token")
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in names):
            return bad("expected {\"client_id\", \"client_secret\", \"refresh_token\"}")
        with LOCK:
            USERS[data["client_id"]] = {k: data[k] for k in names[1:]}
        return 200, {"ok": True}

    def settings(state, data, query):
        if not isinstance(data, dict):
            return bad("expected an object")
        for k, v in data.items():
            if k not in DEFAULTS:
                return bad("unknown setting %r (known: %s)" % (k, ", ".join(sorted(DEFAULTS))))
            if k == "project_id" and not isinstance(v, str):
                return bad("'project_id' must be a string")
            if k == "oauth_errors":
                if not (isinstance(v, list) and all(isinstance(e, str) for e in v)):
                    return bad("'oauth_errors' must be a list of strings")
                data[k] = tuple(v)
            elif k != "project_id" and (not isinstance(v, (int, float)) or isinstance(v, bool)
                                      or v < 0):
                return bad("%r must be a number of seconds" % k)
        with LOCK:
            SETTINGS.update(data)
            shown = dict(SETTINGS, oauth_errors=list(SETTINGS["oauth_errors"]))
            return 200, {"ok": True, "settings": shown}

    def counts(state, data, query):
        with LOCK:
            out = {k: 0 for k in ("jwt_bearer", "refresh_token", "other_grant", "metadata_token",
                                  "metadata_project", "issued", "refused")}
            out.update(COUNTS)
            return 200, out

    mock.CONTROL_ROUTES[("POST", "/_mock/auth/service_accounts")] = add_key
    mock.CONTROL_ROUTES[("POST", "/_mock/auth/users")] = add_user
    mock.CONTROL_ROUTES[("POST", "/_mock/auth/settings")] = settings
    mock.CONTROL_ROUTES[("GET", "/_mock/auth/counts")] = counts
