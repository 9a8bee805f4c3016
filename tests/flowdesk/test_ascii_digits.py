"""Only ASCII digits are numbers: a full-width "２" is refused, not read as 2."""

import pytest

from tests.flows.factories import make_live_flow, make_session

FULL_WIDTH_2 = "%EF%BC%92"


@pytest.fixture
def lists(tenant):
    live_flow = make_live_flow(tenant.organization)
    return live_flow, {
        "live_flows": (f"/live_flows/{live_flow.pk}/sessions", {}),
        "user_sessions": ("/session", {}),
        "workflow_chat": ("/v1/ai/workflow/chat/sessions", {}),
        "message_flows": ("/v1/api/message-flows", {"HTTP_X_WORKSPACE_ID": tenant.workspace.pk}),
    }


NOT_ASCII = "Must be written in ASCII: only the digits 0-9 are numbers."


def test_full_width_limit_is_refused_in_every_family(tenant, lists):
    _, urls = lists
    answers = {
        family: tenant.client.get(f"{path}?limit={FULL_WIDTH_2}", **headers)
        for family, (path, headers) in urls.items()
    }
    assert answers["live_flows"].status_code == 422
    assert answers["live_flows"].json() == {"detail": [{"loc": ["query", "limit"], "msg": NOT_ASCII, "type": "invalid"}]}
    assert answers["user_sessions"].status_code == 400
    assert answers["user_sessions"].json()["error"]["type"] == "VALIDATION_ERROR"
    assert answers["user_sessions"].json()["error"]["fieldErrors"] == {"limit": NOT_ASCII}
    assert answers["workflow_chat"].status_code == 400
    assert answers["workflow_chat"].json()["details"] == [{"field": "limit", "message": NOT_ASCII}]
    assert answers["message_flows"].status_code == 400
    assert answers["message_flows"].json()["error"]["details"] == [{"field": "limit", "message": NOT_ASCII}]
    for family, (path, headers) in urls.items():
        assert tenant.client.get(f"{path}?limit=2", **headers).status_code == 200, family


def test_full_width_timestamp_filter_is_refused(tenant, lists):
    live_flow, _ = lists
    response = tenant.client.get(f"/live_flows/{live_flow.pk}/sessions?created_after={FULL_WIDTH_2}024-01-01T00:00:00Z")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "created_after"]
    response = tenant.client.get(f"/v1/ai/workflow/chat/sessions?lastMessageAfter={FULL_WIDTH_2}024-01-01T00:00:00Z")
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "lastMessageAfter"


def test_full_width_digit_in_a_uuid_path_is_not_the_object(tenant, lists):
    live_flow, _ = lists
    session = make_session(live_flow)
    text = str(session.pk)
    digit = next(ch for ch in text if ch.isdigit())
    wide = text.replace(digit, chr(ord(digit) - ord("0") + 0xFF10), 1)
    assert tenant.client.get(f"/live_flows/{live_flow.pk}/sessions/{text}").status_code == 200
    assert tenant.client.get(f"/live_flows/{live_flow.pk}/sessions/{wide}").status_code == 404


def test_text_parameters_may_hold_any_script(tenant):
    response = tenant.client.get(f"/v1/ai/workflow/chat/sessions?search={FULL_WIDTH_2}")
    assert response.status_code == 200
