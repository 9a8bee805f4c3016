"""A live flow's `sessions`: every session it ran, as GET .../sessions lists them, newest first.

The bodies are written as the rows are read (flows/api/streaming.py): a short body is answered
whole, a long one streamed; both must read the same.
"""

import json
import uuid
from datetime import timedelta

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone

from flows.api import streaming
from flows.models import LiveFlow, LiveFlowSession, SessionStatus, Step, StepTransition, StepType
from tests.flows.factories import make_live_flow, make_session, make_version

NOW = timezone.now()


def read(response):
    """The parsed body, whether it came whole or streamed."""
    if response.streaming:
        return json.loads(b"".join(response.streaming_content))
    return response.json()


@pytest.fixture
def streamed(monkeypatch):
    """Every body streamed, in small chunks, read from the database a few rows at a time."""
    monkeypatch.setattr(streaming, "WHOLE_BODY_BYTES", 0)
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 100)
    monkeypatch.setattr(streaming, "FETCH_ROWS", 3)


@pytest.fixture
def two_live_flows(tenant):
    """A live flow whose sessions ran two versions (the current one, and one before it) and one
    without sessions nor current version."""
    live_flow = make_live_flow(tenant.organization)
    older = [make_session(live_flow, n_recorded=n, created_at=NOW - timedelta(hours=10 - n)) for n in (0, 2)]
    live_flow.current_version, _ = make_version(tenant.organization, n_steps=5)
    live_flow.save()
    newer = [make_session(live_flow, n_recorded=n, created_at=NOW - timedelta(hours=5 - n)) for n in (1, 4)]
    empty = LiveFlow.objects.create(organization=tenant.organization, name="Empty", description="nothing yet")
    return live_flow, empty, older + newer


def sessions_of(tenant, live_flow):
    response = tenant.client.get(f"/live_flows/{live_flow.pk}/sessions?limit=1000")  # the page path
    assert response.status_code == 200
    return response.json()


def test_sessions_are_the_session_list_newest_first(tenant, two_live_flows):
    live_flow, empty, sessions = two_live_flows
    body = read(tenant.client.get(f"/live_flows/{live_flow.pk}/"))
    assert body["sessions"] == sessions_of(tenant, live_flow)
    assert [s["id"] for s in body["sessions"]] == [str(s.pk) for s in reversed(sessions)]
    assert [s["steps_count"] for s in body["sessions"]] == [4, 1, 2, 0]
    # each session shows the version it ran; the live flow shows its current one
    assert {s["flow_version"]["id"] for s in body["sessions"][:2]} == {str(live_flow.current_version_id)}
    assert body["sessions"][2]["flow_version"]["id"] != str(live_flow.current_version_id)
    assert body["current_version"] == body["sessions"][0]["flow_version"]
    assert len(body["current_version"]["steps"]) == 5
    assert body["sessions"][0]["current_step"] == body["sessions"][0]["steps"][-1]
    assert body["sessions"][3]["current_step"] is None and body["sessions"][3]["steps"] == []


def test_list_gives_each_live_flow_its_own_sessions(tenant, other_tenant, two_live_flows):
    live_flow, empty, _ = two_live_flows
    theirs = make_live_flow(other_tenant.organization)
    make_session(theirs)
    body = read(tenant.client.get("/live_flows"))
    assert [item["id"] for item in body] == [str(empty.pk), str(live_flow.pk)]  # newest first
    assert body[1] == read(tenant.client.get(f"/live_flows/{live_flow.pk}"))
    assert body[0] == {
        "name": "Empty",
        "description": "nothing yet",
        "id": str(empty.pk),
        "organisation_id": tenant.organization.pk,
        "current_version": None,
        "sessions": [],
        "created_at": body[0]["created_at"],
        "updated_at": body[0]["updated_at"],
    }
    assert [item["id"] for item in read(other_tenant.client.get("/live_flows"))] == [str(theirs.pk)]


def test_streamed_bodies_equal_whole_ones(tenant, two_live_flows, monkeypatch):
    live_flow, empty, _ = two_live_flows
    after = (NOW - timedelta(hours=7)).isoformat().replace("+00:00", "Z")
    urls = ["/live_flows", f"/live_flows/{live_flow.pk}", f"/live_flows/{empty.pk}/",
            f"/live_flows/{live_flow.pk}/sessions", f"/live_flows/{live_flow.pk}/sessions?created_after={after}"]
    whole = {}
    for url in urls:
        response = tenant.client.get(url)
        assert not response.streaming and response["Content-Length"], url
        whole[url] = response.json()
    monkeypatch.setattr(streaming, "WHOLE_BODY_BYTES", 0)
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 100)
    monkeypatch.setattr(streaming, "FETCH_ROWS", 3)  # sessions split across fetches
    for url in urls:
        response = tenant.client.get(url)
        assert response.status_code == 200 and response.streaming, url
        assert response["Content-Type"] == "application/json"
        chunks = list(response.streaming_content)
        assert len(chunks) > 1 or str(empty.pk) in url, url
        assert json.loads(b"".join(chunks)) == whole[url], url


@pytest.mark.django_db(transaction=True)
def test_a_stream_closed_halfway_ends_its_transaction_with_the_response(tenant, two_live_flows, monkeypatch, settings):
    """A client that hangs up halfway: the server closes the response, and the body's transaction
    ends then, not when the garbage collector finds the body (later, in whatever thread runs)."""
    live_flow, _, _ = two_live_flows
    monkeypatch.setattr(streaming, "WHOLE_BODY_BYTES", 0)
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 100)
    monkeypatch.setattr(streaming, "FETCH_ROWS", 3)
    # Served as a WSGI server serves it (the test client's wrapper would free the body on close).
    environ = RequestFactory().get(f"/live_flows/{live_flow.pk}/sessions", HTTP_API_KEY=tenant.raw_key).environ
    response = WSGIHandler()(environ, lambda status, headers: None)
    assert response.streaming
    next(iter(response))
    assert connection.in_atomic_block  # read inside the body's transaction
    response.close()
    assert not connection.in_atomic_block and connection.get_autocommit()
    settings.LIVE_FLOW_RUNNER, settings.LIVE_FLOW_LLM_BACKEND = "eager", "offline"  # no runner thread
    assert tenant.client.post(f"/live_flows/{live_flow.pk}/sessions", {"inputs": {}}, format="json").status_code == 200


def test_every_session_without_limit_is_the_page_with_one(tenant, two_live_flows, streamed):
    live_flow, _, sessions = two_live_flows
    LiveFlowSession.objects.filter(pk=sessions[1].pk).update(status=SessionStatus.FINISHED)
    after = (NOW - timedelta(hours=7)).isoformat().replace("+00:00", "Z")
    for query in ("", "?status=FINISHED", "?offset=1", "?offset=3", "?offset=9", f"?created_after={after}"):
        every = read(tenant.client.get(f"/live_flows/{live_flow.pk}/sessions{query}"))
        page = tenant.client.get(f"/live_flows/{live_flow.pk}/sessions{query}{'&' if query else '?'}limit=1000")
        assert every == page.json(), query
    assert len(read(tenant.client.get(f"/live_flows/{live_flow.pk}/sessions?offset=1"))) == len(sessions) - 1


def test_create_and_update_answer_the_sessions_too(tenant, two_live_flows):
    live_flow, _, _ = two_live_flows
    version, _ = make_version(tenant.organization)
    response = tenant.client.patch(f"/live_flows/{live_flow.pk}", {"current_version": str(version.pk)}, format="json")
    assert response.status_code == 200
    body = read(response)
    assert body["current_version"]["id"] == str(version.pk)
    assert body["sessions"] == sessions_of(tenant, live_flow)
    response = tenant.client.put(f"/live_flows/{live_flow.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200
    assert read(response)["name"] == "Renamed" and len(read(response)["sessions"]) == 4
    assert read(response) == read(tenant.client.get(f"/live_flows/{live_flow.pk}"))
    response = tenant.client.post("/live_flows", {"name": "New", "current_version": str(version.pk)}, format="json")
    assert response.status_code == 200
    assert read(response)["sessions"] == []


def test_a_branching_graph_reads_as_the_version_endpoint_reads_it(tenant):
    """Steps come joined to their transitions: a step with two ways out is still one step."""
    version, steps = make_version(tenant.organization, n_steps=4)
    StepTransition.objects.create(flow_version=version, source_step=steps[0], target_step=steps[2], label="skip")
    StepTransition.objects.create(flow_version=version, source_step=steps[0], target_step=steps[3], label="far")
    Step.objects.create(flow_version=version, name="island", step_type=StepType.LLM)  # no transition at all
    live_flow = make_live_flow(tenant.organization, version)
    make_session(live_flow, n_recorded=3)
    expected = tenant.client.get(f"/flows/{version.flow_id}/versions/{version.pk}").json()
    assert len(expected["steps"]) == 5 and len(expected["step_transitions"]) == 5
    body = read(tenant.client.get(f"/live_flows/{live_flow.pk}"))
    assert body["current_version"] == expected
    assert body["sessions"][0]["flow_version"] == expected


def test_a_version_with_no_steps_still_renders(tenant):
    version, _ = make_version(tenant.organization, n_steps=1)
    live_flow = make_live_flow(tenant.organization, version)
    Step.objects.filter(flow_version=version).delete()
    body = read(tenant.client.get(f"/live_flows/{live_flow.pk}"))
    assert body["current_version"]["id"] == str(version.pk)
    assert body["current_version"]["steps"] == [] and body["current_version"]["step_transitions"] == []


def test_a_session_on_a_version_made_while_reading_is_still_rendered(tenant, monkeypatch):
    """The versions are read before the sessions: a session started in between on a new version
    has its version read on its own, not a crash halfway through a streamed body."""
    live_flow = make_live_flow(tenant.organization)
    first = make_session(live_flow)
    real = streaming.load_versions
    late = {}

    def load_then_start_one(renderer, versions):
        real(renderer, versions)
        if not late:
            monkeypatch.setattr(streaming, "load_versions", real)
            new_version, _ = make_version(tenant.organization, n_steps=2)
            LiveFlow.objects.filter(pk=live_flow.pk).update(current_version=new_version)
            live_flow.current_version = new_version
            late["session"] = make_session(live_flow, n_recorded=1, created_at=first.created_at + timedelta(minutes=1))

    monkeypatch.setattr(streaming, "load_versions", load_then_start_one)
    body = read(tenant.client.get(f"/live_flows/{live_flow.pk}"))
    assert body["sessions"][0]["id"] == str(late["session"].pk)
    assert body["sessions"][0]["flow_version"]["id"] == str(late["session"].flow_version_id)
    assert len(body["sessions"][0]["flow_version"]["steps"]) == 2
    assert len(body["sessions"]) == 2


def test_another_tenants_or_a_missing_live_flow_is_404(tenant, other_tenant):
    theirs = make_live_flow(other_tenant.organization)
    make_session(theirs)
    for url in (f"/live_flows/{theirs.pk}", f"/live_flows/{uuid.uuid4()}/", "/live_flows/not-a-uuid"):
        for method in ("get", "put", "patch", "delete"):
            response = getattr(tenant.client, method)(url, {"name": "x"}, format="json")
            assert (response.status_code, response.json()) == (404, {"detail": "Not found."}), (method, url)
    assert LiveFlow.objects.get(pk=theirs.pk).name == "Inbox"


def test_integers_past_64_bits_render_in_the_live_flow(tenant, streamed):
    live_flow = make_live_flow(tenant.organization)
    session = make_session(live_flow)
    LiveFlowSession.objects.filter(pk=session.pk).update(inputs={"big": 2**70})
    assert read(tenant.client.get(f"/live_flows/{live_flow.pk}"))["sessions"][0]["inputs"] == {"big": 2**70}


def test_retrieve_query_count_is_fixed(tenant, django_assert_num_queries):
    tenant.key.last_used_at = timezone.now()
    tenant.key.save()
    live_flow = make_live_flow(tenant.organization, n_steps=6)
    make_session(live_flow, n_recorded=1)
    # key; the live flow; versions with steps and transitions; sessions with recorded steps
    with django_assert_num_queries(4):
        assert len(read(tenant.client.get(f"/live_flows/{live_flow.pk}"))["sessions"]) == 1
    for n in range(30):
        make_session(live_flow, n_recorded=n % 7, status=SessionStatus.FINISHED)
    live_flow.current_version, _ = make_version(tenant.organization)
    live_flow.save()
    make_session(live_flow, n_recorded=3)
    with django_assert_num_queries(4):
        assert len(read(tenant.client.get(f"/live_flows/{live_flow.pk}"))["sessions"]) == 32


def test_the_page_writes_timestamps_as_get_one_does_four_digit_years_and_fractions_where_stored(tenant):
    # On PostgreSQL the page's timestamps are formatted by to_char, GET one's by Python.
    from datetime import UTC, datetime

    live_flow = make_live_flow(tenant.organization)
    stamps = [datetime(799, 3, 15, 4, 50, 9, 250000, tzinfo=UTC), datetime(2026, 12, 3, 8, 0, 0, tzinfo=UTC)]
    for at in stamps:
        make_session(live_flow, n_recorded=1, created_at=at)
    page = sessions_of(tenant, live_flow)
    assert [(s["created_at"], s["steps"][0]["created_at"]) for s in page] == [
        ("2026-12-03T08:00:00Z", "2026-12-03T08:00:00Z"), ("0799-03-15T04:50:09.25Z", "0799-03-15T04:50:09.25Z"),
    ]
    for session in page:
        one = tenant.client.get(f"/live_flows/{live_flow.pk}/sessions/{session['id']}")
        assert one.json() == session
