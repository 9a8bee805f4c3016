"""How long each organization keeps its sessions: read by apply_retention, set in the admin or by
set_retention. An organization without a policy keeps everything."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from accounts.models import Organization

# About 270 years: any longer and "now minus the days" leaves the calendar.
MAX_DAYS = 100_000


def days_field(what):
    return models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_DAYS)],
        help_text=f"Delete {what} this many days after their last activity; empty: keep them for ever.",
    )


def hold_field():
    """A session's own hold: apply_retention keeps it whatever its organization's policy (not part of
    any vendor's shape)."""
    return models.BooleanField(default=False, db_default=False, help_text="Never deleted by retention.")


class RetentionPolicy(models.Model):
    organization = models.OneToOneField(
        Organization, primary_key=True, on_delete=models.CASCADE, related_name="retention_policy"
    )
    live_flow_sessions_days = days_field("live flow sessions (last activity: updated_at)")
    user_sessions_days = days_field("user sessions (last activity: updated_at)")
    chat_sessions_days = days_field("chat sessions (last activity: the last message, else the creation)")
    hold = models.BooleanField(default=False, help_text="Stops every deletion for this organization (a legal hold).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "retention policies"
        ordering = ["organization"]

    def __str__(self):
        return f"retention of {self.organization_id}"

    def summary(self):
        """One line: what set_retention prints."""

        def days(value):
            return "for ever" if value is None else f"{value} day{'s' if value != 1 else ''}"

        return (
            f"{self.organization_id}: live flow sessions {days(self.live_flow_sessions_days)}, "
            f"user sessions {days(self.user_sessions_days)}, chat sessions {days(self.chat_sessions_days)}, "
            f"hold {'on' if self.hold else 'off'}"
        )
