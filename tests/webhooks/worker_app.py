"""The Celery app for the worker the tests start: Flowdesk's own, on a queue of this test run's, so
test runs sharing a Redis never take each other's tasks (a task names a delivery of one test database)."""

import os

from config.celery import app

app.conf.task_default_queue = os.environ["FLOWDESK_TEST_QUEUE"]
