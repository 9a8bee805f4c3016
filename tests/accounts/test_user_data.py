"""A user's data: export_user_data hands it over whole, erase_user (and the admin's action) removes
it all, and nothing of anyone else's."""

import io
import json

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

import audit
from accounts.models import ApiKey, Membership
from audit.models import Action, AuditEvent
from chat.models import ChatMessage, ChatSession
from sessions_app.models import AudioClip, DialogueItem, UserSession
from tests.admin.helpers import admin_url, messages_of
from tests.chat.factories import HISTORY_URL, MESSAGES_URL
from tests.sessions_app.conftest import make_session

pytestmark = pytest.mark.django_db

User = get_user_model()


def run(command, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue().strip().splitlines()


def rows_by_table():
    """The number of rows in every table Flowdesk's models have."""
    return {model._meta.db_table: model._base_manager.count() for model in apps.get_models()}


def said(tenant, content, session_id):
    """A workflow-chat message the tenant's user sent with their key, and the chat's answer."""
    response = tenant.client.post(MESSAGES_URL, {"sessionId": session_id, "content": content, "role": "user"}, format="json")
    assert response.status_code in (200, 201), response.content
    tenant.client.post(MESSAGES_URL, {"sessionId": session_id, "content": "Noted.", "role": "assistant"}, format="json")


@pytest.fixture
def alice(tenant):
    make_session(tenant.user, "alice001", dialogue=3, audios=2, organization=tenant.organization)
    make_session(tenant.user, "alice002", dialogue=1, audios=0)
    said(tenant, "my phone is 555-0100", "session_1700000000000_alice1")
    return tenant


@pytest.fixture
def mallory(other_tenant):
    make_session(other_tenant.user, "mall0001", dialogue=2, audios=1, organization=other_tenant.organization)
    said(other_tenant, "mallory's own words", "session_1700000000000_mallo1")
    return other_tenant


# --- export_user_data ---------------------------------------------------------------------------


def test_export_user_data_is_everything_held_about_the_user(alice, mallory, tmp_path):
    key = alice.key
    audit.record(Action.API_KEY_CREATE, actor="create_api_key", object_type="API key", object_id=key.prefix)
    audit.record(Action.ADMIN_VIEW, actor="sam", object_type="user session", object_id="alice001")
    audit.record(Action.ADMIN_VIEW, actor="sam", object_type="user session", object_id="mall0001")  # not hers
    out, err = run("export_user_data", "--user", "alice")
    data = json.loads(out)
    assert list(data) == ["user", "memberships", "api_keys", "user_sessions", "chat_messages", "audit_events"]
    assert data["user"] | {"date_joined": None} == {
        "id": alice.user.pk, "username": "alice", "email": "", "first_name": "", "last_name": "",
        "is_active": True, "is_staff": False, "is_superuser": False, "date_joined": None, "last_login": None,
    }
    assert [(m["organization"], m["role"]) for m in data["memberships"]] == [(alice.organization.pk, "member")]
    (handed,) = data["api_keys"]
    assert handed["last_used_at"] is not None  # she used it to chat
    assert handed | {"created_at": None, "last_used_at": None} == {
        "prefix": key.prefix, "name": "tests", "organization": alice.organization.pk, "workspace": None,
        "created_at": None, "last_used_at": None, "revoked_at": None,
    }
    assert key.key_hash not in out and alice.raw_key not in out
    # Exactly what GET /session answers her.
    assert data["user_sessions"] == alice.client.get("/session").json()
    assert len(data["user_sessions"]) == 2
    assert [(e["action"], e["object_id"]) for e in data["audit_events"]] == [
        ("api_key.create", key.prefix), ("admin.view", "alice001"),
    ]
    # The chat messages she sent (not the answers, not mallory's), as the chat's history lists them.
    history = alice.client.get(HISTORY_URL, {"sessionId": "session_1700000000000_alice1"}).json()["data"]
    assert data["chat_messages"] == [m for m in history if m["content"] == "my phone is 555-0100"]
    assert err[-1] == "exported user alice: 2 user sessions, 1 chat message, 1 membership, 1 API key, 2 audit events"
    # The handover itself is recorded; -o FILE writes the same object.
    assert AuditEvent.objects.filter(action=Action.USER_EXPORT, object_id="alice").count() == 1
    path = tmp_path / "alice.json"
    run("export_user_data", "--user", "alice", "-o", str(path))
    again = json.loads(path.read_text())
    assert again["user_sessions"] == data["user_sessions"]
    assert [e["action"] for e in again["audit_events"]][-1] == "user.export"


@pytest.mark.parametrize(
    ("command", "args", "flag"),
    [
        ("export_user_data", ["--user", "nobody"], "--user"),
        ("export_user_data", ["--user", "alice", "-o", "/nonexistent/dir/x.json"], "--output"),
        ("erase_user", ["--user", "nobody"], "--user"),
    ],
)
def test_bad_flags_name_the_flag(alice, command, args, flag):
    with pytest.raises(CommandError) as error:
        run(command, *args)
    assert str(error.value).startswith(flag)


# --- erase_user ---------------------------------------------------------------------------------


def test_erase_user_removes_all_of_the_users_data_and_nothing_else(alice, mallory):
    before = rows_by_table()
    out, _ = run("erase_user", "--user", "alice", "--dry-run")
    assert out.strip() == (
        "would erase user alice: 2 user sessions, 4 dialogue items, 2 audio clips, 1 chat message, 1 API key, "
        "1 membership"
    )
    assert rows_by_table() == before
    assert alice.client.get("/session").status_code == 200

    out, _ = run("erase_user", "--user", "alice")
    assert out.strip() == (
        "erased user alice: 2 user sessions, 4 dialogue items, 2 audio clips, 1 chat message, 1 API key, 1 membership"
    )
    after = rows_by_table()
    gone = {table: before[table] - after[table] for table in before if before[table] != after[table]}
    assert gone == {
        User._meta.db_table: 1, UserSession._meta.db_table: 2, DialogueItem._meta.db_table: 4,
        AudioClip._meta.db_table: 2, ApiKey._meta.db_table: 1, Membership._meta.db_table: 1,
        ChatMessage._meta.db_table: 1, AuditEvent._meta.db_table: -1,  # the erasure's own event
    }
    # Her words are gone from the chat, whose summary is recounted; the chat's answer stays.
    chat_session = ChatSession.objects.get(session_id="session_1700000000000_alice1")
    assert list(chat_session.messages.values_list("content", flat=True)) == ["Noted."]
    assert chat_session.message_count == 1
    # Her key is refused; mallory's data and key are untouched.
    assert alice.client.get("/session").status_code == 401
    assert [s["sessionId"] for s in mallory.client.get("/session").json()] == ["mall0001"]
    event = AuditEvent.objects.get(action=Action.USER_ERASE)
    assert (event.actor, event.object_type, event.object_id, event.organization_id) == (
        "erase_user", "user", "alice", alice.organization.pk
    )
    assert event.changes == {
        "user sessions": 2, "dialogue items": 4, "audio clips": 2, "chat messages": 1, "API keys": 1,
        "memberships": 1, "organizations": [alice.organization.pk],
    }


@pytest.mark.parametrize("hold", ["user session", "chat session", "organization"])
def test_a_retention_hold_stops_the_erasure(alice, hold):
    from retention.models import RetentionPolicy

    if hold == "user session":
        UserSession.objects.filter(session_id="alice001").update(retention_hold=True)
        says = "user session alice001 is held"
    elif hold == "chat session":
        ChatSession.objects.filter(session_id="session_1700000000000_alice1").update(retention_hold=True)
        says = "chat session session_1700000000000_alice1 is held"
    else:
        RetentionPolicy.objects.create(organization=alice.organization, hold=True)
        says = f"organization {alice.organization.pk} is on hold"
    before = rows_by_table()
    _, err = run("erase_user", "--user", "alice", "--dry-run")
    assert f"held: {says}" in err
    with pytest.raises(CommandError) as error:
        run("erase_user", "--user", "alice")
    assert says in str(error.value) and "Release the hold first" in str(error.value)
    assert rows_by_table() == before


def test_an_erasure_is_all_or_nothing(alice, monkeypatch):
    before = rows_by_table()

    def fails(*args, **kwargs):
        raise RuntimeError("the audit write failed")

    monkeypatch.setattr(audit, "record", fails)
    with pytest.raises(RuntimeError):
        run("erase_user", "--user", "alice")
    assert rows_by_table() == before


# --- the admin's action -------------------------------------------------------------------------


def erase_action(client, users, confirm):
    data = {"action": "erase_users", "_selected_action": [str(u.pk) for u in users]}
    if confirm:
        data["post"] = "yes"
    return client.post(admin_url(User, "changelist"), data, follow=confirm)


def test_the_admin_erases_after_a_confirmation_page(admin_client_, mine):
    user = mine.tenant.user
    page = erase_action(admin_client_, [user], confirm=False)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Erasing cannot be undone" in text and user.username in text
    assert User.objects.filter(pk=user.pk).exists()
    response = erase_action(admin_client_, [user], confirm=True)
    assert messages_of(response) == [
        f"erased user {user.username}: 1 user session, 2 dialogue items, 1 audio clip, 0 chat messages, 1 API key, "
        "1 membership"
    ]
    assert not User.objects.filter(pk=user.pk).exists()
    assert not UserSession.objects.filter(user_id=user.pk).exists()
    assert mine.tenant.client.get("/session").status_code == 401
    event = AuditEvent.objects.get(action=Action.USER_ERASE)
    assert (event.actor, event.object_id) == ("root", user.username)
    assert event.request_id


def test_staff_cannot_erase_a_user_with_data_in_another_organization(staff_client, staff, mine, theirs):
    from django.contrib.auth.models import Permission

    staff.groups.first().permissions.add(Permission.objects.get(codename="delete_user"))
    user = mine.tenant.user
    Membership.objects.create(user=user, organization=theirs.tenant.organization)
    response = erase_action(staff_client, [user], confirm=True)
    assert User.objects.filter(pk=user.pk).exists()
    assert messages_of(response) == [
        "A selected user has memberships or sessions outside your organizations: only a superuser can erase them."
    ]
    # Within their organization only, the erasure goes ahead.
    Membership.objects.filter(user=user, organization=theirs.tenant.organization).delete()
    erase_action(staff_client, [user], confirm=True)
    assert not User.objects.filter(pk=user.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_stream_turns_that_repeat_the_users_words_go_with_them(tenant, other_tenant, settings):
    from chat.models import ChatTurn, ChatTurnEvent
    from tests.chat.test_stream import parse, post, streamed

    settings.LIVE_FLOW_RUNNER = "eager"
    for who in (tenant, other_tenant):
        response = post(who.client, {"sessionId": f"session_1718031200000_{who.user.username}", "message": "my secret"})
        assert response.status_code == 200 and parse(streamed(response))[0][1] == "turn"
    theirs = ChatTurn.objects.get(session__organization=other_tenant.organization)
    run("erase_user", "--user", tenant.user.username)
    assert list(ChatTurn.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert not ChatTurnEvent.objects.exclude(turn=theirs).exists()
    assert ChatMessage.objects.filter(content="my secret").count() == 1  # mallory's
