"""Chat sessions and messages for the tests, written through the service that the API uses."""

import uuid
from datetime import UTC, datetime, timedelta

from chat.models import ChatSession, Role
from chat.services import post_message

BASE = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)

LIST_URL = "/v1/ai/workflow/chat/sessions"
HISTORY_URL = "/v1/ai/workflow/chat/history"
MESSAGES_URL = "/v1/ai/workflow/chat/messages"


def chat(organization, *, session_id=None, workflow_id=None, workflow_name=None, conversation_id=None, at=BASE,
         messages=None):
    """A chat with its messages, `messages` as (role, content) pairs a minute apart from `at`."""
    if session_id is None and workflow_id is None:
        session_id = f"session_{int(at.timestamp() * 1000)}_{uuid.uuid4().hex[:6]}"
    if messages is None:
        messages = [(Role.USER, "Build me a workflow"), (Role.ASSISTANT, "Sure, what should it do?")]
    extra = {"workflow_id": workflow_id, "workflow_name": workflow_name} if workflow_id else {"session_id": session_id}
    extra["conversation_id"] = conversation_id
    message = None
    for index, (role, content) in enumerate(messages):
        message = post_message(organization, role=role, content=content, created_at=at + timedelta(minutes=index), **extra)
    return ChatSession.objects.get(pk=message.session_id)
