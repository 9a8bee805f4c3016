"""What the API and the admin do to live flow sessions, in one place."""

from django.db import transaction
from django.utils import timezone

from flows import engine, runner
from flows.models import LiveFlowSession, LiveFlowSessionStep, SessionStatus, StepType


def start_session(live_flow, inputs):
    """A NEW session on the live flow's current version, its current step recorded on START.

    A worker runs it once the transaction commits (flows/runner.py)."""
    version = live_flow.current_version
    start = version.steps.filter(step_type=StepType.START).first()
    now = timezone.now()
    with transaction.atomic():
        session = LiveFlowSession.objects.create(
            live_flow=live_flow,
            flow_version=version,
            status=SessionStatus.NEW,
            inputs=inputs,
            created_at=now,
            updated_at=now,
        )
        if start is not None:
            recorded = LiveFlowSessionStep.objects.create(
                session=session, flow_version=version, step=start, status=SessionStatus.NEW,
                created_at=now, updated_at=now,
            )
            session.current_step = recorded
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
