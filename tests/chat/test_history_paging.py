"""History pages backwards with `before` / `beforeId`: keyset paging over (createdAt, id), served by an index."""

import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import ChatMessage, Role
from chat.services import post_message
from tests.chat.factories import BASE, HISTORY_URL, chat

pytestmark = pytest.mark.django_db

WORKFLOW_ID = uuid.UUID("3c90c3cc-0d44-4b50-8888-8dd25736052a")
CONVERSATION_ID = "4a8b2c1d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"


def many_messages(organization, count, **chat_key):
    """`count` messages, seven to an instant (equal createdAt), some at a microsecond."""
    for n in range(count):
        at = BASE + timedelta(seconds=n // 7, microseconds=250_001 if n % 5 == 0 else 0)
        post_message(organization, role=Role.USER if n % 2 else Role.ASSISTANT, content=f"m{n}", created_at=at,
                     **chat_key)


def page_back(client, query, limit, cursor=lambda page: {"before": page[0]["createdAt"], "beforeId": page[0]["id"]}):
    """What a client paging backwards does: follow the oldest message of each page until a short page."""
    pages, params = [], {}
    while True:
        response = client.get(f"{HISTORY_URL}{query}&{urlencode({'limit': limit, **params})}")
        assert response.status_code == 200, response.json()
        page = response.json()["data"]
        pages.append(page)
        if len(page) < limit:
            return pages
        params = cursor(page)


def stored_order(**filters):
    return [str(pk) for pk in ChatMessage.objects.filter(**filters).order_by("created_at", "id").values_list("id", flat=True)]


@pytest.mark.parametrize("limit", [1, 7, 10, 100])
def test_paging_back_sees_every_message_once_in_order(tenant, limit):
    many_messages(tenant.organization, 137, session_id="session_long")
    chat(tenant.organization, session_id="session_other")  # another chat's messages stay out
    pages = page_back(tenant.client, "?sessionId=session_long", limit)
    ids = [m["id"] for page in reversed(pages) for m in page]
    # Each once, and each page (and so the whole) oldest first: 137 = 13 full pages of 10 and a short one.
    assert ids == stored_order(session__session_id="session_long")
    assert [len(page) for page in pages] == [limit] * (137 // limit) + [137 % limit]


def test_paging_a_workflow_chat_and_a_conversation(tenant):
    many_messages(tenant.organization, 40, workflow_id=WORKFLOW_ID)
    pages = page_back(tenant.client, f"?workflowId={WORKFLOW_ID}", 6)
    assert [m["id"] for page in reversed(pages) for m in page] == stored_order(session__workflow__uuid=WORKFLOW_ID)

    # A conversation across a create-page chat and the workflow it became, their messages interleaved in time.
    many_messages(tenant.organization, 30, session_id="session_c", conversation_id=CONVERSATION_ID)
    many_messages(tenant.organization, 30, workflow_id=uuid.uuid4(), conversation_id=CONVERSATION_ID)
    pages = page_back(tenant.client, f"?conversationId={CONVERSATION_ID}", 8)
    messages = [m for page in reversed(pages) for m in page]
    assert [m["id"] for m in messages] == stored_order(conversation__conversation_id=CONVERSATION_ID)
    assert len(messages) == 60
    assert {m["conversationId"] for m in messages} == {CONVERSATION_ID}
    assert {(m["sessionId"] is None, m["workflowId"] is None) for m in messages} == {(False, True), (True, False)}


def test_before_id_alone_and_a_rounded_before_page_exactly(tenant):
    """beforeId names the cursor: a client that sends no `before`, or one rounded to milliseconds as a
    JavaScript Date does, still sees each message once."""
    many_messages(tenant.organization, 50, session_id="session_r")
    expected = stored_order(session__session_id="session_r")
    pages = page_back(tenant.client, "?sessionId=session_r", 9, cursor=lambda page: {"beforeId": page[0]["id"]})
    assert [m["id"] for page in reversed(pages) for m in page] == expected

    def rounded(page):
        at = page[0]["createdAt"]  # 2024-05-01T09:00:03.250001Z -> ...03.250Z
        return {"before": at[:23] + "Z" if "." in at else at, "beforeId": page[0]["id"]}

    pages = page_back(tenant.client, "?sessionId=session_r", 9, cursor=rounded)
    assert [m["id"] for page in reversed(pages) for m in page] == expected


def test_before_alone_is_strictly_older(tenant):
    chat(tenant.organization, session_id="session_b", messages=[(Role.USER, f"m{i}") for i in range(5)])
    # 09:00 .. 09:04, a minute apart
    data = tenant.client.get(HISTORY_URL, {"sessionId": "session_b", "before": "2024-05-01T09:03:00Z"}).json()["data"]
    assert [m["content"] for m in data] == ["m0", "m1", "m2"]
    # Any offset names the same instant; a fraction past the microsecond rounds up to the one stored.
    data = tenant.client.get(HISTORY_URL, {"sessionId": "session_b", "before": "2024-05-01T11:03:00.0000001+02:00"})
    assert [m["content"] for m in data.json()["data"]] == ["m0", "m1", "m2", "m3"]
    data = tenant.client.get(HISTORY_URL, {"sessionId": "session_b", "before": "2024-05-01t09:01:00z", "limit": 1})
    assert [m["content"] for m in data.json()["data"]] == ["m0"]
    # An empty cursor is no cursor (the first page).
    data = tenant.client.get(HISTORY_URL + "?sessionId=session_b&before=&beforeId=&limit=2").json()["data"]
    assert [m["content"] for m in data] == ["m3", "m4"]


@pytest.mark.parametrize(
    "before",
    [
        "2024-05-01", "2024-05-01T09:00:00", "2024-05-01 09:00:00Z", "2024-05-01T09:00Z", "yesterday",
        "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T09:00:60Z",
        "2024-05-01T09:00:00+24:00", "2024-05-01T09:00:00+0200", "2024-05-01T09:00:00.Z", "1714554000",
        "０２０２４-05-01T09:00:00Z", "2024-05-01T09:00:00Z ", "0001-01-01T00:00:00+01:00", "2024-05-01T09:00:00+00:00x",
    ],
)
def test_a_before_that_is_not_rfc_3339_is_a_400(tenant, before):
    chat(tenant.organization, session_id="session_b")
    response = tenant.client.get(HISTORY_URL, {"sessionId": "session_b", "before": before})
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], [d["field"] for d in body["details"]], body["requestId"]) == (
        400, ["before"], response["X-Request-Id"])


def test_a_before_id_of_another_chat_is_a_400(tenant, other_tenant):
    mine = chat(tenant.organization, session_id="session_a", conversation_id=CONVERSATION_ID)
    other = chat(tenant.organization, session_id="session_b")
    theirs = chat(other_tenant.organization, session_id="session_a", conversation_id=CONVERSATION_ID)
    cases = [
        ("?sessionId=session_a", other.messages.first().pk),  # this organization's, another chat
        ("?sessionId=session_a", theirs.messages.first().pk),  # another organization's, same sessionId
        (f"?conversationId={CONVERSATION_ID}", theirs.messages.first().pk),
        (f"?conversationId={CONVERSATION_ID}", other.messages.first().pk),
        ("?sessionId=session_a", uuid.uuid4()),  # no such message
        ("?sessionId=session_new", mine.messages.first().pk),  # no such chat
    ]
    for query, before_id in cases:
        response = tenant.client.get(f"{HISTORY_URL}{query}&beforeId={before_id}")
        assert response.status_code == 400, (query, before_id)
        assert response.json() == {
            "code": 400,
            "message": "Invalid input: beforeId: Not a message of this chat.",
            "details": [{"field": "beforeId", "message": "Not a message of this chat."}],
            "requestId": response["X-Request-Id"],
        }
    for bad in ("nope", "12", "３c90c3cc-0d44-4b50-8888-8dd25736052a"):
        response = tenant.client.get(HISTORY_URL, {"sessionId": "session_a", "beforeId": bad})
        assert response.status_code == 400
        assert [d["field"] for d in response.json()["details"]] == ["beforeId"]
    # Its own message is a cursor, in either query that reaches it.
    first = mine.messages.order_by("created_at").last().pk
    for query in ("?sessionId=session_a", f"?conversationId={CONVERSATION_ID}"):
        data = tenant.client.get(f"{HISTORY_URL}{query}&beforeId={first}").json()["data"]
        assert [m["content"] for m in data] == ["Build me a workflow"]


def test_paged_history_query_count(tenant, django_assert_num_queries):
    many_messages(tenant.organization, 120, session_id="session_q", conversation_id=CONVERSATION_ID)
    oldest = tenant.client.get(HISTORY_URL + "?sessionId=session_q&limit=30").json()["data"][0]
    for query in ("?sessionId=session_q", f"?conversationId={CONVERSATION_ID}"):
        for limit in (5, 100):
            # 1. API key (with its membership)  2. the cursor message, in this chat  3. the page
            cursor = urlencode({"limit": limit, "before": oldest["createdAt"], "beforeId": oldest["id"]})
            with django_assert_num_queries(3):
                assert len(tenant.client.get(f"{HISTORY_URL}{query}&{cursor}").json()["data"]) == min(limit, 90)
            cursor = urlencode({"limit": limit, "before": oldest["createdAt"]})
            with django_assert_num_queries(2):
                assert tenant.client.get(f"{HISTORY_URL}{query}&{cursor}").status_code == 200


@pytest.mark.postgres
@pytest.mark.parametrize("query", ["sessionId=session_i", f"conversationId={CONVERSATION_ID}",
                                   f"workflowId={WORKFLOW_ID}"])
def test_a_page_is_one_index_range_without_offset_or_sort(tenant, query):
    many_messages(tenant.organization, 60, session_id="session_i", conversation_id=CONVERSATION_ID)
    many_messages(tenant.organization, 20, workflow_id=WORKFLOW_ID, conversation_id=CONVERSATION_ID)
    oldest = tenant.client.get(f"{HISTORY_URL}?{query}&limit=10").json()["data"][0]
    with CaptureQueriesContext(connection) as queries:
        cursor = urlencode({"before": oldest["createdAt"], "beforeId": oldest["id"]})
        tenant.client.get(f"{HISTORY_URL}?{query}&limit=10&{cursor}")
    sql = queries.captured_queries[-1]["sql"]
    assert "OFFSET" not in sql.upper()
    index = "chatmessage_conversation_idx" if query.startswith("conversation") else "chatmessage_history_idx"
    with connection.cursor() as cursor:
        # So few rows would let the planner scan and sort: forbid both, to ask whether an index serves the order.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan
    assert "Sort" not in plan, plan
    # The range starts at the cursor: the index condition bounds created_at, not a filter after a full scan.
    assert "Index Cond" in plan and "created_at <=" in plan, plan
