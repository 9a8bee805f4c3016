"""Workflows in the admin: their ids are unique per organization, as in the API."""

import pytest

from chat.models import ChatSession, Workflow
from tests.admin.helpers import admin_url, page_form_data
from tests.chat.factories import chat

pytestmark = pytest.mark.django_db

WORKFLOW_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def add_workflow(client, organization, uuid, name):
    data = page_form_data(client.get(admin_url(Workflow, "add")))
    data.update(organization=organization.pk, uuid=uuid, name=name)
    return client.post(admin_url(Workflow, "add"), data)


def test_a_workflow_id_is_unique_within_an_organization_only(admin_client_, mine, theirs):
    chat(theirs.tenant.organization, workflow_id=WORKFLOW_ID, workflow_name="Theirs")
    assert add_workflow(admin_client_, mine.tenant.organization, WORKFLOW_ID, "Mine").status_code == 302
    response = add_workflow(admin_client_, mine.tenant.organization, WORKFLOW_ID, "Mine again")
    assert response.status_code == 200  # the form says why, no IntegrityError
    assert "already exists" in str(response.context["adminform"].form.errors)
    assert sorted(Workflow.objects.filter(uuid=WORKFLOW_ID).values_list("organization_id", "name")) == [
        (theirs.tenant.organization.pk, "Theirs"), (mine.tenant.organization.pk, "Mine")]


def test_searching_by_workflow_id_finds_each_organizations_own(staff_client, mine, theirs):
    mine_chat = chat(mine.tenant.organization, workflow_id=WORKFLOW_ID, workflow_name="Mine")
    chat(theirs.tenant.organization, workflow_id=WORKFLOW_ID, workflow_name="Theirs")
    response = staff_client.get(admin_url(ChatSession, "changelist"), {"q": WORKFLOW_ID})
    assert [s.pk for s in response.context["cl"].result_list] == [mine_chat.pk]
    response = staff_client.get(admin_url(Workflow, "changelist"), {"q": WORKFLOW_ID})
    assert [w.name for w in response.context["cl"].result_list] == ["Mine"]
    assert str(mine_chat) == WORKFLOW_ID  # a workflow chat is named by its workflow's id


def test_a_chat_cannot_name_another_organizations_workflow(admin_client_, mine, theirs):
    session = chat(mine.tenant.organization, workflow_id=WORKFLOW_ID, workflow_name="Mine")
    chat(theirs.tenant.organization, workflow_id=WORKFLOW_ID, workflow_name="Theirs")  # the same id
    url = admin_url(ChatSession, "change", session.pk)
    data = page_form_data(admin_client_.get(url))
    data["workflow"] = str(theirs.objects[Workflow].pk)
    response = admin_client_.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["workflow"] == ["This workflow belongs to another organization."]
    session.refresh_from_db()
    assert (session.workflow.organization, session.workflow.name) == (mine.tenant.organization, "Mine")
