"""The big changelists run a fixed number of queries, whatever the number of rows, and never a full COUNT(*)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import ChatMessage, ChatSession, Role
from flows.models import LiveFlow, LiveFlowSession, LiveFlowSessionStep
from sessions_app.models import DialogueItem, UserSession
from tests.admin.conftest import AT
from tests.admin.helpers import admin_url
from tests.chat.factories import chat
from tests.flows.factories import make_session

pytestmark = pytest.mark.django_db


def grow(world, n):
    """n more rows in every big table of this organization."""
    org, user = world.tenant.organization, world.tenant.user
    live_flow = world.objects[LiveFlow]
    for i in range(n):
        make_session(live_flow, n_recorded=2, created_at=AT + timedelta(minutes=i + 1))
        chat(org, at=AT + timedelta(days=i + 1), messages=[(Role.USER, f"q{i}"), (Role.ASSISTANT, "a")])
        session = UserSession.objects.create(user=user, organization=org, updated_at=AT + timedelta(minutes=i))
        DialogueItem.objects.bulk_create(
            DialogueItem(session=session, position=p, item_id=p + 1, content_type="user", is_user=True, content="hi")
            for p in range(2)
        )


# Superuser, per changelist:
#   1 the login session, 2 the user,
#   3 the choices of the related-object filter (live flows / organizations), where the list has one,
#   4 the count: COUNT(*) over at most 10,001 rows (past that, one more: pg_class.reltuples, the estimate),
#   5 the page of rows (related columns joined, per-row counts as correlated subqueries),
#   6 MIN/MAX of the date-hierarchy column (the list's drill-down links), where the list has one.
# A staff member adds 2 queries (their user and group permissions); the organization filter is a
# subquery inside the others.
EXPECTED = {
    LiveFlowSession: 6,
    LiveFlowSessionStep: 5,
    ChatSession: 6,
    ChatMessage: 5,
    UserSession: 6,
    DialogueItem: 4,
}


@pytest.mark.parametrize("model", list(EXPECTED), ids=lambda m: m.__name__)
def test_big_changelists_run_a_fixed_number_of_queries(model, admin_client_, staff_client, mine, theirs, django_assert_num_queries):
    url = admin_url(model, "changelist")
    for client, extra in ((admin_client_, 0), (staff_client, 2)):
        for rows in (0, 12):
            grow(mine, rows)
            with django_assert_num_queries(EXPECTED[model] + extra):
                response = client.get(url)
            assert response.status_code == 200
            assert response.context["cl"].result_count >= 1


def test_no_count_scans_the_whole_table(admin_client_, mine):
    with CaptureQueriesContext(connection) as queries:
        admin_client_.get(admin_url(ChatMessage, "changelist"))
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the page says how many rows there are"
    for sql in counts:
        assert "LIMIT 10001" in sql, sql


def test_a_capped_count_says_more_than(admin_client_, mine, monkeypatch):
    from flowdesk.admin import LargeTablePaginator

    monkeypatch.setattr(LargeTablePaginator, "cap", 3)
    grow(mine, 4)
    # Filtered (here: one organization), past the cap: "more than".
    response = admin_client_.get(admin_url(ChatSession, "changelist"), {"organization__id__exact": mine.tenant.organization.pk})
    assert response.context["cl"].result_count == 3
    assert b"more than 3 chat sessions" in response.content
    assert response.context["cl"].can_show_all is False


@pytest.mark.postgres
def test_an_unfiltered_big_list_shows_the_planners_estimate(admin_client_, mine, monkeypatch):
    from flowdesk.admin import LargeTablePaginator

    monkeypatch.setattr(LargeTablePaginator, "cap", 3)
    grow(mine, 4)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chat_chatsession")
    response = admin_client_.get(admin_url(ChatSession, "changelist"))
    assert response.context["cl"].paginator.approximate == "about"
    assert b"about 5 chat sessions" in response.content
