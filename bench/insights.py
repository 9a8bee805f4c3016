"""Insights (issue #18) on PostgreSQL: each chart's one aggregate query, and the whole
/admin/insights/ page, over 1,000,000 live flow sessions (3 recorded steps each) and their
organization's chat. Standalone: ``.venv/bin/python -m bench.insights [--sessions N]``.

Fills a database of its own with bench/generate.py (COPY), then gives the sessions a spread of
statuses and the step runs durations (one UPDATE each), and times, for a 30-day range and for the
whole year, each chart's query and the page as a superuser sees it, and, on the same data, the
exact window query the steps' durations chart ran before it read the rollup (StepDurationDay).
Writes an "Insights" section into bench/RESULTS.md (replacing the one a previous run wrote).

``--import-ratio N`` measures instead what the rollup's triggers cost an import: the same file of
N live flow sessions imported with the triggers and without them (disabled), records per second."""

import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECTION = "## Insights (issue #18, bench/insights.py)"
ORG = "org_benchInsights0001"


def parse_args(argv):
    from bench.run import bench_parser

    parser = bench_parser(__doc__, "flowdesk_bench_insights", no_write=True)
    parser.add_argument("--sessions", type=int, default=1_000_000, help="live flow sessions")
    parser.add_argument("--chat-sessions", type=int, default=200_000, help="chat sessions (5 messages each)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--import-ratio", type=int, metavar="N", default=0,
                        help="only time an import of N sessions with and without the rollup's triggers")
    return parser.parse_args(argv)


def setup_django(args):
    from bench.run import own_database

    own_database(args.server, args.database)


def fill(args, log):
    from django.db import connection, transaction

    from accounts.models import Organization
    from bench.generate import generate_chat, generate_live_flows
    from flows.models import LiveFlowSession, LiveFlowSessionStep

    Organization.objects.create(pk=ORG, name="Insights bench")
    started = time.perf_counter()
    connection.ensure_connection()
    conn = connection.connection
    log(f"loading {args.sessions:,} live flow sessions and {args.chat_sessions:,} chat sessions")
    with transaction.atomic():  # the generator defers the sessions' keys to its commit
        generate_live_flows(conn, ORG, sessions=args.sessions, steps_per_session=3, versions=20)
        generate_chat(conn, ORG, sessions=args.chat_sessions, messages_per_session=5)
    with connection.cursor() as cursor:
        # A spread the charts can show: a status by the session's number, durations by the run's.
        cursor.execute(
            f"UPDATE {LiveFlowSession._meta.db_table} SET status = (ARRAY['FINISHED','FINISHED','FINISHED','FAILED',"
            "'RUNNING','WAITING_FOR_USER_INPUT','CANCELLED'])[1 + abs(hashtext(id::text)) % 7]"
        )
        cursor.execute(
            f"UPDATE {LiveFlowSessionStep._meta.db_table} SET updated_at = created_at + "
            "(abs(hashtext(id::text)) % 9000) * interval '1 millisecond', "
            "status = CASE WHEN abs(hashtext(id::text)) % 20 = 0 THEN 'FAILED' ELSE 'FINISHED' END"
        )
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def exact_step_durations(organization_id, since, until):
    """The chart's query before the rollup (exact nearest-rank over every ended run of the range,
    ranked by window functions), kept here as the baseline the rollup is measured against."""
    from django.db.models import (
        Case,
        Count,
        DurationField,
        ExpressionWrapper,
        F,
        IntegerField,
        Value,
        When,
        Window,
    )
    from django.db.models.functions import RowNumber

    from flows.insights import ENDED
    from flows.models import LiveFlowSessionStep

    duration = ExpressionWrapper(F("updated_at") - F("created_at"), output_field=DurationField())
    ranked = LiveFlowSessionStep.objects.filter(
        session__live_flow__organization_id=organization_id, created_at__gte=since, created_at__lt=until,
        status__in=ENDED,
    ).annotate(
        duration=duration,
        rank=Window(RowNumber(), partition_by=[F("step_id")], order_by=[duration.asc(), F("id").asc()]),
        runs=Window(Count("id"), partition_by=[F("step_id")]),
    )
    median_rank = ExpressionWrapper((F("runs") + Value(1)) / Value(2), output_field=IntegerField())
    p95_rank = ExpressionWrapper((F("runs") * Value(95) + Value(99)) / Value(100), output_field=IntegerField())
    wanted = Case(When(rank=median_rank, then=True), When(rank=p95_rank, then=True), default=False)
    return list(ranked.annotate(wanted=wanted).filter(wanted=True).values("step_id", "runs", "rank", "duration"))


def measure(args, log):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from bench.measure import timed
    from flowdesk.admin.insights import all_charts, day_range
    from flows.models import LiveFlowSession

    first, last = (LiveFlowSession.objects.order_by(field).values_list("created_at", flat=True).first()
                   for field in ("created_at", "-created_at"))
    end = last.date()
    ranges = {"30 days": (end - timedelta(days=29), end), "the whole range": (first.date(), min(end, first.date() + timedelta(days=365)))}
    admin = get_user_model().objects.create_superuser("bench", "bench@example.com", "pw")
    client = Client()
    client.force_login(admin)
    rows = []
    for label, (start, stop) in ranges.items():
        in_range = LiveFlowSession.objects.filter(
            live_flow__organization_id=ORG, created_at__gte=day_range(start, stop)[0], created_at__lt=day_range(start, stop)[1]
        ).count()
        for chart in all_charts():
            bounds = day_range(start, stop)
            timing, _ = timed(lambda chart=chart, bounds=bounds: chart.figures(ORG, *bounds), runs=args.runs, warmup=1)
            rows.append((label, f"{in_range:,}", chart.title, timing.ms()))
            log(f"{label}: {chart.title}: {timing.ms()}")
            if chart.name == "step-durations":
                timing, _ = timed(lambda bounds=bounds: exact_step_durations(ORG, *bounds), runs=args.runs, warmup=1)
                rows.append((label, f"{in_range:,}", "Steps' durations, exact window query (before the rollup)",
                             timing.ms()))
                log(f"{label}: exact durations: {timing.ms()}")
        url = f"/admin/insights/?org={ORG}&from={start.isoformat()}&to={stop.isoformat()}"
        queries = []  # counted by a wrapper: the request's start empties connection.queries
        with connection.execute_wrapper(lambda execute, sql, *rest, seen=queries: seen.append(sql) or execute(sql, *rest)):
            assert client.get(url).status_code == 200
        timing, _ = timed(lambda url=url: client.get(url), runs=args.runs, warmup=1)
        rows.append((label, f"{in_range:,}", f"the whole page ({len(queries)} queries)", timing.ms()))
        log(f"{label}: page: {timing.ms()}")
    return rows


def import_file(sessions, path):
    """N live flow sessions as the vendor's list gives them (tests/fixtures' record, fresh ids), one
    ended step run each, of durations 0-9 s."""
    import json
    import uuid

    import orjson

    base = json.loads((ROOT / "tests" / "fixtures" / "live_flow_sessions.json").read_text())[0]
    records = []
    for n in range(sessions):
        record = json.loads(json.dumps(base))
        record["id"] = str(uuid.uuid4())
        step_id = str(uuid.uuid4())
        for recorded in (record["steps"][0], record["current_step"]):
            recorded.update(id=step_id, status="FINISHED", created_at=f"2023-11-{1 + n % 28:02d}T05:31:56Z",
                            updated_at=f"2023-11-{1 + n % 28:02d}T05:32:{n % 60:02d}.{n * 37 % 1000:03d}Z")
        records.append(record)
    path.write_bytes(orjson.dumps(records))


def import_ratio(args, log):
    """(records/s with the triggers, records/s without), best of three imports each, alternated, each
    into a database new and migrated."""
    import io
    import tempfile

    from bench.run import recreate_database

    path = Path(tempfile.mkdtemp()) / "live_flow_sessions.json"
    import_file(args.import_ratio, path)
    rates = {True: [], False: []}
    for triggers in (True, False) * 3:
        from django.core.management import call_command
        from django.db import connection

        connection.close()
        recreate_database(args.server, args.database)
        call_command("migrate", verbosity=0)
        if not triggers:
            with connection.cursor() as cursor:
                for event in ("insert", "update", "delete"):
                    cursor.execute(f"ALTER TABLE flows_liveflowsessionstep DISABLE TRIGGER flows_step_durations_{event}")
        started = time.perf_counter()
        call_command("import_live_flow_sessions", str(path), org=ORG, live_flow="11111111-1111-4111-8111-111111111111",
                     stdout=io.StringIO(), stderr=io.StringIO())
        rate = args.import_ratio / (time.perf_counter() - started)
        from flows.models import StepDurationDay

        log(f"triggers {'on' if triggers else 'off'}: {rate:,.0f} records/s, rollup rows {StepDurationDay.objects.count()}")
        rates[triggers].append(rate)
    return max(rates[True]), max(rates[False])


def section_text(args, loaded, rows):
    import platform

    from bench.run import machine, table_row
    from flows.models import LiveFlowSessionStep, StepDurationDay

    lines = [
        SECTION, "",
        f"- {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {machine()}; `python -m bench.insights --sessions {args.sessions}` ({platform.python_version()})",
        f"- {args.sessions:,} live flow sessions of one organization (one every 30 s, 20 live flows, 3 step runs "
        f"each, seven statuses, step durations 0-9 s) and {args.chat_sessions * 5:,} chat messages, loaded in "
        f"{loaded:.0f} s (the rollup's triggers included: the COPY of the runs and the UPDATE of their durations "
        f"each aggregated once); the rollup holds {StepDurationDay.objects.count():,} rows for "
        f"{LiveFlowSessionStep.objects.count():,} step runs",
        f"- each chart: its one aggregate query, median of {args.runs} runs after a warm-up one; the page: "
        "`GET /admin/insights/` for a superuser in-process (session, user, organizations, one query per chart, the "
        "template)",
        "",
        "| range | sessions in it | chart | time |",
        "| --- | --- | --- | --- |",
        *(table_row(row) for row in rows),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    from bench.run import log, put_section

    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_django(args)
    if args.import_ratio:
        on, off = import_ratio(args, log)
        print(f"import_live_flow_sessions, {args.import_ratio:,} sessions: {on:,.0f} records/s with the rollup's "
              f"triggers, {off:,.0f} without ({on / off:.2f})")
        return
    loaded = fill(args, log)
    rows = measure(args, log)
    put_section(args, SECTION, section_text(args, loaded, rows), "insights")


if __name__ == "__main__":
    main()
