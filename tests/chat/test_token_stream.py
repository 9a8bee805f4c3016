"""The chat stream sends the model's tokens as the model sends them (OpenAI-compatible streaming)."""

import threading

import pytest

from chat.models import ChatMessage, ChatTurnEvent
from chat.stream import run_turn, start_turn
from flows.llm import OpenAIChatModel, stream_answer
from tests.flows.engine_helpers import FakeChatServer

MESSAGES = [{"role": "user", "content": "Hello"}]


def test_the_client_yields_each_chunk_as_it_arrives():
    with FakeChatServer(lambda body: "one two three") as server:
        server.gate = threading.Event()
        answer = stream_answer(OpenAIChatModel(base_url=server.base_url, api_key="k", model="m", retries=0), MESSAGES)
        parts = iter(answer)
        assert next(parts) == "one"  # the server holds the rest until the gate opens
        server.gate.set()
        assert list(parts) == [" two", " three"]
    assert answer.tokens == 42  # the server's usage, not the number of chunks
    assert server.requests[0]["body"] == {"model": "m", "messages": MESSAGES, "stream": True,
                                         "stream_options": {"include_usage": True}}


@pytest.mark.django_db(transaction=True)
def test_a_turn_stores_each_token_before_the_model_has_finished(tenant, settings):
    settings.LIVE_FLOW_LLM_BACKEND = "openai"
    with FakeChatServer(lambda body: "streamed for real") as server:
        settings.LIVE_FLOW_LLM_BASE_URL = server.base_url
        server.gate = threading.Event()
        turn = start_turn(tenant.organization, str(tenant.user.pk), content="hi", session_id="session_1_a")
        seen = []

        def watch():
            # The first token is stored (and published) while the model still holds the rest.
            for _ in range(200):
                rows = list(ChatTurnEvent.objects.filter(turn=turn, event="token").values_list("data", flat=True))
                if rows:
                    seen.extend(rows)
                    break
                threading.Event().wait(0.05)
            server.gate.set()

        watcher = threading.Thread(target=watch)
        watcher.start()
        run_turn(turn.pk)
        watcher.join()
    assert seen == [{"delta": "streamed"}]
    tokens = ChatTurnEvent.objects.filter(turn=turn, event="token").order_by("index").values_list("data", flat=True)
    assert list(tokens) == [{"delta": "streamed"}, {"delta": " for"}, {"delta": " real"}]
    answer = ChatMessage.objects.get(role="assistant")
    assert (answer.content, answer.tokens_used) == ("streamed for real", 42)
