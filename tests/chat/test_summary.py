"""The list's summary fields stay exact as messages are added and removed."""

from datetime import timedelta

import pytest

from chat.models import ChatMessage, ChatSession, Role
from tests.chat.factories import BASE, LIST_URL, MESSAGES_URL, chat
from tests.conftest import at_once, key_client


def summary(session):
    session.refresh_from_db()
    return session.message_count, session.first_message_at, session.last_message_at, session.preview


@pytest.mark.django_db
def test_deleting_messages_recounts_their_sessions(tenant):
    org = tenant.organization
    session = chat(org, session_id="session_a", messages=[
        (Role.ASSISTANT, "hello"), (Role.USER, "first question"), (Role.USER, "second"), (Role.ASSISTANT, "bye"),
    ])
    other = chat(org, session_id="session_b", messages=[(Role.USER, "untouched")])
    messages = list(session.messages.order_by("created_at"))

    # One message through the model...
    messages[1].delete()
    assert summary(session) == (3, BASE, BASE + timedelta(minutes=3), "second")
    # ...several through a queryset (what an admin bulk action does).
    ChatMessage.objects.filter(pk__in=[messages[0].pk, messages[3].pk]).delete()
    assert summary(session) == (1, BASE + timedelta(minutes=2), BASE + timedelta(minutes=2), "second")
    assert session.activity_at == BASE + timedelta(minutes=2)
    # The last one: an empty session, still listed, ordered by its creation.
    session.messages.all().delete()
    assert summary(session) == (0, None, None, None)
    assert session.activity_at == session.created_at
    assert summary(other) == (1, BASE, BASE, "untouched")

    items = tenant.client.get(LIST_URL).json()["data"]["items"]
    empty = next(item for item in items if item["sessionId"] == "session_a")
    assert (empty["messageCount"], empty["firstMessageAt"], empty["lastMessageAt"], empty["preview"]) == (
        0, None, None, None)


@pytest.mark.django_db
def test_deleting_messages_of_several_sessions_at_once(tenant):
    a = chat(tenant.organization, session_id="session_a", messages=[(Role.USER, "a1"), (Role.USER, "a2")])
    b = chat(tenant.organization, session_id="session_b", messages=[(Role.USER, "b1"), (Role.ASSISTANT, "b2")])
    ChatMessage.objects.filter(content__in=["a1", "b1"]).delete()
    assert summary(a) == (1, BASE + timedelta(minutes=1), BASE + timedelta(minutes=1), "a2")
    assert summary(b) == (1, BASE + timedelta(minutes=1), BASE + timedelta(minutes=1), None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_to_one_session_lose_nothing(tenant):
    threads_count, per_thread = 8, 6
    clients = [key_client(tenant.raw_key) for _ in range(threads_count)]
    statuses = []

    def worker(number):
        for index in range(per_thread):
            response = clients[number].post(
                MESSAGES_URL,
                {"sessionId": "session_busy", "role": "user", "content": f"t{number}-{index}"},
                format="json",
            )
            statuses.append(response.status_code)

    errors = at_once(threads_count, worker)

    assert errors == []
    assert statuses == [200] * (threads_count * per_thread)
    session = ChatSession.objects.get()  # the first posts raced to create it: still one session
    stored = list(ChatMessage.objects.filter(session=session).order_by("created_at", "id"))
    assert len(stored) == session.message_count == threads_count * per_thread
    assert {m.content for m in stored} == {f"t{n}-{i}" for n in range(threads_count) for i in range(per_thread)}
    assert session.first_message_at == stored[0].created_at
    assert session.last_message_at == max(m.created_at for m in stored)
    assert session.preview == stored[0].content
