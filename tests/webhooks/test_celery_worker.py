"""A delivery sent by a real `celery -A config worker` over Redis: the 500 first, the retry after its
countdown, both attempts in the log. The test process only records the event (its runner is "celery")."""

import hashlib
import hmac
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.webhooks.conftest import endpoint_for, send_event
from webhooks.models import Delivery, DeliveryState

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/7"  # db 7: this suite's own
QUEUE = f"webhook-tests-{uuid.uuid4().hex[:12]}"  # this run's own (see worker_app.py)


@pytest.fixture
def broker(settings):
    import redis
    from kombu import pools

    from config.celery import app

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("needs Redis on 127.0.0.1:6379")

    def forget():
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    settings.WEBHOOK_RUNNER = "celery"
    saved = app.conf.broker_url, app.conf.task_default_queue
    app.conf.broker_url, app.conf.task_default_queue = REDIS_URL, QUEUE
    forget()
    yield app
    forget()
    app.conf.broker_url, app.conf.task_default_queue = saved
    client.delete(QUEUE)
    client.close()


@pytest.fixture
def worker(broker):
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="") + (":" + quote(db["PASSWORD"], safe="") if db.get("PASSWORD") else "")
    log = tempfile.NamedTemporaryFile("w+", prefix="webhook-worker-", suffix=".log", delete=False)
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "FLOWDESK_WEBHOOK_ALLOW_PRIVATE": "true",
        "FLOWDESK_WEBHOOK_BACKOFF_SECONDS": "1",
        "FLOWDESK_WEBHOOK_MAX_ATTEMPTS": "3",
        "LOG_LEVEL": "WARNING",
        "FLOWDESK_TEST_QUEUE": QUEUE,
    }
    env.pop("FLOWDESK_WEBHOOK_RUNNER", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.webhooks.worker_app", "worker", "--pool=prefork", "--concurrency=1",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING",
         "--hostname", f"webhook-test-{uuid.uuid4().hex[:8]}@%h"],
        cwd=django_settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    yield lambda: Path(log.name).read_text()
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    log.close()
    os.unlink(log.name)


def test_a_worker_delivers_and_retries_after_a_500(tenant, receiver_factory, worker):
    receiver = receiver_factory(statuses=[500, 200])
    endpoint = endpoint_for(tenant.organization, receiver.url)
    send_event(tenant.organization.pk)  # recorded here, sent by the worker

    deadline = time.monotonic() + 60
    while Delivery.objects.get(endpoint=endpoint).state == DeliveryState.PENDING:
        assert time.monotonic() < deadline, "the worker did not deliver\n" + worker()[-3000:]
        time.sleep(0.2)
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert (delivery.state, delivery.attempts_count) == (DeliveryState.DELIVERED, 2)
    log = list(delivery.attempts.order_by("number"))
    assert [a.status_code for a in log] == [500, 200]
    assert (log[1].started_at - log[0].started_at).total_seconds() >= 1  # FLOWDESK_WEBHOOK_BACKOFF_SECONDS
    (first, second) = receiver.requests
    assert first[1] == second[1] == delivery.body.encode()
    signature = "sha256=" + hmac.new(endpoint.secret.encode(), second[1], hashlib.sha256).hexdigest()
    assert first[0]["X-Flowdesk-Signature"] == second[0]["X-Flowdesk-Signature"] == signature
