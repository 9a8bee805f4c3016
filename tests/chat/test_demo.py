import pytest
from django.utils import timezone

from accounts.management.commands.demo import DemoContext
from chat import demo
from tests.chat.factories import HISTORY_URL, LIST_URL

pytestmark = pytest.mark.django_db


def test_demo_data_lists_four_chats_with_exact_summaries(tenant):
    demo.load(DemoContext(tenant.organization, tenant.workspace, tenant.user, timezone.now()))
    items = tenant.client.get(LIST_URL).json()["data"]["items"]
    assert [(i["contextType"], i["sessionId"] or i["workflowName"], i["messageCount"], i["conversationId"])
            for i in items] == [
        ("workflow", "Weekly report digest", 2, None),
        ("workflow", "Lead qualification", 6, None),
        ("workflow", "Morning ticket summary", 2, demo.TICKETS_CONVERSATION_ID),
        ("session", "session_1718031200000_k3j9d2", 4, demo.TICKETS_CONVERSATION_ID),
    ]
    assert items[3]["preview"].startswith("I want a workflow that emails me")
    # The conversation reads across the create-page chat and the workflow it became.
    history = tenant.client.get(HISTORY_URL + f"?conversationId={demo.TICKETS_CONVERSATION_ID}").json()["data"]
    assert [(m["sessionId"], m["workflowId"]) for m in history] == [("session_1718031200000_k3j9d2", None)] * 4 + [
        (None, str(demo.TICKETS_WORKFLOW_ID))] * 2
    history = tenant.client.get(HISTORY_URL + f"?workflowId={demo.LEAD_WORKFLOW_ID}").json()["data"]
    assert [m["role"] for m in history] == ["user", "assistant"] * 3
    assert history[4]["imageUrls"] == ["https://files.example.com/demo/crm-form.png"]


def test_demo_data_loads_into_two_organizations(tenant, other_tenant):
    """The demo's workflow ids are fixed: each organization gets its own workflows of those ids."""
    for who in (tenant, other_tenant):
        demo.load(DemoContext(who.organization, who.workspace, who.user, timezone.now()))
    for who in (tenant, other_tenant):
        history = who.client.get(HISTORY_URL + f"?workflowId={demo.LEAD_WORKFLOW_ID}").json()["data"]
        assert {m["organizationId"] for m in history} == {who.organization.pk}
        assert len(history) == 6
