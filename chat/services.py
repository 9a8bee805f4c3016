"""Storing a chat message: the one write path that keeps a session's summary fields exact."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.api.errors import ApiError, ErrorItem
from chat.models import ChatMessage, ChatSession, ContextType, Role, Workflow, preview_of

UNSET = object()


def workflow_for(organization, workflow_id, name=UNSET):
    """The organization's workflow with this id, created when new (Flowdesk has no workflow API).

    Another organization's workflow is a 404, exactly as if it did not exist.
    """
    workflow, created = Workflow.objects.get_or_create(
        pk=workflow_id, defaults={"organization": organization, "name": None if name is UNSET else name}
    )
    if workflow.organization_id != organization.pk:
        raise ApiError(
            404, f"Workflow {workflow_id} not found.", [ErrorItem(("body", "workflowId"), "No such workflow.", "not_found")]
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


@transaction.atomic
def post_message(
    organization,
    *,
    role,
    content,
    session_id=None,
    workflow_id=None,
    workflow_name=UNSET,
    tokens_used=None,
    image_urls=(),
    created_at=None,
):
    """Store one message, creating its session when new, and update the summary in the same transaction.

    The session row is locked for the rest of the transaction, so concurrent posts to one
    session are counted one after the other and none is lost.
    """
    session = session_for(organization, session_id=session_id, workflow_id=workflow_id, workflow_name=workflow_name)
    session = ChatSession.objects.select_for_update().get(pk=session.pk)
    at = created_at or timezone.now()
    message = ChatMessage.objects.create(
        session=session,
        role=role,
        content=content,
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
    return message
