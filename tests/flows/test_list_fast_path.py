"""The live flows page's constant SQL (flows/api/views.py PAGE_SQL, PostgreSQL): the same page as
the ORM's statements, whatever the sessions hold."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from flows.api.serializers import SessionRenderer, session_tree_rows
from flows.models import LiveFlowSession, LiveFlowSessionStep, SessionStatus
from tests.conftest import make_tenant
from tests.flows.factories import make_live_flow, make_session, make_version

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

BASE = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
# JSON the ORM reads otherwise than orjson would (past 64 bits, 19 digits below -2**63), bare
# values, nulls, non-ASCII, keys jsonb reorders.
INPUTS = [{}, {"big": 2**70, "low": -(2**63) - 1, "f": 0.1, "ten": 10.0}, {"zz": 1, "a": ["パ", None, True, []]},
          {"nested": {"x": [{"y": "line\nbreak \"q\""}]}}]
PROMPTS = [None, {"type": "text", "text": "héllo"}, "a bare string", 2**64, [1, 2.5, None]]


def orm_page(live_flow, offset, end):
    sessions = LiveFlowSession.objects.filter(live_flow=live_flow).order_by("-created_at", "-id")[offset:end]
    return SessionRenderer().page(session_tree_rows(sessions))


def test_the_constant_page_is_the_orm_page(tenant):
    live_flow = make_live_flow(tenant.organization, n_steps=4)
    earlier_version = live_flow.current_version
    for n in range(8):
        if n == 4:  # the later sessions ran another version
            live_flow.current_version, _ = make_version(tenant.organization, n_steps=2)
            live_flow.save()
        at = BASE + timedelta(seconds=n, microseconds=n * 250_000)
        if n == 3:
            at = BASE + timedelta(seconds=2, microseconds=500_000)  # a tie on created_at: the id decides
        session = make_session(live_flow, n_recorded=n % 4, created_at=at)
        LiveFlowSession.objects.filter(pk=session.pk).update(
            inputs=INPUTS[n % len(INPUTS)], error="failed: ☃" if n == 5 else None, status=SessionStatus.FAILED
            if n == 5 else SessionStatus.RUNNING)
        for index, step in enumerate(session.steps.order_by("created_at")):
            LiveFlowSessionStep.objects.filter(pk=step.pk).update(
                prompt=PROMPTS[(n + index) % len(PROMPTS)], user_input="yes" if index else None,
                result=None if index else "r")
    year_799 = make_session(live_flow, n_recorded=1, created_at=datetime(799, 3, 15, 4, 50, 9, tzinfo=UTC))
    assert year_799.flow_version_id != earlier_version.pk
    make_session(make_live_flow(make_tenant("org_other_fast_lf", "olaf").organization))  # never listed here
    url = f"/live_flows/{live_flow.pk}/sessions"
    for query, offset, end in [("?limit=50", 0, 50), ("?limit=2", 0, 2), ("?limit=3&offset=2", 2, 5),
                               ("?limit=1&offset=8", 8, 9), ("?limit=5&offset=100", 100, 105)]:
        response = tenant.client.get(url + query)
        assert response.status_code == 200
        assert response.json() == orm_page(live_flow, offset, end), query
    body = tenant.client.get(url + "?limit=50").json()
    assert len(body) == 9 and body[-1]["created_at"] == "0799-03-15T04:50:09Z"
    big = next(s["inputs"] for s in body if "big" in s["inputs"])
    assert type(big["big"]) is int and big["low"] == -(2**63) - 1  # integers still, not floats
    assert {type(step["prompt"]) for s in body for step in s["steps"]} == {type(None), dict, str, int, list}


def test_a_filter_still_goes_through_the_orm_and_another_tenants_live_flow_is_a_404(tenant, other_tenant):
    live_flow = make_live_flow(tenant.organization)
    make_session(live_flow, status=SessionStatus.RUNNING)
    finished = make_session(live_flow, status=SessionStatus.FINISHED)
    url = f"/live_flows/{live_flow.pk}/sessions?limit=5"
    assert [s["id"] for s in tenant.client.get(url + "&status=FINISHED").json()] == [str(finished.pk)]
    response = other_tenant.client.get(url)
    assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
    response = tenant.client.get(f"/live_flows/{uuid.uuid4()}/sessions?limit=5")
    assert response.status_code == 404
