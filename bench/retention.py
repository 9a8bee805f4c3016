"""Retention beside a served list: `python -m bench.retention` (or `python -m bench.run --retention`).

A database of its own gets two organizations' chat sessions (bench/generate.py's, all older than
30 days): ``--sessions`` (1,000,000) of one organization whose policy keeps 30 days, and
``--list-sessions`` of another without a policy, whose chat sessions list (limit 50) is served by
Flowdesk's production gunicorn (2 workers, as in bench/served.py) and requested in a loop by
``--connections`` clients. The list is timed alone first (``--baseline-seconds``), then while
`apply_retention --org` deletes the first organization's sessions in its batches; each batch's
transaction is timed too (the longest is the longest any row stayed locked). The figures go into
their own section of bench/RESULTS.md, replaced on each run; the rest of the file is left as it is.
"""

import io
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOOMED_ORG = "org_benchRetention001"
LIST_ORG = "org_benchRetentList01"
# "(issue #N, bench/NAME.py)": the main run (bench/run.py) keeps the section as this wrote it.
SECTION = "## Retention: a delete beside a served list (issue #17, bench/retention.py)"
FULL_SIZE = 1_000_000


def parse_args(argv):
    from bench.run import bench_parser

    parser = bench_parser(__doc__, "flowdesk_bench_retention", redis=True)
    parser.add_argument("--sessions", type=int, default=FULL_SIZE, help="chat sessions deleted")
    parser.add_argument("--messages", type=int, default=2, help="messages per chat session")
    parser.add_argument("--list-sessions", type=int, default=10_000, help="chat sessions of the listed organization")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=2, help="clients requesting the list in a loop")
    parser.add_argument("--baseline-seconds", type=float, default=15)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the benchmark works")
    args = parser.parse_args(argv)
    if args.smoke:
        args.sessions, args.list_sessions, args.baseline_seconds = 3_000, 500, 2
    return args


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


class ListLoad:
    """``connections`` threads requesting the list until stopped; every latency is kept."""

    def __init__(self, port, state, case, connections):
        self.port, self.state, self.case, self.connections = port, state, case, connections
        self.latencies, self.bad = [], 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def _loop(self):
        from bench.served import request_once

        while not self.stop.is_set():
            start = time.perf_counter()
            try:
                status, _ = request_once(self.port, self.state, self.case)
            except OSError:
                status = 0
            elapsed = time.perf_counter() - start
            with self.lock:
                self.latencies.append(elapsed)
                self.bad += not 200 <= status < 300

    def __enter__(self):
        self.started = time.perf_counter()
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(self.connections)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join()
        self.seconds = time.perf_counter() - self.started

    def row(self, label):
        ms = [value * 1000 for value in self.latencies]
        return (label, f"{len(ms):,}", f"{len(ms) / self.seconds:,.0f}", f"{statistics.median(ms):.1f}",
                f"{percentile(ms, 0.99):.1f}", f"{max(ms):.1f}", self.bad)


def setup(args):
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from accounts.models import ApiKey, Membership, Organization
    from bench import generate
    from retention.models import RetentionPolicy

    user = get_user_model().objects.create_user("bench")
    organizations = {}
    for org_id, name in ((DOOMED_ORG, "Retention: deleted"), (LIST_ORG, "Retention: listed")):
        organizations[org_id] = Organization.objects.create(pk=org_id, name=name)
        Membership.objects.create(user=user, organization_id=org_id)
    _, raw = ApiKey.generate(user=user, organization=organizations[LIST_ORG], name="bench")
    generated = {}
    for org_id, count in ((LIST_ORG, args.list_sessions), (DOOMED_ORG, args.sessions)):
        start = time.perf_counter()
        with transaction.atomic():
            rows = generate.generate_chat(connection.connection, org_id, sessions=count, messages_per_session=args.messages)
        generated[org_id] = (rows, time.perf_counter() - start)
        print(f"  generated {rows:,} rows for {org_id} in {generated[org_id][1]:.0f} s", file=sys.stderr)
    RetentionPolicy.objects.create(organization_id=DOOMED_ORG, chat_sessions_days=30)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"key": raw}, generated


def run_delete(args):
    """apply_retention --org, each batch's transaction timed; (seconds, batch seconds, summary line)."""
    from django.core.management import call_command

    from retention import apply

    batches = []
    real = apply.delete_batch

    def timed_batch(*a, **kw):
        start = time.perf_counter()
        try:
            return real(*a, **kw)
        finally:
            batches.append(time.perf_counter() - start)

    apply.delete_batch = timed_batch
    out = io.StringIO()
    start = time.perf_counter()
    try:
        call_command("apply_retention", "--org", DOOMED_ORG, "--batch-size", str(args.batch_size), "--no-progress",
                     stdout=out, stderr=io.StringIO())
    finally:
        apply.delete_batch = real
    return time.perf_counter() - start, batches, out.getvalue().strip()


def measure(args):
    from bench.served import Case, Server
    from chat.models import ChatMessage, ChatSession

    state, generated = setup(args)
    case = Case("chat sessions list", "list", "GET", "/v1/ai/workflow/chat/sessions?limit=50")
    logdir = tempfile.mkdtemp(prefix="flowdesk-retention-")
    server = Server("config.wsgi", os.environ["DATABASE_URL"], args.redis, 2, logdir)
    doomed_messages = ChatMessage.objects.filter(session__organization_id=DOOMED_ORG).count()
    try:
        server.wait(state, case)
        with ListLoad(server.port, state, case, args.connections) as warm:
            time.sleep(2)
        del warm
        with ListLoad(server.port, state, case, args.connections) as before:
            time.sleep(args.baseline_seconds)
        with ListLoad(server.port, state, case, args.connections) as during:
            seconds, batches, summary = run_delete(args)
    finally:
        server.stop()
    left = ChatSession.objects.filter(organization_id=DOOMED_ORG).count()
    listed_left = ChatSession.objects.filter(organization_id=LIST_ORG).count()
    return {
        "generated": generated, "before": before, "during": during, "seconds": seconds, "batches": batches,
        "summary": summary, "doomed_messages": doomed_messages, "left": left, "listed_left": listed_left,
    }


def section_lines(args, result):
    from bench.run import machine, table_row

    ms = [b * 1000 for b in result["batches"]]
    reduced = "" if args.sessions >= FULL_SIZE else (
        f" **Reduced size: {args.sessions:,} sessions, not the {FULL_SIZE:,} of the full measurement.**")
    lines = [
        SECTION, "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; `python -m bench.retention {' '.join(sys.argv[1:])}`; "
        f"{machine()}",
        "",
        f"`apply_retention --org` deleted {args.sessions:,} chat sessions with their {result['doomed_messages']:,} "
        f"messages (one organization, a 30-day policy, every session older) in batches of {args.batch_size:,}, "
        f"while {args.connections} clients requested another organization's chat sessions list (limit 50, "
        f"{args.list_sessions:,} sessions in the same table) in a loop from Flowdesk under gunicorn (2 sync "
        f"workers, DEBUG off, loopback). The list alone first ({args.baseline_seconds:g} s), then during the "
        f"whole delete.{reduced}",
        "",
        "| list load | requests | req/s | p50 ms | p99 ms | max ms | non-2xx |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        table_row(result["before"].row("alone")),
        table_row(result["during"].row("during the delete")),
        "",
        f"Delete: {result['summary']} in {result['seconds']:.1f} s ({args.sessions / result['seconds']:,.0f} "
        f"sessions/s), {len(ms):,} batches; each batch's transaction (the longest any row lock was held): median "
        f"{statistics.median(ms):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms, longest {max(ms):.0f} ms. "
        f"Left: {result['left']:,} sessions of the deleted organization, {result['listed_left']:,} of the listed "
        f"one (of {args.list_sessions:,}).",
    ]
    return lines


def write_section(path, lines):
    """Put the section in RESULTS.md in place of the previous one (or at the end)."""
    from bench.measure import replace_section

    replace_section(path, SECTION, "\n".join(lines) + "\n")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from bench.run import NO_RATE_LIMITS, own_database

    own_database(args.server, args.database, **NO_RATE_LIMITS)
    result = measure(args)
    lines = section_lines(args, result)
    print("\n".join(lines), file=sys.stderr)
    if not args.smoke:
        write_section(args.output, lines)
        print(f"wrote the retention section of {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
