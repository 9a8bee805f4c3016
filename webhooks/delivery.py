"""From an event to signed POSTs: the outlet that records deliveries, and one attempt at one of them.

The outlet (``record_event``, registered with ``flowdesk.events.register_outlet``) writes a
Delivery row per endpoint that wants the event before anything is sent, so a process that dies
loses nothing: a worker, ``manage.py deliver_webhooks`` or the next process picks up what is due.
``attempt`` sends one delivery once; the runners (webhooks/runner.py) decide when to call it.

An attempt first takes the delivery's lease with one conditional UPDATE, so two workers that are
handed the same delivery (a redelivered task, a restart's recovery) never both send it.
"""

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from flowdesk.api.fields import isoformat_z
from flowdesk.api.renderers import dumps
from webhooks.event_types import EVENT_TYPES
from webhooks.models import Delivery, DeliveryAttempt, DeliveryState, WebhookEndpoint
from webhooks.targets import post

logger = logging.getLogger("flowdesk.webhooks")

USER_AGENT = "Flowdesk-Webhooks/1"
SIGNATURE_HEADER = "X-Flowdesk-Signature"


def sign(secret, body):
    """The X-Flowdesk-Signature value: HMAC-SHA256 of the exact body bytes, hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(event):
    return dumps({"event": event.type, "data": event.data, "id": event.id, "at": isoformat_z(event.at)}).decode()


# --- the outlet -------------------------------------------------------------------------------


def wanted(event_type, organization_id):
    """Whether any active endpoint of the organization asks for this type, one of EVENT_TYPES
    (asked before the event is rendered; ``record_event`` looks again after)."""
    if _in_event_loop():
        return True  # the ORM is not allowed here; record_event's thread decides
    active = WebhookEndpoint.objects.filter(organization_id=organization_id, is_active=True)
    return any(event_type in (types or ()) for types in retry_locked(lambda: list(active.values_list("events", flat=True))))


def record_event(event):
    """An event has happened (after commit): a delivery for each of its organization's active
    endpoints that want its type, then handed to the runner."""
    if event.type not in EVENT_TYPES:
        return []
    if _in_event_loop():
        # Published from async code (a socket or stream handler): the ORM is not allowed on this thread.
        threading.Thread(target=_record_in_thread, args=(event,), name="webhook-record", daemon=True).start()
        return []
    active = WebhookEndpoint.objects.filter(organization_id=event.organization_id, is_active=True).only(
        "id", "organization_id", "events", "is_active"
    )
    endpoints = [endpoint for endpoint in retry_locked(lambda: list(active)) if endpoint.wants(event.type)]
    if not endpoints:
        return []
    body, now = event_body(event), timezone.now()
    deliveries = retry_locked(lambda: Delivery.objects.bulk_create(
        Delivery(
            endpoint_id=endpoint.pk, organization_id=endpoint.organization_id, event_type=event.type,
            event_id=event.id, body=body, attempts_left=settings.WEBHOOK_MAX_ATTEMPTS, next_attempt_at=now,
            created_at=now, updated_at=now,
        )
        for endpoint in endpoints
    ))
    ids = [delivery.pk for delivery in deliveries]
    from webhooks import runner

    # Outlets run after the publisher's commit; should one run inside a transaction, wait for it.
    transaction.on_commit(lambda: runner.hand_off(ids))
    return ids


def _in_event_loop():
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _record_in_thread(event):
    try:
        record_event(event)
    except Exception:
        logger.exception("Could not record webhook deliveries for %s", event.id)
    finally:
        connections.close_all()


def redeliver(queryset):
    """Queue the delivered or failed ones among the deliveries again, with a fresh set of attempts;
    pending ones are on their way already. Returns the ids queued."""
    now = timezone.now()
    ids = list(queryset.exclude(state=DeliveryState.PENDING).values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=ids).exclude(state=DeliveryState.PENDING).update(
        state=DeliveryState.PENDING, attempts_left=settings.WEBHOOK_MAX_ATTEMPTS, next_attempt_at=now,
        lease_expires_at=None, delivered_at=None, updated_at=now,
    )
    from webhooks import runner

    transaction.on_commit(lambda: runner.hand_off(ids))
    return ids


def due_deliveries(*, overdue=0, limit=None):
    """Pending deliveries due ``overdue`` seconds ago or more that no worker holds, oldest first."""
    now = timezone.now()
    queryset = (
        Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now - timedelta(seconds=overdue))
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)
    )
    return list(queryset[:limit] if limit else queryset)


# --- one attempt ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    kind: str  # delivered, retry, failed, not_due, busy, gone
    retry_in: float | None = None  # seconds until the delivery should be looked at again


def backoff(attempt_number, retry_after=None):
    """Seconds to wait after failed attempt ``attempt_number`` (1, 2, ...): doubling from
    WEBHOOK_BACKOFF_SECONDS, at most WEBHOOK_BACKOFF_MAX_SECONDS; a receiver's Retry-After is
    honoured within that cap."""
    base, cap = settings.WEBHOOK_BACKOFF_SECONDS, settings.WEBHOOK_BACKOFF_MAX_SECONDS
    delay = base * 2 ** (attempt_number - 1)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap)


def lease_seconds():
    # Longer than the longest attempt (connect and read may each take the whole timeout).
    return settings.WEBHOOK_TIMEOUT * 2 + 30


def attempt(delivery_id):
    """Send the delivery once if it is due and no one else is sending it."""
    now = timezone.now()
    lease_until = now + timedelta(seconds=lease_seconds())
    claimed = retry_locked(
        lambda: Delivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(lease_expires_at=lease_until)
    )
    if not claimed:
        return retry_locked(lambda: _why_not(delivery_id, now))
    try:
        delivery = retry_locked(lambda: Delivery.objects.select_related("endpoint").get(pk=delivery_id))
    except Delivery.DoesNotExist:
        return Outcome("gone")  # its endpoint was deleted meanwhile
    endpoint = delivery.endpoint
    number = delivery.attempts_count + 1
    started_at = timezone.now()
    if not endpoint.is_active:
        answer_error, answer = "The endpoint is not active; nothing was sent.", None
    else:
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(endpoint.secret, body),
            "X-Flowdesk-Event": delivery.event_type,
            "X-Flowdesk-Delivery": delivery.pk,
        }
        answer = post(endpoint.url, body, headers, timeout=settings.WEBHOOK_TIMEOUT)
        answer_error = answer.error
    final = answer is None or answer.refused  # sending again would be refused again
    if answer is not None and answer.ok:
        outcome = Outcome("delivered")
    elif final or delivery.attempts_left <= 1:
        outcome = Outcome("failed")
    else:
        outcome = Outcome("retry", backoff(number, answer.retry_after))
    retry_locked(lambda: _record(delivery, endpoint, number, started_at, answer, answer_error, outcome))
    if outcome.kind == "failed":
        logger.warning("Webhook delivery %s to %s failed for good: %s", delivery.pk, endpoint.url, answer_error)
    return outcome


def _record(delivery, endpoint, number, started_at, answer, error, outcome):
    now = timezone.now()
    state = {"delivered": DeliveryState.DELIVERED, "failed": DeliveryState.FAILED}.get(outcome.kind, DeliveryState.PENDING)
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery, number=number, started_at=started_at, url=endpoint.url,
            duration_ms=answer.duration_ms if answer else 0, address=answer.address if answer else "",
            status_code=answer.status if answer else None, error=error,
            response_body=answer.body if answer else "",
        )
        Delivery.objects.filter(pk=delivery.pk).update(
            state=state,
            attempts_count=number,  # this worker holds the lease: no one else writes these meanwhile
            attempts_left=0 if state == DeliveryState.FAILED else max(delivery.attempts_left - 1, 0),
            next_attempt_at=now + timedelta(seconds=outcome.retry_in) if outcome.kind == "retry" else None,
            lease_expires_at=None,
            last_status_code=answer.status if answer else None,
            last_error=error,
            delivered_at=now if state == DeliveryState.DELIVERED else None,
            updated_at=now,
        )


def _why_not(delivery_id, now):
    row = Delivery.objects.filter(pk=delivery_id).values("state", "next_attempt_at", "lease_expires_at").first()
    if row is None or row["state"] != DeliveryState.PENDING:
        return Outcome("gone")
    if row["lease_expires_at"] is not None and row["lease_expires_at"] >= now:
        return Outcome("busy", (row["lease_expires_at"] - now).total_seconds() + 0.5)
    if row["next_attempt_at"] is None:
        return Outcome("gone")
    return Outcome("not_due", max((row["next_attempt_at"] - now).total_seconds(), 0.0))


def retry_locked(work, tries=20):
    # SQLite's shared-cache in-memory database (the tests') answers "locked" at once instead of
    # waiting; each call here is one statement or one transaction, so running it again is safe.
    for attempt_number in range(1, tries + 1):
        try:
            return work()
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt_number == tries:
                raise
            time.sleep(0.02 * attempt_number)
