"""Two organizations with the same sessions in every family: old ones, recent ones, held ones."""

import io
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from chat.models import ChatSession, ChatTurn, ChatTurnEvent, Role
from flows.models import LiveFlowSession
from sessions_app.models import UserSession
from tests.chat.factories import chat
from tests.flows.factories import make_live_flow, make_session
from tests.sessions_app.conftest import make_session as make_user_session

FAMILY_APPS = ["flows", "sessions_app", "chat"]
NOW = timezone.now().replace(microsecond=0)  # as the admin's time widgets send it back
OLD = NOW - timedelta(days=90)  # past a 30-day policy
RECENT = NOW - timedelta(days=2)


@dataclass
class Data:
    """One organization's sessions, by family: {"old": [...], "recent": [...], "held": [...]}."""

    tenant: object
    live: dict = field(default_factory=dict)
    user: dict = field(default_factory=dict)
    chat: dict = field(default_factory=dict)
    unowned: list = field(default_factory=list)  # user sessions of the org's user without an organization

    @property
    def organization(self):
        return self.tenant.organization


def build(tenant):
    """The tenant's sessions in every family (tests/conftest.py's tenants: ours, theirs)."""
    org, user = tenant.organization, tenant.user
    username = user.username
    data = Data(tenant)
    # Two live flows: the walk goes one live flow at a time.
    flows = [make_live_flow(org), make_live_flow(org)]

    def live(at, n, hold=False):
        return [_held(make_session(flows[i % 2], n_recorded=i % 4, created_at=at - timedelta(minutes=i)), hold)
                for i in range(n)]

    data.live = {"old": live(OLD, 5), "recent": live(RECENT, 2), "held": live(OLD, 2, hold=True)}

    def user_sessions(kind, at, n, hold=False, organization=org):
        return [
            _held(make_user_session(user, f"{kind}{i}{username}"[:12], dialogue=i % 3 + 1, audios=i % 2,
                                    updated_at=at - timedelta(minutes=i), organization=organization), hold)
            for i in range(n)
        ]

    data.user = {"old": user_sessions("o", OLD, 5), "recent": user_sessions("r", RECENT, 2),
                 "held": user_sessions("h", OLD, 2, hold=True)}
    data.unowned = user_sessions("n", OLD, 2, organization=None)

    def chats(at, n, hold=False):
        made = []
        for i in range(n):
            kind = i % 3
            session = chat(
                org, at=at - timedelta(hours=i),
                workflow_id=str(uuid.uuid4()) if kind == 1 else None, workflow_name="Onboarding" if kind == 1 else None,
                conversation_id=f"conv_{username}_{i}" if kind == 2 else None,
                messages=[(Role.USER, f"Question {i}"), (Role.ASSISTANT, "Answer")][: 1 + i % 2],
            )
            if kind == 0:  # a stream turn and its events
                turn = ChatTurn.objects.create(session=session, created_at=at)
                ChatTurnEvent.objects.bulk_create(ChatTurnEvent(turn=turn, index=n, event="token", data={"t": n}) for n in range(3))
            made.append(_held(session, hold))
        return made

    data.chat = {"old": chats(OLD, 5), "recent": chats(RECENT, 2), "held": chats(OLD, 2, hold=True)}
    return data


def _held(session, hold):
    if hold:
        type(session).objects.filter(pk=session.pk).update(retention_hold=True)
        session.retention_hold = True
    return session


@pytest.fixture
def ours(tenant):
    return build(tenant)


@pytest.fixture
def theirs(other_tenant):
    return build(other_tenant)


def run(command, *args):
    """call_command with captured streams: (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- rows, counted in every table of the three families ----------------------------------------


def family_models():
    return [model for label in FAMILY_APPS for model in apps.get_app_config(label).get_models()]


# Kept by triggers from the runs, not deleted as a session's child: its counts after retention
# are checked in tests/flows/test_step_duration_rollup.py.
DERIVED = {"flows.StepDurationDay"}


def table_counts():
    return {model._meta.label: model._base_manager.count() for model in family_models()
            if model._meta.label not in DERIVED}


# The path from each family model to its organization (every model of the three apps is here, so
# a table added later without a path fails the tests that use it).
ORGANIZATION_PATHS = {
    "flows.Flow": "organization", "flows.FlowVersion": "flow__organization",
    "flows.Step": "flow_version__flow__organization", "flows.StepTransition": "flow_version__flow__organization",
    "flows.LiveFlow": "organization", "flows.LiveFlowSession": "live_flow__organization",
    "flows.LiveFlowSessionStep": "session__live_flow__organization",
    "flows.StepDurationDay": "organization",  # the steps' durations rollup, kept by triggers
    "sessions_app.UserSession": "user__memberships__organization", "sessions_app.DialogueItem": "session__user__memberships__organization",
    "sessions_app.AudioClip": "session__user__memberships__organization",
    "chat.Conversation": "organization", "chat.Workflow": "organization", "chat.ChatSession": "organization",
    "chat.ChatMessage": "session__organization", "chat.ChatTurn": "session__organization",
    "chat.ChatTurnEvent": "turn__session__organization",
}


def rows_of(organization):
    """Every row of the three families that belongs to the organization (user sessions: its user's), by table."""
    found = {}
    for model in family_models():
        path = ORGANIZATION_PATHS[model._meta.label]
        found[model._meta.label] = set(model._base_manager.filter(**{path: organization}).values_list("pk", flat=True))
    return found


def orphans():
    """Rows whose foreign key names a row that is not there (deferred keys are not checked inside a
    test's transaction, so they are looked for here)."""
    found = {}
    for model in family_models():
        for fk in model._meta.concrete_fields:
            if not fk.is_relation:
                continue
            target = fk.related_model
            rows = model._base_manager.exclude(**{f"{fk.attname}__isnull": True}).exclude(
                **{f"{fk.attname}__in": target._base_manager.values(fk.target_field.attname)}
            )
            if rows.exists():
                found[f"{model._meta.label}.{fk.name}"] = rows.count()
    with connection.cursor():
        connection.check_constraints()  # the database's own word too (SQLite: foreign_key_check)
    return found


def pks(sessions):
    return {session.pk for session in sessions}


def stored(model, sessions):
    return set(model._base_manager.filter(pk__in=pks(sessions)).values_list("pk", flat=True))


MODELS = {"live": LiveFlowSession, "user": UserSession, "chat": ChatSession}
