"""One row per audited event, never changed or deleted except by the trail's own retention
(``AuditEvent.objects.purge(before=...)``).

The organization is copied (id and name), not a foreign key: the event outlives what it names
(an erased user, a deleted session, a deleted organization)."""

from django.db import models
from django.utils import timezone

from flowdesk.api.fields import iso_z


class AppendOnlyError(Exception):
    """An audit event was about to be changed or deleted."""


class Action(models.TextChoices):
    ADMIN_VIEW = "admin.view", "admin: viewed"
    ADMIN_ADD = "admin.add", "admin: added"
    ADMIN_CHANGE = "admin.change", "admin: changed"
    ADMIN_DELETE = "admin.delete", "admin: deleted"
    EXPORT = "export", "exported"
    USER_ERASE = "user.erase", "user erased"
    USER_EXPORT = "user.export", "user's data exported"
    RETENTION_APPLY = "retention.apply", "retention applied"
    RETENTION_POLICY = "retention.policy", "retention policy set"
    API_KEY_CREATE = "api_key.create", "API key made"
    API_KEY_REVOKE = "api_key.revoke", "API key revoked"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are never changed.")

    def delete(self):
        raise AppendOnlyError("Audit events are deleted only by AuditEvent.objects.purge(before=...).")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("Audit events are never changed.")

    def purge(self, *, before):
        """The trail's own retention: delete the events older than ``before``; returns how many."""
        return self.filter(at__lt=before)._raw_delete(self.db)

    update.alters_data = delete.alters_data = purge.alters_data = True


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now)
    # A staff username, an API key's prefix, or a command's name.
    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=64, choices=Action.choices)
    object_type = models.CharField(max_length=100)
    # The id a person recognises: a username, a sessionId, a session UUID, a key's prefix.
    object_id = models.CharField(max_length=255, blank=True)
    organization_id = models.CharField("organization", max_length=64, null=True, blank=True)
    organization_name = models.CharField(max_length=200, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # The admin's list and audit_log, newest first; one organization's (staff, --org).
            models.Index(fields=["-at", "-id"], name="auditevent_at_idx"),
            models.Index(fields=["organization_id", "-at", "-id"], name="auditevent_org_idx"),
            # Everything about one object (a user's data, an erasure).
            models.Index(fields=["object_type", "object_id"], name="auditevent_object_idx"),
            models.Index(fields=["actor", "-at"], name="auditevent_actor_idx"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are deleted only by AuditEvent.objects.purge(before=...).")

    def as_line(self):
        """The event as audit_log prints it (one JSON object)."""
        return {
            "at": iso_z(self.at),
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "organization": self.organization_id,
            "organization_name": self.organization_name,
            "request_id": self.request_id,
            "changes": self.changes,
        }
