"""A programming tutor's user sessions: one user's dialogue, code workspace, tutorial and stats.

The vendor distinguishes ``null`` from an empty list for ``dialogue``, ``quickReplies``,
``clients``, ``audios`` and ``clicks``. Lists kept as JSON are nullable columns; the two lists
kept as rows of their own (dialogue items, audio clips) carry a ``*_null`` flag beside them.
"""

import os
import secrets
import string
import time
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from retention.models import hold_field

SESSION_ID_LENGTH = 12
_SESSION_ID_ALPHABET = string.ascii_letters + string.digits


def new_session_id():
    return "".join(secrets.choice(_SESSION_ID_ALPHABET) for _ in range(SESSION_ID_LENGTH))


def zero():
    return 0


def new_uuid():
    """A UUIDv7 (millisecond timestamp, then random bits): the vendor's form for a new session."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10))
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 9562 variant
    return str(uuid.UUID(int=value))


class ContentType(models.TextChoices):
    USER = "user"
    USER_AUDIO = "user_audio"
    AI = "ai"
    AI_AUDIO = "ai_audio"
    LOG = "log"
    ERROR = "error"
    INFO = "info"
    GROUP_LOG = "group_log"
    UI = "ui"
    REQUEST = "request"


class ResponseMode(models.TextChoices):
    TEXT = "text"
    AUDIO = "audio"


class UserSessionQuerySet(models.QuerySet):
    def with_children(self):
        """Everything ``session_data`` reads, in three queries whatever the number of sessions."""
        return self.prefetch_related(
            # dialogue_items: the `dialogue` array, in order
            models.Prefetch("dialogue_items", queryset=DialogueItem.objects.order_by("position")),
            # audio_clips: the `audios` array, in order
            models.Prefetch("audio_clips", queryset=AudioClip.objects.order_by("position")),
        )


class UserSession(models.Model):
    # Ids are strings kept exactly as imported; new ones take the vendor's forms.
    uuid = models.CharField(max_length=64, unique=True, default=new_uuid)
    session_id = models.CharField(max_length=64, unique=True, default=new_session_id)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="user_sessions")
    # Informational only: sessions are scoped to their user, whatever the organization.
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="user_sessions"
    )

    name = models.TextField(null=True, blank=True)
    dialogue_null = models.BooleanField(default=False, help_text="`dialogue` is null rather than a list.")
    quick_replies = models.JSONField(null=True, blank=True)
    is_replying = models.BooleanField(default=False)
    workspace = models.JSONField(null=True, blank=True)
    is_vm_running = models.BooleanField(default=False)
    clients = models.JSONField(null=True, blank=True)
    # Any string the client sends (the vendor takes any); unbounded varchar on PostgreSQL and SQLite.
    language = models.CharField(null=True, blank=True)
    easy_mode = models.BooleanField(null=True, blank=True)
    response_mode = models.CharField(max_length=8, choices=ResponseMode.choices, default=ResponseMode.TEXT)
    llm_context = models.TextField(null=True, blank=True)

    # `tutorial` and the non-counter stats are the vendor's `number`s: JSON keeps 3 and 2.5 as given.
    tutorial_is_tutorial = models.BooleanField(default=False)
    tutorial_id = models.JSONField(null=True, blank=True)
    tutorial_progress = models.JSONField(default=zero)

    stats_total_connecting_time = models.JSONField(default=zero)
    stats_current_num_of_blocks = models.BigIntegerField(default=0)
    stats_total_invoked_llm = models.BigIntegerField(default=0)
    stats_total_user_messages = models.BigIntegerField(default=0)
    stats_total_code_executions = models.BigIntegerField(default=0)

    audios_null = models.BooleanField(default=False, help_text="`audios` is null rather than a list.")
    user_audio = models.TextField(null=True, blank=True)
    screenshot = models.TextField(null=True, blank=True)
    clicks = models.JSONField(null=True, blank=True)
    # A user id string or {id, username, image, email}, as given.
    user_info = models.JSONField(null=True, blank=True)
    retention_hold = hold_field()

    # Imports keep the vendor's timestamps, so neither is auto_now.
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = UserSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            # GET /session: one user's sessions, most recently updated first.
            models.Index(fields=["user", "-updated_at", "-id"], name="usersession_list_idx"),
            # The admin's list across users, most recently updated first.
            models.Index(fields=["-updated_at", "-id"], name="usersession_updated_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(response_mode__in=ResponseMode.values), name="usersession_response_mode_valid"
            ),
        ]

    def __str__(self):
        return self.name or self.session_id


class DialogueItem(models.Model):
    """One top-level item of a session's dialogue; nested items live in ``content``."""

    session = models.ForeignKey(UserSession, on_delete=models.CASCADE, related_name="dialogue_items")
    position = models.PositiveIntegerField()
    # The client's `id`, kept as given: repeats and any order included (the vendor's client numbers them).
    item_id = models.BigIntegerField(help_text="The client's `id`; an appended item gets the highest plus one.")
    content_type = models.CharField(max_length=16, choices=ContentType.choices)
    is_user = models.BooleanField()
    # A string, or a list of dialogue items (each with the same five keys, nested to any depth).
    content = models.JSONField()
    # The vendor's optional string: NULL means the key is absent from the item.
    ui = models.CharField(null=True, blank=True)

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "position"], name="dialogueitem_position_unique"),
            models.CheckConstraint(
                condition=Q(content_type__in=ContentType.values), name="dialogueitem_content_type_valid"
            ),
        ]

    def __str__(self):
        return f"{self.session_id} #{self.item_id} ({self.content_type})"


class AudioClip(models.Model):
    session = models.ForeignKey(UserSession, on_delete=models.CASCADE, related_name="audio_clips")
    position = models.PositiveIntegerField()
    clip_id = models.CharField(max_length=200, help_text="The vendor's `id`.")
    base64 = models.TextField(blank=True)

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "position"], name="audioclip_position_unique"),
        ]

    def __str__(self):
        return f"{self.session_id} audio {self.clip_id}"
