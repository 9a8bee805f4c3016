"""The models behind LLM steps: the OpenAI-compatible client against a fake server on loopback,
and the deterministic offline model."""

import pytest

from flows.llm import ModelError, OfflineModel, OpenAIChatModel, get_model, prompt_messages
from tests.flows.engine_helpers import FakeChatServer

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]


def client(server, **kwargs):
    return OpenAIChatModel(base_url=server.base_url, api_key="sk-test", model="fake-1",
                           **{"timeout": 5, "retries": 2, **kwargs})


def test_chat_completion_request_and_answer():
    with FakeChatServer(lambda body: "Hi there") as server:
        answer = client(server).complete(MESSAGES, options={"temperature": 0})
    assert answer == "Hi there"
    assert server.requests == [{
        "path": "/v1/chat/completions",
        "authorization": "Bearer sk-test",
        "body": {"model": "fake-1", "messages": MESSAGES, "temperature": 0},
    }]


def test_the_prompt_may_choose_the_model():
    with FakeChatServer(lambda body: body["model"]) as server:
        assert client(server).complete(MESSAGES, options={"model": "other"}) == "other"


def test_server_errors_and_rate_limits_are_retried(monkeypatch):
    monkeypatch.setattr("flows.llm.time.sleep", lambda seconds: None)
    with FakeChatServer(lambda body: "finally") as server:
        server.failures = [503, 429]
        assert client(server).complete(MESSAGES) == "finally"
    assert len(server.requests) == 3


def test_retries_run_out(monkeypatch):
    monkeypatch.setattr("flows.llm.time.sleep", lambda seconds: None)
    with FakeChatServer(lambda body: "never") as server:
        server.failures = [500, 500, 500]
        with pytest.raises(ModelError) as info:
            client(server).complete(MESSAGES)
    assert str(info.value) == "The model endpoint answered 500: try again later"
    assert len(server.requests) == 3


def test_client_errors_are_not_retried():
    with FakeChatServer(lambda body: "never") as server:
        server.failures = [401]
        with pytest.raises(ModelError) as info:
            client(server).complete(MESSAGES)
    assert str(info.value) == "The model endpoint answered 401: try again later"
    assert len(server.requests) == 1


def test_timeout():
    with FakeChatServer(lambda body: "late", hold="Hello", hold_seconds=3) as server:
        with pytest.raises(ModelError) as info:
            client(server, timeout=0.3, retries=0).complete(MESSAGES)
    assert str(info.value) == "The model did not answer within 0.3 seconds."


def test_unreachable_and_wrong_answers(monkeypatch):
    monkeypatch.setattr("flows.llm.time.sleep", lambda seconds: None)
    with FakeChatServer(lambda body: "x") as server:
        base = server.base_url
    with pytest.raises(ModelError) as info:
        OpenAIChatModel(base_url=base, api_key="k", model="m", timeout=1, retries=1).complete(MESSAGES)
    assert str(info.value).startswith("The model endpoint could not be reached: ")
    assert str(info.value).endswith(" (2 tries)")
    with FakeChatServer(lambda body: "x") as server:
        with pytest.raises(ModelError) as info:
            OpenAIChatModel(base_url=server.base_url + "/wrong", api_key="k", model="m", retries=0).complete(MESSAGES)
    assert str(info.value) == "The model endpoint answered 404: no such path"


def test_prompt_messages():
    assert prompt_messages({"type": "chat", "temperature": 0.2, "messages": [
        {"role": "system", "content": "s"}, {"content": {"a": 1}}, "plain"]}) == (
        [{"role": "system", "content": "s"}, {"role": "user", "content": '{"a": 1}'},
         {"role": "user", "content": "plain"}],
        {"temperature": 0.2},
    )
    assert prompt_messages({"type": "text", "text": "hi"}) == ([{"role": "user", "content": "hi"}], {})
    assert prompt_messages("hi") == ([{"role": "user", "content": "hi"}], {})
    assert prompt_messages({"x": 1}) == ([{"role": "user", "content": '{"x": 1}'}], {})


def test_offline_model_is_deterministic():
    model = OfflineModel()
    system = {"role": "system", "content": "Answer with one word: billing or technical."}
    assert model.complete([system, {"role": "user", "content": "A TECHNICAL fault"}],
                          labels=["billing", "technical"]) == "technical"
    assert model.complete([system, {"role": "user", "content": "no idea"}], labels=["billing", "technical"]) == "billing"
    assert model.complete([{"role": "user", "content": "perhaps"}], labels=["yes", "no"]) == "yes"
    assert model.complete([{"role": "user", "content": "  Say\nhello  "}]) == "(offline model) Answer to: Say hello"


def test_backend_setting(settings):
    settings.LIVE_FLOW_LLM_BACKEND = "offline"
    assert isinstance(get_model(), OfflineModel)
    settings.LIVE_FLOW_LLM_BACKEND = "openai"
    settings.LIVE_FLOW_LLM_BASE_URL = "http://127.0.0.1:9/v1/"
    model = get_model()
    assert isinstance(model, OpenAIChatModel) and model.base_url == "http://127.0.0.1:9/v1"
    settings.LIVE_FLOW_LLM_BACKEND = "tests.flows.engine_helpers.ScriptedModel"
    assert type(get_model()).__name__ == "ScriptedModel"
