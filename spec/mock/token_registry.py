"""The OAuth access tokens the mock has issued: what its token endpoint and
metadata server (auth_routes.py) hand out and its Vertex AI routes
(vertex_routes.py) accept as "Authorization: Bearer <token>".

A token is an opaque random string ("ya29.mock-..."), valid until it expires
or is revoked. Control endpoints (no auth, JSON):

    POST /_mock/access_tokens          {"expires_in": S (3600)}
        -> {"access_token": T, "expires_in": S}   a token, as if minted
    POST /_mock/access_tokens/revoke   {"token": T}   (no token: every one)
        -> {"ok": true, "revoked": N}
    GET  /_mock/access_tokens          -> {"issued": N, "valid": N}

/_mock/reset forgets every token.
"""
import secrets
import threading
import time

LOCK = threading.Lock()
TOKENS = {}  # token -> {"expires": epoch seconds, "revoked": bool}


def issue(lifetime=3600):
    """A new token valid for `lifetime` seconds."""
    token = "ya29.mock-" + secrets.token_urlsafe(24)
    with LOCK:
        TOKENS[token] = {"expires": time.time() + lifetime, "revoked": False}
    return token


def check(token):
    """(True, None) for a token that is valid now, else (False, why)."""
    with LOCK:
        t = TOKENS.get(token)
        if t is None:
            return False, "unknown"
        if t["revoked"]:
            return False, "revoked"
        if t["expires"] <= time.time():
            return False, "expired"
    return True, None


def revoke(token=None):
    """Revokes one token (None: all); returns how many."""
    with LOCK:
        hit = [t for k, t in TOKENS.items() if token is None or k == token]
        for t in hit:
            t["revoked"] = True
    return len(hit)


def reset():
    with LOCK:
        TOKENS.clear()


def register(mock):
    mock.RESET_HOOKS.append(reset)

    def mint(state, data, query):
        lifetime = data.get("expires_in", 3600) if isinstance(data, dict) else 3600
        if not isinstance(lifetime, (int, float)) or isinstance(lifetime, bool):
            return 400, mock.error_body(400, "'expires_in' must be a number of seconds")
        return 200, {"access_token": issue(lifetime), "expires_in": lifetime}

    def revoke_route(state, data, query):
        token = data.get("token") if isinstance(data, dict) else None
        return 200, {"ok": True, "revoked": revoke(token)}

    def count(state, data, query):
        now = time.time()
        with LOCK:
            valid = sum(1 for t in TOKENS.values() if not t["revoked"] and t["expires"] > now)
            return 200, {"issued": len(TOKENS), "valid": valid}

    mock.CONTROL_ROUTES[("POST", "/_mock/access_tokens")] = mint
    mock.CONTROL_ROUTES[("POST", "/_mock/access_tokens/revoke")] = revoke_route
    mock.CONTROL_ROUTES[("GET", "/_mock/access_tokens")] = count
