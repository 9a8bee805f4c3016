"""The served floor: what a request costs with no framework, served by the same gunicorn settings.

`gunicorn -c config/gunicorn.py bench.floor_app` (bench/served.py starts it). Per request: one
indexed key check (the row by prefix, its sha256 compared, the user active, and the workspace of
`x-workspace-id` in the key's organization, in the same query), then the floor SQL of
bench/floors.py through psycopg and orjson on a connection kept for the life of the worker. Writes
run the statements Flowdesk's writes run (lock the row, the same INSERT/UPDATE columns) in one
transaction, and answer from what they wrote. No rate limit, tenancy beyond the key, validation
beyond what the SQL needs, or events: that is the floor.

Settings: FLOOR_DATABASE_URL (else DATABASE_URL), REDIS_URL (a started live-flow session is
queued with one LPUSH, the least a hand-off to a worker can cost).
"""

import hashlib
import hmac
import os
import re
import socket
import uuid
from urllib.parse import parse_qs

import orjson
import psycopg

from bench import floors

KEY_PREFIX, PREFIX_LENGTH = "fdk_", 12  # accounts.models.KEY_PREFIX / PREFIX_LENGTH (no Django here)
QUEUE = "bench:floor:live_flow_steps"

KEY_SQL = """
SELECT k.key_hash, k.revoked_at IS NULL AND u.is_active, k.user_id, k.organization_id, w.id
FROM accounts_apikey k JOIN auth_user u ON u.id = k.user_id
LEFT JOIN accounts_workspace w ON w.id = %s AND w.organization_id = k.organization_id
WHERE k.prefix = %s
"""

# One of each family: the list's own SQL narrowed to one row (the select list is not repeated).
ONE_LIVE_FLOW_SESSION_SQL = floors.LIVE_FLOW_SESSIONS_SQL.replace(
    "WHERE live_flow_id = %(live_flow_id)s", "WHERE live_flow_id = %(live_flow_id)s AND id = %(id)s")
ONE_USER_SESSION_SQL = floors.USER_SESSIONS_SQL.replace(
    "WHERE user_id = %(user_id)s", "WHERE user_id = %(user_id)s AND session_id = %(session_id)s")
ONE_CHAT_SESSION_SQL = floors.CHAT_SESSIONS_SQL.replace(
    "WHERE s.organization_id = %(org)s", "WHERE s.organization_id = %(org)s AND s.session_id = %(session_id)s")
_MF_EXTRA = ", f.initiation_message, f.version FROM messaging_messageflow f"
ONE_MESSAGE_FLOW_SQL = floors.MESSAGE_FLOWS_SQL.replace("FROM messaging_messageflow f", _MF_EXTRA).replace(
    "WHERE f.workspace_id = %(workspace)s", "WHERE f.workspace_id = %(workspace)s AND f.id = %(id)s")
for _sql in (ONE_LIVE_FLOW_SESSION_SQL, ONE_USER_SESSION_SQL, ONE_CHAT_SESSION_SQL, ONE_MESSAGE_FLOW_SQL):
    assert "AND" in _sql  # the floors' SQL changed under the replace: fix the pattern above

TS = floors.TS.format


class Request:
    def __init__(self, environ):
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        self.path = environ.get("PATH_INFO", "")
        self.query = parse_qs(environ.get("QUERY_STRING", ""))

    def header(self, name):
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"), "").strip()

    def json(self):
        length = int(self.environ.get("CONTENT_LENGTH") or 0)
        return orjson.loads(self.environ["wsgi.input"].read(length)) if length else {}

    def limit(self, default):
        return int(self.query.get("limit", [default])[0])


class HTTPError(Exception):
    def __init__(self, status, detail):
        self.status, self.detail = status, detail


_conn = None
_redis = None


def connection():
    """The worker's one PostgreSQL connection, kept open; reopened only after it broke."""
    global _conn
    if _conn is None or _conn.closed or _conn.broken:
        url = os.environ.get("FLOOR_DATABASE_URL") or os.environ["DATABASE_URL"]
        _conn = psycopg.connect(url, autocommit=True)
    return _conn


def lpush(key, value):
    """One RESP LPUSH on a kept socket (no client library: the floor of a queue hand-off)."""
    global _redis
    if _redis is None:
        url = re.match(r"redis://([^:/]+):?(\d*)/?(\d*)", os.environ["REDIS_URL"])
        _redis = socket.create_connection((url.group(1), int(url.group(2) or 6379)))
        _redis.sendall(resp("SELECT", url.group(3) or "0"))
        _redis.recv(64)
    _redis.sendall(resp("LPUSH", key, value))
    _redis.recv(64)


def resp(*words):
    out = [b"*%d\r\n" % len(words)]
    for word in words:
        data = word if isinstance(word, bytes) else str(word).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def authenticate(conn, request):
    """(user_id, organization_id, workspace_id or None) of the request's key, or HTTPError 401/403."""
    authorization = request.header("Authorization")
    raw = authorization[7:].strip() if authorization.lower().startswith("bearer ") else (
        request.header("Api-key") or request.header("x-api-key"))
    if not raw.startswith(KEY_PREFIX):
        raise HTTPError(401, "Invalid API key.")
    workspace = request.header("x-workspace-id") or None
    with conn.cursor() as cursor:
        cursor.execute(KEY_SQL, (workspace, raw[:PREFIX_LENGTH]))
        row = cursor.fetchone()
    if row is None or not hmac.compare_digest(row[0], hashlib.sha256(raw.encode()).hexdigest()) or not row[1]:
        raise HTTPError(401, "Invalid API key.")
    if workspace and row[4] is None:
        raise HTTPError(403, "No access to the workspace.")
    return row[2], row[3], row[4]


def one(items):
    if not items:
        raise HTTPError(404, "Not found.")
    return items[0]


def envelope(data):
    return {"code": 200, "data": data, "message": "success", "requestId": "req_floor"}


# --- the routes ---------------------------------------------------------------------------------


def live_flow_sessions(conn, request, tenant, live_flow_id):
    return 200, floors.live_flow_sessions(conn, live_flow_id, request.limit(50))


def live_flow_session(conn, request, tenant, live_flow_id, session_id):
    rows = floors.fetch(conn, ONE_LIVE_FLOW_SESSION_SQL, {"live_flow_id": live_flow_id, "id": session_id, "limit": 1})
    return 200, orjson.dumps(one(floors.live_flow_session_items(rows)))


START_SQL = """
SELECT lf.current_version_id, st.id FROM flows_liveflow lf
JOIN flows_step st ON st.flow_version_id = lf.current_version_id AND st.step_type = 'START'
WHERE lf.organization_id = %s AND lf.id = %s
ORDER BY st.created_at, st.id LIMIT 1
"""


def start_live_flow_session(conn, request, tenant, live_flow_id):
    """Flowdesk's statements: the version and its START step, the session, its first recorded step,
    the session's current step (with its revision raised), in one transaction; then the session read
    back as GET one answers it, and the step handed to a worker."""
    inputs = request.json().get("inputs", {})
    session_id, step_row_id = uuid.uuid4(), uuid.uuid4()
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(START_SQL, (tenant[1], live_flow_id))
        found = cursor.fetchone()
        if found is None:
            raise HTTPError(404, "Not found.")
        version_id, start_step = found
        cursor.execute(
            "INSERT INTO flows_liveflowsession (created_at, updated_at, id, live_flow_id, flow_version_id, status, "
            "inputs, error, current_step_id, revision) VALUES (now(), now(), %s, %s, %s, 'NEW', %s, NULL, NULL, 0)",
            (session_id, live_flow_id, version_id, orjson.dumps(inputs).decode()))
        cursor.execute(
            "INSERT INTO flows_liveflowsessionstep (created_at, updated_at, id, session_id, flow_version_id, step_id, "
            "status, prompt, result, error, user_input, attempts, lease_expires_at) "
            "VALUES (now(), now(), %s, %s, %s, %s, 'NEW', NULL, NULL, NULL, NULL, 0, NULL)",
            (step_row_id, session_id, version_id, start_step))
        cursor.execute("UPDATE flows_liveflowsession SET current_step_id = %s, revision = revision + 1 WHERE id = %s",
                       (step_row_id, session_id))
    rows = floors.fetch(conn, ONE_LIVE_FLOW_SESSION_SQL, {"live_flow_id": live_flow_id, "id": session_id, "limit": 1})
    lpush(QUEUE, str(step_row_id))
    return 200, orjson.dumps(one(floors.live_flow_session_items(rows)))


def user_sessions(conn, request, tenant):
    return 200, floors.user_sessions(conn, tenant[0], request.limit(50))


def user_session(conn, request, tenant, session_id):
    rows = floors.fetch(conn, ONE_USER_SESSION_SQL, {"user_id": tenant[0], "session_id": session_id, "limit": 1,
                                              "offset": 0})
    return 200, orjson.dumps(one(floors.user_session_items(rows)))


def append_dialogue(conn, request, tenant, session_id):
    """Flowdesk's statements: lock the session, the highest position and id, the item, the session's
    flags, count and updated_at."""
    body = request.json()
    content_type, content = body["contentType"], body["content"]
    is_user = content_type == "user"
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT id FROM sessions_app_usersession WHERE user_id = %s AND session_id = %s FOR UPDATE",
                       (tenant[0], session_id))
        found = cursor.fetchone()
        if found is None:
            raise HTTPError(404, "Not found.")
        cursor.execute("SELECT MAX(position), MAX(item_id) FROM sessions_app_dialogueitem WHERE session_id = %s",
                       found)
        position, item_id = cursor.fetchone()
        item_id = (item_id or 0) + 1
        cursor.execute(
            "INSERT INTO sessions_app_dialogueitem (session_id, position, item_id, content_type, is_user, content, ui) "
            "VALUES (%s, %s, %s, %s, %s, %s, NULL)",
            (found[0], 0 if position is None else position + 1, item_id, content_type, is_user,
             orjson.dumps(content).decode()))
        cursor.execute(
            "UPDATE sessions_app_usersession SET dialogue_null = false, "
            "stats_total_user_messages = stats_total_user_messages + %s, updated_at = now() WHERE id = %s",
            (int(is_user), found[0]))
    return 201, orjson.dumps({"id": item_id, "contentType": content_type, "isUser": is_user, "content": content})


def chat_sessions(conn, request, tenant):
    return 200, floors.chat_sessions(conn, tenant[1], request.limit(20))


def chat_session(conn, request, tenant, session_id):
    rows = floors.fetch(conn, ONE_CHAT_SESSION_SQL, {"org": tenant[1], "session_id": session_id, "limit": 1, "offset": 0})
    return 200, orjson.dumps(envelope(one(floors.chat_session_items(rows))))


def post_chat_message(conn, request, tenant):
    """Flowdesk's statements for a message to an existing create-page chat: lock the session, the
    message, the session's count and times."""
    body = request.json()
    message_id = uuid.uuid4()
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT id, conversation_id FROM chat_chatsession WHERE organization_id = %s AND session_id = %s "
                       "FOR UPDATE", (tenant[1], body["sessionId"]))
        found = cursor.fetchone()
        if found is None:
            raise HTTPError(404, "Not found.")
        cursor.execute(
            "INSERT INTO chat_chatmessage (id, session_id, conversation_id, role, content, tokens_used, image_urls, "
            "created_at, sender_user_id, linked_run_id, linked_run_status, linked_run_started_at, "
            f"linked_run_finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, now(), %s, NULL, NULL, NULL, NULL) "
            f"RETURNING {TS(col='created_at')}",
            (message_id, found[0], found[1], body["role"], body["content"], body.get("tokensUsed"),
             orjson.dumps(body.get("imageUrls", [])).decode(), str(tenant[0])))
        created = cursor.fetchone()[0]
        cursor.execute("UPDATE chat_chatsession SET message_count = message_count + 1, last_message_at = now(), "
                       "activity_at = now() WHERE id = %s", (found[0],))
    return 200, orjson.dumps(envelope({
        "id": str(message_id), "content": body["content"], "role": body["role"], "sessionId": body["sessionId"],
        "workflowId": None, "organizationId": tenant[1], "tokensUsed": body.get("tokensUsed"),
        "imageUrls": body.get("imageUrls", []), "createdAt": floors.z(created), "conversationId": None,
        "senderUserId": str(tenant[0]), "linkedRunId": None, "linkedRunStatus": None, "linkedRunStartedAt": None,
        "linkedRunFinishedAt": None,
    }))


def message_flows(conn, request, tenant):
    return 200, floors.message_flows(conn, _workspace(tenant), request.limit(100))


def _workspace(tenant):
    if tenant[2] is None:
        raise HTTPError(400, "x-workspace-id is required.")
    return tenant[2]


def _message_flow(rows):
    row = one(rows)
    item = floors.message_flow_items([row[:13]])[0]
    item["initiationMessage"], item["__v"] = row[13], row[14]
    return orjson.dumps(item)


def message_flow(conn, request, tenant, flow_id):
    rows = floors.fetch(conn, ONE_MESSAGE_FLOW_SQL, {"workspace": _workspace(tenant), "id": flow_id, "limit": 1, "offset": 0})
    return 200, _message_flow(rows)


def patch_message_flow(conn, request, tenant, flow_id):
    """Flowdesk's statements: lock the flow, write it with its version raised; answered as GET one."""
    description = request.json()["description"]
    workspace = _workspace(tenant)
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT f.id FROM messaging_messageflow f WHERE f.workspace_id = %s AND f.id = %s "
                       "FOR UPDATE", (workspace, flow_id))
        if cursor.fetchone() is None:
            raise HTTPError(404, "Not found.")
        cursor.execute("UPDATE messaging_messageflow SET description = %s, updated_at = now(), version = version + 1 "
                       "WHERE id = %s", (description, flow_id))
    rows = floors.fetch(conn, ONE_MESSAGE_FLOW_SQL, {"workspace": workspace, "id": flow_id, "limit": 1, "offset": 0})
    return 200, _message_flow(rows)


ID = r"([^/]+)"
ROUTES = [
    ("GET", rf"/live_flows/{ID}/sessions/?", live_flow_sessions),
    ("POST", rf"/live_flows/{ID}/sessions/?", start_live_flow_session),
    ("GET", rf"/live_flows/{ID}/sessions/{ID}/?", live_flow_session),
    ("GET", r"/session/?", user_sessions),
    ("GET", rf"/session/{ID}", user_session),
    ("POST", rf"/session/{ID}/dialogue", append_dialogue),
    ("GET", r"/v1/ai/workflow/chat/sessions", chat_sessions),
    ("GET", rf"/v1/ai/workflow/chat/sessions/{ID}", chat_session),
    ("POST", r"/v1/ai/workflow/chat/messages", post_chat_message),
    ("GET", r"/v1/api/message-flows", message_flows),
    ("GET", rf"/v1/api/message-flows/{ID}", message_flow),
    ("PATCH", rf"/v1/api/message-flows/{ID}", patch_message_flow),
]
ROUTES = [(method, re.compile(pattern + r"\Z"), view) for method, pattern, view in ROUTES]


def dispatch(request):
    for method, pattern, view in ROUTES:
        match = pattern.match(request.path)
        if match and method == request.method:
            conn = connection()
            try:
                return view(conn, request, authenticate(conn, request), *match.groups())
            except psycopg.OperationalError:
                conn.close()  # reconnect on the next request
                raise
    raise HTTPError(404, "Not found.")


def application(environ, start_response):
    try:
        status, body = dispatch(Request(environ))
    except HTTPError as error:
        status, body = error.status, orjson.dumps({"detail": error.detail})
    except (KeyError, ValueError, TypeError, orjson.JSONDecodeError):
        status, body = 400, orjson.dumps({"detail": "Bad request."})
    reason = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
              404: "Not Found"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
