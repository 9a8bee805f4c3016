"""The steps' durations rollup (StepDurationDay, kept by the triggers of migration 0006) equals
the same count done in Python over the step runs, after each write path: the engine, an import,
an edit, a delete with its cascade, retention. Both databases."""

from collections import Counter
from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from flows.models import LiveFlowSession, LiveFlowSessionStep, SessionStatus, StepDurationDay, duration_bucket
from tests.flows.factories import make_live_flow, make_session
from tests.flows.test_engine import eager, start, triage  # noqa: F401 (fixtures)
from tests.flows.test_import import example, run_import, second_session, write
from tests.retention.conftest import ours, run, theirs  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

ENDED = [SessionStatus.FINISHED, SessionStatus.FAILED]


def counted():
    """{(organization, step, UTC day, bucket): ended runs}, grouped here from the runs themselves."""
    runs = LiveFlowSessionStep.objects.filter(status__in=ENDED).select_related("flow_version__flow")
    return dict(Counter(
        (run.flow_version.flow.organization_id, run.step_id, run.created_at.astimezone(UTC).date(),
         duration_bucket(run.updated_at - run.created_at))
        for run in runs
    ))


def rolled_up():
    rows = StepDurationDay.objects.values_list("organization_id", "step_id", "day", "bucket", "runs")
    assert all(runs > 0 for *_, runs in rows), "a count of 0 is deleted"
    return {tuple(key): runs for *key, runs in rows}


def assert_in_step():
    expected = counted()
    assert rolled_up() == expected
    return expected


def add_runs(session, durations_ms, status=SessionStatus.FINISHED, at=None):
    at = at or session.created_at
    steps = list(session.flow_version.steps.order_by("created_at", "id"))
    return [
        LiveFlowSessionStep.objects.create(
            session=session, flow_version=session.flow_version, step=steps[n % len(steps)], status=status,
            created_at=at + timedelta(seconds=n), updated_at=at + timedelta(seconds=n, milliseconds=ms),
        )
        for n, ms in enumerate(durations_ms)
    ]


def test_the_engine_running_a_session_is_counted(tenant, triage, eager, django_capture_on_commit_callbacks):  # noqa: F811
    live_flow, _ = triage
    session_id = start(tenant, live_flow, {"message": "My invoice is wrong"}, django_capture_on_commit_callbacks)
    assert LiveFlowSession.objects.get(pk=session_id).status == SessionStatus.FINISHED
    expected = assert_in_step()
    assert sum(expected.values()) == 3  # start, classify, billing_reply


def test_an_import_is_counted_and_a_reimport_with_new_times_moves_the_runs(tmp_path, db):
    base = example()[0]
    records = []
    for n in range(12):
        record = second_session(base)
        for recorded in (record["steps"][0], record["current_step"]):
            recorded["status"] = ["FINISHED", "FAILED", "RUNNING"][n % 3]
            recorded["created_at"] = f"2023-11-0{1 + n % 3}T05:31:56Z"
            recorded["updated_at"] = f"2023-11-0{1 + n % 3}T05:3{2 + n % 5}:0{n % 10}.{n * 83 % 1000:03d}Z"
        records.append(record)
    assert run_import(write(tmp_path, records))[0] == "created 12, updated 0, unchanged 0"
    assert sum(assert_in_step().values()) == 8
    for record in records:  # every run ends later, and the running ones end
        for recorded in (record["steps"][0], record["current_step"]):
            recorded["status"] = "FINISHED"
            recorded["updated_at"] = recorded["updated_at"].replace("05:3", "06:4")
    assert run_import(write(tmp_path, records, "again.json"))[0] == "created 0, updated 12, unchanged 0"
    assert sum(assert_in_step().values()) == 12


def test_edits_of_status_times_and_step_move_the_counts(tenant):
    session = make_session(make_live_flow(tenant.organization), n_recorded=0)
    runs = add_runs(session, [0, 1, 7, 250, 999, 1000, 4321, 9000, 61_000])
    assert sum(assert_in_step().values()) == 9
    # A queryset update (one statement, many rows), a save, and a run that ends.
    LiveFlowSessionStep.objects.filter(pk__in=[r.pk for r in runs[:4]]).update(updated_at=timezone.now())
    assert_in_step()
    runs[4].status = SessionStatus.RUNNING
    runs[4].save()
    assert sum(assert_in_step().values()) == 8
    runs[4].status = SessionStatus.FAILED
    runs[4].created_at -= timedelta(days=3)  # another day, another bucket
    runs[4].save()
    assert sum(assert_in_step().values()) == 9
    other = session.flow_version.steps.exclude(pk=runs[5].step_id).first()
    LiveFlowSessionStep.objects.filter(pk=runs[5].pk).update(step=other)
    LiveFlowSessionStep.objects.filter(pk=runs[6].pk).update(result="only the text changes")
    assert_in_step()
    # Ended before it started (clock skew in an import): 0 ms, as the Python side says.
    LiveFlowSessionStep.objects.filter(pk=runs[7].pk).update(updated_at=runs[7].created_at - timedelta(seconds=5))
    assert_in_step()


def test_a_deleted_session_takes_its_counts_and_emptied_rows_go(tenant):
    live_flow = make_live_flow(tenant.organization)
    kept, doomed = make_session(live_flow, n_recorded=0), make_session(live_flow, n_recorded=0)
    add_runs(kept, [10, 20, 30])
    add_runs(doomed, [10, 20, 5000, 6000], status=SessionStatus.FAILED)
    before = assert_in_step()
    doomed.delete()  # the ORM's cascade: current_step set to NULL, the runs, the session
    after = assert_in_step()
    assert sum(after.values()) == 3 and len(after) < len(before)
    LiveFlowSessionStep.objects.all().delete()
    assert rolled_up() == {}


def test_retention_takes_the_counts_of_what_it_deletes(ours, theirs):  # noqa: F811
    for data in (ours, theirs):
        for kind in ("old", "recent", "held"):
            for session in data.live[kind]:
                add_runs(session, [15, 1500, 15000], at=session.created_at + timedelta(minutes=1))
    before = assert_in_step()
    run("set_retention", ours.organization.pk, "--live-flow-sessions", "30")
    run("apply_retention", "--no-progress")
    assert not LiveFlowSession.objects.filter(pk__in=[s.pk for s in ours.live["old"]]).exists()
    after = assert_in_step()
    assert sum(after.values()) < sum(before.values())
    theirs_key = {key: n for key, n in before.items() if key[0] == theirs.organization.pk}
    assert {key: n for key, n in after.items() if key[0] == theirs.organization.pk} == theirs_key


def test_each_organization_counts_its_own_runs(tenant, other_tenant):
    for org, durations in ((tenant.organization, [5, 50]), (other_tenant.organization, [500, 5000, 50000])):
        add_runs(make_session(make_live_flow(org), n_recorded=0), durations)
    expected = assert_in_step()
    assert Counter(key[0] for key in Counter(expected).elements()) == {
        tenant.organization.pk: 2, other_tenant.organization.pk: 3}


def test_buckets_are_five_percent_wide_and_zero_is_its_own(db):
    assert duration_bucket(timedelta(0)) == 0
    assert duration_bucket(timedelta(seconds=-3)) == 0
    assert duration_bucket(timedelta(microseconds=999)) == 0
    assert duration_bucket(timedelta(milliseconds=1)) > 0
    for ms in (20, 1000, 86_400_000 * 30):
        low, high = ms, int(ms * 1.06) + 1
        assert duration_bucket(timedelta(milliseconds=low)) < duration_bucket(timedelta(milliseconds=high))
    assert duration_bucket(timedelta(days=365)) < 32767  # a smallint
