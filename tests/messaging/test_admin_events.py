"""A message flow edited or added in the admin is published once, as GET one answers it."""

import asyncio

import pytest

from messaging import services
from messaging.models import MessageFlow
from tests.admin.helpers import admin_url, logged_in, page_form_data, post_and_listen, staff_member
from tests.messaging.conftest import make_flow, workspace_client

URL = "/v1/api/message-flows"


@pytest.fixture
def staff_client(tenant):
    return logged_in(staff_member(tenant.organization, "Support staff", ["messaging", "accounts"]))


@pytest.mark.django_db(transaction=True)
def test_a_flow_edited_in_the_admin_is_published_as_get_one_answers_it(tenant, heard, staff_client):
    flow = make_flow(tenant.workspace)
    url = admin_url(MessageFlow, "change", flow.pk)
    data = page_form_data(staff_client.get(url))
    data["name"] = "Renamed by staff"
    data["autopilot"] = "on"
    heard.clear()

    response, listened = asyncio.run(post_and_listen(staff_client, url, data, services.channel(flow.pk)))

    assert response.status_code == 302, response.content[:2000]
    answer = workspace_client(tenant.raw_key, tenant.workspace.pk).get(f"{URL}/{flow.pk}").json()
    assert (answer["name"], answer["autopilot"], answer["__v"]) == ("Renamed by staff", True, flow.version + 1)
    assert [(e.type, e.channel, e.organization_id, e.data) for e in heard] == [
        ("message_flow.updated", f"message_flow:{flow.pk}", tenant.organization.pk, answer)
    ]
    assert [e.id for e in listened] == [heard[0].id]


@pytest.mark.django_db(transaction=True)
def test_a_flow_added_in_the_admin_is_published(tenant, heard, staff_client):
    url = admin_url(MessageFlow, "add")
    data = page_form_data(staff_client.get(url))
    data.update({
        "id": "mf_added_by_staff", "workspace": tenant.workspace.pk, "name": "Added by staff", "agent_name": "agent_9",
        "direction": "inbound", "message_channel": "SMS", "prompt": "Be brief.", "settings": "{}",
    })
    heard.clear()

    response = staff_client.post(url, data)

    assert response.status_code == 302, response.content[:2000]
    answer = workspace_client(tenant.raw_key, tenant.workspace.pk).get(f"{URL}/mf_added_by_staff").json()
    assert answer["name"] == "Added by staff" and answer["agent"] == "agent_9"
    assert [(e.type, e.channel, e.data) for e in heard] == [
        ("message_flow.updated", "message_flow:mf_added_by_staff", answer)
    ]
