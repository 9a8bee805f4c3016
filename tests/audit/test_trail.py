"""The audit trail: what is recorded, that it is append-only, and audit_log."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

import audit
from accounts.models import ApiKey, Organization, Workspace
from audit.models import Action, AppendOnlyError, AuditEvent
from chat.models import ChatSession
from flowdesk.api.fields import iso_z
from flows.models import LiveFlowSession
from sessions_app.models import UserSession
from tests.admin.helpers import admin_url, page_form_data

pytestmark = pytest.mark.django_db


def events(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("at", "id"))


def only(**filters):
    (found,) = events(**filters)
    return found


# --- the model: append-only -----------------------------------------------------------------


def test_record_copies_the_organization_and_outlives_it(db):
    org = Organization.objects.create(pk="org_gone", name="Gone Inc")
    event = audit.record("export", actor="export_chat_sessions", object_type="chat sessions", object_id="org_gone",
                         organization=org, changes={"records": 3})
    org.delete()
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.organization_id, event.organization_name, event.actor, event.changes) == (
        "org_gone", "Gone Inc", "export_chat_sessions", {"records": 3}
    )


def test_events_are_never_changed_or_deleted_except_by_their_own_retention(db):
    old = audit.record("export", actor="x", object_type="t", object_id="1")
    new = audit.record("export", actor="x", object_type="t", object_id="2")
    old.actor = "someone else"
    with pytest.raises(AppendOnlyError):
        old.save()
    with pytest.raises(AppendOnlyError):
        old.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=old.pk).update(actor="y")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=old.pk).actor == "x"
    AuditEvent.objects.filter(pk=old.pk).values("at")  # reading is fine
    # The trail's own retention removes what is older than the cut, and only that.
    AuditEvent.objects.bulk_create([])
    cut = new.at
    with connection.cursor() as cursor:  # backdate one row as the years would
        cursor.execute("UPDATE audit_auditevent SET at = %s WHERE id = %s", [cut - timedelta(days=400), old.pk])
    assert AuditEvent.objects.purge(before=cut - timedelta(days=365)) == 1
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [new.pk]


# --- the admin ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "recognised"),
    [
        (LiveFlowSession, lambda s: str(s.pk)),
        (UserSession, lambda s: s.session_id),
        (ChatSession, lambda s: s.session_id),
    ],
    ids=["live flow session", "user session", "chat session"],
)
def test_viewing_a_conversations_page_is_recorded(staff_client, mine, model, recognised):
    obj = mine.objects[model]
    response = staff_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200
    event = only(action=Action.ADMIN_VIEW)
    assert (event.actor, event.object_type, event.object_id) == ("sam", model._meta.verbose_name, recognised(obj))
    assert (event.organization_id, event.organization_name) == ("org_u13TesTDumMyEe5P", "org_u13TesTDumMyEe5P")
    assert event.request_id == response["X-Request-Id"]
    # Lists and other models' pages are not views of a conversation.
    staff_client.get(admin_url(model, "changelist"))
    staff_client.get(admin_url(Workspace, "change", mine.tenant.workspace.pk))
    assert len(events(action=Action.ADMIN_VIEW)) == 1


def test_an_admin_change_records_the_fields_and_inline_rows_changed(staff_client, mine):
    org = mine.tenant.organization
    url = admin_url(Organization, "change", org.pk)
    data = page_form_data(staff_client.get(url))
    data["name"] = "Acme Renamed"
    data["workspaces-0-name"] = "Renamed workspace"
    response = staff_client.post(url, data)
    assert response.status_code == 302
    event = only(action=Action.ADMIN_CHANGE)
    assert (event.actor, event.object_type, event.object_id, event.organization_id) == (
        "sam", "organization", org.pk, org.pk
    )
    assert event.organization_name == "Acme Renamed"
    assert event.changes == {"fields": ["name"], "inlines": {"workspaces": {"changed": {mine.tenant.workspace.pk: ["name"]}}}}
    assert "Acme" not in json.dumps(event.changes)  # names of fields, never their values


def test_an_admin_add_and_delete_are_recorded(staff_client, mine):
    data = page_form_data(staff_client.get(admin_url(Workspace, "add")))
    data.update({"id": "ws_new", "name": "New", "organization": mine.tenant.organization.pk})
    response = staff_client.post(admin_url(Workspace, "add"), data)
    assert response.status_code == 302
    added = only(action=Action.ADMIN_ADD)
    assert (added.object_type, added.object_id, added.organization_id) == ("workspace", "ws_new", "org_u13TesTDumMyEe5P")
    assert added.changes == {"fields": ["id", "organization", "name"]}  # in the form's order

    session = mine.objects[ChatSession]
    response = staff_client.post(admin_url(ChatSession, "delete", session.pk), {"post": "yes"})
    assert response.status_code == 302
    deleted = only(action=Action.ADMIN_DELETE)
    assert (deleted.object_type, deleted.object_id, deleted.organization_id) == (
        "chat session", session.session_id, "org_u13TesTDumMyEe5P"
    )
    # The bulk action: one event per row, each named.
    sessions = [mine.objects[UserSession]]
    response = staff_client.post(admin_url(UserSession, "changelist"), {
        "action": "delete_selected", "_selected_action": [str(s.pk) for s in sessions], "post": "yes",
    })
    assert response.status_code == 302
    assert [(e.object_type, e.object_id) for e in events(action=Action.ADMIN_DELETE)][1:] == [
        ("user session", sessions[0].session_id)
    ]


def test_api_keys_made_and_revoked_are_recorded(staff_client, mine):
    out = StringIO()
    call_command("create_api_key", "--user", "carol", "--org", "org_u13TesTDumMyEe5P", "--name", "cli", stdout=out, stderr=StringIO())
    made = only(action=Action.API_KEY_CREATE)
    raw = out.getvalue().strip().splitlines()[-1]
    assert (made.actor, made.object_type, made.object_id, made.organization_id) == (
        "create_api_key", "API key", raw[:12], "org_u13TesTDumMyEe5P"
    )
    assert made.changes == {"user": "carol", "name": "cli"}

    response = staff_client.post(admin_url(ApiKey, "add"), {
        "name": "zapier", "user": mine.tenant.user.pk, "organization": mine.tenant.organization.pk, "workspace": "",
    })
    assert response.status_code == 302
    key = ApiKey.objects.get(name="zapier")
    assert [(e.actor, e.object_id) for e in events(action=Action.API_KEY_CREATE)][1:] == [("sam", key.prefix)]

    staff_client.post(admin_url(ApiKey, "changelist"), {"action": "revoke_keys", "_selected_action": [str(key.pk), str(mine.tenant.key.pk)]})
    assert sorted((e.actor, e.object_id) for e in events(action=Action.API_KEY_REVOKE)) == sorted(
        [("sam", key.prefix), ("sam", mine.tenant.key.prefix)]
    )
    # Revoking again revokes nothing and records nothing.
    staff_client.post(admin_url(ApiKey, "changelist"), {"action": "revoke_keys", "_selected_action": [str(key.pk)]})
    assert len(events(action=Action.API_KEY_REVOKE)) == 2


def test_the_audit_list_is_read_only_and_scoped_to_the_staff_members_organizations(
    staff_client, admin_client_, mine, theirs
):
    ours = audit.record("export", actor="x", object_type="t", object_id="ours", organization=mine.tenant.organization)
    other = audit.record("export", actor="y", object_type="t", object_id="theirs", organization=theirs.tenant.organization)
    nobody = audit.record("user.erase", actor="erase_user", object_type="user", object_id="zed")
    url = admin_url(AuditEvent, "changelist")
    seen = {e.pk for e in staff_client.get(url).context["cl"].result_list}
    assert seen == {ours.pk}
    assert {e.pk for e in admin_client_.get(url).context["cl"].result_list} == {ours.pk, other.pk, nobody.pk}
    assert staff_client.get(admin_url(AuditEvent, "change", other.pk)).status_code == 302  # "does not exist"
    page = staff_client.get(admin_url(AuditEvent, "change", ours.pk))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert staff_client.get(admin_url(AuditEvent, "add")).status_code == 403
    assert staff_client.post(admin_url(AuditEvent, "delete", ours.pk), {"post": "yes"}).status_code == 403
    # The filters: organization (only theirs offered to staff), actor, action, date.
    filters = {spec.title: spec for spec in staff_client.get(url).context["cl"].filter_specs}
    assert [v for v, _ in filters["organization"].lookup_choices] == ["org_u13TesTDumMyEe5P"]
    assert [v for v, _ in filters["actor"].lookup_choices] == ["x"]
    assert {e.pk for e in admin_client_.get(url, {"organization": theirs.tenant.organization.pk}).context["cl"].result_list} == {other.pk}
    assert {e.pk for e in admin_client_.get(url, {"actor": "erase_user"}).context["cl"].result_list} == {nobody.pk}
    assert {e.pk for e in admin_client_.get(url, {"action__exact": "user.erase"}).context["cl"].result_list} == {nobody.pk}
    day = ours.at
    by_day = admin_client_.get(url, {"at__year": day.year, "at__month": day.month, "at__day": day.day})
    assert {e.pk for e in by_day.context["cl"].result_list} == {ours.pk, other.pk, nobody.pk}
    assert not admin_client_.get(url, {"at__year": day.year - 1}).context["cl"].result_list


# Superuser: 1 the login session, 2 the user, 3 the organization filter's choices, 4 the actor
# filter's distinct actors, 5 the count (capped), 6 the page, 7 MIN/MAX of `at` (the date drill-down).
# A staff member: 2 more (their user and group permissions). Viewing the list records nothing.
AUDIT_LIST_QUERIES = 7


def test_the_audit_list_runs_a_fixed_number_of_queries(admin_client_, staff_client, mine, theirs, django_assert_num_queries):
    url = admin_url(AuditEvent, "changelist")
    for client, extra in ((admin_client_, 0), (staff_client, 2)):
        for more in (0, 30):
            for i in range(more):
                audit.record("export", actor=f"actor{i}", object_type="t", object_id=str(i), organization=mine.tenant.organization)
            with django_assert_num_queries(AUDIT_LIST_QUERIES + extra):
                response = client.get(url)
            assert response.status_code == 200


# --- audit_log ------------------------------------------------------------------------------


def log(*args):
    out = StringIO()
    call_command("audit_log", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_audit_log_prints_json_lines_oldest_first_by_organization_and_time(mine, theirs, monkeypatch):
    first = audit.record("export", actor="a", object_type="t", object_id="1", organization=mine.tenant.organization)
    audit.record("export", actor="b", object_type="t", object_id="2", organization=theirs.tenant.organization)
    third = audit.record("api_key.revoke", actor="c", object_type="API key", object_id="fdk_x",
                         organization=mine.tenant.organization)
    lines = log()
    assert [line["object_id"] for line in lines] == ["1", "2", "fdk_x"]
    assert lines[0] == {
        "at": iso_z(first.at), "actor": "a", "action": "export", "object_type": "t",
        "object_id": "1", "organization": "org_u13TesTDumMyEe5P", "organization_name": "org_u13TesTDumMyEe5P",
        "request_id": "", "changes": None,
    }
    assert [line["object_id"] for line in log("--org", "org_u13TesTDumMyEe5P")] == ["1", "fdk_x"]
    assert [line["object_id"] for line in log("--since", third.at.isoformat())] == ["fdk_x"]
    assert log("--since", "2999-01-01T00:00:00Z", "--format", "jsonl") == []
    # Pages of the keyset walk meet without a gap or a repeat.
    from audit.management.commands import audit_log

    monkeypatch.setattr(audit_log, "BATCH", 2)
    assert [line["object_id"] for line in log()] == ["1", "2", "fdk_x"]
    # A deleted organization's events are still there to ship.
    gone = Organization.objects.create(pk="org_gone", name="Gone Inc")
    audit.record("export", actor="d", object_type="t", object_id="4", organization=gone)
    gone.delete()
    assert [line["object_id"] for line in log("--org", "org_gone")] == ["4"]


@pytest.mark.parametrize(
    ("args", "flag"),
    [(["--org", "org_nope"], "--org"), (["--since", "yesterday"], "--since"), (["--format", "csv"], "--format")],
)
def test_audit_log_bad_flags_name_the_flag(db, args, flag):
    with pytest.raises(CommandError) as error:
        call_command("audit_log", *args, stdout=StringIO())
    assert str(error.value).startswith(flag)


def test_an_event_is_written_in_the_changes_transaction(staff_client, mine, monkeypatch):
    # A change that fails after its event was written leaves neither.
    from flowdesk.admin import auditing

    def boom(*args, **kwargs):
        raise RuntimeError("after the event")

    org = mine.tenant.organization
    url = admin_url(Organization, "change", org.pk)
    data = page_form_data(staff_client.get(url))
    data["name"] = "Never saved"
    monkeypatch.setattr(auditing.AuditedAdminMixin, "log_change", lambda self, request, obj, message: (
        self.audit(request, "change", [obj]), boom()))
    staff_client.raise_request_exception = True
    with pytest.raises(RuntimeError):
        staff_client.post(url, data)
    org.refresh_from_db()
    assert org.name != "Never saved" and not events(action=Action.ADMIN_CHANGE)
