import pytest
from django.utils import timezone

from accounts.management.commands.demo import DemoContext
from chat import demo
from tests.chat.factories import HISTORY_URL, LIST_URL

pytestmark = pytest.mark.django_db


def test_demo_data_lists_three_chats_with_exact_summaries(tenant):
    demo.load(DemoContext(tenant.organization, tenant.workspace, tenant.user, timezone.now()))
    items = tenant.client.get(LIST_URL).json()["data"]["items"]
    assert [(i["contextType"], i["sessionId"] or i["workflowName"], i["messageCount"]) for i in items] == [
        ("workflow", "Weekly report digest", 2),
        ("workflow", "Lead qualification", 6),
        ("session", "session_1718031200000_k3j9d2", 4),
    ]
    assert items[2]["preview"].startswith("I want a workflow that emails me")
    history = tenant.client.get(HISTORY_URL + f"?workflowId={demo.LEAD_WORKFLOW_ID}").json()["data"]
    assert [m["role"] for m in history] == ["user", "assistant"] * 3
    assert history[4]["imageUrls"] == ["https://files.example.com/demo/crm-form.png"]
