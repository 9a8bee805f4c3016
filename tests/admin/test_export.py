"""The export actions: each family's selected sessions as exactly the body its list endpoint returns."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command

from chat.models import ChatSession, Role
from flows.models import LiveFlowSession
from messaging.models import Agent, MessageFlow
from sessions_app.models import UserSession
from tests.admin.conftest import AT
from tests.admin.helpers import admin_url
from tests.chat.factories import chat
from tests.flows.factories import make_live_flow, make_session

pytestmark = pytest.mark.django_db


def export(client, model, action, objects):
    response = client.post(
        admin_url(model, "changelist"), {"action": action, "_selected_action": [str(o.pk) for o in objects]}
    )
    assert response.status_code == 200, response
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    return response, json.loads(b"".join(response.streaming_content))


def run_import(tmp_path, command, body, *args):
    """The import command on the exported body, saved as the downloaded file; its summary line."""
    path = tmp_path / "export.json"
    path.write_text(json.dumps(body))
    out = io.StringIO()
    call_command(command, str(path), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()[-1]


def test_live_flow_sessions_export_is_the_list_endpoint_body(staff_client, mine, tmp_path):
    live_flow = mine.objects[type(mine.objects[LiveFlowSession].live_flow)]
    sessions = [mine.objects[LiveFlowSession]] + [
        make_session(live_flow, n_recorded=n, created_at=AT + timedelta(hours=n)) for n in (0, 1, 3)
    ]
    response, body = export(staff_client, LiveFlowSession, "export_sessions", sessions)
    api = mine.tenant.client.get(f"/live_flows/{live_flow.pk}/sessions").json()
    assert len(api) == 4
    assert body == api
    assert response["Content-Disposition"] == f'attachment; filename="live-flow-{live_flow.pk}-sessions.json"'

    # And the import command reads it back as it is.
    LiveFlowSession.objects.filter(pk__in=[s.pk for s in sessions]).delete()
    summary = run_import(
        tmp_path, "import_live_flow_sessions", body, "--org", mine.tenant.organization.pk, "--live-flow", str(live_flow.pk)
    )
    assert summary.startswith("created 4,")
    assert mine.tenant.client.get(f"/live_flows/{live_flow.pk}/sessions").json() == api


def test_an_export_spanning_two_live_flows_is_refused(staff_client, mine):
    other = make_live_flow(mine.tenant.organization)
    sessions = [mine.objects[LiveFlowSession], make_session(other)]
    response = staff_client.post(
        admin_url(LiveFlowSession, "changelist"),
        {"action": "export_sessions", "_selected_action": [str(s.pk) for s in sessions]},
        follow=True,
    )
    assert "Content-Disposition" not in response
    (message,) = [str(m) for m in response.context["messages"]]
    assert message.startswith("The selection spans several live flows")


def test_chat_sessions_export_is_the_list_endpoint_envelope(staff_client, mine, tmp_path):
    org = mine.tenant.organization
    sessions = [mine.objects[ChatSession]] + [
        chat(org, at=AT + timedelta(days=n), messages=[(Role.USER, f"Question {n}"), (Role.ASSISTANT, "Answer")])
        for n in range(1, 4)
    ] + [chat(org, workflow_id="7d5f8b8e-3c7a-4f7e-9a59-2a1f0f0c9b11", workflow_name="Onboarding", at=AT)]
    response, body = export(staff_client, ChatSession, "export_sessions", sessions)
    api = mine.tenant.client.get("/v1/ai/workflow/chat/sessions", {"limit": 50}).json()
    assert len(api["data"]["items"]) == 5
    assert list(body) == list(api) == ["code", "data", "message", "requestId"]
    # Each item is the list's, with its messages as the history answers them (oldest first).
    items = [{key: value for key, value in item.items() if key != "messages"} for item in body["data"]["items"]]
    assert items == api["data"]["items"]
    for item in body["data"]["items"]:
        key = {"workflowId": item["workflowId"]} if item["workflowId"] else {"sessionId": item["sessionId"]}
        history = mine.tenant.client.get("/v1/ai/workflow/chat/history", {**key, "limit": 100}).json()["data"]
        assert item["messages"] == history
        assert len(history) == item["messageCount"]
    assert {**body["data"], "items": items} == {**api["data"], "limit": 5}  # the whole selection: limit its size
    assert (body["code"], body["message"]) == (200, "success")
    assert body["requestId"] == response["X-Request-Id"]

    # The import command reads the envelope as it is.
    assert run_import(tmp_path, "import_chat_sessions", body, "--org", org.pk) == "created 0, updated 0, unchanged 5"


def test_message_flows_export_is_the_list_endpoint_body(staff_client, mine):
    ws = mine.tenant.workspace
    agent = Agent.objects.get(workspace=ws)
    flows = [mine.objects[MessageFlow]] + [
        MessageFlow.objects.create(
            workspace=ws, agent=agent, name=f"Flow {n}", direction="outbound", message_channel="Email",
            description=None, settings={"emailSettings": {"from": "a@b.c"}}, created_at=AT + timedelta(minutes=n),
            updated_at=AT + timedelta(minutes=n),
        )
        for n in range(1, 3)
    ]
    _, body = export(staff_client, MessageFlow, "export_flows", flows)
    mine.tenant.client.credentials(HTTP_AUTHORIZATION=f"Bearer {mine.tenant.raw_key}", HTTP_X_WORKSPACE_ID=ws.pk)
    api = mine.tenant.client.get("/v1/api/message-flows").json()
    assert len(api) == 3
    # The list's items in its order, each as GET one answers it (with initiationMessage and __v).
    assert body == [mine.tenant.client.get(f"/v1/api/message-flows/{flow['_id']}").json() for flow in api]
    assert [{key: flow[key] for key in api[0]} for flow in body] == api


def test_user_sessions_export_is_the_list_endpoint_body(staff_client, mine):
    user = mine.tenant.user
    sessions = [mine.objects[UserSession]] + [
        UserSession.objects.create(
            user=user, organization=None, name=f"Session {n}", dialogue_null=n == 1, audios_null=n == 2,
            quick_replies=["Yes", "No"] if n == 2 else None, created_at=AT, updated_at=AT + timedelta(hours=n),
        )
        for n in range(1, 3)
    ]
    response, body = export(staff_client, UserSession, "export_sessions", sessions)
    api = mine.tenant.client.get("/session").json()
    assert len(api) == 3
    assert body == api
    assert response["Content-Disposition"] == 'attachment; filename="user-sessions-alice.json"'
