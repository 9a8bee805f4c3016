"""GET /live_flows/{id}/sessions/{session_id}/events: the session as it changes, as Server-Sent Events."""

import http.client
import json
import time

import pytest
from django.utils import timezone

from flowdesk import events
from flows import live
from flows.models import LiveFlowSession, SessionStatus
from tests.flows.factories import make_live_flow, make_session
from tests.served import Uvicorn, database_url, redis_up, sse_frames


def frames(text):
    """[(id, data)] of an SSE body, and the comments apart."""
    return [(int(fields["id"]), json.loads(fields["data"])) for fields in sse_frames(text)]


def streamed(response):
    """The whole body of a finite stream."""
    return b"".join(response.streaming_content)


def url(session):
    return f"/live_flows/{session.live_flow_id}/sessions/{session.pk}/events"


@pytest.fixture
def finished(tenant):
    return make_session(make_live_flow(tenant.organization), status=SessionStatus.FINISHED)


def test_an_ended_session_is_its_state_then_the_end(tenant, finished):
    response = tenant.client.get(url(finished), HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    body = streamed(response).decode()
    ((event_id, data),) = frames(body)
    assert data == tenant.client.get(f"/live_flows/{finished.live_flow_id}/sessions/{finished.pk}").json()
    assert event_id == live.state(finished.pk)[0]


def test_last_event_id_of_the_current_state_repeats_nothing(tenant, finished):
    revision = live.state(finished.pk)[0]
    response = tenant.client.get(url(finished), HTTP_LAST_EVENT_ID=str(revision))
    assert streamed(response) == b""
    response = tenant.client.get(url(finished), HTTP_LAST_EVENT_ID=str(revision - 1))
    assert len(frames(streamed(response).decode())) == 1


def test_under_wsgi_a_running_session_is_one_snapshot(tenant):
    # gunicorn's workers cannot wait on events: the state now, and the end (the README says so).
    session = make_session(make_live_flow(tenant.organization), status=SessionStatus.RUNNING)
    ((_, data),) = frames(streamed(tenant.client.get(url(session))).decode())
    assert data["status"] == "RUNNING"


def test_another_tenants_session_is_a_404(other_tenant, finished):
    response = other_tenant.client.get(url(finished))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_bad_last_event_id_is_a_422(tenant, finished):
    response = tenant.client.get(url(finished), HTTP_LAST_EVENT_ID="yesterday")
    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["header", "Last-Event-ID"], "msg": "Not an event id of this stream.", "type": "invalid"}]
    }


# --- served on ASGI, changes made in another process ------------------------------------------------


REDIS = "redis://127.0.0.1:6379/0"


class Stream:
    """An open SSE response, read as frames arrive."""

    def __init__(self, server, path, key, last_event_id=None):
        host, port = server.url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=20)
        headers = {"Api-key": key, "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()
        self.buffer = b""

    def next_block(self):
        while b"\n\n" not in self.buffer:
            chunk = self.response.read1(65536)
            if not chunk:
                return None
            self.buffer += chunk
        block, self.buffer = self.buffer.split(b"\n\n", 1)
        return block.decode()

    def next_frame(self):
        while (block := self.next_block()) is not None:
            found = frames(block + "\n\n")
            if found:
                return found[0]
        return None

    def close(self):
        self.connection.close()


@pytest.fixture
def served(transactional_db, settings):
    settings.REDIS_URL = REDIS
    events.reset_broker()
    server = Uvicorn(database_url(), REDIS_URL=REDIS, FLOWDESK_SSE_HEARTBEAT_SECONDS="1")
    yield server
    server.stop()
    events.reset_broker()




def advance(session, status):
    session = LiveFlowSession.objects.get(pk=session.pk)
    session.status = status
    session.updated_at = timezone.now()
    session.save(update_fields=["status", "updated_at"])


@pytest.mark.postgres
@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")
def test_every_change_arrives_then_the_stream_ends(served, tenant):
    session = make_session(make_live_flow(tenant.organization), status=SessionStatus.RUNNING)
    stream = Stream(served, url(session), tenant.raw_key)
    try:
        assert stream.response.status == 200
        first_id, first = stream.next_frame()
        assert first["status"] == "RUNNING"
        advance(session, SessionStatus.WAITING_FOR_USER_INPUT)  # published here, heard by the server through Redis
        second_id, second = stream.next_frame()
        assert second["status"] == "WAITING_FOR_USER_INPUT" and second_id > first_id
        # Nothing happens for a while: heartbeats keep the stream open.
        assert stream.next_block() == ": heartbeat"
        advance(session, SessionStatus.FINISHED)
        third_id, third = stream.next_frame()
        assert third["status"] == "FINISHED" and third_id > second_id
        assert third == tenant.client.get(f"/live_flows/{session.live_flow_id}/sessions/{session.pk}").json()
        assert stream.next_block() is None  # ended after the terminal status
    finally:
        stream.close()


@pytest.mark.postgres
@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")
def test_resuming_with_last_event_id_sends_only_what_is_new(served, tenant):
    session = make_session(make_live_flow(tenant.organization), status=SessionStatus.RUNNING)
    stream = Stream(served, url(session), tenant.raw_key)
    seen_id, _ = stream.next_frame()
    stream.close()
    # Reconnecting with what it had: nothing is repeated, the next change comes.
    stream = Stream(served, url(session), tenant.raw_key, last_event_id=seen_id)
    try:
        time.sleep(0.5)
        advance(session, SessionStatus.CANCELLED)
        next_id, data = stream.next_frame()
        assert next_id > seen_id and data["status"] == "CANCELLED"
    finally:
        stream.close()
