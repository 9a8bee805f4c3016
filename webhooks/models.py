"""Webhook endpoints (per organization), the deliveries of events to them, and each delivery's attempts."""

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from accounts.models import Organization, random_id
from webhooks.event_types import EVENT_TYPES, unknown_event_types

SECRET_PREFIX = "whsec_"
# What the admin shows of a secret after it was created: enough to tell two apart, not to sign.
SECRET_HINT_LENGTH = len(SECRET_PREFIX) + 4


def new_endpoint_id():
    return random_id("wh_")


def new_secret():
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_delivery_id():
    return "whd_" + uuid.uuid4().hex


def default_attempts():
    return settings.WEBHOOK_MAX_ATTEMPTS


def validate_event_types(value):
    if not isinstance(value, list) or not value or not all(isinstance(name, str) for name in value):
        raise ValidationError("Name at least one event type.", code="no_events")
    unknown = unknown_event_types(value)
    if unknown:
        raise ValidationError(
            "Unknown event type %(unknown)s; known: %(known)s.",
            code="unknown_event",
            params={"unknown": ", ".join(unknown), "known": ", ".join(EVENT_TYPES)},
        )


class WebhookEndpoint(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_endpoint_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_endpoints")
    name = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=2000, verbose_name="URL")
    events = models.JSONField(default=list, validators=[validate_event_types], help_text="Event type names.")
    # Kept as created (not hashed): every delivery is signed with it. Shown once, at creation.
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    is_active = models.BooleanField(default=True, verbose_name="active")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name = "webhook endpoint"

    def __str__(self):
        return self.name or self.url

    @property
    def secret_hint(self):
        return self.secret[:SECRET_HINT_LENGTH] + "…"

    def wants(self, event_type):
        return self.is_active and event_type in self.events

    def roll_secret(self):
        self.secret = new_secret()
        self.updated_at = timezone.now()
        self.save(update_fields=["secret", "updated_at"])
        return self.secret


class DeliveryState(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Delivery(models.Model):
    """One event for one endpoint, kept until it is delivered or has used up its attempts."""

    id = models.CharField(primary_key=True, max_length=40, default=new_delivery_id, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # The endpoint's, copied: the admin scopes and filters deliveries without joining endpoints.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event_type = models.CharField(max_length=64)
    event_id = models.CharField(max_length=64)
    # The exact body sent: every retry and redelivery sends (and signs) the same bytes.
    body = models.TextField()
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts_count = models.PositiveIntegerField(default=0, verbose_name="attempts")
    attempts_left = models.PositiveIntegerField(default=default_attempts)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    # A worker is sending it until then; another one leaves it alone.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name="last status")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            # What the workers look for: pending deliveries that are due.
            models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due"),
        ]

    def __str__(self):
        return self.id


class DeliveryAttempt(models.Model):
    """One POST (or one refusal to send it): the delivery log."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    duration_ms = models.PositiveIntegerField(default=0, verbose_name="duration (ms)")
    url = models.URLField(max_length=2000, verbose_name="URL")
    address = models.CharField(max_length=64, blank=True, help_text="The IP address the request went to.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name="status")
    error = models.TextField(blank=True)
    response_body = models.TextField(blank=True, help_text="The start of the receiver's answer.")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number_unique")]

    def __str__(self):
        return f"{self.delivery_id} #{self.number}"

    @property
    def succeeded(self):
        return self.status_code is not None and 200 <= self.status_code < 300
