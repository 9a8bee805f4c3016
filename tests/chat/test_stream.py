"""POST /v1/ai/workflow/chat/stream: a turn stored, its answer streamed as numbered events."""

import json
import uuid

import pytest
from asgiref.sync import async_to_sync

from chat.models import ChatMessage, ChatSession, ChatTurn, Role, TurnStatus, Workflow
from flowdesk import events
from flows.llm import ModelError
from tests.chat.factories import chat
from tests.served import sse_frames

URL = "/v1/ai/workflow/chat/stream"


class BrokenModel:
    def complete(self, messages, **kwargs):
        raise ModelError("the model server answered 503")


class CrashingModel:
    def complete(self, messages, **kwargs):
        raise RuntimeError("a bug in the model client")


def recording_model(settings):
    """Makes the model answer "ok" and returns the list of the messages it was given."""
    seen = []

    class Recording:
        def complete(self, messages, **kwargs):
            seen.append(messages)
            return "ok"

    settings.LIVE_FLOW_LLM_BACKEND = f"{__name__}.RECORDING"
    globals()["RECORDING"] = Recording
    return seen


@pytest.fixture(autouse=True)
def eager(settings):
    settings.LIVE_FLOW_RUNNER = "eager"  # the turn runs inside the request: its events are all there


def streamed(response):
    """A stream as the test client (WSGI) gets it: the turn ran inside the request, all of it is stored."""
    return b"".join(response.streaming_content).decode()


def parse(text):
    return [(int(fields["id"]), fields["event"], json.loads(fields["data"])) for fields in sse_frames(text)]


def post(client, body):
    return client.post(URL, body, format="json", HTTP_ACCEPT="text/event-stream")


@pytest.mark.django_db(transaction=True)
def test_a_turn_stores_both_messages_and_streams_the_answer(tenant):
    response = post(tenant.client, {"sessionId": "session_1718031200000_k3j9d2", "message": "How do loops work?"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    frames = parse(streamed(response))
    assert [index for index, _, _ in frames] == list(range(len(frames)))
    names = [event for _, event, _ in frames]
    assert names[0] == "turn" and names[-2:] == ["message", "done"] and set(names[1:-2]) == {"token"}
    answer = "".join(data["delta"] for _, event, data in frames if event == "token")
    assert answer == "(offline model) Answer to: How do loops work?"

    user, assistant = ChatMessage.objects.order_by("created_at", "id")
    assert (user.role, user.content, user.sender_user_id) == ("user", "How do loops work?", str(tenant.user.pk))
    assert (assistant.role, assistant.content, assistant.tokens_used) == ("assistant", answer, len(names) - 3)
    turn_id = frames[0][2]["turnId"]
    assert frames[-1][2] == {"turnId": turn_id, "tokensUsed": assistant.tokens_used}
    history = tenant.client.get("/v1/ai/workflow/chat/history?sessionId=session_1718031200000_k3j9d2").json()["data"]
    assert frames[0][2]["message"] == history[0]
    assert frames[-2][2] == history[1]
    session = ChatSession.objects.get()
    assert (session.message_count, session.preview) == (2, "How do loops work?")
    assert session.first_message_at == user.created_at and session.last_message_at == assistant.created_at
    assert ChatTurn.objects.get(pk=turn_id).status == TurnStatus.DONE


@pytest.mark.django_db(transaction=True)
def test_the_model_sees_the_chats_history(tenant, settings):
    seen = recording_model(settings)
    where = {"workflowId": "7d4f0a8e-3c51-4b7a-9a0e-1f2b3c4d5e6f"}
    streamed(post(tenant.client, {**where, "message": "first"}))
    streamed(post(tenant.client, {**where, "message": "second"}))
    assert seen[-1] == [
        {"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]


@pytest.mark.django_db(transaction=True)
def test_a_workflow_id_another_organization_holds_streams_into_this_ones(tenant, other_tenant, settings):
    seen = recording_model(settings)
    workflow_id = "7d4f0a8e-3c51-4b7a-9a0e-1f2b3c4d5e6f"
    chat(other_tenant.organization, workflow_id=uuid.UUID(workflow_id), workflow_name="Theirs",
         messages=[(Role.USER, "their secret")])
    frames = parse(streamed(post(tenant.client, {"workflowId": workflow_id, "message": "mine"})))
    assert [event for _, event, _ in frames] == ["turn", "token", "message", "done"]
    for message in (frames[0][2]["message"], frames[2][2]):
        assert (message["workflowId"], message["organizationId"]) == (workflow_id, tenant.organization.pk)
    assert seen == [[{"role": "user", "content": "mine"}]]  # not their chat's history
    assert sorted(Workflow.objects.values_list("organization_id", "name")) == [
        (other_tenant.organization.pk, "Theirs"), (tenant.organization.pk, None)]
    theirs = other_tenant.client.get(f"/v1/ai/workflow/chat/history?workflowId={workflow_id}").json()["data"]
    assert [m["content"] for m in theirs] == ["their secret"]


@pytest.mark.django_db(transaction=True)
def test_a_client_that_reconnects_gets_the_rest_of_the_turn(tenant, other_tenant):
    frames = parse(streamed(post(tenant.client, {"sessionId": "session_1_a", "message": "hello there"})))
    turn_id = frames[0][2]["turnId"]
    again = parse(streamed(post(tenant.client, {"turnId": turn_id, "lastEventIndex": 1})))
    assert again == frames[2:]
    response = other_tenant.client.post(URL, {"turnId": turn_id, "lastEventIndex": 1}, format="json")
    assert response.status_code == 404
    assert response.json()["message"] == f"No turn {turn_id!r}."


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sessionId": "session_1_a"}, "message"),
        ({"message": "hi"}, "sessionId"),
        ({"message": "hi", "sessionId": "session_1_a", "workflowId": "7d4f0a8e-3c51-4b7a-9a0e-1f2b3c4d5e6f"}, "workflowId"),
        ({"turnId": "turn_x", "message": "hi"}, "message"),
        ({"message": "hi", "sessionId": "session_1_a", "lastEventIndex": 3}, "lastEventIndex"),
    ],
)
def test_bad_bodies_are_400_in_the_envelope_and_write_nothing(tenant, body, field):
    response = tenant.client.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == field
    assert response.json()["requestId"] == response["X-Request-Id"]
    assert not ChatMessage.objects.exists() and not ChatTurn.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_model_error_is_an_error_event_and_no_answer(tenant, settings):
    settings.LIVE_FLOW_LLM_BACKEND = f"{__name__}.BrokenModel"
    frames = parse(streamed(post(tenant.client, {"sessionId": "session_1_a", "message": "hello"})))
    assert [event for _, event, _ in frames] == ["turn", "error"]
    assert frames[1][2] == {"message": "The model could not answer: the model server answered 503"}
    assert list(ChatMessage.objects.values_list("role", flat=True)) == ["user"]
    assert ChatTurn.objects.get().status == TurnStatus.FAILED


@pytest.mark.django_db(transaction=True)
def test_a_turn_that_crashes_still_ends_its_stream(tenant, settings):
    # Not a model error: a bug. The turn still ends, so a client waiting on it is not left waiting.
    settings.LIVE_FLOW_LLM_BACKEND = f"{__name__}.CrashingModel"
    frames = parse(streamed(post(tenant.client, {"sessionId": "session_1_b", "message": "hello"})))
    assert [(index, event) for index, event, _ in frames] == [(0, "turn"), (1, "error")]
    assert frames[1][2] == {"message": "The model could not answer: server error"}
    assert ChatTurn.objects.get().status == TurnStatus.FAILED
    # A client resuming after the turn gets the end at once.
    turn_id = frames[0][2]["turnId"]
    again = parse(streamed(post(tenant.client, {"turnId": turn_id, "lastEventIndex": 0})))
    assert [(index, event) for index, event, _ in again] == [(1, "error")]


@pytest.mark.django_db(transaction=True)
def test_every_stored_message_is_published_for_webhooks(tenant):
    heard = []
    events.register_outlet(heard.append)
    try:
        streamed(post(tenant.client, {"sessionId": "session_1_a", "message": "hello"}))
        tenant.client.post("/v1/ai/workflow/chat/messages",
                           {"sessionId": "session_1_a", "role": "user", "content": "and one more"}, format="json")
    finally:
        events._outlets.remove(heard.append)
    created = [event for event in heard if event.type == "chat.message_created"]
    assert [event.data["content"] for event in created] == [
        "hello", "(offline model) Answer to: hello", "and one more",
    ]
    assert all(event.organization_id == tenant.organization.pk for event in created)


# --- served on ASGI: the stream waits on the turn; under WSGI it answers what is stored ----------


def asgi_post(tenant, body, deadline=15):
    """The stream as uvicorn serves it (an ASGI request), read to its end (a stream that never ends fails)."""
    import asyncio

    from django.test import AsyncClient

    async def read():
        async with asyncio.timeout(deadline):
            return await _read()

    async def _read():
        response = await AsyncClient().post(URL, body, content_type="application/json",
                                            headers={"Authorization": f"Bearer {tenant.raw_key}",
                                                     "Accept": "text/event-stream"})
        return response.status_code, b"".join([chunk async for chunk in response.streaming_content]).decode()

    return async_to_sync(read)()


def running_turn(tenant, quiet_seconds):
    """A turn left RUNNING with its first event ``quiet_seconds`` ago (its process went away)."""
    from datetime import timedelta

    from django.utils import timezone

    from chat.models import ChatTurnEvent
    from chat.stream import start_turn

    turn = start_turn(tenant.organization, str(tenant.user.pk), content="hello", session_id="session_1_c")
    ChatTurnEvent.objects.filter(turn=turn).update(created_at=timezone.now() - timedelta(seconds=quiet_seconds))
    return turn


@pytest.mark.django_db(transaction=True)
def test_on_asgi_a_turn_streams_to_its_end(tenant):
    status, text = asgi_post(tenant, {"sessionId": "session_1_a", "message": "hello there"})
    assert status == 200
    frames = parse(text)
    assert [(index, event) for index, event, _ in frames] == [(0, "turn"), *[(i, "token") for i in
                                                              range(1, len(frames) - 2)],
                                                              (len(frames) - 2, "message"), (len(frames) - 1, "done")]
    assert frames[-2][2]["content"] == "".join(data["delta"] for _, event, data in frames if event == "token")
    assert ChatTurn.objects.get().status == TurnStatus.DONE


@pytest.mark.django_db(transaction=True)
def test_on_asgi_a_turn_whose_process_went_away_ends_as_stalled(tenant, settings):
    settings.FLOWDESK_SSE_HEARTBEAT_SECONDS = 1
    settings.LIVE_FLOW_STEP_LEASE = 60
    turn = running_turn(tenant, quiet_seconds=61)
    status, text = asgi_post(tenant, {"turnId": turn.pk, "lastEventIndex": 0})
    assert status == 200
    assert text.startswith(": heartbeat\n\n")  # it looked on the first quiet heartbeat
    assert parse(text) == [(1, "error", {"message": "The model could not answer: the turn stopped "
                                                    "(the server running it went away)"})]
    assert ChatTurn.objects.get(pk=turn.pk).status == TurnStatus.FAILED


@pytest.mark.django_db(transaction=True)
def test_on_asgi_a_quiet_turn_within_its_lease_is_waited_for(tenant, settings):
    import threading

    from chat.stream import _emit

    settings.FLOWDESK_SSE_HEARTBEAT_SECONDS = 1
    settings.LIVE_FLOW_STEP_LEASE = 60
    turn = running_turn(tenant, quiet_seconds=30)
    # The model answers after two quiet heartbeats: the stream is still open, and gets the end.
    timer = threading.Timer(2.5, lambda: _emit(turn, 1, "error", {"message": "late"}))
    timer.start()
    try:
        status, text = asgi_post(tenant, {"turnId": turn.pk, "lastEventIndex": 0})
    finally:
        timer.join()
    assert text.count(": heartbeat") >= 2
    assert parse(text) == [(1, "error", {"message": "late"})]
    assert ChatTurn.objects.get(pk=turn.pk).status == TurnStatus.RUNNING  # not ended by the stream


@pytest.mark.django_db(transaction=True)
def test_under_wsgi_the_stream_is_what_is_stored_then_the_end(tenant, settings):
    # gunicorn's sync worker cannot wait on the model: the client resumes on the ASGI server.
    turn = running_turn(tenant, quiet_seconds=0)
    response = post(tenant.client, {"turnId": turn.pk, "lastEventIndex": -1})
    text = b"".join(response.streaming_content).decode()
    assert [(index, event) for index, event, _ in parse(text)] == [(0, "turn")]
    assert text.endswith(": more to come: ask again with lastEventIndex (served on ASGI, the stream waits for it)\n\n")
    assert ChatTurn.objects.get(pk=turn.pk).status == TurnStatus.RUNNING
