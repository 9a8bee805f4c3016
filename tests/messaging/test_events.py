"""Message flows publish every create and change, as GET one answers them."""

import json

import pytest
from django.core.management import call_command

from messaging.models import MessageFlow
from tests.messaging.conftest import make_flow, workspace_client

URL = "/v1/api/message-flows"
NEW_FLOW = {
    "name": "SMS Flow #1", "direction": "bidirectional", "agent": "exampleAgentId1",
    "initiationMessage": "Hi!", "prompt": "Short prompt for AI", "messageChannel": "SMS",
}




@pytest.mark.django_db(transaction=True)
def test_create_update_and_toggle_publish_the_get_one_body(tenant, heard):
    api = workspace_client(tenant.raw_key, tenant.workspace.pk)
    flow_id = api.post(URL, NEW_FLOW, format="json").json()["_id"]
    api.put(f"{URL}/{flow_id}", {"description": "Night shift"}, format="json")
    api.put(f"{URL}/{flow_id}/toggle-autopilot")
    api.put(f"{URL}/{flow_id}", {"description": "Night shift"}, format="json")  # no change: no event
    assert [(e.type, e.channel, e.organization_id) for e in heard] == [
        ("message_flow.updated", f"message_flow:{flow_id}", tenant.organization.pk)
    ] * 3
    assert heard[-1].data == api.get(f"{URL}/{flow_id}").json()
    assert heard[-1].data["autopilot"] is True and heard[-1].data["__v"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_refused_change_publishes_nothing(tenant, heard):
    flow = make_flow(tenant.workspace)
    api = workspace_client(tenant.raw_key, tenant.workspace.pk)
    response = api.put(f"{URL}/{flow.pk}", {"settings": {"security": {"hipaaCompliance": "yes"}}}, format="json")
    assert response.status_code == 400
    assert heard == []


@pytest.mark.django_db(transaction=True)
def test_an_import_publishes_the_flows_it_changed(tenant, heard, tmp_path):
    flow = make_flow(tenant.workspace)
    record = {**api_body(tenant, flow), "name": "Renamed by import"}
    path = tmp_path / "flows.json"
    path.write_text(json.dumps([record]))
    call_command("import_message_flows", str(path), "--org", tenant.organization.pk, stdout=open("/dev/null", "w"),
                 stderr=open("/dev/null", "w"))
    assert MessageFlow.objects.get(pk=flow.pk).name == "Renamed by import"
    assert [(e.channel, e.data["name"]) for e in heard] == [(f"message_flow:{flow.pk}", "Renamed by import")]


def api_body(tenant, flow):
    api = workspace_client(tenant.raw_key, tenant.workspace.pk)
    return api.get(URL).json()[0]
