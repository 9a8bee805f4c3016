"""Sessions run by real `celery -A config worker` processes over Redis, against PostgreSQL, with the
OpenAI-compatible client talking to a fake chat-completions server on loopback.

The test process only starts sessions and answers them through the API (its runner is "celery",
so nothing runs in it); the worker subprocess uses the test database and Redis db 5.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from flows.models import LiveFlowSession, LiveFlowSessionStep, SessionStatus
from tests.flows.engine_helpers import FakeChatServer, make_triage_flow, triage_answer

pytestmark = pytest.mark.postgres

REDIS_URL = "redis://127.0.0.1:6379/5"  # db 5: this suite's own
BASE_DIR = Path(django_settings.BASE_DIR)
LEASE = 3  # seconds a worker holds a step: short, so a lost one is retried quickly
VISIBILITY = 4  # seconds before Redis hands an unacknowledged task to another worker


@pytest.fixture
def redis_db():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("needs Redis on 127.0.0.1:6379")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def broker(settings, redis_db):
    """This process sends tasks to Redis db 5 (it runs none)."""
    from config.celery import app

    settings.LIVE_FLOW_RUNNER = "celery"
    saved = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.broker_url = REDIS_URL
    app.conf.broker_transport_options = {"visibility_timeout": VISIBILITY}
    forget_connections(app)
    yield app
    forget_connections(app)
    app.conf.broker_url, app.conf.broker_transport_options = saved


def forget_connections(app):
    """The app's cached broker connections, closed, so the next task opens them for its URL."""
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def database_url():
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """`celery -A config worker` in its own process group, logging to a file."""

    def __init__(self, model_url):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="engine-worker-", suffix=".log", delete=False)
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),  # the test database, not the one pytest was given
            "CELERY_BROKER_URL": REDIS_URL,
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY),
            "CELERY_UNACKED_RESTORE_INTERVAL": "1",
            "FLOWDESK_LLM_BACKEND": "openai",
            "FLOWDESK_LLM_BASE_URL": model_url,
            "FLOWDESK_LLM_API_KEY": "sk-test",
            "FLOWDESK_LLM_MODEL": "fake-1",
            "FLOWDESK_LLM_TIMEOUT": "20",
            "FLOWDESK_LLM_RETRIES": "0",
            "FLOWDESK_STEP_LEASE_SECONDS": str(LEASE),
            "LOG_LEVEL": "WARNING",
        }
        env.pop("FLOWDESK_LIVE_FLOW_RUNNER", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING",
             "--hostname", f"engine-test-{uuid.uuid4().hex[:8]}@%h"],
            cwd=BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def kill(self):
        """SIGKILL to the worker and its pool process: nothing is cleaned up or acknowledged."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self):
        return Path(self.log.name).read_text()


@pytest.fixture
def workers():
    started = []

    def start(model_url):
        worker = Worker(model_url)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    for worker in started:
        os.unlink(worker.log.name)


def wait_for(predicate, timeout, what, workers_started=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    logs = "\n".join(w.output()[-3000:] for w in workers_started)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


def session_url(live_flow, session_id="", action=""):
    return f"/live_flows/{live_flow.pk}/sessions/" + (f"{session_id}/" if session_id else "") + (
        f"{action}/" if action else "")


def status_of(tenant, live_flow, session_id, status):
    def check():
        body = tenant.client.get(session_url(live_flow, session_id)).json()
        return body if body["status"] == status else None
    return check


def test_branching_flow_end_to_end_through_a_worker(transactional_db, tenant, broker, workers):
    live_flow, _ = make_triage_flow(tenant.organization)
    with FakeChatServer(triage_answer) as server:
        worker = workers(server.base_url)
        technical = tenant.client.post(session_url(live_flow), {"inputs": {"message": "The app crashes"}},
                                       format="json")
        billing = tenant.client.post(session_url(live_flow), {"inputs": {"message": "My invoice is wrong"}},
                                     format="json")
        assert (technical.status_code, technical.json()["status"]) == (200, "NEW")
        assert (billing.status_code, billing.json()["status"]) == (200, "NEW")
        technical, billing = technical.json()["id"], billing.json()["id"]

        body = wait_for(status_of(tenant, live_flow, technical, "WAITING_FOR_USER_INPUT"), 30,
                        "the technical session to wait for input", [worker])
        assert [(s["step"]["name"], s["status"], s["result"]) for s in body["steps"]] == [
            ("start", "FINISHED", ""),
            ("classify", "FINISHED", "Technical."),  # the model's own words; the label matched anyway
            ("ask_details", "WAITING_FOR_USER_INPUT", None),
        ]
        assert body["current_step"]["step"]["name"] == "ask_details"

        response = tenant.client.post(session_url(live_flow, technical, "user_input"), {"user_input": "2.4.1"},
                                      format="json")
        assert response.status_code == 200
        assert response.json()["status"] == "RUNNING"
        again = tenant.client.post(session_url(live_flow, technical, "user_input"), {"user_input": "2.4.2"},
                                   format="json")
        assert (again.status_code, again.json()["detail"]) == (
            409, again.json()["detail"])
        assert again.json()["detail"].startswith("This session is not waiting for user input; its status is ")

        body = wait_for(status_of(tenant, live_flow, technical, "FINISHED"), 30, "the technical session to finish",
                        [worker])
        prompt = "Problem: The app crashes. Version: 2.4.1. Category: Technical.. Suggest a fix."
        assert [(s["step"]["name"], s["status"], s["result"]) for s in body["steps"]] == [
            ("start", "FINISHED", ""),
            ("classify", "FINISHED", "Technical."),
            ("ask_details", "FINISHED", "2.4.1"),
            ("technical_reply", "FINISHED", f"Reply to [{prompt}]"),
        ]
        assert body["steps"][2]["user_input"] == "2.4.1"
        assert body["current_step"] == body["steps"][3]
        assert body["steps_count"] == 4 and body["error"] is None

        body = wait_for(status_of(tenant, live_flow, billing, "FINISHED"), 30, "the billing session to finish",
                        [worker])
        assert [(s["step"]["name"], s["result"]) for s in body["steps"]] == [
            ("start", ""), ("classify", "billing"), ("billing_reply", "Reply to [Draft a billing answer to: "
                                                                        "My invoice is wrong]"),
        ]
    assert {r["path"] for r in server.requests} == {"/v1/chat/completions"}
    assert {r["authorization"] for r in server.requests} == {"Bearer sk-test"}
    assert {r["body"]["model"] for r in server.requests} == {"fake-1"}
    assert len(server.requests) == 4  # two classifications, two replies: each step ran once
    assert LiveFlowSessionStep.objects.exclude(attempts__lte=1).count() == 0


@pytest.mark.parametrize("deaths", [1, 2])
def test_worker_killed_mid_step(transactional_db, tenant, broker, workers, deaths):
    """SIGKILL the worker while the model is answering: the step is retried once by the next
    worker; if that one dies too, the session fails with a clear error. Never RUNNING for ever."""
    live_flow, _ = make_triage_flow(tenant.organization)
    with FakeChatServer(triage_answer, hold="invoice", holds=deaths) as server:
        response = tenant.client.post(session_url(live_flow), {"inputs": {"message": "My invoice is wrong"}},
                                      format="json")
        session_id = response.json()["id"]
        started = []
        for death in range(1, deaths + 1):
            worker = workers(server.base_url)
            started.append(worker)
            try:
                server.held.get(timeout=30)  # the worker is inside the model call
            except Exception:
                raise AssertionError("the worker never asked the model\n" + worker.output()[-3000:]) from None
            classify = LiveFlowSessionStep.objects.get(session_id=session_id, step__name="classify")
            assert (classify.status, classify.attempts) == (SessionStatus.RUNNING, death)
            worker.kill()

        started.append(workers(server.base_url))
        final = "FINISHED" if deaths == 1 else "FAILED"
        body = wait_for(status_of(tenant, live_flow, session_id, final), 40, f"the session to end {final}", started)
    classify = LiveFlowSessionStep.objects.get(session_id=session_id, step__name="classify")
    asked = [r for r in server.requests if "invoice" in str(r["body"]["messages"])]
    if deaths == 1:
        assert (classify.status, classify.result, classify.attempts) == (SessionStatus.FINISHED, "billing", 2)
        assert [s["step"]["name"] for s in body["steps"]] == ["start", "classify", "billing_reply"]
        assert len(asked) == 3  # classify twice (killed, retried), then the billing reply
    else:
        message = "The worker running this step stopped before it finished, 2 times; giving up."
        assert body["error"] == f"Step classify failed: {message}"
        assert (classify.status, classify.error, classify.attempts) == (SessionStatus.FAILED, message, 2)
        assert len(asked) == 2  # not asked a third time
    assert LiveFlowSession.objects.get(pk=session_id).status == final
    assert threading.active_count() < 100


STREAM_SECONDS = 45  # for a session's whole stream, worker start included: it ends in ~5 s when all is well


def block_by(stream, deadline, what, worker=None):
    """The stream's next block (None at its end), failing once ``deadline`` (monotonic) passes: a stream
    that hears nothing stays open on heartbeats, so reading alone would wait for ever."""
    sock = stream.connection.sock or stream.response.fp.raw._sock  # the response may hold it alone
    remaining = deadline - time.monotonic()
    try:
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        return stream.next_block()
    except TimeoutError:
        log = worker.output()[-3000:] if worker else ""
        raise AssertionError(f"timed out waiting for {what} on the stream\n{log}") from None


def frame_by(stream, deadline, what, worker=None):
    """The stream's next frame (None at its end), heartbeats skipped, by ``deadline``."""
    from tests.flows.test_event_stream import frames

    while (block := block_by(stream, deadline, what, worker)) is not None:
        found = frames(block + "\n\n")
        if found:
            return found[0]
    return None


def test_a_workers_steps_reach_a_stream_served_by_a_web_process(transactional_db, tenant, broker, workers, monkeypatch):
    from tests.flows.test_event_stream import Stream
    from tests.served import Uvicorn
    from tests.served import database_url as served_database_url

    events_url = "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("REDIS_URL", events_url)  # the worker publishes its steps through Redis
    live_flow, _ = make_triage_flow(tenant.organization)
    web = Uvicorn(served_database_url(), REDIS_URL=events_url)
    try:
        with FakeChatServer(triage_answer) as model:
            started = tenant.client.post(session_url(live_flow), {"inputs": {"message": "My invoice is wrong"}},
                                         format="json").json()
            deadline = time.monotonic() + STREAM_SECONDS
            stream = Stream(web, f"/live_flows/{live_flow.pk}/sessions/{started['id']}/events", tenant.raw_key)
            try:
                first_id, first = frame_by(stream, deadline, "the current state")
                assert first["status"] == "NEW"
                worker = workers(model.base_url)
                seen = [(first_id, first)]
                while seen[-1][1]["status"] not in ("FINISHED", "FAILED"):
                    frame = frame_by(stream, deadline, f"the session to end (last seen {seen[-1][1]['status']})",
                                     worker)
                    assert frame is not None, worker.output()
                    seen.append(frame)
                # the stream ended with the session
                assert block_by(stream, deadline, "the stream to end", worker) is None
            finally:
                stream.close()
        ids = [event_id for event_id, _ in seen]
        assert ids == sorted(set(ids))
        assert seen[-1][1]["status"] == "FINISHED"
        assert seen[-1][1] == tenant.client.get(f"{session_url(live_flow)}{started['id']}/").json()
        assert len(seen) > 2  # steps on the way, not only the first and the last state
    finally:
        web.stop()
