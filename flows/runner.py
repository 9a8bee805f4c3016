"""Where live flow sessions run: `settings.LIVE_FLOW_RUNNER`.

- celery: each step is a task on the broker (flows/tasks.py), run by `celery -A config worker`;
- thread: the embedded default, a thread of the web process runs the session after the response;
- eager: inline when the transaction commits (tests that are not about the worker).

`enqueue` is called inside the transaction that made the session ready; nothing is sent unless
that transaction commits.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import OperationalError, connections, transaction

from flows import engine

logger = logging.getLogger("flowdesk.flows.runner")


def enqueue(session_id):
    transaction.on_commit(lambda: dispatch(session_id))


def dispatch(session_id):
    runner = settings.LIVE_FLOW_RUNNER
    if runner == "celery":
        from flows.tasks import run_live_flow_session

        try:
            run_live_flow_session.delay(str(session_id))
        except Exception:
            # The session stays as it is; recover_live_flow_sessions sends it again later.
            logger.exception("Could not send live flow session %s to the broker", session_id)
    elif runner == "thread":
        _recover_once()
        threading.Thread(target=_run_in_thread, args=(session_id,), name=f"live-flow-{session_id}",
                         daemon=True).start()
    else:
        engine.run_until_blocked(session_id)


def _run_in_thread(session_id):
    try:
        for attempt in range(1, 11):
            try:
                engine.run_until_blocked(session_id)
                return
            except OperationalError as exc:
                # SQLite answers "locked" at once, without waiting, where its shared-cache in-memory
                # database is used; each step is a transaction, so trying again is safe.
                if "locked" not in str(exc) or attempt == 10:
                    raise
                time.sleep(0.05 * attempt)
    except Exception:
        logger.exception("Live flow session %s stopped on an error", session_id)
    finally:
        connections.close_all()  # this thread's connections only


_recovered = threading.Event()


def _recover_once():
    """In the embedded runner, the first session a process runs also restarts those that an earlier
    process left behind (it stopped while they ran)."""
    if _recovered.is_set():
        return
    _recovered.set()
    try:
        stalled = engine.stalled_sessions(stale_after=0)
    except Exception:
        logger.exception("Could not look for stalled live flow sessions")
        return
    for session_id in stalled:
        threading.Thread(target=_run_in_thread, args=(session_id,), name=f"live-flow-{session_id}-recovered",
                         daemon=True).start()
