"""Message flows: per-workspace configurations of an AI agent that talks to customers over SMS or e-mail."""

import copy
import secrets

from django.db import models
from django.utils import timezone

from accounts.models import Workspace


class Direction(models.TextChoices):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    BIDIRECTIONAL = "bidirectional"


class MessageChannel(models.TextChoices):
    SMS = "SMS"
    EMAIL = "Email"


def new_message_flow_id():
    # The vendor's ids are MongoDB ObjectIds: 24 lowercase hex characters.
    return secrets.token_hex(12)


# The settings the vendor gives a flow created without them (its create and update pages show
# these). emailSettings has no documented default: a flow has one only when given.
DEFAULT_SETTINGS = {
    "responseSettings": {
        "delay": 0,
        "workingHours": {
            "enabled": False, "start": "09:00", "end": "17:00", "timezone": "UTC", "outOfHoursMessage": "",
        },
    },
    "security": {"hipaaCompliance": False},
}


def default_settings():
    return copy.deepcopy(DEFAULT_SETTINGS)


class Agent(models.Model):
    """The agent a flow names: one row per agent id and workspace, created when first named."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="message_agents")
    agent_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["workspace", "agent_id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "agent_id"], name="agent_unique_per_workspace")]

    def __str__(self):
        return self.agent_id


class MessageFlow(models.Model):
    # Kept as given on import (`exampleId1`); generated as 24 hex characters otherwise. Sent as `_id`.
    id = models.CharField(primary_key=True, max_length=64, default=new_message_flow_id)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="message_flows")
    # Always an agent of the same workspace (the API and the import create it there).
    # RESTRICT: an agent with flows cannot be deleted alone, but goes with its workspace.
    agent = models.ForeignKey(Agent, on_delete=models.RESTRICT, related_name="message_flows")
    name = models.CharField(max_length=200)
    direction = models.CharField(max_length=16, choices=Direction.choices)
    # null: an imported record may carry no description.
    description = models.TextField(null=True, blank=True)  # noqa: DJ001
    # A new flow's settings start from the vendor's defaults; an import keeps what it is given.
    settings = models.JSONField(default=default_settings, blank=True)
    prompt = models.TextField(blank=True)
    # null: the list body (what imports read) does not carry it; GET one shows null then.
    initiation_message = models.TextField(null=True, blank=True)  # noqa: DJ001
    is_active = models.BooleanField(default=True)
    autopilot = models.BooleanField(default=False)
    message_channel = models.CharField(max_length=8, choices=MessageChannel.choices)
    # Imports keep the vendor's timestamps, so neither is auto_now.
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The vendor's `__v`: raised by one on every change made through the API.
    version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["workspace", "created_at", "id"], name="message_flow_ws_order")]

    def __str__(self):
        return self.name or self.id
