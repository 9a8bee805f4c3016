"""A conversation (the client's conversationId) spans a create-page chat and the workflow it became."""

import re
import uuid

import pytest

from chat.models import ChatMessage, ChatSession, Conversation, Role
from tests.chat.factories import HISTORY_URL, LIST_URL, MESSAGES_URL, chat

pytestmark = pytest.mark.django_db

CONVERSATION_ID = "4a8b2c1d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
WORKFLOW_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def post(client, **body):
    return client.post(MESSAGES_URL, {"role": "user", "content": "hi", **body}, format="json")


def history(client, query):
    return client.get(HISTORY_URL + query).json()["data"]


def test_a_conversation_goes_from_the_create_page_to_its_workflow(tenant):
    # The create page: a chat named by its sessionId, in a conversation.
    post(tenant.client, conversationId=CONVERSATION_ID, sessionId="session_1718_a", content="Build a lead flow")
    post(tenant.client, conversationId=CONVERSATION_ID, sessionId="session_1718_a", role="assistant", content="Done")
    # The workflow it became: its chat joins the same conversation.
    response = post(tenant.client, conversationId=CONVERSATION_ID, workflowId=WORKFLOW_ID, workflowName="Leads",
                    content="Add a CRM step")
    assert response.status_code == 200
    assert response.json()["data"]["conversationId"] == CONVERSATION_ID
    # The conversation alone goes on in the workflow's chat.
    response = post(tenant.client, conversationId=CONVERSATION_ID, role="assistant", content="Added")
    assert (response.json()["data"]["workflowId"], response.json()["data"]["sessionId"]) == (WORKFLOW_ID, None)

    messages = history(tenant.client, f"?conversationId={CONVERSATION_ID}")
    assert [(m["content"], m["sessionId"], m["workflowId"], m["conversationId"]) for m in messages] == [
        ("Build a lead flow", "session_1718_a", None, CONVERSATION_ID),
        ("Done", "session_1718_a", None, CONVERSATION_ID),
        ("Add a CRM step", None, WORKFLOW_ID, CONVERSATION_ID),
        ("Added", None, WORKFLOW_ID, CONVERSATION_ID),
    ]
    # Each chat's own history still reads alone, and names its conversation.
    assert [m["content"] for m in history(tenant.client, "?sessionId=session_1718_a")] == ["Build a lead flow", "Done"]
    assert [m["conversationId"] for m in history(tenant.client, f"?workflowId={WORKFLOW_ID}")] == [CONVERSATION_ID] * 2
    # One conversation row, shared by both chats; both list it.
    conversation = Conversation.objects.get()
    assert set(ChatSession.objects.values_list("conversation", flat=True)) == {conversation.pk}
    items = tenant.client.get(LIST_URL).json()["data"]["items"]
    assert [(i["contextType"], i["conversationId"]) for i in items] == [
        ("workflow", CONVERSATION_ID), ("session", CONVERSATION_ID)]
    # conversationId takes precedence over the older keys in history.
    assert len(history(tenant.client, f"?conversationId={CONVERSATION_ID}&sessionId=session_1718_a")) == 4


def test_a_chat_joins_a_conversation_with_the_messages_it_already_has(tenant):
    chat(tenant.organization, session_id="session_early", messages=[(Role.USER, "before"), (Role.ASSISTANT, "b")])
    assert history(tenant.client, f"?conversationId={CONVERSATION_ID}") == []
    post(tenant.client, conversationId=CONVERSATION_ID, sessionId="session_early", content="after")
    assert [m["content"] for m in history(tenant.client, f"?conversationId={CONVERSATION_ID}")] == [
        "before", "b", "after"]
    conversation = Conversation.objects.get()
    assert set(ChatMessage.objects.values_list("conversation", flat=True)) == {conversation.pk}


def test_a_new_conversation_alone_starts_a_create_page_chat(tenant):
    response = post(tenant.client, conversationId=CONVERSATION_ID, content="Hello")
    assert response.status_code == 200
    data = response.json()["data"]
    assert re.fullmatch(r"session_[0-9]{13}_[a-z0-9]{9}", data["sessionId"])  # the vendor's form
    assert (data["workflowId"], data["conversationId"]) == (None, CONVERSATION_ID)
    again = post(tenant.client, conversationId=CONVERSATION_ID, role="assistant", content="Hi").json()["data"]
    assert again["sessionId"] == data["sessionId"]
    session = ChatSession.objects.get()
    assert (session.context_type, session.session_id, session.message_count) == ("session", data["sessionId"], 2)


def test_a_chat_of_another_conversation_is_a_409_and_nothing_is_written(tenant):
    post(tenant.client, conversationId=CONVERSATION_ID, sessionId="session_taken")
    for body in ({"sessionId": "session_taken"}, {"workflowId": WORKFLOW_ID}):
        if "workflowId" in body:
            post(tenant.client, conversationId=CONVERSATION_ID, **body)
        response = post(tenant.client, conversationId="another-conversation", **body)
        assert response.status_code == 409
        key = body.get("sessionId") or body.get("workflowId")
        field = "sessionId" if "sessionId" in body else "workflowId"
        assert response.json() == {
            "code": 409,
            "message": f"Chat session {key} belongs to another conversation.",
            "details": [{"field": "conversationId", "message": f"This {field} is part of another conversation."}],
            "requestId": response["X-Request-Id"],
        }
    assert ChatMessage.objects.count() == 2
    assert list(Conversation.objects.values_list("conversation_id", flat=True)) == [CONVERSATION_ID]


def test_conversations_are_per_organization(tenant, other_tenant):
    post(other_tenant.client, conversationId=CONVERSATION_ID, sessionId="session_theirs", content="theirs")
    assert history(tenant.client, f"?conversationId={CONVERSATION_ID}") == []
    response = post(tenant.client, conversationId=CONVERSATION_ID, sessionId="session_mine", content="mine")
    assert response.status_code == 200
    assert [m["content"] for m in history(tenant.client, f"?conversationId={CONVERSATION_ID}")] == ["mine"]
    assert [m["content"] for m in history(other_tenant.client, f"?conversationId={CONVERSATION_ID}")] == ["theirs"]
    assert Conversation.objects.count() == 2


def test_sender_user_id_is_the_keys_user_for_user_messages(tenant):
    post(tenant.client, sessionId="session_s", content="from a person")
    post(tenant.client, sessionId="session_s", role="assistant", content="from the model")
    messages = history(tenant.client, "?sessionId=session_s")
    assert [(m["role"], m["senderUserId"]) for m in messages] == [("user", str(tenant.user.pk)), ("assistant", None)]
    assert [m["linkedRunId"] for m in messages] == [None, None]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"conversationId": ""}, ["conversationId"]),
        ({"conversationId": 12}, ["conversationId"]),
        ({"conversationId": "has space"}, ["conversationId"]),
        ({"conversationId": "c" * 256}, ["conversationId"]),
        ({"conversationId": CONVERSATION_ID, "sessionId": "session_1", "workflowId": WORKFLOW_ID}, ["workflowId"]),
    ],
)
def test_bad_conversation_ids_are_400s_and_write_nothing(tenant, body, fields):
    response = post(tenant.client, **body)
    assert response.status_code == 400
    assert [d["field"] for d in response.json()["details"]] == fields
    assert ChatSession.objects.count() == ChatMessage.objects.count() == Conversation.objects.count() == 0


def test_bad_conversation_id_in_history_is_a_400(tenant):
    for query in ("?conversationId=a%20b", "?conversationId=" + "c" * 256, "?conversationId=-x"):
        response = tenant.client.get(HISTORY_URL + query)
        assert response.status_code == 400
        assert [d["field"] for d in response.json()["details"]] == ["conversationId"]


def test_a_longest_conversation_id_is_kept(tenant):
    long_id = "c" + "0123456789" * 25 + "abcd"  # 255 characters
    assert post(tenant.client, conversationId=long_id, workflowId=str(uuid.uuid4())).status_code == 200
    assert history(tenant.client, f"?conversationId={long_id}")[0]["conversationId"] == long_id
