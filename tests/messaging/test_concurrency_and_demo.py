import pytest
from django.utils import timezone

from accounts.management.commands.demo import DemoContext
from messaging import demo
from messaging.models import MessageFlow
from tests.conftest import at_once, make_tenant
from tests.messaging.conftest import make_flow, workspace_client

URL = "/v1/api/message-flows"


@pytest.mark.postgres
@pytest.mark.parametrize("endpoint", ["PUT toggleAutopilot", "PUT toggle-autopilot"])
def test_concurrent_toggles_each_flip(transactional_db, endpoint):
    tenant = make_tenant("org_race", "racer")
    flow = make_flow(tenant.workspace, autopilot=False)
    workers = 4
    clients = [workspace_client(tenant.raw_key, tenant.workspace.pk) for _ in range(workers)]
    statuses = []

    def toggle(number):
        client = clients[number]
        if endpoint == "PUT toggleAutopilot":
            response = client.put(f"{URL}/{flow.id}", {"toggleAutopilot": True}, format="json")
        else:
            response = client.put(f"{URL}/{flow.id}/toggle-autopilot")
        statuses.append(response.status_code)

    assert at_once(workers, toggle) == []
    assert statuses == [200] * workers
    stored = MessageFlow.objects.get(pk=flow.pk)
    # Four flips from false: false again, and four versions, none lost to a race.
    assert (stored.autopilot, stored.version) == (False, workers)


def test_demo_data_lists_through_the_api(tenant):
    demo.load(DemoContext(tenant.organization, tenant.workspace, tenant.user, timezone.now()))
    response = workspace_client(tenant.raw_key, tenant.workspace.pk).get(URL)
    assert response.status_code == 200
    flows = response.json()
    assert [f["name"] for f in flows] == ["SMS support line", "Email lead follow-up", "Appointment reminders (paused)"]
    assert {f["messageChannel"] for f in flows} == {"SMS", "Email"}
    assert all(len(f["_id"]) == 24 for f in flows)
    # Stored as the API would have stored them: the vendor's defaults under what each gives.
    assert all(f["settings"]["security"]["hipaaCompliance"] is False for f in flows)
    assert [f["settings"]["responseSettings"]["workingHours"]["enabled"] for f in flows] == [True, False, False]
