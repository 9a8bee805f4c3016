import uuid
from datetime import timedelta

import pytest
from django.db import connection

from chat.models import ChatMessage, ChatSession, ContextType, Role
from tests.chat.factories import BASE, LIST_URL, chat

pytestmark = pytest.mark.django_db

WORKFLOW_ID = uuid.UUID("3c90c3cc-0d44-4b50-8888-8dd25736052a")


def get_list(client, query="", **kwargs):
    return client.get(LIST_URL + query, **kwargs)


def test_list_is_the_documented_envelope(tenant):
    chat(tenant.organization, session_id="session_1234567890_abc", at=BASE, messages=[
        (Role.USER, "Make me a lead scoring workflow"),
        (Role.ASSISTANT, "Which CRM do you use?"),
        (Role.USER, "HubSpot"),
    ])
    chat(tenant.organization, workflow_id=WORKFLOW_ID, workflow_name="Lead qualification",
         at=BASE + timedelta(hours=1), messages=[(Role.ASSISTANT, "Hi!"), (Role.USER, "Add a CRM step")])

    response = get_list(tenant.client, HTTP_X_REQUEST_ID="req_chat_list_0001")

    assert response.status_code == 200
    assert response["X-Request-Id"] == "req_chat_list_0001"
    assert response.json() == {
        "code": 200,
        "data": {
            "hasMore": False,
            "items": [
                {
                    "contextType": "workflow",
                    "conversationId": None,
                    "firstMessageAt": "2024-05-01T10:00:00Z",
                    "lastMessageAt": "2024-05-01T10:01:00Z",
                    "messageCount": 2,
                    "preview": "Add a CRM step",
                    "sessionId": None,
                    "workflowId": str(WORKFLOW_ID),
                    "workflowName": "Lead qualification",
                },
                {
                    "contextType": "session",
                    "conversationId": None,
                    "firstMessageAt": "2024-05-01T09:00:00Z",
                    "lastMessageAt": "2024-05-01T09:02:00Z",
                    "messageCount": 3,
                    "preview": "Make me a lead scoring workflow",
                    "sessionId": "session_1234567890_abc",
                    "workflowId": None,
                    "workflowName": None,
                },
            ],
            "limit": 20,
            "offset": 0,
        },
        "message": "success",
        "requestId": "req_chat_list_0001",
    }


def test_request_id_is_generated_and_echoed(tenant):
    response = get_list(tenant.client)
    assert response.json()["requestId"] == response["X-Request-Id"]
    assert response["X-Request-Id"].startswith("req_")


@pytest.mark.parametrize("path", [LIST_URL, LIST_URL + "/"])
def test_get_with_a_json_body_works_as_the_vendor_examples_send_it(tenant, path):
    chat(tenant.organization, session_id="session_1_a")
    # curl -d '{}', fetch body: JSON.stringify({}), requests json={}, Go strings.NewReader(`{}`)
    response = tenant.client.generic("GET", path, "{}", content_type="application/json")
    assert response.status_code == 200
    assert [item["sessionId"] for item in response.json()["data"]["items"]] == ["session_1_a"]


@pytest.mark.parametrize("header", ["Authorization", "Api-key", "x-api-key"])
def test_every_key_header_is_accepted(tenant, header):
    from tests.conftest import key_client

    assert key_client(tenant.raw_key, header).get(LIST_URL).status_code == 200


def test_limit_offset_and_has_more(tenant):
    for index in range(5):
        chat(tenant.organization, session_id=f"session_{index}", at=BASE + timedelta(hours=index))

    def ids(query):
        data = get_list(tenant.client, query).json()["data"]
        return [item["sessionId"] for item in data["items"]], data["hasMore"], data["limit"], data["offset"]

    assert ids("?limit=2") == (["session_4", "session_3"], True, 2, 0)
    assert ids("?limit=2&offset=2") == (["session_2", "session_1"], True, 2, 2)
    assert ids("?limit=2&offset=4") == (["session_0"], False, 2, 4)
    assert ids("?limit=5") == (["session_4", "session_3", "session_2", "session_1", "session_0"], False, 5, 0)
    assert ids("?offset=9") == ([], False, 20, 9)
    assert ids("?limit=&offset=") == (["session_4", "session_3", "session_2", "session_1", "session_0"], False, 20, 0)


def test_73_sessions_paged_by_50_arrive_exactly_once(tenant):
    # Many share one lastMessageAt: the tie-break by a unique key keeps the order total.
    for index in range(73):
        chat(tenant.organization, session_id=f"session_{index:03d}", at=BASE + timedelta(hours=index % 4),
             messages=[(Role.USER, f"chat {index}")])
    first = get_list(tenant.client, "?limit=50").json()["data"]
    second = get_list(tenant.client, "?limit=50&offset=50").json()["data"]
    assert (len(first["items"]), first["hasMore"]) == (50, True)
    assert (len(second["items"]), second["hasMore"]) == (23, False)
    seen = [item["sessionId"] for item in first["items"] + second["items"]]
    assert sorted(seen) == [f"session_{index:03d}" for index in range(73)]
    stamps = [item["lastMessageAt"] for item in first["items"] + second["items"]]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?limit=0", "limit", "Ensure this value is greater than or equal to 1."),
        ("?limit=51", "limit", "Ensure this value is less than or equal to 50."),
        ("?limit=ten", "limit", "A valid integer is required."),
        ("?limit=2.5", "limit", "A valid integer is required."),
        ("?offset=-1", "offset", "Ensure this value is greater than or equal to 0."),
        ("?offset=x", "offset", "A valid integer is required."),
    ],
)
def test_bad_limit_or_offset_is_a_400_in_the_error_body(tenant, query, field, message):
    response = get_list(tenant.client, query)
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "message": f"Invalid input: {field}: {message}",
        "details": [{"field": field, "message": message}],
        "requestId": response["X-Request-Id"],
    }


def test_filters(tenant):
    org = tenant.organization
    chat(org, session_id="session_old", at=BASE, messages=[(Role.USER, "Send a Slack digest")])
    chat(org, session_id="session_new", at=BASE + timedelta(days=2), messages=[(Role.USER, "Invoice reminders")])
    chat(org, workflow_id=WORKFLOW_ID, workflow_name="Digest", at=BASE + timedelta(days=1),
         messages=[(Role.USER, "Make the SLACK digest shorter")])

    def keys(query):
        response = get_list(tenant.client, query)
        assert response.status_code == 200, response.json()
        return [item["sessionId"] or item["workflowName"] for item in response.json()["data"]["items"]]

    assert keys("?contextType=session") == ["session_new", "session_old"]
    assert keys("?contextType=workflow") == ["Digest"]
    assert keys(f"?workflowId={WORKFLOW_ID}") == ["Digest"]
    assert keys("?lastMessageAfter=2024-05-02T00:00:00Z") == ["session_new", "Digest"]
    assert keys("?lastMessageBefore=2024-05-02T09:00:00Z") == ["session_old"]
    assert keys("?lastMessageAfter=2024-05-01T12:00:00Z&lastMessageBefore=2024-05-03T00:00:00Z") == ["Digest"]
    assert keys("?search=slack") == ["Digest", "session_old"]
    assert keys("?search=slack&contextType=session") == ["session_old"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?contextType=page", "contextType"),
        ("?workflowId=not-a-uuid", "workflowId"),
        ("?lastMessageAfter=yesterday", "lastMessageAfter"),
        ("?lastMessageBefore=2024-13-01", "lastMessageBefore"),
    ],
)
def test_bad_filters_are_400s(tenant, query, field):
    response = get_list(tenant.client, query)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400
    assert [item["field"] for item in body["details"]] == [field]
    assert body["requestId"] == response["X-Request-Id"]


def test_organization_boundary(tenant, other_tenant):
    chat(tenant.organization, session_id="session_mine")
    chat(other_tenant.organization, session_id="session_theirs")
    chat(other_tenant.organization, workflow_id=WORKFLOW_ID, workflow_name="Theirs")

    items = get_list(tenant.client).json()["data"]["items"]
    assert [item["sessionId"] for item in items] == ["session_mine"]
    assert get_list(tenant.client, f"?workflowId={WORKFLOW_ID}").json()["data"]["items"] == []
    for key in ("session_theirs", str(WORKFLOW_ID)):
        for method in ("get", "delete"):
            response = getattr(tenant.client, method)(f"{LIST_URL}/{key}")
            assert response.status_code == 404
            assert response.json()["code"] == 404
    assert ChatSession.objects.filter(organization=other_tenant.organization).count() == 2


def test_current_org_id_selects_a_member_organization(tenant, other_tenant):
    from accounts.models import Membership

    Membership.objects.create(user=tenant.user, organization=other_tenant.organization)
    chat(other_tenant.organization, session_id="session_theirs")
    response = get_list(tenant.client, HTTP_CURRENT_ORG_ID=other_tenant.organization.pk)
    assert [item["sessionId"] for item in response.json()["data"]["items"]] == ["session_theirs"]


def test_list_query_count_does_not_grow_with_the_page(tenant, django_assert_num_queries):
    chat(tenant.organization, session_id="session_first")
    get_list(tenant.client)  # the key's last_used_at is written on its first use only

    # 1. the API key (with user, organization, workspace, and its membership)
    # 2. one page of sessions joined with their workflow
    with django_assert_num_queries(2):
        response = get_list(tenant.client, "?limit=50")
    assert len(response.json()["data"]["items"]) == 1

    for index in range(49):
        if index % 2:
            chat(tenant.organization, workflow_id=uuid.uuid4(), workflow_name=f"Workflow {index}")
        else:
            chat(tenant.organization, session_id=f"session_{index}")
    with django_assert_num_queries(2):
        response = get_list(tenant.client, "?limit=50")
    assert len(response.json()["data"]["items"]) == 50


def test_retrieve_one_session_by_session_id_or_workflow_id(tenant):
    chat(tenant.organization, session_id="session_1_a", messages=[(Role.USER, "hi")])
    chat(tenant.organization, workflow_id=WORKFLOW_ID, workflow_name="Flow", messages=[(Role.USER, "yo")])
    for key, expected in (("session_1_a", "session_1_a"), (str(WORKFLOW_ID), None)):
        response = tenant.client.get(f"{LIST_URL}/{key}/")
        assert response.status_code == 200
        assert response.json()["data"]["sessionId"] == expected
        assert response.json()["data"]["messageCount"] == 1


def test_delete_removes_the_session_and_its_messages(tenant):
    session = chat(tenant.organization, session_id="session_gone", messages=[(Role.USER, "a"), (Role.ASSISTANT, "b")])
    kept = chat(tenant.organization, workflow_id=WORKFLOW_ID, workflow_name="Kept")

    response = tenant.client.delete(f"{LIST_URL}/session_gone")
    assert response.status_code == 200
    assert response.json() == {
        "code": 200,
        "data": {
            "contextType": "session",
            "conversationId": None,
            "firstMessageAt": "2024-05-01T09:00:00Z",
            "lastMessageAt": "2024-05-01T09:01:00Z",
            "messageCount": 2,
            "preview": "a",
            "sessionId": "session_gone",
            "workflowId": None,
            "workflowName": None,
        },
        "message": "success",
        "requestId": response["X-Request-Id"],
    }
    assert not ChatSession.objects.filter(pk=session.pk).exists()
    assert not ChatMessage.objects.filter(session_id=session.pk).exists()
    assert tenant.client.delete(f"{LIST_URL}/session_gone").status_code == 404

    response = tenant.client.delete(f"{LIST_URL}/{WORKFLOW_ID}/")
    assert response.status_code == 200
    assert response.json()["data"]["workflowName"] == "Kept"
    assert not ChatSession.objects.filter(pk=kept.pk).exists()


@pytest.mark.postgres
def test_the_list_order_is_served_by_an_index(tenant):
    for index in range(30):
        chat(tenant.organization, session_id=f"session_{index}", messages=[(Role.USER, "x")])
    queryset = ChatSession.objects.filter(organization=tenant.organization).order_by("-activity_at", "-id")[:21]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # With so few rows the planner may sort instead: forbid both, to ask whether an index serves the order.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "chatsession_list_idx" in plan
    assert "Sort" not in plan
    assert ContextType.SESSION  # the filtered variant has its own index (chatsession_ctx_idx)
