"""REST under uvicorn against REST under gunicorn (issue #15): which server the README's production
layout should put REST on. Standalone: ``.venv/bin/python -m bench.asgi_vs_wsgi [--seconds N --runs N]``.

Fills a small database of its own (bench/cases.py's generator, a few thousand rows), then serves
it twice side by side, both with 2 workers, DEBUG off, loopback, Redis as cache and Celery broker
(`--redis`): `gunicorn -c config/gunicorn.py config.wsgi` and `uvicorn config.asgi:application`.
bench/served.py's REST cases (the four lists, a GET of each family, a write per family) are loaded
by wrk (else its Python client) at 1 and 16 connections, the two servers in turn, and each figure
is the median of the runs. Writes a section into bench/RESULTS.md (replacing a previous one).
"""

import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECTION = "## REST under uvicorn against gunicorn (issue #15, bench/asgi_vs_wsgi.py)"


def parse_args(argv):
    from bench.run import bench_parser

    parser = bench_parser(__doc__, "flowdesk_bench_asgi", redis=True, no_write=True)
    parser.add_argument("--seconds", type=int, default=3, help="length of each run")
    parser.add_argument("--runs", type=int, default=3, help="runs of each server per figure")
    args = parser.parse_args(argv)
    # bench/cases.py's generator, at a few thousand rows: the servers are compared, not the tables.
    args.live_sessions, args.live_steps, args.live_versions = 2_000, 5, 3
    args.chat_sessions, args.chat_small, args.chat_messages = 2_000, 200, 5
    args.user_sessions, args.dialogue_items = 500, 10
    args.message_flows, args.message_workspaces = 2_000, 4
    return args


def servers(args, logdir):
    from bench import served

    database_url = os.environ["DATABASE_URL"]
    return {
        "gunicorn": served.Server("config.wsgi", database_url, args.redis, 2, logdir),
        "uvicorn": served.Server("config.asgi:application", database_url, args.redis, 2, logdir,
                                 command=served.uvicorn_command),
    }


def measure(args, state, logdir):
    """(rows [(case, connections, gunicorn runs, uvicorn runs)], {case name: check}, wrk used)"""
    from bench import run, served

    have_wrk = run.have("wrk")
    cases = served.served_cases(state)
    started = servers(args, logdir)
    gunicorn, uvicorn = started["gunicorn"], started["uvicorn"]
    try:
        for server in (gunicorn, uvicorn):
            server.wait(state, cases[0])
        # The same answer from both, so the same work is timed.
        rows, checks = served.compare_served(
            state, cases, (("gunicorn", gunicorn), ("uvicorn", uvicorn)), args.runs, args.seconds, logdir,
            have_wrk, same_body=lambda case: case.kind != "write",
        )
    finally:
        gunicorn.stop()
        uvicorn.stop()
    served._forget_queues(args.redis)
    return rows, checks, have_wrk


def section_text(args, rows, checks, have_wrk):
    import uvicorn

    from bench import served
    from bench.run import machine

    tool = "wrk" if have_wrk else "bench/served.py's Python client (wrk was not installed: lower figures)"
    lines = [
        SECTION, "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; `python -m bench.asgi_vs_wsgi {' '.join(sys.argv[1:])}`; "
        f"{machine()}, uvicorn {uvicorn.__version__}",
        "",
        "bench/served.py's REST cases served by the README's two servers side by side, 2 workers each, DEBUG "
        "off, loopback, this database (2,000 live-flow sessions, 2,000 chat sessions, 500 user sessions, 2,000 "
        f"message flows) and Redis (`{args.redis}`): `gunicorn -c config/gunicorn.py config.wsgi` (sync workers, "
        "one connection per request, its PostgreSQL connection kept open) and `uvicorn config.asgi:application "
        "--workers 2` (as installed: no uvloop or httptools; keep-alive; its PostgreSQL connection closed after "
        f"each request, config/asgi.py). Load: {tool}, {args.runs} runs of {args.seconds} s at each connection "
        "count, the two servers in turn; medians (± half the range of req/s). Ratios: uvicorn ÷ gunicorn "
        "(req/s above 1: uvicorn faster; p99 above 1: uvicorn slower).",
        "",
        "| case | conns | gunicorn req/s | uvicorn req/s | req/s ratio | gunicorn p50 / p99 ms | "
        "uvicorn p50 / p99 ms | p99 ratio | check |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ratios = []
    for case, connections, wsgi, asgi in rows:
        rps_ratio = served.median_of(asgi, "rps") / served.median_of(wsgi, "rps")
        p99_ratio = served.median_of(asgi, "p99") / served.median_of(wsgi, "p99")
        ratios.append(rps_ratio)
        bad = sum(run["bad"] for run in wsgi + asgi)
        lines.append("| " + " | ".join([
            case.name, str(connections),
            f"{served.median_of(wsgi, 'rps'):,.0f} ± {served.spread(wsgi, 'rps') * 100:.0f}%",
            f"{served.median_of(asgi, 'rps'):,.0f} ± {served.spread(asgi, 'rps') * 100:.0f}%",
            f"{rps_ratio:.2f}x",
            f"{served.median_of(wsgi, 'p50'):.1f} / {served.median_of(wsgi, 'p99'):.1f}",
            f"{served.median_of(asgi, 'p50'):.1f} / {served.median_of(asgi, 'p99'):.1f}",
            f"{p99_ratio:.2f}x",
            checks[case.name] + (f", {bad} non-2xx" if bad else ""),
        ]) + " |")
    faster = sum(ratio > 1 for ratio in ratios)
    lines += ["", f"uvicorn's req/s ratio: {min(ratios):.2f}x to {max(ratios):.2f}x (median "
              f"{statistics.median(ratios):.2f}x); uvicorn faster in {faster} of {len(ratios)} figures."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from bench.run import NO_RATE_LIMITS, own_database

    own_database(args.server, args.database, **NO_RATE_LIMITS)
    from bench import cases

    print("== generating", file=sys.stderr)
    state = cases.setup(args)
    logdir = tempfile.mkdtemp(prefix="flowdesk-asgi-bench-")
    print("== serving", file=sys.stderr)
    rows, checks, have_wrk = measure(args, state, logdir)
    text = section_text(args, rows, checks, have_wrk)
    print(text, file=sys.stderr)
    if not args.no_write:
        from bench.measure import replace_section

        replace_section(args.output, SECTION, text)
        print(f"wrote the section of {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
