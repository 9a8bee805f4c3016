"""A JSON body sent without a Content-Type header is read as JSON (the TrueState SDK sends none).

Sent over real HTTP to the development server, which would otherwise report the missing header
as `text/plain`; a client that does say `text/plain` still gets the family's refusal.
"""

import http.client
import json
from urllib.parse import urlsplit

import pytest

from sessions_app.models import UserSession
from tests.flows.factories import make_live_flow
from tests.sessions_app.conftest import make_session

NEW_FLOW = {
    "name": "SMS Flow #1", "direction": "bidirectional", "agent": "exampleAgentId1",
    "initiationMessage": "Hi!", "prompt": "Short prompt for AI", "messageChannel": "SMS",
}


def send(live_server, method, path, body, headers):
    url = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request(method, path, body=json.dumps(body).encode(), headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


@pytest.fixture
def requests_by_family(tenant, settings):
    """One body-carrying request per family: (method, path, body, extra headers, status wanted)."""
    settings.LIVE_FLOW_RUNNER = "eager"  # the session started runs inside the request, not after the test
    live_flow = make_live_flow(tenant.organization)
    make_session(tenant.user, "aB3dE5fG7hJ9")
    return {
        "live_flows": ("POST", f"/live_flows/{live_flow.pk}/sessions/", {"inputs": {"q": "hi"}}, {}, 200),
        "user_sessions": ("PUT", "/session/aB3dE5fG7hJ9", {"name": "renamed"}, {}, 200),
        "workflow_chat": (
            "POST", "/v1/ai/workflow/chat/messages",
            {"sessionId": "session_1_a", "role": "user", "content": "hello"}, {}, 200,
        ),
        "message_flows": ("POST", "/v1/api/message-flows", NEW_FLOW, {"x-workspace-id": tenant.workspace.pk}, 201),
    }


FAMILIES = ["live_flows", "user_sessions", "workflow_chat", "message_flows"]


@pytest.mark.parametrize("family", FAMILIES)
def test_body_without_content_type_is_json(live_server, tenant, requests_by_family, family):
    method, path, body, headers, wanted = requests_by_family[family]
    status, answer = send(live_server, method, path, body, {"Api-key": tenant.raw_key, **headers})
    assert status == wanted, answer
    if family == "user_sessions":
        assert answer == {"sessionId": "aB3dE5fG7hJ9"}
        assert UserSession.objects.get(session_id="aB3dE5fG7hJ9").name == "renamed"


REFUSALS = {
    "live_flows": (415, lambda body: body == {"detail": 'Unsupported media type "text/plain" in request.'}),
    "user_sessions": (400, lambda body: body["error"]["type"] == "BAD_REQUEST" and body["error"]["status"] == 400),
    "workflow_chat": (415, lambda body: body["code"] == 415 and body["details"] == []),
    "message_flows": (415, lambda body: body["error"]["code"] == "unsupported_media_type"),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_a_declared_non_json_type_is_still_refused(live_server, tenant, requests_by_family, family):
    method, path, body, headers, _ = requests_by_family[family]
    status, answer = send(
        live_server, method, path, body, {"Api-key": tenant.raw_key, "Content-Type": "text/plain", **headers}
    )
    wanted_status, body_is_right = REFUSALS[family]
    assert status == wanted_status, answer
    assert body_is_right(answer), answer
    assert UserSession.objects.get(session_id="aB3dE5fG7hJ9").name != "renamed"


def test_an_empty_content_type_from_a_wsgi_server_is_json(tenant):
    # gunicorn and uvicorn pass no CONTENT_TYPE at all; Django's test client can only send an empty one.
    make_session(tenant.user, "aB3dE5fG7hJ9")
    response = tenant.client.generic("PUT", "/session/aB3dE5fG7hJ9", json.dumps({"name": "renamed"}), content_type="")
    assert response.status_code == 200, response.content
    assert UserSession.objects.get(session_id="aB3dE5fG7hJ9").name == "renamed"
