"""set_retention: the policy set flag by flag, printed on one line, on the audit trail."""

import pytest
from django.core.management.base import CommandError

from audit.models import Action, AuditEvent
from retention.models import RetentionPolicy
from tests.conftest import make_tenant
from tests.retention.conftest import run

pytestmark = pytest.mark.django_db
ORG = "org_u13TesTDumMyEe5P"


@pytest.fixture
def org(db):
    return make_tenant(ORG, "alice").organization


def test_flags_set_the_policy_and_the_rest_stays(org):
    out, _ = run("set_retention", ORG, "--live-flow-sessions", "30", "--chat-sessions", "90")
    assert out == f"{ORG}: live flow sessions 30 days, user sessions for ever, chat sessions 90 days, hold off\n"
    out, _ = run("set_retention", ORG, "--user-sessions", "1", "--hold")
    assert out == f"{ORG}: live flow sessions 30 days, user sessions 1 day, chat sessions 90 days, hold on\n"
    out, _ = run("set_retention", ORG, "--chat-sessions", "none", "--live-flow-sessions", "FOREVER", "--no-hold")
    assert out == f"{ORG}: live flow sessions for ever, user sessions 1 day, chat sessions for ever, hold off\n"
    policy = RetentionPolicy.objects.get(pk=ORG)
    assert (policy.live_flow_sessions_days, policy.user_sessions_days, policy.chat_sessions_days, policy.hold) == (
        None, 1, None, False)


def test_without_flags_it_prints_the_policy_and_writes_nothing(org):
    out, _ = run("set_retention", ORG)
    assert out == f"{ORG}: live flow sessions for ever, user sessions for ever, chat sessions for ever, hold off\n"
    assert not RetentionPolicy.objects.exists()
    assert not AuditEvent.objects.exists()


def test_each_change_is_an_audit_event_with_the_new_values(org):
    run("set_retention", ORG, "--live-flow-sessions", "30", "--hold")
    run("set_retention", ORG, "--live-flow-sessions", "30", "--user-sessions", "7")  # 30 again: not a change
    run("set_retention", ORG, "--user-sessions", "7")  # nothing changes: nothing recorded
    events = AuditEvent.objects.filter(action=Action.RETENTION_POLICY).order_by("at", "id")
    assert [(e.actor, e.object_type, e.object_id, e.organization_id, e.organization_name, e.changes) for e in events] == [
        ("set_retention", "retention policy", ORG, ORG, ORG, {"live_flow_sessions_days": 30, "hold": True}),
        ("set_retention", "retention policy", ORG, ORG, ORG, {"user_sessions_days": 7}),
    ]


@pytest.mark.parametrize(("flag", "value"), [
    ("--live-flow-sessions", "0"),
    ("--live-flow-sessions", "-3"),
    ("--user-sessions", "ten"),
    ("--user-sessions", "3.5"),
    ("--chat-sessions", "100001"),
    ("--chat-sessions", ""),
    ("--chat-sessions", "٣"),  # a digit, not an ASCII one
])
def test_bad_days_name_the_flag(org, flag, value):
    with pytest.raises(CommandError, match=f"^{flag}: "):
        run("set_retention", ORG, flag, value)
    assert not RetentionPolicy.objects.exists()


def test_hold_and_no_hold_together_are_refused(org):
    with pytest.raises(CommandError, match="--no-hold"):
        run("set_retention", ORG, "--hold", "--no-hold")


def test_an_unknown_organization_is_named(db):
    with pytest.raises(CommandError, match="ORG: no organization 'org_nobody'"):
        run("set_retention", "org_nobody", "--hold")
