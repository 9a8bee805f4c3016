"""What the API and the admin do to live flow sessions, in one place."""

import uuid

from django.db import connection, transaction
from django.utils import timezone

from flows import engine, runner
from flows.models import LiveFlowSession, LiveFlowSessionStep, SessionStatus, Step, StepType


def start_session(live_flow, inputs):
    """A NEW session on the live flow's current version, its current step recorded on START.

    A worker runs it once the transaction commits (flows/runner.py)."""
    version_id = live_flow.current_version_id
    start_id = Step.objects.filter(flow_version_id=version_id, step_type=StepType.START).values_list("pk", flat=True).first()
    now = timezone.now()
    # On PostgreSQL the session is inserted naming its current step, inserted next (the key is
    # checked at commit); SQLite's trigger checks at once, so there the step is named after.
    step_id = uuid.uuid4() if start_id is not None else None
    named_first = connection.vendor == "postgresql"
    # No savepoint of its own inside the caller's transaction: an error here fails that one whole.
    with transaction.atomic(savepoint=False):
        session = LiveFlowSession.objects.create(
            live_flow=live_flow,
            flow_version_id=version_id,
            status=SessionStatus.NEW,
            inputs=inputs,
            current_step_id=step_id if named_first else None,
            created_at=now,
            updated_at=now,
        )
        if start_id is not None:
            LiveFlowSessionStep.objects.create(
                id=step_id, session=session, flow_version_id=version_id, step_id=start_id,
                status=SessionStatus.NEW, created_at=now, updated_at=now,
            )
            if not named_first:
                session.current_step_id = step_id
                session.save(update_fields=["current_step"])
        runner.enqueue(session.pk)
    return session


def submit_user_input(session, value):
    """Answer the USER_INPUT step the session waits on; it runs on from there.

    Raises engine.SessionStateError when the session is not waiting (two answers at once: one wins).
    """
    with transaction.atomic():
        if engine.submit_user_input(session.pk, value):
            runner.enqueue(session.pk)


def cancel_session(session):
    """CANCELLED; a step already running is dropped at its end. SessionStateError if it has ended."""
    engine.cancel(session.pk)
