"""apply_retention: what the policies say goes, in all-or-nothing batches, and nothing else."""

import pytest
from django.core.management.base import CommandError
from django.db import DatabaseError
from django.db.models.query import QuerySet

from audit.models import Action, AuditEvent
from chat.models import ChatMessage, ChatSession, ChatTurn, ChatTurnEvent
from flows.models import LiveFlowSession, LiveFlowSessionStep
from retention.models import RetentionPolicy
from sessions_app.models import AudioClip, DialogueItem, UserSession
from tests.chat.factories import LIST_URL
from tests.retention.conftest import MODELS, orphans, pks, rows_of, run, stored, table_counts

pytestmark = pytest.mark.django_db

ALL = ["--live-flow-sessions", "30", "--user-sessions", "30", "--chat-sessions", "30"]


def policy(data, *flags):
    run("set_retention", data.organization.pk, *flags)


def children(model, sessions):
    """The rows under these sessions, by table."""
    ids = pks(sessions)
    if model is LiveFlowSession:
        return {"steps": set(LiveFlowSessionStep.objects.filter(session__in=ids).values_list("pk", flat=True))}
    if model is UserSession:
        return {"dialogue": set(DialogueItem.objects.filter(session__in=ids).values_list("pk", flat=True)),
                "audio": set(AudioClip.objects.filter(session__in=ids).values_list("pk", flat=True))}
    return {"messages": set(ChatMessage.objects.filter(session__in=ids).values_list("pk", flat=True)),
            "turns": set(ChatTurn.objects.filter(session__in=ids).values_list("pk", flat=True)),
            "events": set(ChatTurnEvent.objects.filter(turn__session__in=ids).values_list("pk", flat=True))}


LABELS = {
    "steps": "flows.LiveFlowSessionStep", "dialogue": "sessions_app.DialogueItem", "audio": "sessions_app.AudioClip",
    "messages": "chat.ChatMessage", "turns": "chat.ChatTurn", "events": "chat.ChatTurnEvent",
}


@pytest.mark.parametrize("batch_size", ["1000", "1", "2"])
def test_expired_sessions_go_with_their_children_and_nothing_else(ours, theirs, batch_size):
    policy(ours, *ALL)
    before, theirs_before = table_counts(), rows_of(theirs.organization)
    # What must go, table by table: the old sessions and every row under them.
    doomed = {model._meta.label: len(ours_old) for model, ours_old in (
        (LiveFlowSession, ours.live["old"]), (UserSession, ours.user["old"]), (ChatSession, ours.chat["old"]))}
    for name in ("live", "user", "chat"):
        for kind, rows in children(MODELS[name], getattr(ours, name)["old"]).items():
            assert rows, kind
            doomed[LABELS[kind]] = len(rows)

    out, err = run("apply_retention", "--batch-size", batch_size, "--no-progress")

    assert out == "deleted 5 live flow sessions, 5 user sessions, 5 chat sessions\n"
    assert f"{ours.organization.pk}: deleted 5 live flow sessions, 5 user sessions, 5 chat sessions" in err
    for name in ("live", "user", "chat"):
        family = getattr(ours, name)
        model = MODELS[name]
        assert stored(model, family["old"]) == set()
        assert stored(model, family["recent"] + family["held"]) == pks(family["recent"] + family["held"])
    # A user session without an organization is under no policy.
    assert stored(UserSession, ours.unowned) == pks(ours.unowned)
    # Every table of the three families: exactly those rows fewer; the other organization as it was.
    assert table_counts() == {label: count - doomed.get(label, 0) for label, count in before.items()}
    assert rows_of(theirs.organization) == theirs_before
    assert orphans() == {}


def test_one_organizations_policy_never_touches_anothers(ours, theirs):
    policy(ours, *ALL)
    policy(theirs, "--live-flow-sessions", "365", "--user-sessions", "none", "--chat-sessions", "forever")
    theirs_before = rows_of(theirs.organization)
    out, _ = run("apply_retention", "--no-progress")
    assert out == "deleted 5 live flow sessions, 5 user sessions, 5 chat sessions\n"
    assert rows_of(theirs.organization) == theirs_before

    # --org: only that organization, though the other's policy would delete.
    policy(theirs, *ALL)
    ours_before = rows_of(ours.organization)
    policy(ours, "--live-flow-sessions", "1", "--user-sessions", "1", "--chat-sessions", "1")
    out, _ = run("apply_retention", "--org", theirs.organization.pk, "--no-progress")
    assert out == "deleted 5 live flow sessions, 5 user sessions, 5 chat sessions\n"
    assert rows_of(ours.organization) == ours_before
    assert orphans() == {}


def test_an_organization_without_a_policy_keeps_everything(ours):
    before = table_counts()
    out, err = run("apply_retention", "--org", ours.organization.pk, "--no-progress")
    assert out == "deleted 0 live flow sessions, 0 user sessions, 0 chat sessions\n"
    assert "no retention policy" in err
    assert table_counts() == before
    assert not AuditEvent.objects.filter(action=Action.RETENTION_APPLY).exists()


def test_only_the_families_with_days_are_deleted(ours):
    policy(ours, "--chat-sessions", "30")
    out, _ = run("apply_retention", "--no-progress")
    assert out == "deleted 0 live flow sessions, 0 user sessions, 5 chat sessions\n"
    assert stored(LiveFlowSession, ours.live["old"]) == pks(ours.live["old"])


def test_the_organizations_hold_stops_every_deletion(ours, theirs):
    policy(ours, *ALL, "--hold")
    before = rows_of(ours.organization)
    out, err = run("apply_retention", "--no-progress")
    assert out == "deleted 0 live flow sessions, 0 user sessions, 0 chat sessions\n"
    assert f"{ours.organization.pk}: on hold" in err
    assert rows_of(ours.organization) == before

    policy(ours, "--no-hold")
    out, _ = run("apply_retention", "--no-progress")
    assert out == "deleted 5 live flow sessions, 5 user sessions, 5 chat sessions\n"


def test_a_hold_set_during_the_run_stops_it_at_the_next_batch(ours, monkeypatch):
    policy(ours, *ALL)
    from retention import apply

    real = apply.delete_rows
    calls = []

    def hold_after_first(queryset):
        calls.append(queryset.model)
        result = real(queryset)
        RetentionPolicy.objects.filter(pk=ours.organization.pk).update(hold=True)  # as set_retention --hold
        return result

    monkeypatch.setattr(apply, "delete_rows", hold_after_first)
    out, err = run("apply_retention", "--batch-size", "2", "--no-progress")
    assert out == "deleted 2 live flow sessions, 0 user sessions, 0 chat sessions\n"
    assert "put on hold" in err
    assert len(calls) == 1


def test_held_sessions_stay_whatever_their_age(ours):
    policy(ours, *ALL)
    run("apply_retention", "--no-progress")
    for name in ("live", "user", "chat"):
        held = getattr(ours, name)["held"]
        assert stored(MODELS[name], held) == pks(held)
        assert all(children(MODELS[name], held).values()) or name == "live"
    # Released, they go at the next run.
    for model in MODELS.values():
        model.objects.update(retention_hold=False)
    out, _ = run("apply_retention", "--no-progress")
    assert out == "deleted 2 live flow sessions, 2 user sessions, 2 chat sessions\n"


def test_dry_run_deletes_nothing_and_records_nothing(ours, theirs):
    policy(ours, *ALL)
    before, events = table_counts(), AuditEvent.objects.count()
    out, _ = run("apply_retention", "--dry-run", "--batch-size", "2", "--no-progress")
    assert out == "would delete 5 live flow sessions, 5 user sessions, 5 chat sessions\n"
    assert table_counts() == before
    assert AuditEvent.objects.count() == events
    # And it said what the run then does.
    out, _ = run("apply_retention", "--no-progress")
    assert out == "deleted 5 live flow sessions, 5 user sessions, 5 chat sessions\n"


def test_each_run_is_one_audit_event_per_policy(ours, theirs):
    policy(ours, *ALL)
    policy(theirs, "--user-sessions", "30")
    run("apply_retention", "--no-progress")
    events = AuditEvent.objects.filter(action=Action.RETENTION_APPLY).order_by("organization_id")
    assert [(e.actor, e.object_type, e.object_id, e.organization_id, e.changes) for e in events] == [
        ("apply_retention", "organization", theirs.organization.pk, theirs.organization.pk,
         {"live_flow_sessions": 0, "user_sessions": 5, "chat_sessions": 0}),
        ("apply_retention", "organization", ours.organization.pk, ours.organization.pk,
         {"live_flow_sessions": 5, "user_sessions": 5, "chat_sessions": 5}),
    ]
    # A run that deletes nothing is on the record too, with its zeros; a held organization says so.
    RetentionPolicy.objects.filter(pk=theirs.organization.pk).update(hold=True)
    run("apply_retention", "--no-progress")
    events = AuditEvent.objects.filter(action=Action.RETENTION_APPLY)
    assert events.count() == 4
    assert {e.object_id: e.changes for e in events.order_by("-id")[:2]} == {
        ours.organization.pk: {"live_flow_sessions": 0, "user_sessions": 0, "chat_sessions": 0},
        theirs.organization.pk: {"live_flow_sessions": 0, "user_sessions": 0, "chat_sessions": 0, "held": True},
    }


FAILING = {
    "live": LiveFlowSession,
    "user": UserSession,
    "chat": ChatSession,
}


@pytest.mark.parametrize("name", ["live", "user", "chat"])
def test_a_batch_that_fails_midway_leaves_all_its_rows(ours, monkeypatch, name):
    """The second batch's sessions are deleted last, after their children: failing there, the whole
    batch (children included) is still there; the first batch stays deleted, and is on the record."""
    model = FAILING[name]
    flag = {"live": "--live-flow-sessions", "user": "--user-sessions", "chat": "--chat-sessions"}[name]
    policy(ours, flag, "30")
    old = getattr(ours, name)["old"]
    before = {session.pk: children(model, [session]) for session in old}
    real = QuerySet._raw_delete
    calls = []

    def failing(self, using):
        if self.model is model:
            calls.append([row for row in self.values_list("pk", flat=True)])
            if len(calls) == 2:
                raise DatabaseError("the disk is full")
        return real(self, using)

    monkeypatch.setattr(QuerySet, "_raw_delete", failing)
    with pytest.raises(CommandError, match="refused a batch, which was rolled back") as raised:
        run("apply_retention", "--batch-size", "2", "--no-progress")
    assert "the disk is full" in str(raised.value)
    first, second = calls
    assert len(first) == 2 and 1 <= len(second) <= 2  # live flow sessions: batches within each live flow
    remaining = stored(model, old)
    assert remaining == pks(old) - set(first)
    for pk in second:  # the failed batch: every row of it still there
        assert children(model, [model._base_manager.get(pk=pk)]) == before[pk]
    for pk in set(pks(old)) - set(first):
        assert children(model, [model._base_manager.get(pk=pk)]) == before[pk]
    assert orphans() == {}
    event = AuditEvent.objects.get(action=Action.RETENTION_APPLY)
    key = {"live": "live_flow_sessions", "user": "user_sessions", "chat": "chat_sessions"}[name]
    assert event.changes[key] == 2


def test_the_lists_answer_the_sessions_that_remain(ours):
    """Nothing the lists read is left counting the deleted sessions (the chat list's summary fields
    are the sessions' own; live flows count their sessions when asked)."""
    policy(ours, *ALL)
    run("apply_retention", "--no-progress")
    client = ours.tenant.client
    body = client.get(LIST_URL, {"limit": 50}).json()["data"]
    assert len(body["items"]) == 4
    remaining = ours.chat["recent"] + ours.chat["held"]
    assert sorted(item["messageCount"] for item in body["items"]) == sorted(
        session.message_count for session in remaining)
    listed = {s["sessionId"] for s in client.get("/session").json()}
    assert listed == {s.session_id for s in ours.user["recent"] + ours.user["held"] + ours.unowned}
    live_flow = ours.live["recent"][0].live_flow
    listed = {s["id"] for s in client.get(f"/live_flows/{live_flow.pk}/sessions").json()}
    assert listed == {str(s.pk) for s in ours.live["recent"] + ours.live["held"] if s.live_flow_id == live_flow.pk}
    assert {str(s.pk) for s in live_flow.sessions.all()} == listed


@pytest.mark.parametrize(("args", "flag"), [
    (["--org", "org_nobody"], "--org"),
    (["--batch-size", "0"], "--batch-size"),
])
def test_bad_flags_name_the_flag(db, args, flag):
    with pytest.raises(CommandError, match=flag):
        run("apply_retention", *args)


def test_the_progress_goes_to_stderr(ours):
    policy(ours, *ALL)
    out, err = run("apply_retention", "--batch-size", "2")
    assert out.count("\n") == 1
    assert "live flow sessions" in err


@pytest.mark.parametrize("name", ["live", "user", "chat"])
def test_a_session_used_or_held_after_it_was_found_stays(ours, monkeypatch, name):
    """Between finding a batch and deleting it, one session gets a new message (activity) and one a
    hold: the batch's transaction locks its rows and checks them again, so both stay."""
    from django.utils import timezone

    from retention import apply

    model = MODELS[name]
    policy(ours, *ALL)
    real = apply.expired_batches
    touched = []

    def meanwhile(family, partition, cutoff, batch_size):
        for found in real(family, partition, cutoff, batch_size):
            if family.model is model and not touched:
                used, held = found[0], found[-1]
                model.objects.filter(pk=used).update(**{family.activity: timezone.now()})
                model.objects.filter(pk=held).update(retention_hold=True)
                touched.extend([used, held])
            yield found

    monkeypatch.setattr(apply, "expired_batches", meanwhile)
    run("apply_retention", "--batch-size", "3", "--no-progress")
    assert len(set(touched)) == 2
    assert stored(model, getattr(ours, name)["old"]) == set(touched)


def test_the_walk_finds_each_session_once(ours, monkeypatch):
    """A dry run deletes nothing, so its pages move on by the keyset alone: batch size 1 gives one
    page per expired session (a walk that started again would find the first one for ever)."""
    from retention import apply

    policy(ours, *ALL)
    real = apply.expired_batches
    found = []

    def counted(*args):
        for page in real(*args):
            found.extend(page)
            assert len(found) <= 15, "the walk is finding sessions again"
            yield page

    monkeypatch.setattr(apply, "expired_batches", counted)
    out, _ = run("apply_retention", "--dry-run", "--batch-size", "1", "--no-progress")
    assert out == "would delete 5 live flow sessions, 5 user sessions, 5 chat sessions\n"
    assert sorted(map(str, found)) == sorted(
        str(s.pk) for s in ours.live["old"] + ours.user["old"] + ours.chat["old"])
