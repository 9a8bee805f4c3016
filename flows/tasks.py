"""Celery tasks: one step of one session per task, so sessions share workers fairly and a task is
never longer than one model call (which the broker's visibility timeout is set above)."""

import logging

from celery.signals import worker_ready
from django.db import connections

from config.celery import app
from flows import engine

logger = logging.getLogger("flowdesk.flows.tasks")


@app.task(name="flows.run_live_flow_session", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_live_flow_session(session_id, watch=None):
    outcome = engine.advance(session_id, watch=tuple(watch) if watch else None)
    if outcome.more:
        run_live_flow_session.delay(session_id)
    elif outcome.watch:
        # Delivered again while the step is held (its worker died, or is merely slow): look again
        # when the lease ends; if that worker has moved on by then, the look does nothing.
        run_live_flow_session.apply_async((session_id,), {"watch": list(outcome.watch)},
                                          countdown=outcome.retry_in + 0.5)
    return outcome.reason or outcome.kind


@app.task(name="flows.recover_live_flow_sessions", ignore_result=True)
def recover_live_flow_sessions(stale_after=300):
    """Sends again the sessions no worker is moving (see engine.stalled_sessions)."""
    stalled = engine.stalled_sessions(stale_after=stale_after)
    for session_id in stalled:
        run_live_flow_session.delay(str(session_id))
    return len(stalled)


@worker_ready.connect
def recover_on_start(**kwargs):
    # A worker starting is often one replacing a worker that died: pick up what it left.
    try:
        count = recover_live_flow_sessions(stale_after=0)
    except Exception:
        logger.exception("Could not recover stalled live flow sessions")
        return
    finally:
        connections.close_all()  # the main process runs no tasks; it keeps no connection open
    if count:
        logger.warning("Sent %d stalled live flow session(s) to be run again", count)
