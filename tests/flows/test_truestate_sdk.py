"""Flowdesk driven by TrueState's own Python SDK (`truestate.client.Client`) over real HTTP.

The SDK sends `Api-key` and `Current-Org-Id`, posts `json.dumps` bodies without a Content-Type,
and its managers expect FastAPI's statuses: 200 for a create and for a delete.
"""

import pytest
import requests
from truestate.client import Client

from flowdesk.api.fields import iso_z
from flows.api import streaming
from flows.models import Flow, FlowVersion, LiveFlow, LiveFlowSession, SessionStatus
from tests.flows.factories import new_live_flow_body

GRAPH = {
    "steps": [
        {"name": "start", "step_type": "START"},
        {"name": "ask", "step_type": "USER_INPUT", "prompt_template": {"type": "text", "text": "Which plan?"}},
        {"name": "reply", "step_type": "LLM", "prompt_template": {"type": "chat", "messages": [
            {"role": "user", "content": "Plan ${ask.result} for ${INPUTS.message}"}]}},
    ],
    "step_transitions": [
        {"source_step": "start", "target_step": "ask"},
        {"source_step": "ask", "target_step": "reply"},
    ],
}


@pytest.fixture
def sdk(live_server, tenant, settings):
    # Sessions run inline when their request commits: each answer below is what the SDK then reads.
    settings.LIVE_FLOW_RUNNER = "eager"
    settings.LIVE_FLOW_LLM_BACKEND = "offline"
    return Client(api_key=tenant.raw_key, organisation_id=tenant.organization.pk, base_url=live_server.url)


def test_flows_and_versions(sdk, tenant):
    status, flow = sdk.post("/flows/", {"name": "Triage", "description": "Sorts the inbox"})
    assert status == 200, flow
    row = Flow.objects.get()
    assert flow == {
        "id": str(row.pk),
        "organisation_id": tenant.organization.pk,
        "name": "Triage",
        "description": "Sorts the inbox",
        "versions_count": 0,
        "created_at": iso_z(row.created_at),
        "updated_at": iso_z(row.updated_at),
    }
    assert sdk.get(f"/flows/{row.pk}/") == (200, flow)
    assert sdk.get("/flows/") == (200, [flow])

    status, version = sdk.post(f"/flows/{row.pk}/versions/", GRAPH)
    assert status == 200, version
    assert version["flow_id"] == str(row.pk)
    assert [(s["name"], s["step_type"]) for s in version["steps"]] == [
        ("start", "START"), ("ask", "USER_INPUT"), ("reply", "LLM")]
    ids = {s["name"]: s["id"] for s in version["steps"]}
    assert sorted((t["source_step_id"], t["target_step_id"]) for t in version["step_transitions"]) == sorted(
        [(ids["start"], ids["ask"]), (ids["ask"], ids["reply"])])
    assert sdk.get(f"/flows/{row.pk}/versions/{version['id']}/") == (200, version)
    assert sdk.get(f"/flows/{row.pk}/versions/") == (200, [version])
    assert sdk.get(f"/flows/{row.pk}/")[1]["versions_count"] == 1

    status, changed = sdk.patch(f"/flows/{row.pk}/", {"description": "Sorts everything"})
    assert (status, changed["description"]) == (200, "Sorts everything")

    assert sdk.delete(f"/flows/{row.pk}/versions/{version['id']}/") == (200, None)
    assert sdk.delete(f"/flows/{row.pk}/") == (200, None)
    assert not Flow.objects.exists() and not FlowVersion.objects.exists()


def test_live_flow_and_its_sessions(sdk, tenant):
    flow_id = sdk.post("/flows/", {"name": "Plans"})[1]["id"]
    version = sdk.post(f"/flows/{flow_id}/versions/", GRAPH)[1]

    status, live_flow = sdk.post("/live_flows/", {"name": "Plans desk", "description": "",
                                                  "current_version": version["id"]})
    assert status == 200, live_flow
    row = LiveFlow.objects.get()
    assert (row.name, row.description, row.organization_id) == ("Plans desk", "", tenant.organization.pk)
    assert live_flow == new_live_flow_body(row, version)
    base = f"/live_flows/{row.pk}"

    # create session: answered as started (NEW, on START), before it runs
    status, session = sdk.post(f"{base}/sessions/", {"inputs": {"message": "a quote"}})
    assert status == 200, session
    assert (session["status"], session["inputs"], session["steps_count"]) == ("NEW", {"message": "a quote"}, 1)
    assert session["current_step"]["step"]["name"] == "start"
    assert session["flow_version"] == version

    # it ran up to the user-input step: the SDK reads it waiting, with the step's prompt
    status, waiting = sdk.get(f"{base}/sessions/{session['id']}/")
    assert status == 200
    assert waiting["status"] == "WAITING_FOR_USER_INPUT"
    assert waiting["current_step"]["step"]["name"] == "ask"
    assert [s["step"]["name"] for s in waiting["steps"]] == ["start", "ask"]
    assert sdk.get(f"{base}/sessions/") == (200, [waiting])

    # the live flow carries its sessions, exactly as the session list gives them
    assert sdk.get(f"{base}/") == (200, {**live_flow, "sessions": [waiting]})
    assert sdk.get("/live_flows/") == (200, [{**live_flow, "sessions": [waiting]}])

    status, answered = sdk.post(f"{base}/sessions/{session['id']}/user_input/", {"user_input": "Pro"})
    assert (status, answered["status"]) == (200, "RUNNING"), answered
    status, finished = sdk.get(f"{base}/sessions/{session['id']}/")
    assert finished["status"] == "FINISHED"
    assert finished["steps"][1]["user_input"] == "Pro"
    assert finished["steps"][2]["result"].startswith("(offline model)")

    status, second = sdk.post(f"{base}/sessions/", {"inputs": {}})
    assert status == 200
    status, cancelled = sdk.post(f"{base}/sessions/{second['id']}/cancel/", {})
    assert (status, cancelled["status"]) == (200, "CANCELLED")
    status, sessions = sdk.get(f"{base}/sessions/")
    assert [s["id"] for s in sessions] == [second["id"], session["id"]]  # newest first

    # update: answered with every session too
    status, renamed = sdk.put(f"{base}/", {"name": "Plans desk (EU)", "current_version": version["id"]})
    assert status == 200, renamed
    assert renamed["name"] == "Plans desk (EU)"
    assert renamed["sessions"] == sessions
    assert sdk.get(f"{base}/") == (200, renamed)

    assert sdk.delete(f"{base}/") == (200, None)
    assert not LiveFlow.objects.exists() and not LiveFlowSession.objects.exists()


def test_refusals_in_the_vendors_shapes(sdk, tenant, other_tenant):
    status, body = sdk.post("/flows/", {"name": ""})
    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "name"]
    theirs = LiveFlow.objects.create(organization=other_tenant.organization, name="Theirs")
    assert sdk.get(f"/live_flows/{theirs.pk}/") == (404, {"detail": "Not found."})
    assert sdk.post(f"/live_flows/{theirs.pk}/sessions/", {"inputs": {}}) == (404, {"detail": "Not found."})
    empty = LiveFlow.objects.create(organization=tenant.organization, name="No version yet")
    assert sdk.post(f"/live_flows/{empty.pk}/sessions/", {"inputs": {}}) == (
        409, {"detail": "This live flow has no current version to run."})
    assert not LiveFlowSession.objects.filter(status=SessionStatus.NEW).exists()
    with pytest.raises(Exception, match="Unauthorized"):
        Client(api_key="fdk_not-a-key", organisation_id=tenant.organization.pk,
               base_url=sdk.base_url).get("/live_flows/")


def test_a_streamed_live_flow_reads_the_same(sdk, tenant, monkeypatch):
    """Over HTTP, a long body is streamed from an open cursor (a transaction of its own), and a
    client that hangs up halfway leaves nothing behind for the next request."""
    flow_id = sdk.post("/flows/", {"name": "Plans"})[1]["id"]
    version = sdk.post(f"/flows/{flow_id}/versions/", GRAPH)[1]
    live_flow = sdk.post("/live_flows/", {"name": "Plans desk", "current_version": version["id"]})[1]
    for n in range(12):
        assert sdk.post(f"/live_flows/{live_flow['id']}/sessions/", {"inputs": {"n": n}})[0] == 200
    whole = sdk.get(f"/live_flows/{live_flow['id']}/")
    assert len(whole[1]["sessions"]) == 12

    monkeypatch.setattr(streaming, "WHOLE_BODY_BYTES", 0)
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 200)
    monkeypatch.setattr(streaming, "FETCH_ROWS", 5)
    response = requests.get(f"{sdk.base_url}/live_flows/{live_flow['id']}/", headers=sdk.headers, stream=True)
    assert response.headers.get("Content-Length") is None  # streamed
    assert (response.status_code, response.json()) == whole
    assert sdk.get("/live_flows/") == (200, [whole[1]])

    response = requests.get(f"{sdk.base_url}/live_flows/", headers=sdk.headers, stream=True)
    next(response.iter_content(100))
    response.close()  # hung up halfway
    assert sdk.get(f"/live_flows/{live_flow['id']}/") == whole
    assert sdk.post(f"/live_flows/{live_flow['id']}/sessions/", {"inputs": {}})[0] == 200
    assert LiveFlowSession.objects.count() == 13
