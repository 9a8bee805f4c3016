"""Staff who are not superusers see and change only their own organizations' objects, everywhere."""

import pytest
from django.contrib.auth import get_user_model

from accounts.models import ApiKey, Membership, Organization, Workspace
from chat.models import ChatMessage, ChatSession
from flows.models import FlowVersion, LiveFlow, LiveFlowSession
from sessions_app.models import UserSession
from tests.admin.helpers import add_inline_row, admin_url, changelist_ids, page_form_data

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_every_list_shows_only_the_staff_members_organizations(staff_client, staff, mine, theirs):
    for model, own in mine.objects.items():
        response = staff_client.get(admin_url(model, "changelist"))
        assert response.status_code == 200, model
        shown = changelist_ids(response)
        assert own.pk in shown, model
        assert theirs.objects[model].pk not in shown, model


def test_superuser_lists_every_organization(admin_client_, mine, theirs):
    for model in (LiveFlowSession, ChatSession, UserSession, Organization):
        shown = changelist_ids(admin_client_.get(admin_url(model, "changelist")))
        assert {mine.objects[model].pk, theirs.objects[model].pk} <= shown


def test_another_organizations_pages_do_not_exist_for_staff(staff_client, mine, theirs):
    for model, other in theirs.objects.items():
        response = staff_client.get(admin_url(model, "change", other.pk))
        # The admin's answer for a missing object: back to the index, saying it does not exist.
        assert response.status_code == 302, model
        assert response.url == "/admin/", model
        assert staff_client.get(admin_url(model, "change", mine.objects[model].pk)).status_code == 200, model
        assert staff_client.get(admin_url(model, "delete", other.pk)).status_code == 302, model


def autocomplete(client, model, field, term=""):
    opts = model._meta
    response = client.get(
        "/admin/autocomplete/", {"app_label": opts.app_label, "model_name": opts.model_name, "field_name": field, "term": term}
    )
    assert response.status_code == 200, response.content
    return {item["text"] for item in response.json()["results"]}, {item["id"] for item in response.json()["results"]}


def test_autocompletes_offer_only_own_objects(staff_client, admin_client_, mine, theirs):
    mine_org, their_org = mine.tenant.organization, theirs.tenant.organization
    _, ids = autocomplete(staff_client, LiveFlow, "organization")
    assert ids == {mine_org.pk}
    _, ids = autocomplete(admin_client_, LiveFlow, "organization")
    assert {mine_org.pk, their_org.pk} <= ids

    _, ids = autocomplete(staff_client, LiveFlow, "current_version", "Triage")
    assert str(mine.objects[FlowVersion].pk) in ids
    assert str(theirs.objects[FlowVersion].pk) not in ids

    _, ids = autocomplete(staff_client, ChatMessage, "session")
    assert ids == {str(mine.objects[ChatSession].pk)}

    texts, _ = autocomplete(staff_client, UserSession, "user")
    assert "alice" in texts and "mallory" not in texts

    _, ids = autocomplete(staff_client, ApiKey, "workspace")
    assert ids == {mine.tenant.workspace.pk}


def test_foreign_keys_refuse_another_organizations_rows(staff_client, mine, theirs):
    # A key for this staff member's organization but naming the other organization's workspace.
    response = staff_client.post(admin_url(ApiKey, "add"), {
        "name": "sneaky", "user": mine.tenant.user.pk, "organization": theirs.tenant.organization.pk,
        "workspace": theirs.tenant.workspace.pk,
    })
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Select a valid choice" in errors["organization"][0]
    assert "Select a valid choice" in errors["workspace"][0]
    assert not ApiKey.objects.filter(name="sneaky").exists()

    # A live flow of this organization pointed at the other organization's version.
    live_flow = mine.objects[LiveFlow]
    page = staff_client.get(admin_url(LiveFlow, "change", live_flow.pk))
    data = page_form_data(page)
    data["current_version"] = str(theirs.objects[FlowVersion].pk)
    response = staff_client.post(admin_url(LiveFlow, "change", live_flow.pk), data)
    assert response.status_code == 200
    assert "Select a valid choice" in response.context["adminform"].form.errors["current_version"][0]
    live_flow.refresh_from_db()
    assert live_flow.current_version_id == mine.objects[FlowVersion].pk


def test_inline_choices_are_scoped(staff_client, mine, theirs):
    response = staff_client.get(admin_url(Organization, "change", mine.tenant.organization.pk))
    memberships = next(i for i in response.context["inline_admin_formsets"] if i.formset.model is Membership)
    users = set(memberships.formset.empty_form.fields["user"].queryset.values_list("username", flat=True))
    assert "alice" in users and "mallory" not in users
    # A staff member cannot add someone from the other organization to theirs through the inline.
    data = page_form_data(response)
    add_inline_row(data, "memberships", user=str(theirs.tenant.user.pk), role="member")
    response = staff_client.post(admin_url(Organization, "change", mine.tenant.organization.pk), data)
    assert response.status_code == 200
    assert not Membership.objects.filter(user=theirs.tenant.user, organization=mine.tenant.organization).exists()


def test_actions_touch_only_own_objects(staff_client, mine, theirs):
    keys = [mine.tenant.key.pk, theirs.tenant.key.pk]
    response = staff_client.post(
        admin_url(ApiKey, "changelist"), {"action": "revoke_keys", "_selected_action": [str(k) for k in keys]}
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=mine.tenant.key.pk).revoked_at is not None
    assert ApiKey.objects.get(pk=theirs.tenant.key.pk).revoked_at is None

    # Exporting the other organization's session: nothing is selected as far as this user goes.
    response = staff_client.post(
        admin_url(LiveFlowSession, "changelist"),
        {"action": "export_sessions", "_selected_action": [str(theirs.objects[LiveFlowSession].pk)]},
        follow=True,
    )
    assert response.get("Content-Disposition") is None
    assert "Nothing selected to export." in [str(m) for m in response.context["messages"]]


def test_staff_cannot_grant_themselves_superuser(staff_client, staff):
    response = staff_client.get(admin_url(User, "change", staff.pk))
    form = response.context["adminform"].form
    assert "is_superuser" not in form.fields and "groups" not in form.fields and "is_staff" not in form.fields


def test_staff_keep_sight_of_an_organization_they_create(staff_client, staff):
    response = staff_client.post(admin_url(Organization, "add"), {
        "id": "org_newOne", "name": "New one",
        "workspaces-TOTAL_FORMS": "0", "workspaces-INITIAL_FORMS": "0",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    assert Membership.objects.filter(user=staff, organization_id="org_newOne").exists()
    assert Workspace.objects.filter(organization_id="org_newOne").count() == 0
