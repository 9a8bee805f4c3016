"""The live flows' charts on /admin/insights/ (flowdesk/admin/insights.py): sessions per day by
status, the failure rate, steps' durations by step, the busiest live flows. One query each."""

from datetime import UTC, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from flowdesk.admin import charts
from flowdesk.admin.insights import Chart, register
from flows.models import LiveFlowSession, SessionStatus, StepDurationDay, bucket_seconds

STATUSES = [s.value for s in SessionStatus]
ENDED = [SessionStatus.FINISHED, SessionStatus.FAILED]


def sessions_in(organization_id, since, until):
    return LiveFlowSession.objects.filter(
        live_flow__organization_id=organization_id, created_at__gte=since, created_at__lt=until
    )


# --- sessions per day, by status -----------------------------------------------------------------


def sessions_by_day(organization_id, since, until):
    """{(day, status): sessions started that day}."""
    rows = (
        sessions_in(organization_id, since, until)
        .annotate(day=TruncDate("created_at", tzinfo=UTC)).values("day", "status")
        .annotate(n=Count("id")).order_by()
    )
    return {(row["day"], row["status"]): row["n"] for row in rows}


def draw_sessions(figures, days):
    present = [status for status in STATUSES if any(key[1] == status for key in figures)]
    series = {status: [figures.get((day, status), 0) for day in days] for status in present}
    total = sum(figures.values())
    return {
        "empty": not total,
        "svg": charts.stacked_bars(days, series, "Live flow sessions per day by status"),
        "legend": charts.legend(present),
        "summary": f"{total:,} sessions started",
        "table": [["status", "sessions"], *[[status, sum(series[status])] for status in present]],
    }


register(Chart(
    name="live-flow-sessions", title="Live flow sessions per day, by status", figures=sessions_by_day,
    draw=draw_sessions, help="Sessions by the day they started and their status now.", order=10,
))


# --- failure rate --------------------------------------------------------------------------------


def failures_by_day(organization_id, since, until):
    """{day: (sessions started, of which failed)}."""
    rows = (
        sessions_in(organization_id, since, until)
        .annotate(day=TruncDate("created_at", tzinfo=UTC)).values("day")
        .annotate(total=Count("id"), failed=Count("id", filter=Q(status=SessionStatus.FAILED))).order_by()
    )
    return {row["day"]: (row["total"], row["failed"]) for row in rows}


def percent(value):
    return f"{value:.1f}%"


def draw_failures(figures, days):
    rates = [
        (figures[day][1] * 100 / figures[day][0]) if figures.get(day, (0, 0))[0] else None for day in days
    ]
    total = sum(t for t, _ in figures.values())
    failed = sum(f for _, f in figures.values())
    return {
        "empty": not total,
        "svg": charts.line(days, rates, "Failure rate per day", fmt=percent, maximum=max([r for r in rates if r] or [1])),
        "summary": f"{failed:,} of {total:,} sessions failed ({percent(failed * 100 / total) if total else '–'})",
    }


register(Chart(
    name="failure-rate", title="Failure rate", figures=failures_by_day, draw=draw_failures,
    help="The share of each day's sessions that failed (days without sessions are gaps).", order=20,
))


# --- steps' durations ----------------------------------------------------------------------------


def step_durations(organization_id, since, until):
    """[(step name, step type, runs, median, 95th percentile)] of the ended step runs, slowest first.

    Read from the daily rollup (StepDurationDay, kept by triggers), in one aggregate query: runs
    per step and duration bucket over the range's days. The percentiles are nearest-rank (the
    ⌈p·n⌉-th of n sorted durations) over the buckets, each reported as its bucket's geometric
    midpoint (flows.models.bucket_seconds), within 2.5% of the exact one. The range is whole UTC
    days (day_range gives midnights): the rollup has no finer time."""
    rows = (
        StepDurationDay.objects.filter(
            organization_id=organization_id, day__gte=since.astimezone(UTC).date(),
            day__lt=(until - timedelta(microseconds=1)).astimezone(UTC).date() + timedelta(days=1),
        )
        .values("step_id", "step__name", "step__step_type", "bucket").annotate(n=Sum("runs"))
        .order_by("step_id", "bucket")
    )
    by_step = {}
    for row in rows:
        by_step.setdefault(row["step_id"], (row["step__name"], row["step__step_type"], []))[2].append(
            (row["bucket"], row["n"]))
    result = []
    for name, kind, buckets in by_step.values():
        runs = sum(n for _, n in buckets)
        result.append((name, kind, runs, ranked(buckets, (runs + 1) // 2), ranked(buckets, (runs * 95 + 99) // 100)))
    return sorted(result, key=lambda row: (-row[4], row[0]))


def ranked(buckets, rank):
    """The representative duration of the bucket holding the rank-th run (buckets in order)."""
    seen = 0
    for bucket, n in buckets:
        seen += n
        if seen >= rank:
            return bucket_seconds(bucket)
    raise ValueError(rank)


def approx_seconds(value):
    # Bucket 0 holds exactly 0 ms: only the others are approximate.
    return seconds(value) if value == 0 else "≈" + seconds(value)


def seconds(value):
    return f"{value:.2f} s" if value < 60 else f"{value / 60:.1f} min"


def draw_durations(figures, days):
    shown = figures[:15]
    return {
        "empty": not figures,
        "svg": charts.horizontal_bars(
            [(f"{name} ({kind})", {"median": median, "95th percentile": p95}) for name, kind, _, median, p95 in shown],
            "Step durations", fmt=approx_seconds,
        ),
        "legend": charts.legend(["median", "95th percentile"]),
        "table": [["step", "type", "runs", "median", "95th percentile"],
                  *[[name, kind, runs, approx_seconds(median), approx_seconds(p95)] for name, kind, runs, median, p95 in figures]],
    }


register(Chart(
    name="step-durations", title="Steps' durations", figures=step_durations, draw=draw_durations,
    help="Finished and failed step runs started in the range, from start to end; slowest 95th percentile first. "
         "Durations are read from a daily histogram in 5% classes: each is within 2.5% (≈).",
    order=30,
))


# --- the busiest live flows ----------------------------------------------------------------------

BUSIEST = 10


def busiest_live_flows(organization_id, since, until):
    """[(live flow name, sessions, failed)], the most sessions first."""
    rows = (
        sessions_in(organization_id, since, until).values("live_flow_id", "live_flow__name")
        .annotate(sessions=Count("id"), failed=Count("id", filter=Q(status=SessionStatus.FAILED)))
        .order_by("-sessions", "live_flow__name", "live_flow_id")[:BUSIEST]
    )
    return [(row["live_flow__name"] or str(row["live_flow_id"]), row["sessions"], row["failed"]) for row in rows]


def draw_busiest(figures, days):
    return {
        "empty": not figures,
        "svg": charts.horizontal_bars(
            [(name, {"sessions": n, "failed": failed}) for name, n, failed in figures], "Busiest live flows"
        ),
        "legend": charts.legend(["sessions", "failed"]),
    }


register(Chart(
    name="busiest-live-flows", title="Busiest live flows", figures=busiest_live_flows, draw=draw_busiest,
    help=f"The {BUSIEST} live flows with the most sessions started in the range.", order=40,
))
