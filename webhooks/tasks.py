"""Celery tasks: one attempt at one delivery per task; a failed attempt sends its retry with a countdown."""

from config.celery import app
from webhooks import delivery


@app.task(name="webhooks.deliver_webhook", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_webhook(delivery_id):
    outcome = delivery.attempt(delivery_id)
    if outcome.kind == "retry":
        deliver_webhook.apply_async((delivery_id,), countdown=outcome.retry_in)
    # not_due / busy: whoever holds it sends its retry (or the beat finds it overdue); another task
    # here would only multiply with each redelivery of this one.
    return outcome.kind


@app.task(name="webhooks.deliver_due_webhooks", ignore_result=True)
def deliver_due_webhooks(overdue=30):
    """Sends again the deliveries due ``overdue`` seconds ago that no worker holds: their task was lost."""
    due = delivery.due_deliveries(overdue=overdue)
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)
