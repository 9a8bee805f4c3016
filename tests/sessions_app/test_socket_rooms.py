"""The socket server's rooms, in process: a client joining while the last other one leaves still hears changes."""

import asyncio
import threading

import pytest
from asgiref.sync import async_to_sync

from sessions_app import services, socket
from sessions_app.models import UserSession


class FakeServer:
    """What TutorSockets calls on python-socketio's server, recorded."""

    def __init__(self):
        self.saved, self.emitted = {}, []

    async def save_session(self, sid, data):
        self.saved[sid] = data

    async def get_session(self, sid):
        return self.saved.get(sid)

    async def enter_room(self, sid, room):
        pass

    async def emit(self, event, data=None, **where):
        self.emitted.append((event, data, where))

    async def disconnect(self, sid):
        self.emitted.append(("disconnect", None, {"sid": sid}))

    def start_background_task(self, target, *args):
        return asyncio.ensure_future(target(*args))


@pytest.mark.django_db(transaction=True)
def test_a_client_joining_while_the_last_one_leaves_keeps_its_room(tenant, monkeypatch):
    session_id = tenant.client.post("/session/new?language=fr").json()["sessionId"]
    pk = UserSession.objects.get(session_id=session_id).pk
    sockets = socket.TutorSockets()
    sockets.server = FakeServer()
    monkeypatch.setattr(socket, "_authenticate", lambda environ, auth: tenant.user)
    environ = {"QUERY_STRING": f"sessionId={session_id}"}
    reading, go_on = threading.Event(), threading.Event()
    rendered = services.rendered

    def slow_rendered(key):  # the second client's read of the session, held until the first has left
        if reading.is_set():
            return rendered(key)
        reading.set()
        go_on.wait(10)
        return rendered(key)

    def rename():
        return tenant.client.put(f"/session/{session_id}", {**rendered(pk), "name": "Renamed"}, format="json")

    async def scenario():
        reading.set()
        await sockets.on_connect("first", environ)
        reading.clear()
        monkeypatch.setattr(services, "rendered", slow_rendered)
        joining = asyncio.ensure_future(sockets.on_connect("second", environ))
        await asyncio.to_thread(reading.wait, 10)
        await sockets.on_disconnect("first")  # the last member but the one joining
        go_on.set()
        await asyncio.wait_for(joining, 10)
        room = sockets.rooms.get(pk)
        assert room is not None and not room.task.done() and room.members == {"second"}
        # A change after the join reaches the room's clients as a diff.
        response = await asyncio.to_thread(rename)
        assert response.status_code == 200, response.content
        for _ in range(100):
            if any(event == "PushSessionDiff" for event, _, _ in sockets.server.emitted):
                break
            await asyncio.sleep(0.05)
        diffs = [data for event, data, _ in sockets.server.emitted if event == "PushSessionDiff"]
        assert {"op": "replace", "path": "/name", "value": "Renamed"} in diffs[-1]
        sockets.rooms[pk].close()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_connect_whose_room_cannot_hear_events_is_refused_not_left_waiting(tenant, monkeypatch):
    import contextlib

    session_id = tenant.client.post("/session/new").json()["sessionId"]
    sockets = socket.TutorSockets()
    sockets.server = FakeServer()
    monkeypatch.setattr(socket, "_authenticate", lambda environ, auth: tenant.user)
    monkeypatch.setattr(socket, "READY_SECONDS", 0.5)

    @contextlib.asynccontextmanager
    async def broken(channel):
        raise ConnectionError("Redis is down")
        yield

    monkeypatch.setattr(socket.events, "listen", broken)

    async def scenario():
        await asyncio.wait_for(sockets.on_connect("first", {"QUERY_STRING": f"sessionId={session_id}"}), 5)
        await asyncio.sleep(0.1)  # the refusal is sent in the background
        return sockets.server.emitted

    emitted = async_to_sync(scenario)()
    assert emitted == [("error", "Server error", {"to": "first"}), ("disconnect", None, {"sid": "first"})]
    assert sockets.rooms == {}  # the next connect tries again with a new room
