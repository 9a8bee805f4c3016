"""/admin/insights/: each chart's figures equal the same counts done another way (in Python, over
the rows), per organization and date range; the page is scoped, validated and a fixed number of
queries."""

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from chat.insights import messages_by_day
from chat.models import ChatMessage, Role
from flowdesk.admin.insights import all_charts, day_range
from flows.insights import busiest_live_flows, failures_by_day, sessions_by_day, step_durations
from flows.models import (
    LiveFlow,
    LiveFlowSession,
    LiveFlowSessionStep,
    SessionStatus,
    bucket_seconds,
    duration_bucket,
)
from tests.admin.helpers import logged_in
from tests.chat.factories import chat
from tests.flows.factories import make_live_flow, make_session

pytestmark = pytest.mark.django_db

URL = "/admin/insights/"
START, END = date(2024, 5, 1), date(2024, 5, 10)
STATUSES = [SessionStatus.FINISHED, SessionStatus.FAILED, SessionStatus.RUNNING, SessionStatus.WAITING_FOR_USER_INPUT]


def in_bucket(duration):
    return bucket_seconds(duration_bucket(duration))


def nearest_rank(values, p):
    ordered = sorted(values)
    return ordered[max(1, -(-len(ordered) * p // 100)) - 1]


@pytest.fixture
def busy(mine, theirs):
    """Sessions over twelve days (two outside the range) in two live flows, with step runs of
    known durations, and chat messages with tokens; the other organization has the same."""
    rng = random.Random(7)
    for world in (mine, theirs):
        org = world.tenant.organization
        flows = [world.objects[LiveFlow], make_live_flow(org)]
        flows[1].name = "Billing"
        flows[1].save()
        for day in range(-1, 11):
            at = datetime(2024, 5, 1, 8, tzinfo=UTC) + timedelta(days=day, minutes=rng.randint(0, 900))
            for n in range(rng.randint(0, 4)):
                session = make_session(flows[n % 2], n_recorded=0, status=rng.choice(STATUSES), created_at=at)
                steps = list(session.flow_version.steps.order_by("created_at", "id"))
                for k in range(rng.randint(1, 4)):
                    step = steps[k % len(steps)]
                    started = at + timedelta(seconds=k * 10)
                    LiveFlowSessionStep.objects.create(
                        session=session, flow_version=session.flow_version, step=step,
                        status=rng.choice([SessionStatus.FINISHED, SessionStatus.FAILED, SessionStatus.RUNNING]),
                        created_at=started, updated_at=started + timedelta(milliseconds=rng.randint(5, 9000)),
                    )
            chat(org, at=at, messages=[(Role.USER, "q"), (Role.ASSISTANT, "a")] * rng.randint(0, 2) or [(Role.USER, "q")])
        ChatMessage.objects.filter(session__organization=org).update(tokens_used=None)
        for message in ChatMessage.objects.filter(session__organization=org, role=Role.ASSISTANT):
            message.tokens_used = rng.randint(1, 50)
            message.save(update_fields=["tokens_used"])
    return mine


def in_range(queryset, field="created_at"):
    since, until = day_range(START, END)
    return queryset.filter(**{f"{field}__gte": since, f"{field}__lt": until})


def test_sessions_per_day_by_status_and_failures_equal_a_count_of_the_rows(busy):
    org = busy.tenant.organization.pk
    sessions = list(in_range(LiveFlowSession.objects.filter(live_flow__organization_id=org)))
    assert len(sessions) > 10
    expected = Counter((s.created_at.date(), s.status) for s in sessions)
    assert sessions_by_day(org, *day_range(START, END)) == dict(expected)
    failures = {}
    for s in sessions:
        total, failed = failures.get(s.created_at.date(), (0, 0))
        failures[s.created_at.date()] = (total + 1, failed + (s.status == SessionStatus.FAILED))
    assert failures_by_day(org, *day_range(START, END)) == failures


def test_step_durations_are_nearest_rank_median_and_95th_percentile_by_step(busy):
    org = busy.tenant.organization.pk
    runs = in_range(LiveFlowSessionStep.objects.filter(
        session__live_flow__organization_id=org, status__in=[SessionStatus.FINISHED, SessionStatus.FAILED]
    )).select_related("step")
    by_step = {}
    for run in runs:
        by_step.setdefault(run.step_id, (run.step, []))[1].append(run.updated_at - run.created_at)
    # The chart reads a histogram in 5% classes: each figure is the class of the exact nearest-rank
    # duration, shown as the class's midpoint, within 2.5% of it.
    expected = sorted(
        [(step.name, step.step_type, len(values), in_bucket(nearest_rank(values, 50)), in_bucket(nearest_rank(values, 95)))
         for step, values in by_step.values()],
        key=lambda row: (-row[4], row[0]),
    )
    assert len(expected) >= 3
    assert step_durations(org, *day_range(START, END)) == expected
    for _, values in by_step.values():
        for p in (50, 95):
            exact = nearest_rank(values, p)
            assert abs(in_bucket(exact) - exact.total_seconds()) <= 0.025 * exact.total_seconds()


def test_nearest_rank_on_a_small_known_set(mine):
    # 1..10 seconds: the median is the 5th, the 95th percentile the 10th; one more run makes it the 6th.
    session = mine.objects[LiveFlowSession]
    step = session.flow_version.steps.order_by("created_at").last()
    at = datetime(2024, 5, 2, tzinfo=UTC)
    LiveFlowSessionStep.objects.filter(session=session).delete()
    for n in range(1, 11):
        LiveFlowSessionStep.objects.create(session=session, flow_version=session.flow_version, step=step,
                                           status=SessionStatus.FINISHED, created_at=at, updated_at=at + timedelta(seconds=n))
    org = mine.tenant.organization.pk
    s = in_bucket  # the figures are of 5% classes
    assert step_durations(org, *day_range(START, END)) == [
        (step.name, step.step_type, 10, s(timedelta(seconds=5)), s(timedelta(seconds=10)))]
    LiveFlowSessionStep.objects.create(session=session, flow_version=session.flow_version, step=step,
                                       status=SessionStatus.FAILED, created_at=at, updated_at=at + timedelta(seconds=11))
    assert step_durations(org, *day_range(START, END)) == [
        (step.name, step.step_type, 11, s(timedelta(seconds=6)), s(timedelta(seconds=11)))]
    median, p95 = step_durations(org, *day_range(START, END))[0][3:]
    assert median == pytest.approx(6.0, rel=0.025) and p95 == pytest.approx(11.0, rel=0.025)


def test_busiest_live_flows_and_chat_volume_equal_a_count_of_the_rows(busy):
    org = busy.tenant.organization.pk
    sessions = list(in_range(LiveFlowSession.objects.filter(live_flow__organization_id=org)).select_related("live_flow"))
    counted = Counter(s.live_flow.name for s in sessions)
    failed = Counter(s.live_flow.name for s in sessions if s.status == SessionStatus.FAILED)
    expected = sorted([(name, n, failed[name]) for name, n in counted.items()], key=lambda row: (-row[1], row[0]))
    assert busiest_live_flows(org, *day_range(START, END)) == expected

    messages = list(in_range(ChatMessage.objects.filter(session__organization_id=org)))
    volume = {}
    for m in messages:
        n, tokens = volume.get(m.created_at.date(), (0, 0))
        volume[m.created_at.date()] = (n + 1, tokens + (m.tokens_used or 0))
    assert messages_by_day(org, *day_range(START, END)) == volume
    assert sum(t for _, t in volume.values()) > 0


def test_the_page_draws_every_chart_for_the_chosen_range(admin_client_, busy):
    response = admin_client_.get(URL, {"org": busy.tenant.organization.pk, "from": "2024-05-01", "to": "2024-05-10"})
    assert response.status_code == 200
    html = response.content.decode()
    for chart in all_charts():
        assert f'id="insight-{chart.name}"' in html
    assert html.count('<svg class="fd-chart"') == len(all_charts()) + 1  # chat: messages and tokens
    sessions = response.context["charts"][0]
    assert sum(sessions["figures"].values()) == in_range(
        LiveFlowSession.objects.filter(live_flow__organization=busy.tenant.organization)).count()
    # One bar per (day, status) present: the drawing is of the figures.
    assert html.count('class="bar"', html.index('id="insight-live-flow-sessions"'), html.index('id="insight-failure-rate"')) == len(
        sessions["figures"])
    assert 'value="2024-05-01"' in html and 'value="2024-05-10"' in html
    # The durations are of 5% classes, and say so.
    durations = html[html.index('id="insight-step-durations"'):html.index('id="insight-busiest-live-flows"')]
    assert "≈" in durations and "within 2.5%" in durations


def test_a_staff_member_sees_and_picks_only_their_organizations(staff_client, busy, theirs):
    response = staff_client.get(URL)
    assert response.status_code == 200
    assert [pk for pk, _ in response.context["organizations"]] == [busy.tenant.organization.pk]
    assert response.context["organization"] == busy.tenant.organization.pk
    assert staff_client.get(URL, {"org": theirs.tenant.organization.pk}).status_code == 404
    assert staff_client.get(URL, {"org": "org_nope"}).status_code == 404
    # A member of no organization gets the page, with nothing to show.
    from django.contrib.auth import get_user_model

    loner = get_user_model().objects.create_user("loner", password="pw", is_staff=True)
    page = logged_in(loner).get(URL)
    assert page.status_code == 200 and page.context["charts"] == []


def test_the_other_organizations_rows_never_count(admin_client_, busy, theirs):
    ours = admin_client_.get(URL, {"org": busy.tenant.organization.pk, "from": "2024-05-01", "to": "2024-05-10"})
    counted = sum(ours.context["charts"][0]["figures"].values())
    assert counted == in_range(LiveFlowSession.objects.filter(live_flow__organization=busy.tenant.organization)).count()
    assert counted != in_range(LiveFlowSession.objects.all()).count()


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "yesterday"}, "from: 'yesterday' is not a date"),
        ({"to": "2024-13-01"}, "to: '2024-13-01' is not a date"),
        ({"from": "2024-05-10", "to": "2024-05-01"}, "from is after to"),
        ({"from": "2020-01-01", "to": "2024-05-01"}, "At most 366 days"),
    ],
)
def test_a_bad_range_is_said_and_a_sound_one_shown(admin_client_, mine, params, says):
    response = admin_client_.get(URL, params)
    assert response.status_code == 200
    assert any(error.startswith(says) for error in response.context["errors"]), response.context["errors"]
    assert (response.context["end"] - response.context["start"]).days < 366


def test_the_page_runs_one_query_per_chart(admin_client_, mine, theirs, django_assert_num_queries, busy):
    # The login session and user, the organization picker, then one aggregate query per chart.
    with django_assert_num_queries(3 + len(all_charts())):
        response = admin_client_.get(URL, {"org": mine.tenant.organization.pk, "from": "2024-05-01", "to": "2024-05-10"})
    assert response.status_code == 200


def test_the_index_links_to_insights_and_search(admin_client_):
    index = admin_client_.get("/admin/").content.decode()
    assert reverse("flowdesk-insights") in index and reverse("flowdesk_search") in index
