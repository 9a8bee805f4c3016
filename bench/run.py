"""Flowdesk benchmarks on PostgreSQL: `make bench` (or `python -m bench.run --help`).

Fills a database of its own with generated data, then measures each figure several times and
writes bench/RESULTS.md. Ratios are measured side by side in the same run, so machine noise
affects both sides alike.
"""

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Benchmarks measure the code, not the rate limiter: every family's limit out of reach.
NO_RATE_LIMITS = {
    f"RATE_LIMIT_{family}": "100000000/second" for family in ("LIVE_FLOWS", "USER_SESSIONS", "WORKFLOW_CHAT", "MESSAGE_FLOWS")
}
SECTIONS = ["generate", "lists", "scale", "imports", "served", "live_memory", "exports"]


def bench_parser(doc, database, redis=False, no_write=False):
    """The flags every benchmark (this one and the standalone ones) takes: the PostgreSQL server, the
    database of its own, RESULTS.md; ``redis``: the Redis database its served Flowdesk uses; ``no_write``:
    --no-write, the section printed instead."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("BENCH_SERVER", "postgres://postgres@127.0.0.1:5432"),
                        help="PostgreSQL server URL without database name")
    parser.add_argument("--database", default=database, help="database to (re)create and fill")
    if redis:
        parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
                            help="Redis database the served Flowdesk uses (rate limits, Celery's queue)")
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    if no_write:
        parser.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md alone")
    return parser


def parse_args(argv):
    parser = bench_parser(__doc__, "flowdesk_bench", redis=True)
    parser.add_argument("--runs", type=int, default=7, help="measured runs per figure")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset of " + ",".join(SECTIONS))
    parser.add_argument("--live-sessions", type=int, default=100_000)
    parser.add_argument("--live-steps", type=int, default=10)
    parser.add_argument("--live-versions", type=int, default=20)
    parser.add_argument("--chat-sessions", type=int, default=1_000_000)
    parser.add_argument("--chat-small", type=int, default=10_000)
    parser.add_argument("--chat-messages", type=int, default=5, help="messages per chat session")
    parser.add_argument("--user-sessions", type=int, default=50_000)
    parser.add_argument("--dialogue-items", type=int, default=20, help="dialogue items per user session")
    parser.add_argument("--message-flows", type=int, default=100_000)
    parser.add_argument("--message-workspaces", type=int, default=100)
    parser.add_argument("--import-runs", type=int, default=3, help="measured runs of each import against COPY")
    parser.add_argument("--import-small", type=int, default=10_000)
    parser.add_argument("--import-large", type=int, default=100_000)
    parser.add_argument("--served-seconds", type=int, default=5, help="length of each served run")
    parser.add_argument("--served-runs", type=int, default=3, help="served runs of each side per figure (3 or more)")
    parser.add_argument("--memory-small", type=int, default=10_000, help="sessions of the smaller live flow served")
    parser.add_argument("--memory-large", type=int, default=100_000, help="sessions of the larger live flow served")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and 2 runs: checks the benchmark works")
    parser.add_argument("--retention", action="store_true",
                        help="instead, the retention measurement (bench/retention.py; its own flags, see its --help)")
    parser.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_SCALE") == "quick",
                        help="small data and 1 s served runs, generate and served only unless --sections (or "
                             "BENCH_SCALE=quick): a few minutes, to check the served benchmark")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 3
        args.live_sessions, args.live_versions = 5_000, 5
        args.chat_sessions, args.chat_small = 20_000, 2_000
        args.user_sessions, args.message_flows, args.message_workspaces = 2_000, 5_000, 10
        args.served_seconds = 1
        if "--sections" not in (argv or []):
            args.sections = "generate,served"
    if args.smoke:
        args.runs = 2
        args.live_sessions, args.live_versions = 120, 2
        args.chat_sessions, args.chat_small = 300, 60
        args.user_sessions, args.message_flows, args.message_workspaces = 60, 300, 3
        args.import_small, args.import_large = 20, 40
        args.import_runs = 2
        args.served_seconds = 1
        args.memory_small, args.memory_large = 50, 500
    args.served_runs = max(args.served_runs, 3)
    args.sections = [s for s in args.sections.split(",") if s]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


def recreate_database(server, name):
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def own_database(server, name, **environ):
    """A standalone benchmark's start: its own database, new and migrated, and Django set up on it
    (``environ``: more variables for the settings to read, e.g. rate limits)."""
    recreate_database(server, name)
    os.environ["DATABASE_URL"] = f"{server}/{name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.update(environ)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class Report:
    def __init__(self, args):
        self.args = args
        self.lines = []

    def section(self, title):
        self.lines += ["", f"## {title}", ""]
        print(f"== {title}", file=sys.stderr)

    def add(self, line=""):
        self.lines.append(line)
        print(line, file=sys.stderr)

    def table(self, header, rows):
        self.add(table_row(header))
        self.add(table_row("---" for _ in header))
        for row in rows:
            self.add(table_row(row))

    def write(self, path):
        head = [
            "# Flowdesk benchmark results",
            "",
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {platform.machine()}, {os.cpu_count()} cores, {_memory()}, {platform.platform()}",
            f"- Python {platform.python_version()}, PostgreSQL {_pg_version()}",
            f"- command: `{' '.join(['python -m bench.run', *sys.argv[1:]])}`",
            f"- every figure: median of {self.args.runs} runs after warm-up, ± half the range as a share of the median",
        ]
        # What was found and changed, written by hand: kept with the figures it explains.
        findings = ROOT / "bench" / "FINDINGS.md"
        tail = ["", findings.read_text().rstrip()] if findings.exists() and not self.args.smoke else []
        from bench import replica

        # bench/replica.py's subsection of the served section (this run makes no replica): kept.
        kept = replica.previous_subsection(Path(path).read_text()) if Path(path).exists() else None
        Path(path).write_text("\n".join(head + self.lines + standalone_sections(path) + tail) + "\n")
        if kept and "served" in self.args.sections:
            replica.write_into_results(path, kept)


# The standalone benchmarks (bench/search.py, bench/insights.py, ...) each own a section headed
# "## ... (issue #N, bench/NAME.py)": a run of this one keeps them as they were written.
STANDALONE = re.compile(r"^## [^\n]*\(issue #\d+, bench/\w+\.py\)$.*?(?=^## |\Z)", re.S | re.M)


def standalone_sections(path):
    current = Path(path).read_text() if Path(path).exists() else ""
    return ["", *(match.group(0).rstrip() for match in STANDALONE.finditer(current))] if STANDALONE.search(current) else []


def table_row(cells):
    """A Markdown table's row."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def machine():
    """The machine a figure was measured on, as every section's head line says it."""
    return f"{os.cpu_count()} cores, {_memory()}, PostgreSQL {_pg_version()}"


def log(line):
    print(line, file=sys.stderr, flush=True)


def put_section(args, heading, text, name):
    """A standalone benchmark's end: its section printed (--no-write), else written into RESULTS.md in
    place of the one a previous run wrote."""
    from bench.measure import replace_section

    if args.no_write:
        print(text)
    else:
        replace_section(args.output, heading, text)
        log(f"wrote the {name} section of {args.output}")


def _memory():
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        return f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        return "memory unknown"


def _pg_version():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--retention" in argv:  # the optional retention measurement, alone (bench/retention.py)
        from bench import retention

        return retention.main([arg for arg in argv if arg != "--retention"])
    if "--replica" in argv:  # the served lists with a streaming replica beside the primary (bench/replica.py)
        from bench import replica

        return replica.main([arg for arg in argv if arg != "--replica"])
    args = parse_args(argv)
    recreate_database(args.server, args.database)
    os.environ["DATABASE_URL"] = f"{args.server}/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.update(NO_RATE_LIMITS)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from bench import cases

    report = Report(args)
    state = cases.setup(args)
    for section in args.sections:
        getattr(cases, f"section_{section}")(args, state, report)
    report.write(args.output)
    print(f"wrote {args.output}", file=sys.stderr)


def have(tool):
    return shutil.which(tool) is not None


def run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, **kwargs)


__all__ = ["main", "have", "run", "time"]

if __name__ == "__main__":
    main()
