"""File search stores, their documents and operations, and the fileSearch
tool, in the mock server (wire-format-2.md section 15).

Loaded by gemini_mock.py after files_routes.py (whose upload session
protocol, mock.UPLOADS, it shares), which calls `register(module)`.

Stores (ids: a slug of the displayName, "-", 12 random lower-case letters
or digits; 40 characters at most):
    POST   fileSearchStores          {displayName?, embeddingModel?} (either
                                     spelling; unknown fields -> 400)
    GET    fileSearchStores          pageSize default 10, max 20, in
                                     creation order; nextPageToken
    GET    fileSearchStores/ID       the store, with its document counts and
                                     size (int64 strings)
    DELETE fileSearchStores/ID[?force=true]  {}; a store that holds documents
                                     without force -> 400 FAILED_PRECONDITION
                                     "Cannot delete non-empty FileSearchStore"
                                     (as Google answers, python-genai#1774)
An unknown store, document or operation -> 404 NOT_FOUND ([unconfirmed]:
what Google answers is not known).

Documents (ids as stores', from the document's displayName):
    POST {prefix}/upload/v1beta/fileSearchStores/ID:uploadToFileSearchStore
        the start of a resumable upload: X-Goog-Upload-* headers as for files
        (X-Goog-Upload-Header-Content-Length required, the type from
        X-Goog-Upload-Header-Content-Type or the body's mimeType), and a
        flat body {displayName?, mimeType?, customMetadata?, chunkingConfig?}
        (no "file" wrapper: unknown fields -> 400); customMetadata a list of
        at most 20 {key, stringValue | numericValue | stringListValue{values}}.
        The chunks, queries and faults are those of files_routes.py; the
        finished upload answers with the operation
        {"name": "fileSearchStores/ID/upload/operations/DOC"} and a
        document DOC in STATE_PENDING.
    POST fileSearchStores/ID:importFile {fileName (an existing files/F),
        customMetadata?, chunkingConfig?} -> the operation
        {"name": "fileSearchStores/ID/operations/DOC"}, a document DOC in
        STATE_PENDING.
    GET  fileSearchStores/ID/upload/operations/DOC, .../operations/DOC
        (an operation this module did not make goes on to the routes after
        it: media_routes.py's operations made up by specs):
        {"name"} (not done) for the first 2 polls, then done: "response"
        {@type, parent, documentName (and for an upload mimeType,
        sizeBytes)}, and the document is STATE_ACTIVE. (A failed one: done
        with "error" {code: 3, message}, the document STATE_FAILED.)
    GET    fileSearchStores/ID/documents        pageSize default 10, max 20
    GET    fileSearchStores/ID/documents/DOC
    DELETE fileSearchStores/ID/documents/DOC[?force=true]  {}; an ACTIVE
        document (it holds chunks) without force -> 400 FAILED_PRECONDITION
        "Cannot delete non-empty Document" (python-genai#1774).
The first 64 KiB of an uploaded document are kept as its text (the chunks
that generateContent retrieves); an imported one's text says where it came
from (the Files routes keep no bytes).

Fault (POST /_mock/faults), taken by the next upload start or importFile:
    fss_operation  polls (2): how many polls answer "not done"; done (false):
                   the operation is done at once (in the finished upload's
                   answer, in importFile's answer); fail (a message): it ends
                   with that error; bare_ids (false): the done response names
                   parent and document by their bare ids, as one live
                   importFile answer did ([reported], wire-format-2 15.3);
                   answer (a JSON value): the finished upload answers with
                   it instead of the operation (a server that lies).

generateContent / streamGenerateContent with a tool {"fileSearch": {...}}
(or "file_search"; fields fileSearchStoreNames (required, existing stores),
metadataFilter, topK, either spelling; anything else -> 400) answers, when
no script or fault says otherwise, with one sentence per retrieved chunk and
groundingMetadata: groundingChunks[i].retrievedContext {title (the
document's displayName), text, fileSearchStore, customMetadata, pageNumber
(PDFs)} and groundingSupports citing them (segment offsets in UTF-8 bytes).
The chunks are those of the ACTIVE documents of the named stores, in store
and document order, that pass metadataFilter, at most topK (default 5).
metadataFilter: conditions `key OP value` (OP one of = != < <= > >=, value
a "string" or a number) joined by AND; anything else -> 400.
"""

import hashlib
import re
import threading
import time

import files_routes
from files_routes import public, rfc3339, to_int

TEXT_KEEP = 64 * 1024
ID_SUFFIX = 12
STORE_PAGE = (10, 20)          # default and largest pageSize, [doc]
DOCUMENT_PAGE = (10, 20)       # [unconfirmed]
DEFAULT_POLLS = 2
DEFAULT_TOP_K = 5
MAX_METADATA = 20
T_PREFIX = "type.googleapis.com/google.ai.generativelanguage.v1main."  # v1main: wire-format-2 16.2

STORE_FIELDS = {"displayName", "display_name", "embeddingModel", "embedding_model"}
UPLOAD_FIELDS = {"displayName", "display_name", "mimeType", "mime_type", "customMetadata",
                 "custom_metadata", "chunkingConfig", "chunking_config"}
IMPORT_FIELDS = {"fileName", "file_name", "customMetadata", "custom_metadata", "chunkingConfig",
                 "chunking_config"}
TOOL_FIELDS = {"fileSearchStoreNames", "file_search_store_names", "metadataFilter",
               "metadata_filter", "topK", "top_k"}
METADATA_VALUES = {"stringValue": "stringValue", "string_value": "stringValue",
                   "numericValue": "numericValue", "numeric_value": "numericValue",
                   "stringListValue": "stringListValue", "string_list_value": "stringListValue"}
CONDITION = re.compile(r'^\s*([A-Za-z_][\w.]*)\s*(=|!=|<=|>=|<|>)\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)\s*$')


class State:
    """Stores (id -> store, each with its "_docs": id -> document, in
    order), operations (name -> operation), upload sessions (id -> what the
    document will be)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self):
        with self.lock:
            self.stores = {}
            self.operations = {}
            self.n = 0

    def new_id(self, display_name):
        """A store or document id: a slug of the display name, "-", a
        random-looking suffix (wire-format-2 15.1)."""
        with self.lock:
            self.n += 1
            n = self.n
        suffix = hashlib.sha1(("%d %f" % (n, time.time())).encode()).hexdigest()[:ID_SUFFIX]
        slug = re.sub(r"[^a-z0-9]+", "-", (display_name or "").lower()).strip("-")
        slug = slug[:40 - ID_SUFFIX - 1].strip("-")
        return (slug + "-" + suffix) if slug else suffix


FS = State()


def _get(d, camel, snake):
    v = d.get(camel)
    return d.get(snake) if v is None else v


def unknown_field(mock, ctx, req, known):
    """Sends the 400 for the first field of `req` not in `known`; True when sent."""
    for k in req:
        if k not in known:
            mock.unknown_field_error(ctx, k)
            return True
    return False


def custom_metadata(ctx, v):
    """The customMetadata list in camelCase, or None after a 400."""
    if v is None:
        return []
    if not isinstance(v, list) or len(v) > MAX_METADATA:
        ctx.send_error(400, "custom_metadata must be a list of at most %d entries." % MAX_METADATA)
        return None
    out = []
    for i, e in enumerate(v):
        vals = {METADATA_VALUES[k]: x for k, x in (e.items() if isinstance(e, dict) else [])
                if k in METADATA_VALUES}
        extra = [k for k in (e if isinstance(e, dict) else {}) if k != "key" and k not in METADATA_VALUES]
        key = e.get("key") if isinstance(e, dict) else None
        if not isinstance(key, str) or not key or len(vals) != 1 or extra:
            ctx.send_error(400, "custom_metadata[%d]: a key and exactly one of string_value, "
                                "numeric_value, string_list_value expected." % i)
            return None
        (kind, x), = vals.items()
        if kind == "stringListValue":
            values = x.get("values") if isinstance(x, dict) else None
            ok = isinstance(values, list) and all(isinstance(s, str) for s in values)
        elif kind == "numericValue":
            ok = isinstance(x, (int, float)) and not isinstance(x, bool)
        else:
            ok = isinstance(x, str)
        if not ok:
            ctx.send_error(400, "custom_metadata[%d].%s has the wrong type." % (i, kind))
            return None
        out.append({"key": key, kind: x})
    return out


def chunking_config(ctx, v):
    """True when chunkingConfig is absent or {whiteSpaceConfig: {maxTokensPerChunk?,
    maxOverlapTokens?}} (either spelling); else False after a 400."""
    if v is None:
        return True
    ws = _get(v, "whiteSpaceConfig", "white_space_config") if isinstance(v, dict) else None
    ok = isinstance(ws, dict) and len(v) == 1 and all(
        k in ("maxTokensPerChunk", "max_tokens_per_chunk", "maxOverlapTokens", "max_overlap_tokens")
        and isinstance(x, int) and x >= 0 for k, x in ws.items())
    if not ok:
        ctx.send_error(400, "Invalid chunking_config: {white_space_config: {max_tokens_per_chunk, "
                            "max_overlap_tokens}} expected.")
    return ok


def store_view(store):
    """The store as the API shows it: counts and size from its documents."""
    out = public(store)
    docs = store["_docs"].values()
    for state, field in (("STATE_ACTIVE", "activeDocumentsCount"),
                         ("STATE_PENDING", "pendingDocumentsCount"),
                         ("STATE_FAILED", "failedDocumentsCount")):
        out[field] = str(sum(1 for d in docs if d["state"] == state))
    out["sizeBytes"] = str(sum(int(d["sizeBytes"]) for d in docs if d["state"] == "STATE_ACTIVE"))
    return out


def parse_filter(text):
    """[(key, op, value)] of a metadataFilter, or None when it is not one."""
    conds = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        mo = CONDITION.match(part)
        if not mo:
            return None
        key, op, raw = mo.groups()
        value = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else float(raw)
        conds.append((key, op, value))
    return conds


def passes(doc, conds):
    """Whether a document's customMetadata meets every condition."""
    meta = {e["key"]: e for e in doc.get("customMetadata") or []}
    for key, op, value in conds:
        e = meta.get(key)
        if e is None:
            return False
        if isinstance(value, str):
            have = e.get("stringValue")
            if have is None and "stringListValue" in e:
                ok = value in e["stringListValue"].get("values", [])
                if (op == "=" and ok) or (op == "!=" and not ok):
                    continue
                return False
        else:
            have = e.get("numericValue")
        if have is None or isinstance(have, str) != isinstance(value, str):
            return False
        ok = {"=": have == value, "!=": have != value, "<": have < value, "<=": have <= value,
              ">": have > value, ">=": have >= value}[op]
        if not ok:
            return False
    return True


def first_sentence(text, limit=160):
    t = " ".join(text.split())
    mo = re.match(r"(.{1,%d}?[.!?])(\s|$)" % limit, t)
    return mo.group(1) if mo else t[:limit]


def register(mock):
    """Adds the routes, the fault type and the fileSearch answers of this
    file to the gemini_mock module."""
    route = mock.route
    uploads = mock.UPLOADS
    mock.FAULT_TYPES["fss_operation"] = "fss"     # taken by the handlers below

    mock.RESET_HOOKS.append(FS.clear)

    def done(ctx, status, body):
        ctx.send_json(status, body)
        ctx.update(completed=True)

    def list_page(ctx, key, items, limits):
        pa = mock._page_args(ctx, *limits)
        if pa is not None:
            files_routes.send_page(ctx, key, items, pa[1], pa[0])

    def forced(ctx):
        return str(ctx.query.get("force", "")).lower() == "true"   # Python sends True (16.11)

    def store_or_404(ctx):
        with FS.lock:
            s = FS.stores.get(ctx.params["store"])
        if s is None:
            ctx.send_error(404, "FileSearchStore fileSearchStores/%s not found." % ctx.params["store"])
        return s

    def document_or_404(ctx, store):
        with FS.lock:
            d = store["_docs"].get(ctx.params["doc"])
        if d is None:
            ctx.send_error(404, "Document %s/documents/%s not found." % (store["name"],
                                                                         ctx.params["doc"]))
        return d

    # -- stores ------------------------------------------------------------------

    @route("POST", r"fileSearchStores")
    def stores_create(ctx):
        req = ctx.json_object()
        if req is None or unknown_field(mock, ctx, req, STORE_FIELDS):
            return
        display = _get(req, "displayName", "display_name")
        model = _get(req, "embeddingModel", "embedding_model") or "models/gemini-embedding-2"
        if display is not None and not isinstance(display, str) or not isinstance(model, str) \
                or not model.startswith("models/"):
            ctx.send_error(400, "Invalid displayName or embeddingModel.")
            return
        sid = FS.new_id(display)
        now = rfc3339(time.time())
        store = {"name": "fileSearchStores/" + sid, "createTime": now, "updateTime": now,
                 "embeddingModel": model, "_docs": {}}
        if display is not None:
            store["displayName"] = display
        with FS.lock:
            FS.stores[sid] = store
            view = store_view(store)
        done(ctx, 200, view)

    @route("GET", r"fileSearchStores")
    def stores_list(ctx):
        with FS.lock:
            items = [store_view(s) for s in FS.stores.values()]
        list_page(ctx, "fileSearchStores", items, STORE_PAGE)

    @route("GET", r"fileSearchStores/(?P<store>[^/:]+)")
    def stores_get(ctx):
        s = store_or_404(ctx)
        if s is not None:
            with FS.lock:
                view = store_view(s)
            done(ctx, 200, view)

    def delete(ctx, table, key, what, non_empty):
        """DELETE of a store or a document: {}, or when it is not empty and
        force is not set, the API's refusal (python-genai#1774)."""
        if non_empty and not forced(ctx):
            ctx.send_error(400, "Cannot delete non-empty " + what, "FAILED_PRECONDITION")
            return
        with FS.lock:
            table.pop(key, None)
        done(ctx, 200, {})

    @route("DELETE", r"fileSearchStores/(?P<store>[^/:]+)")
    def stores_delete(ctx):
        s = store_or_404(ctx)
        if s is not None:
            delete(ctx, FS.stores, ctx.params["store"], "FileSearchStore", bool(s["_docs"]))

    # -- documents and their operations ------------------------------------------

    def new_document(store, display, mime, size, metadata, text, op_kind, fault, extra=None):
        """A STATE_PENDING document and the operation that makes it ACTIVE."""
        did = FS.new_id(display)
        now = rfc3339(time.time())
        doc = {"name": "%s/documents/%s" % (store["name"], did), "state": "STATE_PENDING",
               "sizeBytes": str(size), "mimeType": mime, "createTime": now, "updateTime": now,
               "_text": text}
        if display:
            doc["displayName"] = display
        if metadata:
            doc["customMetadata"] = metadata
        # The operation id doubles as the document id ([reported], 15.5).
        op_name = "%s/%soperations/%s" % (store["name"], "upload/" if op_kind == "upload" else "", did)
        fault = fault or {}
        bare = bool(fault.get("bare_ids"))
        response = {"@type": T_PREFIX + ("UploadToFileSearchStoreResponse" if op_kind == "upload"
                                         else "ImportFileResponse"),
                    "parent": store["name"].split("/")[-1] if bare else store["name"],
                    "documentName": did if bare else doc["name"]}
        response.update(extra or {})
        op = {"name": op_name, "_doc": doc, "_response": response, "_fail": fault.get("fail"),
              "_polls": 0 if fault.get("done") else to_int(fault.get("polls"), DEFAULT_POLLS)}
        with FS.lock:
            store["_docs"][did] = doc
            FS.operations[op_name] = op
        if fault.get("done"):
            poll(op)
        return op

    def poll(op):
        """One poll of an operation: its view now (counting the poll)."""
        with FS.lock:
            if "done" not in op:
                if op["_polls"] > 0:
                    op["_polls"] -= 1
                    return {"name": op["name"]}
                doc = op["_doc"]
                doc["updateTime"] = rfc3339(time.time())
                op["done"] = True
                if op["_fail"]:
                    op["error"] = {"code": 3, "message": str(op["_fail"])}
                    doc["state"] = "STATE_FAILED"
                else:
                    op["response"] = op["_response"]
                    doc["state"] = "STATE_ACTIVE"
            return public(op)

    def op_view(op):
        """An operation as it is, without counting a poll."""
        with FS.lock:
            return public(op) if "done" in op else {"name": op["name"]}

    def take_op_fault(ctx):
        return ctx.state.take_fault(ctx.target, "fss", only=lambda f: f["type"] == "fss_operation")

    @route("POST", r"fileSearchStores/(?P<store>[^/:]+):uploadToFileSearchStore", "upload")
    def stores_upload(ctx):
        if not ctx.prefix.endswith("/upload"):
            ctx.send_error(400, "Media upload is only accepted at /upload/%s/fileSearchStores/"
                                "...:uploadToFileSearchStore." % ctx.version)
            return
        if "upload_id" in ctx.query:
            session_request(ctx)
            return
        store = store_or_404(ctx)
        if store is None:
            return
        hd = ctx.headers
        if (hd.get("x-goog-upload-protocol") or "").lower() != "resumable" or \
                (hd.get("x-goog-upload-command") or "").strip().lower() != "start":
            ctx.send_error(400, "X-Goog-Upload-Protocol: resumable and X-Goog-Upload-Command: "
                                "start expected.")
            return
        size = to_int(hd.get("x-goog-upload-header-content-length"))
        if size is None or size < 0:
            ctx.send_error(400, "X-Goog-Upload-Header-Content-Length is missing or invalid.")
            return
        req = ctx.json_object()
        # The body is flat: a files-style {"file": {...}} is an unknown field (15.2).
        if req is None or unknown_field(mock, ctx, req, UPLOAD_FIELDS):
            return
        mime = _get(req, "mimeType", "mime_type") or hd.get("x-goog-upload-header-content-type")
        if not mime:
            ctx.send_error(400, "Upload has no MIME type (X-Goog-Upload-Header-Content-Type or "
                                "mimeType).")
            return
        metadata = custom_metadata(ctx, _get(req, "customMetadata", "custom_metadata"))
        if metadata is None or not chunking_config(ctx, _get(req, "chunkingConfig",
                                                             "chunking_config")):
            return
        plan = {"store": store, "display": _get(req, "displayName", "display_name"),
                "metadata": metadata, "fault": take_op_fault(ctx), "text": bytearray()}

        def finish(sess):
            op = new_document(store, plan["display"], sess["mime"], sess["size"], plan["metadata"],
                              bytes(plan["text"]).decode("utf-8", "replace"), "upload",
                              plan["fault"], {"mimeType": sess["mime"],
                                              "sizeBytes": str(sess["size"])})
            plan["doc"] = op["_doc"]
            if "answer" in (plan["fault"] or {}):
                return lambda: plan["fault"]["answer"]
            return lambda: op_view(op)
        uploads["open"](ctx, size, mime, finish=finish, fss=plan)

    def session_request(ctx):
        """A request to a session URL; the bytes it committed are kept as
        the document's text (up to TEXT_KEEP; the document is made by the
        last chunk, before its bytes are added here)."""
        uploads["request"](ctx)
        with files_routes.STORE.lock:
            sess = files_routes.STORE.sessions.get(ctx.query.get("upload_id"))
        plan = sess and sess.get("fss")
        at, got = ctx.entry.get("upload_offset"), ctx.entry.get("upload_received")
        if plan is None or at is None or got is None or at != len(plan["text"]):
            return
        plan["text"] += ctx.body[:max(0, min(got - at, TEXT_KEEP - at))]
        with FS.lock:
            if plan.get("doc") is not None:
                plan["doc"]["_text"] = bytes(plan["text"]).decode("utf-8", "replace")

    @route("POST", r"fileSearchStores/(?P<store>[^/:]+):importFile")
    def stores_import(ctx):
        store = store_or_404(ctx)
        req = ctx.json_object() if store is not None else None
        if req is None or unknown_field(mock, ctx, req, IMPORT_FIELDS):
            return
        name = _get(req, "fileName", "file_name")
        fid = name[len("files/"):] if isinstance(name, str) and name.startswith("files/") else None
        with files_routes.STORE.lock:
            f = files_routes.STORE.files.get(fid) if fid else None
            f = public(f) if f else None
        if f is None:
            ctx.send_error(404, "File %s not found." % (name,))
            return
        metadata = custom_metadata(ctx, _get(req, "customMetadata", "custom_metadata"))
        if metadata is None or not chunking_config(ctx, _get(req, "chunkingConfig",
                                                             "chunking_config")):
            return
        display = f.get("displayName") or fid
        text = "%s was imported from %s (%s, %s bytes)." % (display, name, f["mimeType"],
                                                             f["sizeBytes"])
        op = new_document(store, display, f["mimeType"], int(f["sizeBytes"]), metadata, text,
                          "import", take_op_fault(ctx))
        done(ctx, 200, op_view(op))

    @route("GET", r"fileSearchStores/(?P<store>[^/:]+)/(?:upload/)?operations/(?P<op>[^/:]+)")
    def operations_get(ctx):
        name = ctx.rest
        with FS.lock:
            op = FS.operations.get(name)
        if op is not None:
            done(ctx, 200, poll(op))
            return
        # Not one of this store's: a route registered later may know it
        # (media_routes.py serves operations that specs make up).
        fn, _, params = mock.find_route(ctx.method, ctx.rest, after=operations_get)
        if fn is None:
            ctx.send_error(404, "Operation %s not found." % name)
            return
        ctx.params = params
        fn(ctx)

    @route("GET", r"fileSearchStores/(?P<store>[^/:]+)/documents")
    def documents_list(ctx):
        store = store_or_404(ctx)
        if store is not None:
            with FS.lock:
                items = [public(d) for d in store["_docs"].values()]
            list_page(ctx, "documents", items, DOCUMENT_PAGE)

    @route("GET", r"fileSearchStores/(?P<store>[^/:]+)/documents/(?P<doc>[^/:]+)")
    def documents_get(ctx):
        store = store_or_404(ctx)
        d = document_or_404(ctx, store) if store is not None else None
        if d is not None:
            with FS.lock:
                view = public(d)
            done(ctx, 200, view)

    @route("DELETE", r"fileSearchStores/(?P<store>[^/:]+)/documents/(?P<doc>[^/:]+)")
    def documents_delete(ctx):
        store = store_or_404(ctx)
        d = document_or_404(ctx, store) if store is not None else None
        if d is not None:   # an ACTIVE document holds chunks
            delete(ctx, store["_docs"], ctx.params["doc"], "Document", d["state"] == "STATE_ACTIVE")

    # -- the fileSearch tool -------------------------------------------------------

    def file_search_tool(req):
        """The fileSearch tool of a request (either spelling), or None."""
        tools = req.get("tools") if isinstance(req, dict) else None
        for t in tools if isinstance(tools, list) else []:
            if isinstance(t, dict):
                fs = _get(t, "fileSearch", "file_search")
                if fs is not None:
                    return fs
        return None

    def tool_problem(fs):
        """What is wrong with a fileSearch tool, or None: (status, message)."""
        if not isinstance(fs, dict):
            return 400, "Invalid value at 'tools[].file_search': expected an object."
        for k in fs:
            if k not in TOOL_FIELDS:
                return 400, 'Invalid JSON payload received. Unknown name "%s" at ' \
                            "'tools[].file_search': Cannot find field." % k
        names = _get(fs, "fileSearchStoreNames", "file_search_store_names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            return 400, "file_search_store_names must be set."   # livekit/agents#4428: a 400
        with FS.lock:
            for n in names:
                if not (n.startswith("fileSearchStores/") and n.split("/", 1)[1] in FS.stores):
                    return 404, "FileSearchStore %s not found." % n
        k = _get(fs, "topK", "top_k")
        if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
            return 400, "top_k must be a positive integer."
        flt = _get(fs, "metadataFilter", "metadata_filter")
        if flt is not None and (not isinstance(flt, str) or parse_filter(flt) is None):
            return 400, "Invalid metadata_filter %r." % (flt,)
        return None

    def checked(fn):
        def wrapped(ctx):
            fs = file_search_tool(ctx._json)
            problem = tool_problem(fs) if fs is not None else None
            if problem:
                ctx.send_error(*problem)
                return None
            return fn(ctx)
        return wrapped

    mock.wrap_routes(("generate", "stream"), checked)

    def retrieved(fs):
        """The chunks a fileSearch tool retrieves: [(store name, document)]."""
        names = _get(fs, "fileSearchStoreNames", "file_search_store_names")
        flt = _get(fs, "metadataFilter", "metadata_filter")
        conds = parse_filter(flt) if flt else []
        top_k = _get(fs, "topK", "top_k") or DEFAULT_TOP_K
        out = []
        with FS.lock:
            for n in names:
                store = FS.stores.get(n.split("/", 1)[1])
                for d in (store["_docs"].values() if store else []):
                    if d["state"] == "STATE_ACTIVE" and passes(d, conds):
                        out.append((n, dict(d)))
        return out[:top_k]

    orig_feature_answer = mock.feature_answer

    def feature_answer(req, model, rid):
        """A fileSearch tool: one sentence per retrieved chunk, citing it."""
        fs = file_search_tool(req)
        if fs is None:
            return orig_feature_answer(req, model, rid)
        found = retrieved(fs)
        q = mock.last_user_text(req)[:80] or "your question"
        if not found:
            return {"parts": [{"text": "The file search found nothing about \u201c%s\u201d." % q}],
                    "extra": {}, "thoughts": 0}
        chunks, sentences = [], [("The documents answer \u201c%s\u201d." % q, [])]
        for i, (store, d) in enumerate(found):
            title = d.get("displayName") or d["name"].split("/")[-1]
            text = d["_text"] or title
            rc = {"title": title, "text": text, "fileSearchStore": store}
            if d.get("customMetadata"):
                rc["customMetadata"] = d["customMetadata"]
            if d["mimeType"] == "application/pdf":
                rc["pageNumber"] = 1
            chunks.append({"retrievedContext": rc})
            sentences.append((" %s: %s" % (title, first_sentence(text)), [i]))
        text, supports = mock._grounded(sentences)
        return {"parts": [{"text": text}], "thoughts": 0,
                "extra": {"groundingMetadata": {"groundingChunks": chunks,
                                                "groundingSupports": supports}}}
    mock.feature_answer = feature_answer
