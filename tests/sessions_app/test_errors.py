"""Every error of the family answers {"error": {"message", "type", "status"}}."""

from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from accounts.throttling import parse_rate
from sessions_app.models import UserSession
from tests.conftest import key_client

from .conftest import make_session


def error(message, kind, status):
    return {"error": {"message": message, "type": kind, "status": status}}


def assert_error(response, status, message, kind):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response["X-Request-Id"]
    assert response.json() == error(message, kind, status)


@pytest.fixture
def session(tenant):
    return make_session(tenant.user, "err000000001")


def test_400_malformed_and_empty_bodies(tenant, session):
    response = tenant.client.put("/session/err000000001", b'{"name": "x"', content_type="application/json")
    assert_error(response, 400, "Malformed JSON: unexpected end of data: line 1 column 13 (char 12)", "BAD_REQUEST")
    response = tenant.client.put("/session/err000000001", b"", content_type="application/json")
    assert_error(response, 400, "Request body is empty; a JSON document was expected.", "BAD_REQUEST")
    response = tenant.client.post("/session/err000000001/dialogue", b'{"content": NaN}', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "BAD_REQUEST"
    assert UserSession.objects.get().name is None


def test_400_validation_error_adds_form_and_field_errors(tenant, session):
    response = tenant.client.put("/session/err000000001", {"responseMode": "video", "isVMRunning": 1}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": 'Invalid input: isVMRunning: Must be true or false.; responseMode: "video" is not a valid choice.',
            "type": "VALIDATION_ERROR",
            "status": 400,
            "formErrors": [],
            "fieldErrors": {
                "isVMRunning": ["Must be true or false."],
                "responseMode": ['"video" is not a valid choice.'],
            },
        }
    }


@pytest.mark.parametrize("path", ["/session", "/session/err000000001", "/session/new"])
def test_401_without_a_key_or_with_a_bad_or_revoked_one(tenant, session, path):
    method = "post" if path.endswith("new") else "get"
    response = getattr(APIClient(), method)(path)
    assert_error(response, 401, "Authentication credentials were not provided.", "UNAUTHORIZED")
    assert response["WWW-Authenticate"] == "Bearer"
    response = getattr(key_client("fdk_" + "x" * 40, "Api-key"), method)(path)
    assert_error(response, 401, "Invalid API key.", "UNAUTHORIZED")
    tenant.key.revoke()
    assert_error(getattr(tenant.client, method)(path), 401, "This API key has been revoked.", "UNAUTHORIZED")
    assert UserSession.objects.count() == 1


def test_403_for_an_organization_or_workspace_out_of_reach(tenant, other_tenant, session):
    response = tenant.client.get("/session", HTTP_CURRENT_ORG_ID=other_tenant.organization.pk)
    assert_error(response, 403, "No access to organization 'org_0therTenant00001'.", "FORBIDDEN")
    response = tenant.client.post("/session/new", HTTP_X_WORKSPACE_ID=other_tenant.workspace.pk)
    assert_error(
        response, 403,
        "No access to workspace 'ws_org_0therTenant00001' in organization 'org_u13TesTDumMyEe5P'.", "FORBIDDEN",
    )
    assert UserSession.objects.count() == 1


def test_404_for_an_unknown_session_and_an_unknown_path(tenant, session):
    for path in ("/session/nosuchsess01", "/session/nosuchsess01/"):
        assert_error(tenant.client.get(path), 404, "No session with sessionId 'nosuchsess01'.", "NOT_FOUND")
    too_long = "x" * 65  # no session can have this id: not even looked up
    assert_error(tenant.client.get(f"/session/{too_long}"), 404, f"No session with sessionId '{too_long}'.", "NOT_FOUND")
    response = tenant.client.put("/session/bad%00id", {"name": "x"}, format="json")
    assert_error(response, 400, "The path or query contains a NUL character.", "BAD_REQUEST")
    for path in ("/session/err000000001/unknown", "/session/a/b/c", "/sessions"):
        response = tenant.client.get(path)
        if path == "/sessions":
            assert response.status_code == 404  # not under /session: not this family's path
            continue
        assert_error(response, 404, "Not found.", "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("patch", "/session/err000000001", "GET, PUT, DELETE, HEAD, OPTIONS"),
        ("post", "/session/err000000001", "GET, PUT, DELETE, HEAD, OPTIONS"),
        ("post", "/session", "GET, HEAD, OPTIONS"),
        ("delete", "/session", "GET, HEAD, OPTIONS"),
        ("get", "/session/new", "POST, OPTIONS"),
        ("get", "/session/err000000001/dialogue", "POST, OPTIONS"),
        ("put", "/session/resume/err000000001", "POST, OPTIONS"),
    ],
)
def test_405_for_a_method_the_path_does_not_take(tenant, session, method, path, allow):
    response = getattr(tenant.client, method)(path)
    assert_error(response, 405, f'Method "{method.upper()}" not allowed.', "BAD_REQUEST")
    assert response["Allow"] == allow


def test_413_for_a_body_over_the_limit(tenant, session, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    big = b'{"name": "' + b"x" * 1100 + b'"}'
    response = tenant.client.put("/session/err000000001", big, content_type="application/json")
    assert_error(response, 413, "Request body is larger than 1024 bytes.", "BAD_REQUEST")
    response = tenant.client.post(
        "/session/err000000001/dialogue", b'{"contentType": "user", "content": "' + b"y" * 1100 + b'"}',
        content_type="application/json",
    )
    assert_error(response, 413, "Request body is larger than 1024 bytes.", "BAD_REQUEST")
    stored = UserSession.objects.get()
    assert (stored.name, stored.dialogue_items.count()) == (None, 2)


def test_415_for_a_body_that_is_not_json(tenant, session):
    response = tenant.client.put("/session/err000000001", "name=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, 'Unsupported media type "application/x-www-form-urlencoded" in request.', "BAD_REQUEST")
    response = tenant.client.post("/session/err000000001/dialogue", "hi", content_type="text/plain")
    assert_error(response, 415, 'Unsupported media type "text/plain" in request.', "BAD_REQUEST")
    assert UserSession.objects.get().dialogue_items.count() == 2


def test_429_over_the_rate_limit(tenant, session, settings, monkeypatch):
    settings.FLOWDESK_RATE_LIMITS = {**settings.FLOWDESK_RATE_LIMITS, "user_sessions": parse_rate("2/minute")}
    # A frozen clock 50 seconds into the minute that began at 2023-11-14T22:13:00Z.
    monkeypatch.setattr("accounts.throttling.time", SimpleNamespace(time=lambda: 1_700_000_030.0))
    assert tenant.client.get("/session").status_code == 200
    assert tenant.client.post("/session/new").status_code == 200
    response = tenant.client.post("/session/new")
    assert_error(
        response, 429, "Rate limit exceeded; try again after 2023-11-14T22:14:00Z.", "TOO_MANY_REQUESTS"
    )
    assert response["Retry-After"] == "10"
    assert UserSession.objects.count() == 2


def test_500_for_an_unexpected_failure(tenant, session, monkeypatch):
    def broken(session):
        raise RuntimeError("the renderer broke")

    monkeypatch.setattr("sessions_app.api.views.session_data", broken)  # GET /session/{id}
    monkeypatch.setattr("sessions_app.api.views.sessions_data", broken)  # GET /session
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant.raw_key}")
    for path in ("/session", "/session/err000000001"):
        assert_error(client.get(path), 500, "Internal server error.", "SERVER_ERROR")
