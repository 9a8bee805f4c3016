"""A family's own write path to a webhook: the event's data is the object as its GET one answers it."""

import json

import pytest

from tests.messaging.conftest import workspace_client
from tests.webhooks.conftest import endpoint_for, settle
from webhooks.models import Delivery, DeliveryState

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_message_flow_created_and_changed_through_the_api_reaches_the_webhook(tenant, other_tenant, receiver):
    endpoint = endpoint_for(tenant.organization, receiver.url, events=["message_flow.updated"])
    endpoint_for(other_tenant.organization, receiver.url, events=["message_flow.updated"])
    api = workspace_client(tenant.raw_key, tenant.workspace.pk)
    created = api.post("/v1/api/message-flows", {
        "name": "SMS Flow #1", "direction": "bidirectional", "agent": "exampleAgentId1",
        "initiationMessage": "Hi! How can we help?", "prompt": "Short prompt for AI", "messageChannel": "SMS",
    }, format="json")
    assert created.status_code == 201
    flow_id = created.json()["_id"]
    receiver.wait_for(1)
    settle()
    toggled = api.put(f"/v1/api/message-flows/{flow_id}/toggle-autopilot")
    assert toggled.status_code == 200
    receiver.wait_for(2)
    settle()

    bodies = [json.loads(body) for _, body, _ in receiver.requests]
    assert [body["event"] for body in bodies] == ["message_flow.updated"] * 2
    # The second as the flow stands now: GET one's body, exactly.
    assert bodies[1]["data"] == api.get(f"/v1/api/message-flows/{flow_id}").json()
    assert bodies[0]["data"]["autopilot"] != bodies[1]["data"]["autopilot"]
    assert bodies[0]["id"] != bodies[1]["id"]
    assert set(Delivery.objects.values_list("endpoint_id", "state")) == {(endpoint.pk, DeliveryState.DELIVERED)}
