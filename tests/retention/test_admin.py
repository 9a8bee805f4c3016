"""The hold in the sessions' admins, and the policies' admin."""

import pytest
from django.contrib.auth import get_user_model

from audit.models import Action, AuditEvent
from chat.models import ContextType
from retention.models import RetentionPolicy
from tests.admin.helpers import admin_url, changelist_ids, logged_in, page_form_data, staff_member
from tests.retention.conftest import MODELS, pks, stored

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return logged_in(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))


def api_body(data, name, session):
    client = data.tenant.client
    if name == "live":
        return client.get(f"/live_flows/{session.live_flow_id}/sessions/{session.pk}").json()
    if name == "user":
        return client.get(f"/session/{session.session_id}").json()
    body = client.get(f"/v1/ai/workflow/chat/sessions/{session.session_id}").json()
    body.pop("requestId", None)
    return body


def a_session(data, name):
    sessions = getattr(data, name)["old"]
    if name == "chat":  # a create-page chat: GET one by its sessionId
        return next(s for s in sessions if s.context_type == ContextType.SESSION)
    return sessions[0]


@pytest.mark.parametrize("name", ["live", "user", "chat"])
def test_holding_a_session_on_its_page_changes_no_api_answer(ours, root, name):
    session = a_session(ours, name)
    model = MODELS[name]
    body = api_body(ours, name, session)
    assert "retention_hold" not in str(body) and "retentionHold" not in str(body)
    before = model.objects.get(pk=session.pk)

    page = root.get(admin_url(model, "change", session.pk))
    assert page.status_code == 200 and "retention_hold" in page.content.decode()
    form = page_form_data(page)
    assert "retention_hold" not in form
    response = root.post(admin_url(model, "change", session.pk), {**form, "retention_hold": "on"})
    assert response.status_code == 302, response.content.decode()[:3000]

    after = model.objects.get(pk=session.pk)
    assert after.retention_hold is True
    activity = {"live": "updated_at", "user": "updated_at", "chat": "activity_at"}[name]
    assert getattr(after, activity) == getattr(before, activity)
    if name == "live":
        assert after.revision == before.revision  # the event stream heard nothing
    assert api_body(ours, name, session) == body
    event = AuditEvent.objects.filter(action=Action.ADMIN_CHANGE).get()
    assert "retention_hold" in event.changes["fields"]


@pytest.mark.parametrize("name", ["live", "user", "chat"])
def test_the_list_filters_by_the_hold_and_its_actions_set_it(ours, root, name):
    model = MODELS[name]
    held = getattr(ours, name)["held"]
    url = admin_url(model, "changelist")
    assert changelist_ids(root.get(url, {"retention_hold__exact": "1"})) == pks(held)

    chosen = getattr(ours, name)["recent"]
    response = root.post(url, {"action": "hold_from_retention", "_selected_action": [str(s.pk) for s in chosen]})
    assert response.status_code == 302
    assert set(model.objects.filter(retention_hold=True).values_list("pk", flat=True)) == pks(held + chosen)
    assert AuditEvent.objects.filter(action=Action.ADMIN_CHANGE, changes={"fields": ["retention_hold"]}).count() == len(chosen)

    root.post(url, {"action": "release_retention_hold", "_selected_action": [str(s.pk) for s in held]})
    assert set(model.objects.filter(retention_hold=True).values_list("pk", flat=True)) == pks(chosen)


def test_staff_hold_only_their_organizations_sessions(ours, theirs):
    staff = logged_in(staff_member(ours.organization, "Retention staff", ["flows", "sessions_app", "chat", "retention"]))
    for name, model in MODELS.items():
        mine, other = getattr(ours, name)["recent"], getattr(theirs, name)["recent"]
        staff.post(admin_url(model, "changelist"),
                   {"action": "hold_from_retention", "_selected_action": [str(s.pk) for s in mine + other]})
        assert stored(model, mine) == set(model.objects.filter(pk__in=pks(mine), retention_hold=True).values_list("pk", flat=True))
        assert not model.objects.filter(pk__in=pks(other), retention_hold=True).exists()


def test_policies_are_edited_in_the_admin_audited_and_scoped(ours, theirs, root):
    response = root.post(admin_url(RetentionPolicy, "add"), {
        "organization": ours.organization.pk, "live_flow_sessions_days": "30", "user_sessions_days": "",
        "chat_sessions_days": "90",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    policy = RetentionPolicy.objects.get(pk=ours.organization.pk)
    assert (policy.live_flow_sessions_days, policy.user_sessions_days, policy.chat_sessions_days, policy.hold) == (
        30, None, 90, False)
    assert AuditEvent.objects.filter(action=Action.ADMIN_ADD, object_type="retention policy",
                                     organization_id=ours.organization.pk).exists()
    # Zero days is refused at the field.
    page = root.get(admin_url(RetentionPolicy, "change", policy.pk))
    response = root.post(admin_url(RetentionPolicy, "change", policy.pk),
                         {**page_form_data(page), "chat_sessions_days": "0"})
    assert response.status_code == 200 and "greater than or equal to 1" in response.content.decode()

    RetentionPolicy.objects.create(organization=theirs.organization, hold=True)
    staff = logged_in(staff_member(ours.organization, "Retention staff", ["retention"]))
    assert changelist_ids(staff.get(admin_url(RetentionPolicy, "changelist"))) == {ours.organization.pk}
    assert staff.get(admin_url(RetentionPolicy, "change", theirs.organization.pk)).status_code == 302
    # Nor can they add one for another organization (one without a policy: nothing else refuses it).
    RetentionPolicy.objects.filter(pk=theirs.organization.pk).delete()
    response = staff.post(admin_url(RetentionPolicy, "add"), {"organization": theirs.organization.pk, "hold": "on"})
    assert response.status_code == 200
    assert not RetentionPolicy.objects.filter(pk=theirs.organization.pk).exists()


