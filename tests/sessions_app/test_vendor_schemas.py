"""The check every user-sessions answer goes through (tests/user_session_schemas.py) is real.

The autouse fixture in tests/conftest.py validates each answer from a path under /session against
the vendor's schemas; these tests show that a wrong body fails it, through the client and directly.
"""

import json
import re

import pytest

from tests import user_session_schemas
from tests.user_session_schemas import check

from .conftest import fixture_records, make_session

ITEM = {"id": 1, "contentType": "user", "isUser": True, "content": "hi"}


def session_body(**changes):
    return {**fixture_records()[0], **changes}


def answer(method, path, status, body, content_type="application/json"):
    check(method, path, status, content_type, json.dumps(body).encode())


def test_the_fixture_and_the_vendors_shapes_pass():
    answer("GET", "/session", 200, fixture_records())
    answer("GET", "/session/", 200, [])
    answer("GET", "/session/aB3dE5fG7hJ9", 200, session_body())
    for method, path in [("POST", "/session/new"), ("PUT", "/session/x"), ("DELETE", "/session/x/"),
                         ("POST", "/session/resume/x")]:
        answer(method, path, 200, {"sessionId": "x"})
    answer("POST", "/session/x/dialogue", 201, {**ITEM, "ui": "selectTutorial"})
    answer("PUT", "/session/x", 400, {"error": {"message": "m", "type": "VALIDATION_ERROR", "status": 400,
                                                "fieldErrors": {"name": "Not a valid string."}}})
    answer("GET", "/session/x", 404, {"error": {"message": "m", "type": "NOT_FOUND", "status": 404}})
    answer("OPTIONS", "/session", 200, {"name": "DRF's metadata is not checked"})


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "problem"),
    [
        ("GET", "/session/x", 200, session_body(dialogue=[{**ITEM, "ui": None}]), "dialogue/0"),
        ("GET", "/session/x", 200, session_body(dialogue=[{**ITEM, "content": [{**ITEM, "ui": None}]}]), "dialogue/0"),
        ("GET", "/session/x", 200, session_body(dialogue=[{**ITEM, "ui": {"open": True}}]), "dialogue/0"),
        ("GET", "/session/x", 200, session_body(quickReplies=[{"label": "Quiz"}]), "quickReplies"),
        ("GET", "/session/x", 200, session_body(userInfo={"id": "u", "username": None, "image": None, "email": ""}),
         "userInfo"),
        ("GET", "/session/x", 200, session_body(createdAt="2023-11-07T05:31:56+00:00"), "createdAt"),
        ("GET", "/session/x", 200, session_body(responseMode="video"), "responseMode"),
        ("GET", "/session/x", 200, {k: v for k, v in session_body().items() if k != "clicks"}, "(body)"),
        ("GET", "/session", 200, session_body(), "(body)"),  # a session where the list is an array
        ("POST", "/session/new", 200, {"id": "x"}, "(body)"),
        ("POST", "/session/x/dialogue", 201, {**ITEM, "id": "1"}, "id"),
        ("PUT", "/session/x", 400, {"error": {"message": "m", "type": "VALIDATION_ERROR", "status": 400,
                                              "formErrors": [], "fieldErrors": {}}}, "error"),
        ("PUT", "/session/x", 400, {"error": {"message": "m", "type": "VALIDATION_ERROR", "status": 400,
                                              "fieldErrors": {"name": ["Not a valid string."]}}}, "error"),
        ("PUT", "/session/x", 400, {"error": {"message": "m", "type": "BAD_REQUEST"}}, "error"),
        ("PATCH", "/session/x", 405, {"error": {"message": "m", "type": "BAD_REQUEST", "status": 405}}, "error"),
        ("PUT", "/session/x", 413, {"error": {"message": "m", "type": "BAD_REQUEST", "status": 413}}, "error"),
        ("GET", "/session/x", 404, {"error": {"message": "m", "type": "NOT_FOUND", "status": 400}}, "error"),
        ("GET", "/session/x", 404, {"detail": "Not found."}, "(body)"),
    ],
)
def test_a_body_the_vendor_would_not_accept_fails(method, path, status, body, problem):
    with pytest.raises(AssertionError, match=f"not the vendor's .* schema: {re.escape(problem)}"):
        answer(method, path, status, body)


def test_wrong_statuses_content_types_and_routes_fail():
    with pytest.raises(AssertionError, match="the vendor answers 200"):
        answer("POST", "/session/new", 201, {"sessionId": "x"})
    with pytest.raises(AssertionError, match="not JSON"):
        answer("GET", "/session/x", 404, {"error": {"message": "m", "type": "NOT_FOUND", "status": 404}}, "text/html")
    with pytest.raises(AssertionError, match="no user-sessions route answers that"):
        answer("PATCH", "/session/x", 200, {"sessionId": "x"})
    with pytest.raises(AssertionError, match="an error body saying 400"):
        answer("GET", "/session/x", 401, {"error": {"message": "m", "type": "BAD_REQUEST", "status": 400}})


def test_the_hook_checks_answers_the_client_gets(tenant):
    before = user_session_schemas.checked["count"]
    make_session(tenant.user, "hook00000001")
    tenant.client.get("/session")
    tenant.client.get("/session/hook00000001")
    tenant.client.get("/session/nosuchsess01")
    tenant.client.get("/v1/ai/workflow/chat/sessions")  # another family: not checked
    assert user_session_schemas.checked["count"] == before + 3


def test_the_hook_fails_a_test_that_gets_a_wrong_answer(tenant, monkeypatch):
    from sessions_app.api import views

    make_session(tenant.user, "hook00000001", dialogue=1)
    rendered = views.session_data

    def with_null_ui(session):
        body = rendered(session)
        body["dialogue"][0]["ui"] = None  # what Flowdesk answered before: the vendor's client reads a string
        return body

    monkeypatch.setattr(views, "session_data", with_null_ui)
    with pytest.raises(AssertionError, match="dialogue/0/ui: None is not of type 'string'"):
        tenant.client.get("/session/hook00000001")
    monkeypatch.setattr(views, "session_data", rendered)
    assert tenant.client.get("/session/hook00000001").status_code == 200
