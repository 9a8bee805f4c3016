"""Storing a chat message: the one write path that keeps a session's summary fields exact."""

import secrets
import string

from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone

from chat.models import ChatMessage, ChatSession, ContextType, Conversation, Role, Workflow, preview_of
from flowdesk import events
from flowdesk.api.errors import ApiError, ErrorItem

UNSET = object()
_SESSION_ID_ALPHABET = string.ascii_lowercase + string.digits


MESSAGE_CREATED = "chat.message_created"


def new_session_id(now=None):
    """A create-page session id in the vendor's form, session_<epoch ms>_<random>."""
    now = now or timezone.now()
    suffix = "".join(secrets.choice(_SESSION_ID_ALPHABET) for _ in range(9))
    return f"session_{int(now.timestamp() * 1000)}_{suffix}"


def workflow_for(organization, workflow_id, name=UNSET):
    """The organization's workflow with this id, created when new (Flowdesk has no workflow API).

    Workflow ids are unique per organization: another organization's workflow of the same id is
    never looked at, so it can neither block this one nor be revealed.
    """
    workflow, created = Workflow.objects.get_or_create(
        organization=organization, uuid=workflow_id, defaults={"name": None if name is UNSET else name}
    )
    if not created and name is not UNSET and name != workflow.name:
        workflow.name = name
        workflow.save(update_fields=["name"])
    return workflow


def session_for(organization, *, session_id=None, workflow_id=None, workflow_name=UNSET):
    """The chat a message belongs to, created when new (get_or_create survives a racing twin)."""
    if session_id is not None:
        session, _ = ChatSession.objects.get_or_create(
            organization=organization, session_id=session_id, defaults={"context_type": ContextType.SESSION}
        )
        return session
    workflow = workflow_for(organization, workflow_id, workflow_name)
    session, _ = ChatSession.objects.get_or_create(
        organization=organization, context_type=ContextType.WORKFLOW, workflow=workflow
    )
    return session


def current_session(conversation):
    """The chat a conversation goes on in: the workflow it became, else its create-page chat (the
    most recently active first); a new create-page chat when it has none yet."""
    session = (
        ChatSession.objects.filter(organization_id=conversation.organization_id, conversation=conversation)
        .order_by(
            Case(When(context_type=ContextType.WORKFLOW, then=Value(0)), default=Value(1), output_field=IntegerField()),
            "-activity_at",
            "-id",
        )
        .first()
    )
    if session is None:
        session = ChatSession.objects.create(
            organization_id=conversation.organization_id, context_type=ContextType.SESSION,
            session_id=new_session_id(), conversation=conversation,
        )
    return session


def join_conversation(session, conversation):
    """Put a (locked) session into a conversation, its stored messages with it.

    A session belongs to one conversation: naming another is a 409, and nothing is written.
    """
    if session.conversation_id == conversation.pk:
        return
    if session.conversation_id is not None:
        key = session.session_id if session.context_type == ContextType.SESSION else str(session.workflow.uuid)
        field = "sessionId" if session.context_type == ContextType.SESSION else "workflowId"
        raise ApiError(
            409, f"Chat session {key} belongs to another conversation.",
            [ErrorItem(("body", "conversationId"), f"This {field} is part of another conversation.", "conflict")],
        )
    ChatSession.objects.filter(pk=session.pk).update(conversation=conversation)
    ChatMessage.objects.filter(session=session).update(conversation=conversation)
    session.conversation = conversation


@transaction.atomic
def post_message(
    organization,
    *,
    role,
    content,
    conversation_id=None,
    session_id=None,
    workflow_id=None,
    workflow_name=UNSET,
    sender_user_id=None,
    tokens_used=None,
    image_urls=(),
    created_at=None,
):
    """Store one message, creating its session when new, and update the summary in the same transaction.

    With ``conversation_id`` the session joins that conversation (created when new); with it
    alone the message goes to the conversation's current chat. Rows are locked conversation
    first, then session, for the rest of the transaction, so concurrent posts to one session
    are counted one after the other and none is lost.
    """
    conversation = None
    if conversation_id is not None:
        conversation, _ = Conversation.objects.get_or_create(organization=organization, conversation_id=conversation_id)
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if session_id is None and workflow_id is None:
        session = current_session(conversation)
    else:
        session = session_for(organization, session_id=session_id, workflow_id=workflow_id, workflow_name=workflow_name)
    # workflow, conversation: the message's workflowId and conversationId (only the session's row is locked)
    session = (
        ChatSession.objects.select_for_update(of=("self",)).select_related("workflow", "conversation").get(pk=session.pk)
    )
    if conversation is not None:
        join_conversation(session, conversation)
    at = created_at or timezone.now()
    message = ChatMessage.objects.create(
        session=session,
        role=role,
        content=content,
        sender_user_id=sender_user_id,
        tokens_used=tokens_used,
        image_urls=list(image_urls or []),
        created_at=at,
    )
    sessions = ChatSession.objects.filter(pk=session.pk)
    if session.last_message_at is not None and at < session.last_message_at:
        # Out of order (only possible with an explicit created_at): recount from the messages.
        sessions.refresh_summaries()
    else:
        changes = {
            "message_count": F("message_count") + 1,
            "last_message_at": at,
            "activity_at": at,
        }
        if session.first_message_at is None:
            changes["first_message_at"] = at
        if role == Role.USER and session.preview is None:
            changes["preview"] = preview_of(content)
        sessions.update(**changes)
    message.session = session
    message.conversation = session.conversation
    published(message.pk, organization.pk)
    return message


def published(pk, organization_id):
    """Webhooks and listeners hear of the new message ``pk`` once the transaction commits, as
    history lists it (the API, the stream and the admin add messages)."""

    def render():
        from chat.api.serializers import stored_message

        return stored_message(pk)

    events.publish(MESSAGE_CREATED, channel=f"chat_message:{pk}", organization_id=organization_id, render=render)
