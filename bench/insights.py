"""Insights (issue #18) on PostgreSQL: each chart's one aggregate query, and the whole
/admin/insights/ page, over 1,000,000 live flow sessions (3 recorded steps each) and their
organization's chat. Standalone: ``.venv/bin/python -m bench.insights [--sessions N]``.

Fills a database of its own with bench/generate.py (COPY), then gives the sessions a spread of
statuses and the step runs durations (one UPDATE each), and times, for a 30-day range and for the
whole year, each chart's query and the page as a superuser sees it. Writes an "Insights"
section into bench/RESULTS.md (replacing the one a previous run wrote)."""

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECTION = "## Insights (issue #18, bench/insights.py)"
ORG = "org_benchInsights0001"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("BENCH_SERVER", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", default="flowdesk_bench_insights")
    parser.add_argument("--sessions", type=int, default=1_000_000, help="live flow sessions")
    parser.add_argument("--chat-sessions", type=int, default=200_000, help="chat sessions (5 messages each)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md alone")
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
        url = f"/admin/insights/?org={ORG}&from={start.isoformat()}&to={stop.isoformat()}"
        queries = []  # counted by a wrapper: the request's start empties connection.queries
        with connection.execute_wrapper(lambda execute, sql, *rest, seen=queries: seen.append(sql) or execute(sql, *rest)):
            assert client.get(url).status_code == 200
        timing, _ = timed(lambda url=url: client.get(url), runs=args.runs, warmup=1)
        rows.append((label, f"{in_range:,}", f"the whole page ({len(queries)} queries)", timing.ms()))
        log(f"{label}: page: {timing.ms()}")
    return rows


def section_text(args, loaded, rows):
    import platform

    from bench.run import _memory, _pg_version

    lines = [
        SECTION, "",
        f"- {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {os.cpu_count()} cores, {_memory()}, PostgreSQL "
        f"{_pg_version()}; `python -m bench.insights --sessions {args.sessions}` ({platform.python_version()})",
        f"- {args.sessions:,} live flow sessions of one organization (one every 30 s, 20 live flows, 3 step runs "
        f"each, seven statuses, step durations 0-9 s) and {args.chat_sessions * 5:,} chat messages, loaded in "
        f"{loaded:.0f} s",
        f"- each chart: its one aggregate query, median of {args.runs} runs after a warm-up one; the page: "
        "`GET /admin/insights/` for a superuser in-process (session, user, organizations, one query per chart, the "
        "template)",
        "",
        "| range | sessions in it | chart | time |",
        "| --- | --- | --- | --- |",
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    from bench.measure import replace_section

    args = parse_args(sys.argv[1:] if argv is None else argv)

    def log(line):
        print(line, file=sys.stderr, flush=True)

    setup_django(args)
    loaded = fill(args, log)
    rows = measure(args, log)
    text = section_text(args, loaded, rows)
    if args.no_write:
        print(text)
    else:
        replace_section(args.output, SECTION, text)
        log(f"wrote the insights section of {args.output}")


if __name__ == "__main__":
    main()
