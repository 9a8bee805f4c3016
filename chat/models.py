"""Workflow chat: chat sessions of an organization and their messages.

A session is either a create-page chat (``context_type`` "session", named by the client's
``session_id`` such as ``session_1234567890_abc``) or an edit-page chat about one workflow
(``context_type`` "workflow", named by the workflow's UUID, unique within its organization). A conversation (the client's
``conversationId``) ties sessions together: the create-page chat and the workflow it became
share one, and its history is their messages in one order. Each message carries its session's
conversation too (kept equal by every writer), so that history is one index range. The list endpoint's summary fields
(``message_count``, ``first_message_at``, ``last_message_at``, ``preview``) are stored on the
session and kept exact by ``chat.services.post_message`` and by every way of deleting messages
(``ChatMessageQuerySet.delete``, ``ChatMessage.delete``), so the list never aggregates.
"""

import uuid

from django.db import models, transaction
from django.db.models import Count, F, Max, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Substr
from django.utils import timezone

from accounts.models import Organization
from retention.models import hold_field

# How much of the first user message the list's `preview` carries.
PREVIEW_LENGTH = 100


def preview_of(content):
    return content[:PREVIEW_LENGTH]


def unique_in_organization(field, name):
    """The client names it, so its id is unique within its organization only."""
    return models.UniqueConstraint(fields=["organization", field], name=name)


class ContextType(models.TextChoices):
    SESSION = "session"
    WORKFLOW = "workflow"


class Role(models.TextChoices):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


class RunStatus(models.TextChoices):
    """The vendor's workflow run states, for a message's linked run."""

    RUNNING = "running"
    WAITING = "waiting"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILURE = "failure"
    CANCELLED = "cancelled"


class Conversation(models.Model):
    """A chat thread named by the client, which may outlive a create-page session (it becomes a workflow)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="chat_conversations")
    conversation_id = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [unique_in_organization("conversation_id", "chatconversation_id_unique")]

    def __str__(self):
        return self.conversation_id


class Workflow(models.Model):
    # The API's workflowId. The client picks it, so it is unique within an organization only: two
    # organizations may hold the same one, each seeing only its own (the pk is Flowdesk's own).
    uuid = models.UUIDField("workflow id", default=uuid.uuid4)
    # No index of its own: chatworkflow_uuid_unique starts with the organization.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="chat_workflows", db_index=False
    )
    # Nullable: the vendor's `workflowName` is "if available" and imports keep null as null.
    name = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [unique_in_organization("uuid", "chatworkflow_uuid_unique")]

    def __str__(self):
        return self.name or str(self.uuid)


class ChatSessionQuerySet(models.QuerySet):
    def refresh_summaries(self):
        """Recompute the summary fields of these sessions from their stored messages (one UPDATE).

        Callers hold the sessions' row locks, so a concurrent post cannot slip in between.
        """
        messages = ChatMessage.objects.filter(session=OuterRef("pk")).order_by().values("session")
        last = Subquery(messages.annotate(at=Max("created_at")).values("at"))
        first_user = (
            ChatMessage.objects.filter(session=OuterRef("pk"), role=Role.USER).order_by("created_at", "id").values("content")
        )
        return self.update(
            message_count=Coalesce(Subquery(messages.annotate(n=Count("id")).values("n")), 0),
            first_message_at=Subquery(messages.annotate(at=Min("created_at")).values("at")),
            last_message_at=last,
            preview=Substr(Subquery(first_user[:1]), 1, PREVIEW_LENGTH),
            activity_at=Coalesce(last, F("created_at")),
        )


class ChatSession(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="chat_sessions")
    context_type = models.CharField(max_length=16, choices=ContextType.choices)
    # The client's id of a create-page chat; an imported workflow chat may carry one as well.
    session_id = models.CharField(max_length=128, null=True, blank=True)
    workflow = models.ForeignKey(
        Workflow, null=True, blank=True, on_delete=models.CASCADE, related_name="chat_sessions"
    )
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    message_count = models.PositiveIntegerField(default=0)
    first_message_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    preview = models.TextField(null=True, blank=True)
    # The list's order: the last message, or the creation for a session without one. Never null,
    # so "most recent first" means the same on PostgreSQL and SQLite (their NULLs sort apart).
    activity_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    retention_hold = hold_field()

    objects = ChatSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-activity_at", "-id"]
        indexes = [
            # The list endpoint: one organization's sessions, most recent first, ties by id.
            models.Index(fields=["organization", "-activity_at", "-id"], name="chatsession_list_idx"),
            models.Index(fields=["organization", "context_type", "-activity_at", "-id"], name="chatsession_ctx_idx"),
            # The admin's list across organizations, most recent first.
            models.Index(fields=["-activity_at", "-id"], name="chatsession_activity_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session_id"],
                condition=Q(session_id__isnull=False),
                name="chatsession_session_id_unique",
            ),
            # One edit-page chat per workflow.
            models.UniqueConstraint(
                fields=["workflow"], condition=Q(context_type="workflow"), name="chatsession_one_per_workflow"
            ),
            models.CheckConstraint(
                condition=Q(context_type="session", session_id__isnull=False)
                | Q(context_type="workflow", workflow__isnull=False),
                name="chatsession_context_key",
            ),
        ]

    def __str__(self):
        return self.session_id if self.context_type == ContextType.SESSION else str(self.workflow.uuid)


class ChatMessageQuerySet(models.QuerySet):
    def delete(self):
        """Deleting messages keeps their sessions' summary fields exact, in one transaction."""
        with transaction.atomic(using=self.db):
            session_ids = sorted(set(self.values_list("session_id", flat=True)))
            # Locked first (in pk order, no deadlocks) so no post lands between delete and recount.
            sessions = ChatSession.objects.filter(pk__in=session_ids)
            list(sessions.select_for_update().order_by("pk").values_list("pk", flat=True))
            result = super().delete()
            sessions.refresh_summaries()
        return result

    delete.alters_data = True
    delete.queryset_only = True


class ChatMessage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="messages")
    # Always the session's conversation (save() copies it; bulk writers set it): history by
    # conversationId is then one range of chatmessage_conversation_idx.
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+",
        db_index=False,
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    tokens_used = models.PositiveIntegerField(null=True, blank=True)
    image_urls = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Who sent it (the vendor's user id, a string); Flowdesk sets it for user messages it receives.
    sender_user_id = models.CharField(max_length=255, null=True, blank=True)
    # The workflow run the message is about; Flowdesk runs no workflows, so only imports set these.
    linked_run_id = models.CharField(max_length=255, null=True, blank=True)
    linked_run_status = models.CharField(max_length=16, choices=RunStatus.choices, null=True, blank=True)
    linked_run_started_at = models.DateTimeField(null=True, blank=True)
    linked_run_finished_at = models.DateTimeField(null=True, blank=True)

    objects = ChatMessageQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # History, paged backwards: one chat's messages by (created_at, id), or one conversation's.
            models.Index(fields=["session", "created_at", "id"], name="chatmessage_history_idx"),
            models.Index(
                fields=["conversation", "created_at", "id"], name="chatmessage_conversation_idx",
                condition=Q(conversation__isnull=False),
            ),
            # The admin's list across sessions, newest first.
            models.Index(fields=["-created_at", "-id"], name="chatmessage_created_idx"),
        ]

    def __str__(self):
        return f"{self.role}: {self.content[:40]}"

    def save(self, *args, **kwargs):
        if self.session_id is not None:
            self.conversation_id = self.session.conversation_id
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "conversation"}
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        with transaction.atomic():
            sessions = ChatSession.objects.filter(pk=self.session_id)
            list(sessions.select_for_update().values_list("pk", flat=True))
            result = super().delete(*args, **kwargs)
            sessions.refresh_summaries()
        return result


class TurnStatus(models.TextChoices):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def new_turn_id():
    return "turn_" + uuid.uuid4().hex


class ChatTurn(models.Model):
    """One turn of POST /stream: the user's message, the model's answer, and the events streamed."""

    id = models.CharField(primary_key=True, max_length=40, default=new_turn_id, editable=False)
    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="turns")
    status = models.CharField(max_length=16, choices=TurnStatus.choices, default=TurnStatus.RUNNING)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.id


class ChatTurnEvent(models.Model):
    """A turn's events, numbered from 0, kept so that a client that reconnects gets them again."""

    turn = models.ForeignKey(ChatTurn, on_delete=models.CASCADE, related_name="events")
    index = models.PositiveIntegerField()
    event = models.CharField(max_length=16)
    data = models.JSONField()
    # When it was stored: a RUNNING turn quiet for longer than a step lease was left by a process that died.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["turn", "index"]
        constraints = [models.UniqueConstraint(fields=["turn", "index"], name="chatturnevent_index_unique")]

    def __str__(self):
        return f"{self.turn_id} #{self.index} {self.event}"
