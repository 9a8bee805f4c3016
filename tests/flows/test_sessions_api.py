import copy
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from flows.models import LiveFlow, LiveFlowSession, LiveFlowSessionStep, SessionStatus, StepType
from tests.conftest import key_client
from tests.flows.factories import make_live_flow, make_session, make_version

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "live_flow_sessions.json"
LIVE_FLOW_ID = "11111111-1111-4111-8111-111111111111"


def sessions_url(live_flow_id, session_id=None, slash=False):
    url = f"/live_flows/{live_flow_id}/sessions"
    if session_id:
        url += f"/{session_id}"
    return url + ("/" if slash else "")


@pytest.fixture
def imported(tenant):
    call_command("import_live_flow_sessions", str(FIXTURE), org=tenant.organization.pk, live_flow=LIVE_FLOW_ID,
                 no_progress=True, stdout=open("/dev/null", "w"), stderr=open("/dev/null", "w"))
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("header", ["Authorization", "Api-key", "x-api-key"])
@pytest.mark.parametrize("slash", [False, True])
def test_documented_body_comes_back_key_for_key(tenant, imported, header, slash):
    client = key_client(tenant.raw_key, header)
    response = client.get(sessions_url(LIVE_FLOW_ID, slash=slash))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    expected = copy.deepcopy(imported)
    expected[0]["steps_count"] = 1  # derived: the session recorded one step
    assert response.json() == expected


def test_one_session_and_missing_session(tenant, imported):
    response = tenant.client.get(sessions_url(LIVE_FLOW_ID, imported[0]["id"]))
    assert response.status_code == 200
    assert response.json()["id"] == imported[0]["id"]
    assert response.json()["current_step"]["step"]["step_type"] == "START"
    missing = tenant.client.get(sessions_url(LIVE_FLOW_ID, uuid.uuid4()))
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})
    bad = tenant.client.get(sessions_url(LIVE_FLOW_ID, "not-a-uuid"))
    assert (bad.status_code, bad.json()) == (404, {"detail": "Not found."})


def test_another_tenants_live_flow_and_session_are_404(tenant, other_tenant, imported):
    for url in (sessions_url(LIVE_FLOW_ID), sessions_url(LIVE_FLOW_ID) + "?limit=10",
                sessions_url(uuid.uuid4()) + "?limit=10", sessions_url("not-a-uuid") + "?limit=10",
                sessions_url(LIVE_FLOW_ID, imported[0]["id"]), f"/live_flows/{LIVE_FLOW_ID}"):
        response = other_tenant.client.get(url)
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."}), url
    response = other_tenant.client.post(sessions_url(LIVE_FLOW_ID), {"inputs": {}}, format="json")
    assert response.status_code == 404
    assert LiveFlowSession.objects.count() == 1


def test_session_of_another_live_flow_is_404_under_this_one(tenant):
    first = make_live_flow(tenant.organization)
    second = make_live_flow(tenant.organization)
    session = make_session(first)
    response = tenant.client.get(sessions_url(second.pk, session.pk))
    assert response.status_code == 404


def test_newest_first_and_steps_in_order(tenant):
    live_flow = make_live_flow(tenant.organization)
    now = timezone.now()
    older = make_session(live_flow, n_recorded=3, created_at=now - timedelta(hours=2))
    newer = make_session(live_flow, n_recorded=1, created_at=now - timedelta(hours=1))
    body = tenant.client.get(sessions_url(live_flow.pk)).json()
    assert [s["id"] for s in body] == [str(newer.pk), str(older.pk)]
    assert [s["steps_count"] for s in body] == [1, 3]
    assert [s["result"] for s in body[1]["steps"]] == ["r0", "r1", "r2"]
    assert body[1]["current_step"] == body[1]["steps"][-1]


def test_filters_limit_and_offset(tenant):
    live_flow = make_live_flow(tenant.organization)
    now = timezone.now()
    sessions = [
        make_session(live_flow, status=status, created_at=now - timedelta(hours=10 - i))
        for i, status in enumerate([SessionStatus.FINISHED, SessionStatus.FAILED, SessionStatus.FINISHED,
                                    SessionStatus.NEW])
    ]
    newest_first = [str(s.pk) for s in reversed(sessions)]

    def ids(query):
        response = tenant.client.get(sessions_url(live_flow.pk) + query)
        assert response.status_code == 200, response.json()
        return [s["id"] for s in response.json()]

    assert ids("") == newest_first
    assert ids("?status=FINISHED") == [str(sessions[2].pk), str(sessions[0].pk)]
    after = (sessions[1].created_at).isoformat().replace("+00:00", "Z")
    assert ids(f"?created_after={after}") == newest_first[:3]
    assert ids(f"?created_before={after}") == newest_first[3:]
    assert ids("?limit=2") == newest_first[:2]
    assert ids("?limit=2&offset=3") == newest_first[3:]


@pytest.mark.parametrize(
    "query, loc, msg",
    [
        ("limit=abc", ["query", "limit"], "A valid integer is required."),
        ("limit=0", ["query", "limit"], "Ensure this value is greater than or equal to 1."),
        ("offset=-1", ["query", "offset"], "Ensure this value is greater than or equal to 0."),
        ("status=SLEEPING", ["query", "status"], "Select a valid choice. SLEEPING is not one of the available choices."),
        ("created_after=yesterday", ["query", "created_after"], "Enter a valid date/time."),
    ],
)
def test_bad_query_parameters_are_422(tenant, query, loc, msg):
    live_flow = make_live_flow(tenant.organization)
    response = tenant.client.get(sessions_url(live_flow.pk) + "?" + query)
    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": loc, "msg": msg, "type": response.json()["detail"][0]["type"]}]}


def test_list_query_count_is_fixed(tenant, django_assert_num_queries):
    live_flow = make_live_flow(tenant.organization, n_steps=20)
    make_session(live_flow, n_recorded=20)
    tenant.key.last_used_at = timezone.now()
    tenant.key.save()
    # A page (limit): key (with its membership); live flow; sessions + flow versions (join); version
    # steps; version transitions; recorded steps.
    # Every session (no limit): key; live flow; versions with steps and transitions; the sessions
    # with their recorded steps (one stream).
    for query, count in (("?limit=1000", 6), ("", 4)):
        with django_assert_num_queries(count):
            response = tenant.client.get(sessions_url(live_flow.pk) + query)
        assert len(response.json()) == 1
    for _ in range(49):
        make_session(live_flow, n_recorded=20)
    for query, count in (("?limit=1000", 6), ("", 4)):
        with django_assert_num_queries(count):
            response = tenant.client.get(sessions_url(live_flow.pk) + query)
        body = response.json()
        assert len(body) == 50 and all(s["steps_count"] == 20 for s in body)


def test_start_session(tenant):
    version, steps = make_version(tenant.organization)
    live_flow = make_live_flow(tenant.organization, version)
    response = tenant.client.post(sessions_url(live_flow.pk, slash=True), {"inputs": {"message": "héllo"}}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "NEW"
    assert body["inputs"] == {"message": "héllo"}
    assert body["steps_count"] == 1
    assert body["current_step"]["step"]["id"] == str(steps[0].id)
    assert body["current_step"]["step"]["step_type"] == StepType.START
    assert body["current_step"]["status"] == "NEW"
    assert body["flow_version"]["id"] == str(version.id)
    assert body["created_at"].endswith("Z")
    session = LiveFlowSession.objects.get(pk=body["id"])
    assert session.current_step.step_id == steps[0].id
    # the new session is listed first
    assert tenant.client.get(sessions_url(live_flow.pk)).json()[0]["id"] == body["id"]


def test_start_session_without_inputs_defaults_to_empty_object(tenant):
    live_flow = make_live_flow(tenant.organization)
    response = tenant.client.post(sessions_url(live_flow.pk), {}, format="json")
    assert response.status_code == 200
    assert response.json()["inputs"] == {}


@pytest.mark.parametrize(
    "body, content_type, status, detail",
    [
        ('{"inputs": [1, 2]}', "application/json", 422,
         [{"loc": ["body", "inputs"], "msg": "Must be a JSON object.", "type": "not_object"}]),
        ('{"inputs": "x"}', "application/json", 422,
         [{"loc": ["body", "inputs"], "msg": "Must be a JSON object.", "type": "not_object"}]),
        ('{"inputs": {', "application/json", 400, None),
        ("[]", "application/json", 422, None),
        ("inputs=1", "application/x-www-form-urlencoded", 415,
         'Unsupported media type "application/x-www-form-urlencoded" in request.'),
    ],
)
def test_bad_bodies_write_nothing(tenant, body, content_type, status, detail):
    live_flow = make_live_flow(tenant.organization)
    response = tenant.client.generic("POST", sessions_url(live_flow.pk), body, content_type=content_type)
    assert response.status_code == status
    if detail is not None:
        assert response.json() == {"detail": detail}
    else:
        assert "detail" in response.json()
    assert LiveFlowSession.objects.count() == 0
    assert LiveFlowSessionStep.objects.count() == 0


def test_start_session_needs_a_current_version(tenant):
    live_flow = LiveFlow.objects.create(organization=tenant.organization, name="empty")
    response = tenant.client.post(sessions_url(live_flow.pk), {"inputs": {}}, format="json")
    assert (response.status_code, response.json()) == (409, {"detail": "This live flow has no current version to run."})


def test_oversized_body_is_413(tenant, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    live_flow = make_live_flow(tenant.organization)
    response = tenant.client.post(sessions_url(live_flow.pk), {"inputs": {"x": "y" * 5000}}, format="json")
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is larger than 2048 bytes."}
    assert LiveFlowSession.objects.count() == 0


def test_method_not_allowed_and_unknown_path(tenant):
    live_flow = make_live_flow(tenant.organization)
    response = tenant.client.delete(sessions_url(live_flow.pk))
    assert (response.status_code, response.json()) == (405, {"detail": 'Method "DELETE" not allowed.'})
    response = tenant.client.get(f"/live_flows/{live_flow.pk}/nothing-here")
    assert (response.status_code, response.json()) == (404, {"detail": "Not found."})


@pytest.mark.parametrize("value", ["4701-09-18T02:32:28+23:58", "9999-12-31T23:59:59-10:00", "0001-01-01T00:00:00+05:00"])
def test_extreme_offsets_and_years_are_refused_or_normalised(tenant, value):
    """Found by schemathesis: PostgreSQL refuses offsets past ±15:59 (it was a 500)."""
    live_flow = make_live_flow(tenant.organization)
    make_session(live_flow)
    response = tenant.client.get(sessions_url(live_flow.pk), {"created_after": value})
    assert response.status_code in (200, 422), response.content
    if response.status_code == 422:
        assert response.json()["detail"][0]["loc"] == ["query", "created_after"]


def test_integers_past_64_bits_in_stored_json_still_render(tenant):
    """Found by schemathesis: jsonb gives 1.8e19 back as an integer orjson cannot write (was a 500)."""
    live_flow = make_live_flow(tenant.organization)
    session = make_session(live_flow)
    LiveFlowSession.objects.filter(pk=session.pk).update(inputs={"big": 2**70, "small": 1})
    for url in (sessions_url(live_flow.pk), sessions_url(live_flow.pk, session.pk)):
        response = tenant.client.get(url)
        assert response.status_code == 200
        body = response.json()
        inputs = body[0]["inputs"] if isinstance(body, list) else body["inputs"]
        assert inputs == {"big": 2**70, "small": 1}
