"""Clients that send a key and an x-workspace-id, and a builder for message flows."""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from accounts.models import Workspace
from messaging.models import Agent, MessageFlow


def workspace_client(raw_key, workspace_id=None, header="Authorization"):
    client = APIClient()
    credentials = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"} if header == "Authorization" else {
        "HTTP_" + header.upper().replace("-", "_"): raw_key
    }
    if workspace_id is not None:
        credentials["HTTP_X_WORKSPACE_ID"] = workspace_id
    client.credentials(**credentials)
    return client


@pytest.fixture
def api(tenant):
    """The tenant's key, acting in the tenant's workspace."""
    return workspace_client(tenant.raw_key, tenant.workspace.pk)


@pytest.fixture
def sibling_workspace(tenant):
    """A second workspace of the same organization."""
    return Workspace.objects.create(pk="ws_sibling", organization=tenant.organization)


URL = "/v1/api/message-flows"

# The vendor's example create body.
NEW_FLOW = {
    "name": "SMS Flow #1",
    "direction": "bidirectional",
    "agent": "exampleAgentId1",
    "initiationMessage": "Hi! How can we help?",
    "prompt": "Short prompt for AI",
    "messageChannel": "SMS",
}


def field_error_body(field, message):
    """The error body of a request refused for one field."""
    return {
        "error": {
            "code": "validation_error",
            "message": f"Invalid input: {field}: {message}",
            "details": [{"field": field, "message": message}],
        }
    }


BASE_TIME = datetime(2025, 1, 2, 10, 15, tzinfo=UTC)


def make_flow(workspace, index=1, agent_id="agent_1", **overrides):
    agent, _ = Agent.objects.get_or_create(workspace=workspace, agent_id=agent_id)
    values = dict(
        id=f"{workspace.pk}_flow{index}",
        workspace=workspace,
        agent=agent,
        name=f"Flow {index}",
        direction="bidirectional",
        description=f"Flow number {index}",
        settings={},
        prompt="Be helpful.",
        initiation_message="Hello!",
        is_active=True,
        autopilot=False,
        message_channel="SMS",
        created_at=BASE_TIME + timedelta(minutes=index),
        updated_at=BASE_TIME + timedelta(minutes=index, seconds=30),
    )
    values.update(overrides)
    return MessageFlow.objects.create(**values)
