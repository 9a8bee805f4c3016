"""A live flow session edited in the admin is published, after commit, to webhooks and to its listeners."""

import asyncio

import pytest

from flows import live
from flows.models import LiveFlowSession, SessionStatus
from tests.admin.helpers import admin_url, logged_in, page_form_data, post_and_listen, staff_member
from tests.flows.factories import make_live_flow, make_session


def change_page(tenant, status):
    """A session of ``status`` and its change page as the organization's support staff opened it:
    (session, their client, the page's URL, the form's data)."""
    session = make_session(make_live_flow(tenant.organization), status=status)
    client = logged_in(staff_member(tenant.organization, "Support staff", ["flows"]))
    url = admin_url(LiveFlowSession, "change", session.pk)
    return session, client, url, page_form_data(client.get(url))


@pytest.mark.django_db(transaction=True)
def test_a_status_changed_in_the_admin_reaches_webhooks_and_listeners(tenant, heard):
    session, client, url, data = change_page(tenant, SessionStatus.WAITING_FOR_USER_INPUT)
    assert data["status"] == "WAITING_FOR_USER_INPUT"
    data["status"] = "CANCELLED"
    heard.clear()  # the session's own creation

    response, listened = asyncio.run(post_and_listen(client, url, data, live.channel(session.pk), 2))

    assert response.status_code == 302, response.content[:2000]
    answer = tenant.client.get(f"/live_flows/{session.live_flow_id}/sessions/{session.pk}").json()
    assert answer["status"] == "CANCELLED"
    assert [(e.type, e.channel, e.organization_id) for e in heard] == [
        ("live_flow_session.updated", f"live_flow_session:{session.pk}", tenant.organization.pk),
        ("live_flow_session.status_changed", f"live_flow_session:{session.pk}", tenant.organization.pk),
    ]
    assert [e.data for e in heard] == [answer, answer]  # as committed, as GET one answers it
    assert [(e.id, e.type) for e in listened] == [(e.id, e.type) for e in heard]


@pytest.mark.django_db(transaction=True)
def test_an_edit_that_keeps_the_status_is_no_status_change(tenant, heard):
    session, client, url, data = change_page(tenant, SessionStatus.RUNNING)
    data["error"] = "Stopped by staff"
    heard.clear()

    response = client.post(url, data)

    assert response.status_code == 302, response.content[:2000]
    assert [(e.type, e.data["error"], e.data["status"]) for e in heard] == [
        ("live_flow_session.updated", "Stopped by staff", "RUNNING")
    ]
