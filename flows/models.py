"""LLM flows and the live flow sessions that run them.

Cross-row integrity (a transition inside its version, a session's steps inside the session's
version, the current step among the session's own steps) is enforced by the database: composite
foreign keys on PostgreSQL and triggers on SQLite, see migration 0002. The denormalised
``flow_version`` columns on transitions and recorded steps exist to make those keys possible.
"""

import math
import uuid
from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from retention.models import hold_field


class StepType(models.TextChoices):
    START = "START"
    LLM = "LLM"
    USER_INPUT = "USER_INPUT"


class SessionStatus(models.TextChoices):
    NEW = "NEW"
    RUNNING = "RUNNING"
    WAITING_FOR_USER_INPUT = "WAITING_FOR_USER_INPUT"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class TimestampedModel(models.Model):
    # Imports keep the vendor's timestamps, so neither is auto_now.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class Flow(TimestampedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="flows")
    name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self):
        return self.name or str(self.id)


class FlowVersion(TimestampedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self):
        return f"{self.flow} @ {self.created_at:%Y-%m-%d %H:%M}"


class Step(TimestampedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    flow_version = models.ForeignKey(FlowVersion, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=200)
    step_type = models.CharField(max_length=32, choices=StepType.choices)
    prompt_template = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # Target of the composite keys that keep transitions and recorded steps in one version.
            models.UniqueConstraint(fields=["flow_version", "id"], name="step_version_id_unique"),
            models.UniqueConstraint(
                fields=["flow_version"], condition=Q(step_type="START"), name="step_one_start_per_version"
            ),
            models.CheckConstraint(condition=Q(step_type__in=StepType.values), name="step_type_valid"),
        ]

    def __str__(self):
        return f"{self.name} ({self.step_type})"


class StepTransition(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    flow_version = models.ForeignKey(FlowVersion, on_delete=models.CASCADE, related_name="transitions")
    source_step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="outgoing")
    target_step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="incoming")
    label = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.source_step_id} → {self.target_step_id}" + (f" [{self.label}]" if self.label else "")


class LiveFlow(TimestampedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="live_flows")
    name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    current_version = models.ForeignKey(
        FlowVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="live_flows"
    )

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self):
        return self.name or str(self.id)


class LiveFlowSessionQuerySet(models.QuerySet):
    def with_tree(self):
        """Everything SessionRenderer reads, in four queries whatever the number of sessions."""
        return self.select_related("flow_version").prefetch_related(
            # flow_version.steps / .transitions: the nested flow_version and each recorded step's `step`
            "flow_version__steps",
            "flow_version__transitions",
            # steps: `steps`, `steps_count` and `current_step` (picked from these by id)
            "steps",
        )


class LiveFlowSession(TimestampedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    live_flow = models.ForeignKey(LiveFlow, on_delete=models.CASCADE, related_name="sessions")
    # PROTECT: a version that sessions have run stays as they ran it.
    flow_version = models.ForeignKey(FlowVersion, on_delete=models.PROTECT, related_name="sessions")
    status = models.CharField(max_length=32, choices=SessionStatus.choices, default=SessionStatus.NEW)
    inputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(null=True, blank=True)
    current_step = models.ForeignKey(
        "LiveFlowSessionStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Raised by every change to the session or its recorded steps (flows/live.py): the event
    # stream's ids, which a reconnecting client's Last-Event-ID is compared with.
    revision = models.PositiveBigIntegerField(default=0, db_default=0, editable=False)
    retention_hold = hold_field()

    objects = LiveFlowSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The list endpoint: one live flow's sessions, newest first, optionally by status.
            models.Index(fields=["live_flow", "-created_at", "-id"], name="session_list_idx"),
            models.Index(fields=["live_flow", "status", "-created_at"], name="session_status_idx"),
            # The engine's recovery sweep: sessions a worker still has to move, across live flows.
            models.Index(
                fields=["updated_at"], condition=Q(status__in=["NEW", "RUNNING"]), name="session_active_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["id", "flow_version"], name="session_id_version_unique"),
            models.CheckConstraint(condition=Q(status__in=SessionStatus.values), name="session_status_valid"),
        ]

    def __str__(self):
        return str(self.id)

    def save(self, *args, **kwargs):
        # The revision is the database's (raised by flows/live.py): a save of an instance read
        # before the last change must not write its older number back.
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [
                field.name for field in self._meta.concrete_fields if not field.primary_key and field.name != "revision"
            ]
        super().save(*args, **kwargs)

    @classmethod
    def from_db(cls, db, field_names, values, **kwargs):
        # The status as read, so that a save can tell webhooks when it changed (flows/live.py).
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._loaded_status = instance.__dict__.get("status")
        return instance


class LiveFlowSessionStep(TimestampedModel):
    """One step as a session recorded it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    session = models.ForeignKey(LiveFlowSession, on_delete=models.CASCADE, related_name="steps")
    flow_version = models.ForeignKey(FlowVersion, on_delete=models.CASCADE, related_name="+")
    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=32, choices=SessionStatus.choices, default=SessionStatus.NEW)
    prompt = models.JSONField(null=True, blank=True)
    result = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    user_input = models.TextField(null=True, blank=True)
    # The engine's bookkeeping (flows/engine.py), not part of the vendor's shape: how many times a
    # worker has started this step, and until when the worker running it holds it. A RUNNING step
    # whose lease has passed was left by a worker that died; it is retried once, then fails.
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["session", "created_at", "id"], name="sessionstep_order_idx")]
        constraints = [
            models.UniqueConstraint(fields=["id", "session"], name="sessionstep_id_session_unique"),
            models.CheckConstraint(condition=Q(status__in=SessionStatus.values), name="sessionstep_status_valid"),
        ]

    def __str__(self):
        return f"{self.step_id} in {self.session_id}"


# Step durations are rolled up by class on a log scale: a bucket holds the durations d (whole
# milliseconds) with floor(ln(1 + d) / ln(BUCKET_RATIO)) equal, so each bucket is 5% wide and its
# geometric midpoint is within 2.5% of any duration in it; bucket 0 is exactly 0 ms. Migration
# 0006 computes the same formula in SQL (its triggers); these are the Python side of it.
BUCKET_RATIO = 1.05


def duration_bucket(duration):
    """The bucket of a timedelta (negative durations count as 0 ms, as the triggers do)."""
    ms = max(0, duration // timedelta(milliseconds=1))
    return int(math.log(1 + ms) / math.log(BUCKET_RATIO))


def bucket_seconds(bucket):
    """A bucket's representative duration in seconds: its geometric midpoint (0 for bucket 0)."""
    return 0.0 if bucket == 0 else (BUCKET_RATIO ** (bucket + 0.5) - 1) / 1000


class StepDurationDay(models.Model):
    """How many ended runs (FINISHED, FAILED) of a step started on a day (UTC) lasted a duration of
    this bucket (updated_at - created_at). Written only by database triggers on the step runs
    (migration 0006), on every write path at once; the steps' durations chart reads it."""

    # Indexed by the unique key's prefix: each index costs the triggers' writes (an import writes
    # nearly a rollup row per run when runs are sparse).
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    bucket = models.PositiveSmallIntegerField()
    runs = models.PositiveIntegerField()

    class Meta:
        ordering = ["organization", "day", "step", "bucket"]
        constraints = [
            # Also the chart's index: an organization's days in a range.
            models.UniqueConstraint(fields=["organization", "day", "step", "bucket"], name="stepduration_unique"),
        ]

    def __str__(self):
        return f"{self.step_id} on {self.day}: {self.runs} in bucket {self.bucket}"
