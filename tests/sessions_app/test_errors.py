"""Every error of the family answers {"error": {"message", "type", "status"}}, with the vendor's six
statuses only: 400, 401, 403, 404, 429 and 500."""

import json
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from flowdesk.api.errors import ApiError, error_response
from flowdesk.api.throttling import parse_rate
from sessions_app.api.errors import USER_SESSIONS
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
            "fieldErrors": {
                "isVMRunning": "Must be true or false.",
                "responseMode": '"video" is not a valid choice.',
            },
        }
    }
    response = tenant.client.put("/session/err000000001", "[1]", content_type="application/json")
    assert response.json()["error"] == {
        "message": "Invalid input: body: Invalid data. Expected a dictionary, but got list.",
        "type": "VALIDATION_ERROR",
        "status": 400,
        "formErrors": "Invalid data. Expected a dictionary, but got list.",
        "fieldErrors": {},
    }
    response = tenant.client.get("/session?limit=x&offset=-1")
    assert response.json()["error"]["fieldErrors"] == {
        "limit": "A valid integer is required.", "offset": "Ensure this value is greater than or equal to 0.",
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
    ("method", "path"),
    [
        ("patch", "/session/err000000001"),
        ("post", "/session/err000000001"),
        ("post", "/session"),
        ("delete", "/session"),
        ("put", "/session/"),
        ("get", "/session/new"),
        ("delete", "/session/new/"),
        ("get", "/session/err000000001/dialogue"),
        ("put", "/session/resume/err000000001"),
        ("get", "/session/resume/err000000001"),
    ],
)
def test_a_method_the_path_does_not_take_is_a_404(tenant, session, method, path):
    # The vendor routes by method and path together: there is no such route.
    response = getattr(tenant.client, method)(path)
    assert_error(response, 404, f'Method "{method.upper()}" not allowed.', "NOT_FOUND")
    assert UserSession.objects.get().name is None


def test_an_oversized_body_is_a_400(tenant, session, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    big = b'{"name": "' + b"x" * 1100 + b'"}'
    response = tenant.client.put("/session/err000000001", big, content_type="application/json")
    assert_error(response, 400, "Request body is larger than 1024 bytes.", "BAD_REQUEST")
    response = tenant.client.post(
        "/session/err000000001/dialogue", b'{"contentType": "user", "content": "' + b"y" * 1100 + b'"}',
        content_type="application/json",
    )
    assert_error(response, 400, "Request body is larger than 1024 bytes.", "BAD_REQUEST")
    stored = UserSession.objects.get()
    assert (stored.name, stored.dialogue_items.count()) == (None, 2)


def test_an_unreadable_body_is_a_400(tenant, session):
    response = tenant.client.put("/session/err000000001", "name=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 400, 'Unsupported media type "application/x-www-form-urlencoded" in request.', "BAD_REQUEST")
    response = tenant.client.put("/session/err000000001", b"\xff\xfe{}", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "BAD_REQUEST"
    response = tenant.client.post("/session/err000000001/dialogue", b"<hi/>", content_type="application/xml")
    assert_error(response, 400, 'Unsupported media type "application/xml" in request.', "BAD_REQUEST")
    assert UserSession.objects.get().dialogue_items.count() == 2


@pytest.mark.parametrize(
    ("status", "answered", "kind"),
    [
        (400, 400, "BAD_REQUEST"), (401, 401, "UNAUTHORIZED"), (403, 403, "FORBIDDEN"), (404, 404, "NOT_FOUND"),
        (405, 404, "NOT_FOUND"), (406, 400, "BAD_REQUEST"), (409, 400, "BAD_REQUEST"), (413, 400, "BAD_REQUEST"),
        (415, 400, "BAD_REQUEST"), (422, 400, "BAD_REQUEST"), (429, 429, "TOO_MANY_REQUESTS"),
        (500, 500, "SERVER_ERROR"), (502, 500, "SERVER_ERROR"), (503, 500, "SERVER_ERROR"),
    ],
)
def test_only_the_vendors_six_statuses_are_answered(rf, status, answered, kind):
    """Whatever Django or DRF raise (e.g. a 409 from a race on a unique row), in the six statuses."""
    response = error_response(USER_SESSIONS, ApiError(status, "Something."), rf.get("/session"))
    assert response.status_code == answered
    assert json.loads(response.content) == error("Something.", kind, answered)


def test_errors_outside_the_views_use_the_six_statuses_too(tenant, session, monkeypatch):
    # ApiErrorMiddleware renders non-JSON 4xx answers (Django's own) in the family's body.
    from django.http import HttpResponseNotAllowed

    from sessions_app.api.views import UserSessionViewSet

    monkeypatch.setattr(UserSessionViewSet, "list", lambda self, request: HttpResponseNotAllowed(["GET"]))
    assert_error(tenant.client.get("/session"), 404, "Method not allowed.", "NOT_FOUND")


def test_429_over_the_rate_limit(tenant, session, settings, monkeypatch):
    settings.FLOWDESK_RATE_LIMITS = {**settings.FLOWDESK_RATE_LIMITS, "user_sessions": parse_rate("2/minute")}
    # A frozen clock 50 seconds into the minute that began at 2023-11-14T22:13:00Z.
    monkeypatch.setattr("flowdesk.api.throttling.time", SimpleNamespace(time=lambda: 1_700_000_030.0))
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
