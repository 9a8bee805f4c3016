"""The session list's fast paths answer exactly what the ORM and the query serializer would.

The unfiltered page is one constant SQL string on PostgreSQL, and plain-digit `limit` / `offset`
skip ChatSessionPageQuery; both must agree with what they replace.
"""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from chat.api.serializers import SESSION_ITEM_COLUMNS, ChatSessionPageQuery, session_item_row
from chat.api.views import page_query
from chat.models import ChatSession, Role
from flowdesk.api.fields import iso_z
from tests.chat.factories import BASE, LIST_URL, chat

pytestmark = pytest.mark.django_db


def orm_page(organization, limit, offset):
    """The page as the ORM path builds it (the queryset ChatSessionViewSet scopes and orders)."""
    sessions = ChatSession.objects.filter(organization=organization).order_by("-activity_at", "-id")
    rows = list(sessions.values_list(*SESSION_ITEM_COLUMNS)[offset : offset + limit + 1])
    return {
        "hasMore": len(rows) > limit,
        "items": [session_item_row(row) for row in rows[:limit]],
        "limit": limit,
        "offset": offset,
    }


@pytest.mark.postgres  # elsewhere the list is the ORM page itself
def test_the_page_is_the_orm_page_with_ties_nulls_and_another_tenant(tenant, other_tenant):
    for index in range(7):
        at = BASE + timedelta(minutes=index // 2, microseconds=index * 1500)  # ties on activity_at
        conversation = f"conv_{index % 2}" if index < 4 else None  # some chats in a conversation, two to one
        if index % 3 == 0:
            chat(tenant.organization, workflow_id=uuid.uuid4(), workflow_name=None if index == 3 else f"Flow {index}",
                 conversation_id=conversation, at=at, messages=[(Role.USER, f"hello {index}")])
        elif index % 2:
            chat(tenant.organization, session_id=f"session_{index}", conversation_id=conversation, at=at,
                 messages=[(Role.ASSISTANT, "hi")])
        else:  # no messages: null timestamps and preview
            ChatSession.objects.create(organization=tenant.organization, context_type="session",
                                       session_id=f"session_{index}", activity_at=at, created_at=at)
    chat(other_tenant.organization, session_id="session_theirs", at=BASE + timedelta(days=1))
    for limit, offset in ((50, 0), (2, 0), (2, 2), (3, 5), (1, 6), (5, 7), (20, 100)):
        response = tenant.client.get(f"{LIST_URL}?limit={limit}&offset={offset}")
        assert response.status_code == 200
        assert response.json()["data"] == orm_page(tenant.organization, limit, offset)
    conversations = [item["conversationId"] for item in orm_page(tenant.organization, 50, 0)["items"]]
    assert sorted(filter(None, conversations)) == ["conv_0", "conv_1", "conv_1"]
    assert "session_theirs" not in str(tenant.client.get(LIST_URL + "?limit=50").json())


QUERIES = [
    "", "limit=1", "limit=50", "limit=007", "offset=0", "offset=10000000", "offset=10000001", "limit=0", "limit=51",
    "limit=", "offset=", "limit=-1", "limit=+5", "limit= 5", "limit=5 ", "limit=5.0", "limit=2.5", "limit=1e1",
    "limit=ten", "limit=５", "limit=1&limit=60", "limit=60&limit=1", "offset=99999999999999999999", "limit=3&offset=4",
    "search=x&limit=3", "limit=%00",
]


@pytest.mark.parametrize("query", QUERIES)
def test_page_query_is_what_the_serializer_validates(query):
    from flowdesk.api.views import validate_query

    request = Request(APIRequestFactory().get(f"{LIST_URL}?{query}"))
    try:
        expected = validate_query(ChatSessionPageQuery, request)  # what every other query goes through
    except ValidationError as error:
        with pytest.raises(ValidationError) as exc:
            page_query(request)
        assert exc.value.detail == error.detail
        assert exc.value.loc == ("query",)
    else:
        assert page_query(request) == (expected["limit"], expected["offset"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (datetime(2024, 5, 1, 9, 0, tzinfo=UTC), "2024-05-01T09:00:00Z"),
        (datetime(2024, 5, 1, 9, 0, 0, 500000, tzinfo=UTC), "2024-05-01T09:00:00.5Z"),
        (datetime(2024, 5, 1, 9, 0, 0, 1, tzinfo=UTC), "2024-05-01T09:00:00.000001Z"),
        (datetime(999, 1, 1, tzinfo=UTC), "0999-01-01T00:00:00Z"),  # four digits: an RFC 3339 date-time
        (datetime(799, 3, 15, 4, 50, 9, tzinfo=ZoneInfo("UTC")), "0799-03-15T04:50:09Z"),
        (datetime(2024, 5, 1, 11, 0, tzinfo=ZoneInfo("Europe/Paris")), "2024-05-01T09:00:00Z"),
        (datetime(2024, 5, 1, 9, 0, tzinfo=ZoneInfo("UTC")), "2024-05-01T09:00:00Z"),
    ],
)
def test_fast_timestamps_are_iso_z(value, expected):
    """iso_z's fast form (UTC from the database) and its general form spell the same thing."""
    assert iso_z(value) == expected


@pytest.mark.postgres
@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
        datetime(2024, 5, 1, 9, 0, 10, tzinfo=UTC),
        datetime(2024, 5, 1, 9, 0, 0, 500000, tzinfo=UTC),
        datetime(2024, 5, 1, 9, 0, 0, 1, tzinfo=UTC),
        datetime(2024, 5, 1, 9, 0, 0, 120, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 10, tzinfo=UTC),
        datetime(1, 1, 2, tzinfo=UTC),
        datetime(9999, 12, 30, tzinfo=UTC),
    ],
)
def test_timestamps_formatted_by_postgresql_are_iso_z(value):
    from django.db import connection

    from flowdesk.api.fields import utc_text_z

    with connection.cursor() as cursor:
        cursor.execute("""SELECT to_char(%s::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')""", [value])
        (text,) = cursor.fetchone()
    assert utc_text_z(text) == iso_z(value)
