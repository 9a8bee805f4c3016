"""Exports are audit events: each export command and each admin download names who exported which
scope and how many records."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from audit.models import Action, AuditEvent
from chat.models import ChatSession
from flows.models import LiveFlowSession
from messaging.models import MessageFlow
from sessions_app.models import UserSession
from tests.admin.helpers import admin_url
from tests.flowdesk.test_exports import ChatSessions, LiveFlows, MessageFlows, UserSessions

pytestmark = pytest.mark.django_db


def exported():
    return [
        (e.actor, e.object_type, e.object_id, e.organization_id, e.changes)
        for e in AuditEvent.objects.filter(action=Action.EXPORT).order_by("at", "id")
    ]


@pytest.mark.parametrize(
    ("family", "scope"),
    [
        (LiveFlows, lambda f: (str(f.live_flow.pk), f.tenant.organization.pk)),
        (UserSessions, lambda f: (f.tenant.user.username, f.tenant.organization.pk)),  # the user's one organization
        (ChatSessions, lambda f: (f.tenant.organization.pk, f.tenant.organization.pk)),
        (MessageFlows, lambda f: (f.tenant.workspace.pk, f.tenant.organization.pk)),
    ],
    ids=lambda value: getattr(value, "command", ""),
)
def test_each_export_command_is_recorded_with_its_scope_and_count(tenant, family, scope):
    family = family(tenant)
    family.make(3)
    call_command(family.command, *family.flags(), "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())
    object_id, organization = scope(family)
    assert exported() == [(family.command, family.noun, object_id, organization, {"records": 3})]


def test_an_export_that_fails_on_its_flags_records_nothing(tenant):
    with pytest.raises(CommandError):
        call_command("export_chat_sessions", "--org", "org_nope", stdout=io.StringIO(), stderr=io.StringIO())
    assert exported() == []


@pytest.mark.parametrize(
    ("model", "action", "noun", "scope"),
    [
        (LiveFlowSession, "export_sessions", "live flow sessions", lambda obj: str(obj.live_flow_id)),
        (UserSession, "export_sessions", "user sessions", lambda obj: obj.user.username),
        (ChatSession, "export_sessions", "chat sessions", lambda obj: obj.organization_id),
        (MessageFlow, "export_flows", "message flows", lambda obj: obj.workspace.organization_id),
    ],
    ids=lambda value: getattr(value, "__name__", None) or "",
)
def test_each_admin_download_is_recorded_once_streamed(staff_client, mine, model, action, noun, scope):
    obj = mine.objects[model]
    response = staff_client.post(admin_url(model, "changelist"), {"action": action, "_selected_action": [str(obj.pk)]})
    assert response.status_code == 200
    assert exported() == []  # nothing sent yet
    body = json.loads(b"".join(response.streaming_content))
    assert body  # (the test client closes the response once its content is read)
    organization = mine.tenant.organization.pk  # a user session download: the user's one organization
    assert exported() == [("sam", noun, scope(obj), organization, {"records": 1})]
    (event,) = AuditEvent.objects.filter(action=Action.EXPORT)
    assert event.request_id == response["X-Request-Id"]
