"""Two organizations' worth of data in every family, a superuser and a staff member of one of them."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Membership
from chat.models import Conversation, Role, Workflow
from messaging.models import Agent, MessageFlow
from sessions_app.models import AudioClip, DialogueItem, UserSession
from tests.admin.helpers import logged_in, staff_member
from tests.chat.factories import chat
from tests.conftest import make_tenant
from tests.flows.factories import make_live_flow, make_session

FLOWDESK_APPS = ["accounts", "flows", "chat", "messaging", "sessions_app", "webhooks", "auth"]
STAFF_GROUP = "Support staff"
AT = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


@dataclass
class World:
    """One organization's objects, one of each model."""

    tenant: object
    objects: dict = field(default_factory=dict)  # model class -> an instance


def build_world(org_id, username, workspace_id):
    tenant = make_tenant(org_id, username, workspace_id=workspace_id)
    org, ws = tenant.organization, tenant.workspace
    live_flow = make_live_flow(org)
    version = live_flow.current_version
    session = make_session(live_flow, n_recorded=2, created_at=AT)
    chat_session = chat(org, at=AT, conversation_id=f"conv_{username}",
                        messages=[(Role.USER, f"Hello from {org_id}"), (Role.ASSISTANT, "Hi")])
    agent = Agent.objects.create(workspace=ws, agent_id=f"agent_{username}")
    flow = MessageFlow.objects.create(
        id=f"mf_{username}", workspace=ws, agent=agent, name=f"Flow of {username}", direction="inbound",
        message_channel="SMS", prompt="Be nice", settings={"security": {}}, created_at=AT, updated_at=AT,
    )
    objects = {
        type(org): org, type(ws): ws, type(tenant.key): tenant.key,
        Membership: Membership.objects.get(user=tenant.user, organization=org),
        get_user_model(): tenant.user,
        type(version.flow): version.flow, type(version): version,
        type(version.steps.first()): version.steps.first(), type(version.transitions.first()): version.transitions.first(),
        type(live_flow): live_flow, type(session): session, type(session.steps.first()): session.steps.first(),
        type(chat_session): chat_session, type(chat_session.messages.first()): chat_session.messages.first(),
        Agent: agent, MessageFlow: flow,
        Workflow: Workflow.objects.create(organization=org, name=f"Workflow of {username}"),
        Conversation: chat_session.conversation,
    }
    user_session = UserSession.objects.create(
        session_id=f"sess{username:0<8}"[:12], user=tenant.user, organization=org, name=f"Loops of {username}",
        language="en", user_info={"id": str(tenant.user.pk), "username": username, "image": None, "email": ""},
        created_at=AT, updated_at=AT,
    )
    objects[UserSession] = user_session
    objects[DialogueItem] = DialogueItem.objects.create(
        session=user_session, position=0, item_id=1, content_type="user", is_user=True, content="How do loops work?"
    )
    DialogueItem.objects.create(
        session=user_session, position=1, item_id=2, content_type="ai", is_user=False,
        content=[{"id": 3, "contentType": "ai", "isUser": False, "content": "Like this.", "ui": None}],
    )
    objects[AudioClip] = AudioClip.objects.create(session=user_session, position=0, clip_id="a1", base64="UklGRg==")
    return World(tenant, objects)


@pytest.fixture
def mine(db):
    return build_world("org_u13TesTDumMyEe5P", "alice", "ws_alice")


@pytest.fixture
def theirs(db):
    return build_world("org_0therTenant00001", "mallory", "ws_mallory")


@pytest.fixture
def staff(mine):
    """A staff member (not a superuser) of `mine`'s organization, with every model permission."""
    return staff_member(mine.tenant.organization, STAFF_GROUP, FLOWDESK_APPS)


@pytest.fixture
def staff_client(staff):
    return logged_in(staff)


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def admin_client_(superuser):
    return logged_in(superuser)


def later(minutes):
    return AT + timedelta(minutes=minutes)


def branching_version(organization):
    """An editable version (no sessions ran it): START → classify → billing | technical, technical ↺ classify."""
    from flows.models import Flow, FlowVersion, Step, StepTransition, StepType

    flow = Flow.objects.create(organization=organization, name="Support triage")
    version = FlowVersion.objects.create(flow=flow)
    steps = {}
    for index, (name, step_type, template) in enumerate([
        ("start", StepType.START, None),
        ("classify", StepType.LLM, {"type": "chat", "messages": [{"role": "user", "content": "${INPUTS.message}"}]}),
        ("billing_reply", StepType.LLM, {"type": "text", "text": "Billing"}),
        ("technical_reply", StepType.USER_INPUT, {"type": "text", "text": "Which version?"}),
    ]):
        steps[name] = Step.objects.create(
            flow_version=version, name=name, step_type=step_type, prompt_template=template, created_at=later(index)
        )
    for source, target, label in [
        ("start", "classify", None), ("classify", "billing_reply", "billing"),
        ("classify", "technical_reply", "technical"), ("technical_reply", "classify", "retry"),
    ]:
        StepTransition.objects.create(flow_version=version, source_step=steps[source], target_step=steps[target], label=label)
    return version, steps
