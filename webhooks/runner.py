"""Who sends webhook deliveries: ``settings.WEBHOOK_RUNNER``.

- celery: one task per attempt on the broker (webhooks/tasks.py), a retry sent with a countdown;
  ``celery -A config beat`` sends again what is overdue (a task was lost, a worker died);
- thread: the embedded default, a scheduler thread and a few sender threads in this process. It
  keeps retries in memory; the delivery rows stay the truth, so it looks in the database for due
  deliveries when it starts (an earlier process left them) and once a minute after that;
- eager: inline, retries and their back-off included (tests that are not about the worker).
"""

import heapq
import itertools
import logging
import os
import queue
import threading
import time

from django.conf import settings
from django.db import connections

from webhooks import delivery

logger = logging.getLogger("flowdesk.webhooks.runner")

SWEEP_SECONDS = 60  # how often the embedded runner looks for due deliveries it was not handed
SWEEP_OVERDUE = 30  # ... that are this late (its own are sent on time), and how many at once
SWEEP_LIMIT = 500


def hand_off(delivery_ids):
    """Send these (new or requeued) deliveries as the runner does."""
    if not delivery_ids:
        return
    runner = settings.WEBHOOK_RUNNER
    if runner == "celery":
        from webhooks.tasks import deliver_webhook

        for delivery_id in delivery_ids:
            try:
                deliver_webhook.delay(delivery_id)
            except Exception:
                # The delivery stays pending; the beat's deliver_due_webhooks sends it later.
                logger.exception("Could not send webhook delivery %s to the broker", delivery_id)
    elif runner == "thread":
        embedded = embedded_runner()
        for delivery_id in delivery_ids:
            embedded.schedule(delivery_id)
    else:
        for delivery_id in delivery_ids:
            deliver_until_settled(delivery_id)


def deliver_until_settled(delivery_id):
    """Attempt, wait out the back-off, attempt again... until delivered or failed (or another worker holds it)."""
    while True:
        outcome = delivery.attempt(delivery_id)
        if outcome.kind not in ("retry", "not_due"):
            return outcome
        time.sleep(outcome.retry_in)


class EmbeddedRunner:
    def __init__(self, senders):
        self._cond = threading.Condition()
        self._heap = []  # (due, tie-break, delivery id), due on time.monotonic()
        self._queued = set()  # ids in the heap
        self._sending = set()  # ids popped from the heap and not yet done
        self._order = itertools.count()
        self._jobs = queue.SimpleQueue()
        self.pid = os.getpid()
        self._stopped = False
        self._senders = senders
        # Daemon threads: a process may exit with attempts in flight; their rows stay pending, with
        # a lease that expires, and are sent again (by this process's successor, or anyone's sweep).
        self._threads = [
            threading.Thread(target=self._send_loop, name=f"webhook-sender-{number}", daemon=True)
            for number in range(senders)
        ] + [threading.Thread(target=self._schedule_loop, name="webhook-scheduler", daemon=True)]
        for thread in self._threads:
            thread.start()

    def schedule(self, delivery_id, delay=0.0):
        with self._cond:
            if delivery_id in self._queued or delivery_id in self._sending:
                return  # once is enough (a sweep finds what this runner is about to send, or sending)
            self._queued.add(delivery_id)
            heapq.heappush(self._heap, (time.monotonic() + max(delay, 0.0), next(self._order), delivery_id))
            self._cond.notify_all()

    def stop(self):
        """Let the threads end (what is scheduled stays pending in the database for the next runner)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        while True:  # what was handed to the senders and not yet taken stays pending in its rows
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        for _ in range(self._senders):
            self._jobs.put(None)

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))

    def wait_idle(self, timeout):
        """True once nothing is scheduled or being sent (tests; a graceful stop)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._heap and not self._sending, timeout)

    def _schedule_loop(self):
        next_sweep, overdue = time.monotonic(), 0  # the first look takes everything that is due
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                wake = min(next_sweep, self._heap[0][0] if self._heap else next_sweep)
                if wake > now:
                    self._cond.wait(wake - now)
                    continue
                due = []
                while self._heap and self._heap[0][0] <= now:
                    _, _, delivery_id = heapq.heappop(self._heap)
                    self._queued.discard(delivery_id)
                    self._sending.add(delivery_id)
                    due.append(delivery_id)
            for delivery_id in due:
                self._jobs.put(delivery_id)
            if time.monotonic() >= next_sweep:
                self._sweep(overdue)
                next_sweep, overdue = time.monotonic() + SWEEP_SECONDS, SWEEP_OVERDUE

    def _sweep(self, overdue):
        try:
            found = delivery.retry_locked(lambda: delivery.due_deliveries(overdue=overdue, limit=SWEEP_LIMIT))
        except Exception:
            logger.exception("Could not look for due webhook deliveries")
            return
        finally:
            connections.close_all()  # this thread's connections only
        for delivery_id in found:
            self.schedule(delivery_id)

    def _send_loop(self):
        while True:
            delivery_id = self._jobs.get()
            if delivery_id is None:
                return  # stopped
            retry_in = None
            try:
                # A retry's wait; or, not due yet or held by another process, when to look again.
                retry_in = delivery.attempt(delivery_id).retry_in
            except Exception:
                # The row stays pending: the next sweep sends it again.
                logger.exception("Webhook delivery %s stopped on an error", delivery_id)
            finally:
                connections.close_all()
                with self._cond:
                    self._sending.discard(delivery_id)
                    if retry_in is not None:
                        self.schedule(delivery_id, retry_in)
                    self._cond.notify_all()


_embedded = None
_embedded_lock = threading.Lock()


def embedded_runner():
    global _embedded
    with _embedded_lock:
        # A forked server worker inherits the object but not its threads: it starts its own.
        if _embedded is None or _embedded.pid != os.getpid():
            _embedded = EmbeddedRunner(settings.WEBHOOK_SENDER_THREADS)
        return _embedded


def stop_embedded_runner():
    """Stop this process's embedded runner, if it has one (tests: no sender outlives its test)."""
    global _embedded
    with _embedded_lock:
        if _embedded is not None:
            _embedded.stop()
            _embedded.join(10)  # an attempt in flight ends within its timeout
        _embedded = None
