"""The Celery app that runs live flow sessions: `celery -A config worker` (see flows/tasks.py)."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("flowdesk")
# Every CELERY_* Django setting, read from the environment by config/settings.py.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# With `celery -A config beat` (or `worker -B`): every minute, send again the live flow sessions that
# no worker is moving (a worker died, a task was lost). Workers also do this when they start.
app.conf.beat_schedule = {
    "recover-live-flow-sessions": {"task": "flows.recover_live_flow_sessions", "schedule": 60.0},
    # Webhook deliveries whose task was lost (their retries are sent with a countdown).
    "deliver-due-webhooks": {"task": "webhooks.deliver_due_webhooks", "schedule": 60.0},
    # Once a day, at a quiet hour (UTC): the sessions the organizations' retention policies no longer keep.
    "apply-retention": {"task": "retention.apply_retention", "schedule": crontab(hour=3, minute=30)},
}
