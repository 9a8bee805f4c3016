"""A real HTTP receiver on loopback, the embedded runner with short back-off, and endpoints to send to."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model

from flowdesk import events
from tests.admin.helpers import logged_in, staff_member
from webhooks import runner
from webhooks.models import WebhookEndpoint

BACKOFF = 0.05  # seconds before the first retry (then doubling): the tests' only waits


class Receiver:
    """Answers each POST with the next scripted status (then 200), and keeps what it was sent."""

    def __init__(self, statuses=(), delay=0.0, tls=None):
        self.statuses = list(statuses)
        self.delay = delay
        self.requests = []  # (headers, body bytes, path)
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._cond:
                    receiver.requests.append((dict(self.headers), body, self.path))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver._cond.notify_all()
                if receiver.delay:
                    time.sleep(receiver.delay)
                answer = json.dumps({"received": status < 300}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:  # an ssl.SSLContext for the server side
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.server.handle_error = lambda request, address: None  # refused handshakes are the point
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, name="test-receiver", daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/hooks/flowdesk?source=test"

    def wait_for(self, count, timeout=10):
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.requests) >= count, timeout), (
                f"the receiver got {len(self.requests)} request(s), expected {count}"
            )
        return self.requests

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(statuses=(), delay=0.0, tls=None):
        receiver = Receiver(statuses, delay, tls)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def receiver(receiver_factory):
    return receiver_factory()


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    settings.WEBHOOK_RUNNER = "thread"
    settings.WEBHOOK_BACKOFF_SECONDS = BACKOFF
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 1
    settings.WEBHOOK_MAX_ATTEMPTS = 6
    settings.WEBHOOK_TIMEOUT = 3
    yield settings
    settle()


def settle(timeout=20):
    """Wait until the embedded runner has nothing scheduled or in flight."""
    if runner._embedded is not None:
        assert runner._embedded.wait_idle(timeout), f"the webhook runner did not settle: {runner._embedded._heap} sending {runner._embedded._sending}"


def endpoint_for(organization, url, events=("live_flow_session.status_changed",), **fields):
    return WebhookEndpoint.objects.create(organization=organization, url=url, events=list(events), **fields)


SESSION = {
    "id": "0b6c1b2e-8d0f-4c2a-9a39-1f2d3c4b5a69",
    "live_flow_id": "5f0c8a1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b",
    "status": "FINISHED",
    "inputs": {"message": "Technical problem: it crashes ✓"},
    "steps": [],
    "steps_count": 0,
    "created_at": "2024-05-01T09:00:00Z",
}


def send_event(organization_id, event_type="live_flow_session.status_changed", data=None, channel=None):
    event = events.Event(
        type=event_type, channel=channel or f"live_flow_session:{SESSION['id']}",
        organization_id=organization_id, data=data if data is not None else SESSION,
    )
    events.dispatch(event)
    return event


# --- the admin ----------------------------------------------------------------------------------


@pytest.fixture
def staff(tenant):
    """A staff member (not a superuser) of `tenant`'s organization with every webhooks and accounts permission."""
    return staff_member(tenant.organization, "Webhook staff", ["webhooks", "accounts"])


@pytest.fixture
def staff_client(staff):
    return logged_in(staff)


@pytest.fixture
def superuser_client(db):
    return logged_in(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
