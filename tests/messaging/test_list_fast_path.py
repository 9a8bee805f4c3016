"""The unfiltered message-flow list is one constant SQL string on PostgreSQL (messaging.api.views.
PAGE_SQL: settings as jsonb text, timestamps formatted by PostgreSQL); it must answer exactly what
the ORM page answers."""

from datetime import UTC, datetime, timedelta

import pytest

from flowdesk.api.fields import jsonb_text_value
from messaging.api.renderers import LIST_COLUMNS, message_flow_row
from messaging.models import MessageFlow
from tests.conftest import make_tenant
from tests.messaging.conftest import BASE_TIME, URL, make_flow, workspace_client

pytestmark = pytest.mark.django_db

# Settings as imports keep them: nested, non-ASCII, numbers orjson reads otherwise than json would
# (past 64 bits), exponents, empty containers, keys jsonb reorders.
SETTINGS = [
    {},
    {"responseSettings": {"tone": "friendly", "maxLength": 160}, "security": {"blockedKeywords": ["パスワード", "😀"]}},
    {"big": 2**70, "bigger": -(10**30), "u64": 2**64 - 1, "float": 0.1, "exp": 1.5e300, "tiny": 5e-324},
    {"zzz": 1, "a": [None, True, False, [], {}], "mm": "line\nbreak \"quoted\" \\ back"},
    {"precise": 3.141592653589793238462643383279, "int_as_float": 10.0},
]
# Read by the same function elsewhere (dialogue items, user sessions' JSON columns): 19 digits
# below -2**63 are past 64 bits too, and bare values are what a dialogue item's content is.
JSON_VALUES = [
    *SETTINGS, {"i64_min_less_one": -(2**63) - 1, "i64_min": -(2**63)}, [-(2**63) - 1],
    -(2**63) - 1, 2**64, 2**63 - 1, 1.5, 10.0, "12345678901234567890123", "", True, None,
]


def orm_page(workspace, offset=0, end=None):
    flows = MessageFlow.objects.filter(workspace=workspace).select_related("agent").order_by("created_at", "id")
    return [message_flow_row(row) for row in flows.values_list(*LIST_COLUMNS)[offset:end]]


@pytest.mark.postgres  # elsewhere the list is the ORM page itself
def test_the_page_is_the_orm_page(tenant, api):
    times = [BASE_TIME + timedelta(seconds=i, microseconds=i * 250_000) for i in range(5)]
    times[3] = times[2]  # a tie on created_at: the id decides
    for index, settings in enumerate(SETTINGS):
        make_flow(tenant.workspace, index, agent_id=f"agent_{index % 2}", settings=settings,
                  created_at=times[index], updated_at=times[index] + timedelta(microseconds=1))
    make_flow(tenant.workspace, 9, created_at=datetime(799, 3, 15, 4, 50, 9, tzinfo=UTC),
              updated_at=datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC))
    other = make_tenant("org_other_fast", "olga")
    make_flow(other.workspace, 1)  # another tenant's flow is never listed
    for query, offset, end in [("", 0, None), ("?limit=2", 0, 2), ("?limit=2&offset=2", 2, 4), ("?offset=5", 5, None),
                               ("?limit=1", 0, 1), ("?limit=3&offset=100", 100, 103)]:
        response = api.get(URL + query)
        assert response.status_code == 200
        assert response.json() == orm_page(tenant.workspace, offset, end)
    body = api.get(URL).json()
    assert [flow["_id"] for flow in body][0] == f"{tenant.workspace.pk}_flow9"  # year 799 first
    assert body[0]["createdAt"] == "0799-03-15T04:50:09Z"
    assert body[3]["settings"]["big"] == 2**70  # an integer still, not a float
    other_body = workspace_client(other.raw_key, other.workspace.pk).get(URL).json()
    assert [flow["_id"] for flow in other_body] == [f"{other.workspace.pk}_flow1"]


@pytest.mark.parametrize("settings", JSON_VALUES)
def test_jsonb_text_is_read_as_the_json_module_reads_it(settings):
    import json

    text = json.dumps(settings)
    assert jsonb_text_value(text) == json.loads(text)
    assert repr(jsonb_text_value(text)) == repr(json.loads(text))  # 2**70 an int, 10.0 a float
