"""Tutor sessions over Socket.IO, driven by the real socket.io-client 4 (node), against uvicorn."""

import json
import queue
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import jsonpatch
import pytest

from sessions_app.models import UserSession
from tests.conftest import make_tenant
from tests.served import Uvicorn, database_url, redis_up

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
PATH = "/session/socket/connect/"

pytestmark = [
    pytest.mark.postgres,  # the server is another process: it needs the test database on a server
    pytest.mark.skipif(
        not shutil.which("node") or not (NODE_DIR / "node_modules" / "socket.io-client").exists(),
        reason="needs node and tests/node's socket.io-client (scripts/bootstrap installs it)",
    ),
]


class Clients:
    """Socket.IO clients in one node process; everything they hear, in order."""

    def __init__(self, url):
        self.process = subprocess.Popen(
            ["node", str(NODE_DIR / "socket_clients.js"), url, PATH], cwd=NODE_DIR,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        self.heard = queue.Queue()
        self.log = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.heard.put(json.loads(line))

    def send(self, **command):
        if command.get("event") == "UpdateCurrentSessionDiff":
            # The client applies its own patch as it sends it (the server does not echo it back).
            self.heard.put({"client": command["name"], "event": "own patch", "data": command["data"]})
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def connect(self, name, session_id, key=None, auth=None):
        self.send(cmd="connect", name=name, query={"sessionId": session_id}, auth=auth or {},
                  headers={"Api-key": key} if key else {})

    def wait(self, client, event, predicate=lambda data: True, timeout=15):
        """The next thing ``client`` heard that is ``event`` and fits; earlier ones stay in the log."""
        for line in self.log:
            if not line.get("taken") and line["client"] == client and line["event"] == event and predicate(line["data"]):
                line["taken"] = True
                return line["data"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.heard.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.log.append(line)
            if line["client"] == client and line["event"] == event and predicate(line["data"]):
                line["taken"] = True
                return line["data"]
        heard = [(line["client"], line["event"]) for line in self.log]
        raise AssertionError(f"{client} did not hear {event} within {timeout}s; heard {heard}")

    def state(self, client):
        """What ``client`` holds: its PushCurrentSession with every PushSessionDiff applied, in order."""
        self.drain()
        state = None
        for line in self.log:
            if line["client"] != client:
                continue
            if line["event"] == "PushCurrentSession":
                state = line["data"]
            elif line["event"] in ("PushSessionDiff", "own patch"):
                state = jsonpatch.apply_patch(state, line["data"])
        return state

    def drain(self, seconds=0.3):
        time.sleep(seconds)
        while not self.heard.empty():
            self.log.append(self.heard.get())

    def close(self):
        if self.process.poll() is None:
            self.send(cmd="exit")
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def server(transactional_db):
    served = Uvicorn(database_url())
    yield served
    served.stop()


@pytest.fixture
def clients(server):
    started = Clients(server.url)
    yield started
    started.close()


@pytest.fixture
def session(tenant):
    response = tenant.client.post("/session/new?language=fr")
    return UserSession.objects.get(session_id=response.json()["sessionId"])


def body(tenant, session):
    return tenant.client.get(f"/session/{session.session_id}").json()


def test_connect_pushes_the_session_with_this_socket_in_clients(clients, tenant, session):
    clients.connect("a", session.session_id, key=tenant.raw_key)
    sid = clients.wait("a", "connect")
    pushed = clients.wait("a", "PushCurrentSession")
    assert pushed["sessionId"] == session.session_id
    assert pushed["clients"] == [sid]
    assert pushed == body(tenant, session)
    assert UserSession.objects.get(pk=session.pk).clients == [sid]


def test_the_key_may_come_in_auth_token(clients, tenant, session):
    clients.connect("a", session.session_id, auth={"token": tenant.raw_key})
    assert clients.wait("a", "PushCurrentSession")["sessionId"] == session.session_id


def test_refused_without_a_key_or_with_a_bad_one(clients, session):
    clients.connect("a", session.session_id)
    assert clients.wait("a", "connect_error").startswith("An API key is required")
    clients.connect("b", session.session_id, key="fdk_" + "x" * 40)
    assert clients.wait("b", "connect_error") == "Invalid API key."
    clients.drain()
    assert not [line for line in clients.log if line["event"] == "PushCurrentSession"]


def test_another_users_session_is_an_error_and_a_disconnect(clients, session, other_tenant):
    clients.connect("m", session.session_id, key=other_tenant.raw_key)
    assert clients.wait("m", "error") == "Invalid sessionId"
    clients.wait("m", "disconnect")
    clients.drain()
    assert not [line for line in clients.log if line["event"] == "PushCurrentSession"]
    assert UserSession.objects.get(pk=session.pk).clients == []


def test_a_patch_reaches_the_other_client_and_the_tutor_answers_as_diffs(clients, tenant, session):
    clients.connect("a", session.session_id, key=tenant.raw_key)
    a = clients.wait("a", "connect")
    clients.wait("a", "PushCurrentSession")
    clients.connect("b", session.session_id, key=tenant.raw_key)
    b = clients.wait("b", "connect")
    clients.wait("b", "PushCurrentSession")
    # a hears b arrive.
    assert clients.wait("a", "PushSessionDiff") == [{"op": "add", "path": "/clients/1", "value": b}]

    item = {"id": 1, "contentType": "user", "isUser": True, "content": "How do I write a loop?"}
    clients.send(cmd="emit", name="a", event="UpdateCurrentSessionDiff",
                 data=[{"op": "add", "path": "/dialogue/-", "value": item}])
    clients.wait("a", "notifyIsReplyingforSender")
    clients.wait("b", "PushSessionDiff", lambda diff: any(op["path"] == "/dialogue/1" for op in diff))
    answer = clients.wait(
        "b", "PushSessionDiff", lambda diff: any(op["path"] == "/dialogue/2" for op in diff), timeout=30
    )
    assert {"op": "replace", "path": "/isReplying", "value": False} in answer
    clients.wait("a", "PushSessionDiff", lambda diff: any(op["path"] == "/dialogue/2" for op in diff))

    stored = body(tenant, session)
    assert stored["dialogue"][1:] == [
        item,
        {"id": 2, "contentType": "ai", "isUser": False, "content": "(offline model) Answer to: How do I write a loop?"},
    ]
    assert stored["isReplying"] is False
    assert stored["stats"]["totalInvokedLLM"] == 1
    assert sorted(stored["clients"]) == sorted([a, b])
    # Both clients, applying what they heard, hold exactly what is stored.
    assert clients.state("a") == stored
    assert clients.state("b") == stored


def test_an_invalid_patch_writes_nothing_and_is_an_error(clients, tenant, session):
    clients.connect("a", session.session_id, key=tenant.raw_key)
    clients.wait("a", "PushCurrentSession")
    before = body(tenant, session)
    clients.send(cmd="emit", name="a", event="UpdateCurrentSessionDiff",
                 data=[{"op": "replace", "path": "/easyMode", "value": "very"}])
    assert clients.wait("a", "error").startswith("Invalid session: easyMode")
    # The client had applied its patch as it sent it: the stored session puts it back in step.
    clients.wait("a", "PushCurrentSession")
    assert clients.state("a") == body(tenant, session) == before
    clients.send(cmd="emit", name="a", event="UpdateCurrentSessionDiff",
                 data=[{"op": "remove", "path": "/dialogue/7"}])
    assert clients.wait("a", "error").startswith("Invalid patch")
    clients.send(cmd="emit", name="a", event="UpdateCurrentSessionDiff", data={"op": "nonsense"})
    assert clients.wait("a", "error").startswith("Invalid patch")
    assert body(tenant, session) == before


def test_rest_writes_reach_socket_clients_as_diffs(server, clients, tenant, session):
    clients.connect("a", session.session_id, key=tenant.raw_key)
    clients.wait("a", "PushCurrentSession")
    request = urllib.request.Request(
        f"{server.url}/session/{session.session_id}", method="PUT", data=b'{"name": "Loops, lesson 2"}',
        headers={"Api-key": tenant.raw_key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    diff = clients.wait("a", "PushSessionDiff", lambda diff: any(op["path"] == "/name" for op in diff))
    assert {"op": "replace", "path": "/name", "value": "Loops, lesson 2"} in diff
    assert clients.state("a") == body(tenant, session)


def test_a_deleted_session_lets_its_sockets_go(server, clients, tenant, session):
    for name in ("a", "b"):
        clients.connect(name, session.session_id, key=tenant.raw_key)
        clients.wait(name, "PushCurrentSession")
    request = urllib.request.Request(f"{server.url}/session/{session.session_id}", method="DELETE",
                                     headers={"Api-key": tenant.raw_key})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    for name in ("a", "b"):
        assert clients.wait(name, "error") == "Invalid sessionId"
        clients.wait(name, "disconnect")
    assert not UserSession.objects.filter(pk=session.pk).exists()


def test_a_disconnect_leaves_clients_and_the_others_hear_it(clients, tenant, session):
    clients.connect("a", session.session_id, key=tenant.raw_key)
    a = clients.wait("a", "connect")
    clients.wait("a", "PushCurrentSession")
    clients.connect("b", session.session_id, key=tenant.raw_key)
    clients.wait("b", "PushCurrentSession")
    clients.wait("a", "PushSessionDiff")
    clients.send(cmd="close", name="b")
    assert clients.wait("a", "PushSessionDiff") == [{"op": "remove", "path": "/clients/1"}]
    assert UserSession.objects.get(pk=session.pk).clients == [a]



@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")
def test_two_server_processes_share_changes_through_redis(transactional_db, tenant, session):
    servers = [Uvicorn(database_url(), REDIS_URL="redis://127.0.0.1:6379/0") for _ in range(2)]
    first, second = Clients(servers[0].url), Clients(servers[1].url)
    try:
        first.connect("a", session.session_id, key=tenant.raw_key)
        first.wait("a", "PushCurrentSession")
        second.connect("b", session.session_id, key=tenant.raw_key)
        b = second.wait("b", "connect")
        second.wait("b", "PushCurrentSession")
        assert first.wait("a", "PushSessionDiff") == [{"op": "add", "path": "/clients/1", "value": b}]
        first.send(cmd="emit", name="a", event="UpdateCurrentSessionDiff",
                   data=[{"op": "replace", "path": "/name", "value": "from the first process"}])
        diff = second.wait("b", "PushSessionDiff", lambda diff: any(op["path"] == "/name" for op in diff))
        assert {"op": "replace", "path": "/name", "value": "from the first process"} in diff
        assert second.state("b") == body(tenant, session)
    finally:
        first.close()
        second.close()
        for served in servers:
            served.stop()


def test_another_tenant_cannot_join_even_knowing_the_id(clients, session):
    stranger = make_tenant("org_str4ngerTenant01", "stranger")
    clients.connect("s", session.session_id, key=stranger.raw_key)
    assert clients.wait("s", "error") == "Invalid sessionId"
