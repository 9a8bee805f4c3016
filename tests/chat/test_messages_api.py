import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import ChatMessage, ChatSession, Role, Workflow
from tests.chat.factories import BASE, HISTORY_URL, LIST_URL, MESSAGES_URL, chat

pytestmark = pytest.mark.django_db

WORKFLOW_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def post(client, body, path=MESSAGES_URL):
    return client.post(path, body, format="json")


def test_posting_the_first_message_creates_the_session(tenant):
    before = timezone.now()
    response = post(tenant.client, {
        "sessionId": "session_1234567890_abc",
        "role": "user",
        "content": "Build a workflow that posts new Typeform answers to Slack",
        "tokensUsed": 12,
        "imageUrls": ["https://example.com/a.png"],
    })
    assert response.status_code == 200
    body = response.json()
    message = ChatMessage.objects.get()
    assert body == {
        "code": 200,
        "data": {
            "id": str(message.id),
            "content": "Build a workflow that posts new Typeform answers to Slack",
            "role": "user",
            "sessionId": "session_1234567890_abc",
            "workflowId": None,
            "organizationId": tenant.organization.pk,
            "tokensUsed": 12,
            "imageUrls": ["https://example.com/a.png"],
            "createdAt": body["data"]["createdAt"],
            "conversationId": None,
            "senderUserId": str(tenant.user.pk),
            "linkedRunId": None,
            "linkedRunStatus": None,
            "linkedRunStartedAt": None,
            "linkedRunFinishedAt": None,
        },
        "message": "success",
        "requestId": response["X-Request-Id"],
    }
    assert message.created_at >= before
    session = ChatSession.objects.get()
    assert (session.organization_id, session.context_type, session.session_id) == (
        tenant.organization.pk, "session", "session_1234567890_abc")
    assert (session.message_count, session.preview) == (1, "Build a workflow that posts new Typeform answers to Slack")
    assert session.first_message_at == session.last_message_at == message.created_at


def test_summary_follows_each_posted_message(tenant):
    post(tenant.client, {"sessionId": "session_1_a", "role": "assistant", "content": "Hello! What shall we build?"})
    session = ChatSession.objects.get()
    assert (session.message_count, session.preview) == (1, None)  # no user message yet
    long_text = "x" * 150
    post(tenant.client, {"sessionId": "session_1_a", "role": "user", "content": long_text})
    post(tenant.client, {"sessionId": "session_1_a", "role": "user", "content": "second"})
    session.refresh_from_db()
    messages = list(ChatMessage.objects.order_by("created_at"))
    assert session.message_count == 3
    assert session.preview == "x" * 100  # the first user message, truncated
    assert session.first_message_at == messages[0].created_at
    assert session.last_message_at == messages[-1].created_at

    item = tenant.client.get(LIST_URL).json()["data"]["items"][0]
    assert (item["messageCount"], item["preview"]) == (3, "x" * 100)


def test_workflow_chat_creates_the_workflow_and_keeps_its_name(tenant):
    response = post(tenant.client, {"workflowId": WORKFLOW_ID, "workflowName": "Lead scoring", "role": "user",
                                    "content": "Add a filter"})
    assert response.status_code == 200
    assert response.json()["data"]["workflowId"] == WORKFLOW_ID
    assert response.json()["data"]["sessionId"] is None
    post(tenant.client, {"workflowId": WORKFLOW_ID, "role": "assistant", "content": "Done"})
    post(tenant.client, {"workflowId": WORKFLOW_ID, "workflowName": "Lead scoring v2", "role": "user", "content": "k"})
    workflow = Workflow.objects.get()
    assert (str(workflow.uuid), workflow.organization_id, workflow.name) == (WORKFLOW_ID, tenant.organization.pk,
                                                                            "Lead scoring v2")
    session = ChatSession.objects.get()
    assert (session.context_type, session.workflow_id, session.message_count) == ("workflow", workflow.id, 3)


def test_the_same_workflow_id_in_two_organizations_is_two_workflows(tenant, other_tenant):
    """Workflow ids are the client's: another organization's never blocks this one's nor shows through."""
    chat(other_tenant.organization, workflow_id=uuid.UUID(WORKFLOW_ID), workflow_name="Theirs",
         messages=[(Role.USER, "their secret")])
    response = post(tenant.client, {"workflowId": WORKFLOW_ID, "workflowName": "Mine", "role": "user", "content": "hi"})
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["workflowId"], data["organizationId"], data["content"]) == (WORKFLOW_ID, tenant.organization.pk, "hi")
    assert sorted(Workflow.objects.values_list("organization_id", "name")) == [
        (other_tenant.organization.pk, "Theirs"), (tenant.organization.pk, "Mine")]
    assert ChatSession.objects.filter(organization=other_tenant.organization).get().message_count == 1
    # Each organization sees its own workflow of that id, on every path that names one.
    for client, content, name in ((tenant.client, ["hi"], "Mine"),
                                  (other_tenant.client, ["their secret"], "Theirs")):
        history = client.get(HISTORY_URL + f"?workflowId={WORKFLOW_ID}").json()["data"]
        assert [m["content"] for m in history] == content
        assert client.get(f"{LIST_URL}/{WORKFLOW_ID}").json()["data"]["workflowName"] == name
        listed = client.get(LIST_URL + f"?workflowId={WORKFLOW_ID}").json()["data"]["items"]
        assert [i["workflowName"] for i in listed] == [name]
    assert tenant.client.delete(f"{LIST_URL}/{WORKFLOW_ID}").status_code == 200
    assert other_tenant.client.get(f"{LIST_URL}/{WORKFLOW_ID}").json()["data"]["workflowName"] == "Theirs"
    assert list(ChatMessage.objects.values_list("content", flat=True)) == ["their secret"]


def test_same_session_id_in_two_organizations_is_two_sessions(tenant, other_tenant):
    post(tenant.client, {"sessionId": "session_1_a", "role": "user", "content": "mine"})
    post(other_tenant.client, {"sessionId": "session_1_a", "role": "user", "content": "theirs"})
    history = tenant.client.get(HISTORY_URL + "?sessionId=session_1_a").json()["data"]
    assert [m["content"] for m in history] == ["mine"]
    assert ChatSession.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"role": "user", "content": "hi"}, ["sessionId"]),
        ({"sessionId": "session_1_a", "workflowId": WORKFLOW_ID, "role": "user", "content": "hi"}, ["workflowId"]),
        ({"sessionId": "session_1_a", "role": "robot", "content": "hi"}, ["role"]),
        ({"sessionId": "session_1_a", "role": "user"}, ["content"]),
        ({"sessionId": "session_1_a", "role": "user", "content": None}, ["content"]),
        ({"sessionId": "session_1_a", "role": "user", "content": 42}, ["content"]),
        ({"sessionId": 12345, "role": "user", "content": "hi"}, ["sessionId"]),
        ({"sessionId": "has spaces/and slash", "role": "user", "content": "hi"}, ["sessionId"]),
        ({"sessionId": "s" * 129, "role": "user", "content": "hi"}, ["sessionId"]),
        ({"workflowId": "not-a-uuid", "role": "user", "content": "hi"}, ["workflowId"]),
        ({"workflowId": 7, "role": "user", "content": "hi"}, ["workflowId"]),
        ({"sessionId": "session_1_a", "role": "user", "content": "hi", "tokensUsed": "12"}, ["tokensUsed"]),
        ({"sessionId": "session_1_a", "role": "user", "content": "hi", "tokensUsed": -1}, ["tokensUsed"]),
        ({"sessionId": "session_1_a", "role": "user", "content": "hi", "imageUrls": "a.png"}, ["imageUrls"]),
        ({"sessionId": "session_1_a", "role": "user", "content": "hi", "imageUrls": [1]}, ["imageUrls.0"]),
        ({"sessionId": "session_1_a", "role": "user", "content": "hi", "workflowName": "x"}, ["workflowName"]),
        ({"sessionId": "session_1_a", "role": "user", "content": "hi", "session_id": "x"}, ["session_id"]),
        (["not", "an", "object"], ["body"]),
    ],
)
def test_bad_message_bodies_are_400s_and_write_nothing(tenant, body, fields):
    response = post(tenant.client, body)
    assert response.status_code == 400
    data = response.json()
    assert data["code"] == 400
    assert [item["field"] for item in data["details"]] == fields
    assert data["message"].startswith("Invalid input: ")
    assert data["requestId"] == response["X-Request-Id"]
    assert ChatSession.objects.count() == ChatMessage.objects.count() == Workflow.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"role=user", "application/x-www-form-urlencoded", 415),
    ],
)
def test_unparseable_bodies_are_4xx_in_the_error_body(tenant, raw, content_type, status):
    response = tenant.client.generic("POST", MESSAGES_URL, raw, content_type=content_type)
    assert response.status_code == status
    body = response.json()
    assert (body["code"], body["details"], body["requestId"]) == (status, [], response["X-Request-Id"])
    assert body["message"]
    assert ChatMessage.objects.count() == 0


def test_an_empty_body_names_the_required_fields(tenant):
    response = tenant.client.generic("POST", MESSAGES_URL, b"", content_type="application/json")
    assert response.status_code == 400
    assert [item["field"] for item in response.json()["details"]] == ["role", "content"]
    assert ChatMessage.objects.count() == 0


def test_history_by_session_id_oldest_first_with_limit(tenant):
    chat(tenant.organization, session_id="session_h", messages=[(Role.USER, f"m{i}") for i in range(5)])
    response = tenant.client.get(HISTORY_URL + "?sessionId=session_h&limit=3")
    assert response.status_code == 200
    body = response.json()
    messages = {str(m.id): m for m in ChatMessage.objects.all()}
    assert [m["content"] for m in body["data"]] == ["m2", "m3", "m4"]  # the latest three, in order
    first = body["data"][0]
    assert first == {
        "id": first["id"],
        "content": "m2",
        "role": "user",
        "sessionId": "session_h",
        "workflowId": None,
        "organizationId": tenant.organization.pk,
        "tokensUsed": None,
        "imageUrls": [],
        "createdAt": "2024-05-01T09:02:00Z",
        "conversationId": None,
        "senderUserId": None,
        "linkedRunId": None,
        "linkedRunStatus": None,
        "linkedRunStartedAt": None,
        "linkedRunFinishedAt": None,
    }
    assert first["id"] in messages
    assert (body["code"], body["message"], body["requestId"]) == (200, "success", response["X-Request-Id"])


def test_history_by_workflow_id_and_default_limit(tenant, other_tenant):
    chat(tenant.organization, workflow_id=uuid.UUID(WORKFLOW_ID), workflow_name="W",
         messages=[(Role.USER if i % 2 else Role.ASSISTANT, f"m{i}") for i in range(25)])
    chat(other_tenant.organization, session_id="session_x")
    data = tenant.client.get(HISTORY_URL + f"?workflowId={WORKFLOW_ID}").json()["data"]
    assert [m["content"] for m in data] == [f"m{i}" for i in range(5, 25)]
    assert {m["workflowId"] for m in data} == {WORKFLOW_ID}
    # Another organization's session, or one without messages yet, has an empty history.
    assert tenant.client.get(HISTORY_URL + "?sessionId=session_x").json()["data"] == []
    assert tenant.client.get(HISTORY_URL + "/?sessionId=session_new").json()["data"] == []


def test_history_query_count(tenant, django_assert_num_queries):
    chat(tenant.organization, session_id="session_h", messages=[(Role.USER, f"m{i}") for i in range(40)])
    tenant.client.get(HISTORY_URL + "?sessionId=session_h")
    # 1. API key (with its membership)  2. the messages joined with their session
    with django_assert_num_queries(2):
        assert len(tenant.client.get(HISTORY_URL + "?sessionId=session_h&limit=100").json()["data"]) == 40


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("", ["sessionId"]),
        (f"?sessionId=session_1&workflowId={WORKFLOW_ID}", ["workflowId"]),
        ("?workflowId=nope", ["workflowId"]),
        ("?sessionId=session_1&limit=101", ["limit"]),
        ("?sessionId=session_1&limit=0", ["limit"]),
        ("?sessionId=session_1&limit=lots", ["limit"]),
    ],
)
def test_bad_history_queries_are_400s(tenant, query, fields):
    response = tenant.client.get(HISTORY_URL + query)
    assert response.status_code == 400
    assert [item["field"] for item in response.json()["details"]] == fields


def test_out_of_order_messages_keep_the_summary_exact(tenant):
    session = chat(tenant.organization, session_id="session_o", at=BASE + timedelta(hours=1),
                   messages=[(Role.ASSISTANT, "later hello"), (Role.USER, "later question")])
    from chat.services import post_message

    post_message(tenant.organization, session_id="session_o", role=Role.USER, content="earliest", created_at=BASE)
    session.refresh_from_db()
    assert (session.message_count, session.preview) == (3, "earliest")
    assert session.first_message_at == BASE
    assert session.last_message_at == BASE + timedelta(hours=1, minutes=1)
