"""`manage.py runserver` (what `make run` serves) answers Socket.IO too: the real JS client gets its session."""

import urllib.request

import pytest

from tests.served import Server, database_url
from tests.sessions_app.test_socket import Clients, pytestmark  # noqa: F401 - node, socket.io-client, PostgreSQL


@pytest.fixture
def runserver(transactional_db):
    # `python -m manage` is manage.py; the test database is already migrated.
    served = Server(["manage", "runserver", "127.0.0.1:{port}", "--noreload"], database_url())
    try:
        yield served
    finally:
        served.stop()


def test_runserver_serves_rest_and_the_tutor_sessions_socket(runserver, tenant):
    session_id = tenant.client.post("/session/new?language=fr").json()["sessionId"]
    request = urllib.request.Request(f"{runserver.url}/session/{session_id}", headers={"Api-key": tenant.raw_key})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200  # REST from the same process and port
    clients = Clients(runserver.url)
    try:
        clients.connect("a", session_id, key=tenant.raw_key)
        sid = clients.wait("a", "connect", timeout=10)
        pushed = clients.wait("a", "PushCurrentSession", timeout=10)
        stored = tenant.client.get(f"/session/{session_id}").json()  # while connected: this socket in clients
    finally:
        clients.close()
    assert pushed["sessionId"] == session_id and pushed["clients"] == [sid]
    assert pushed == stored
