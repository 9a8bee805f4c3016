"""Served lists with a streaming replica beside the primary (#16 item 3).

`python -m bench.replica [--quick] [bench.run's size and --served-* flags]` (or `scripts/bench
--replica ...`): fills a database of its
own (bench.run's data; --quick: its quick sizes), makes a hot standby of the server on this machine
(flowdesk/db/standby.py: pg_basebackup, a second postgres on a free port), then serves the four lists
from two Flowdesk servers (`gunicorn -c config/gunicorn.py`, 2 workers each, DEBUG off): one on the
primary alone, one with DATABASE_REPLICA_URLS naming the standby. wrk at 1 and 16 connections, the
two servers in turn, medians of --served-runs runs; then an untimed pass counts each request's round
trips to the primary and to the replica through bench/served.py's proxy. The table goes into
RESULTS.md's served section (a subsection of its own, replaced on the next run). Both PostgreSQL
servers, both Flowdesks and wrk share this machine's cores: this measures the routing's cost and
where the reads go, not a second machine's capacity.
"""

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADING = "### With a streaming replica beside the primary"
SERVED_SECTION = re.compile(r"^## 5\. Served.*?(?=^## |\Z)", re.S | re.M)


@contextmanager
def environment(**values):
    """os.environ with ``values`` while a server is started (bench/served.py's Server copies it)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def standby_url(database_url, standby, query=""):
    from bench.served import with_port

    return with_port(database_url, standby.port, query)


def list_cases(state):
    from bench import served

    return [case for case in served.served_cases(state) if case.kind == "list"]


def measure(args, state, cases, database_url, standby, logdir):
    """[(case, connections, primary-only runs, with-replica runs)]"""
    from bench import served

    with environment(DATABASE_REPLICA_URLS=""):
        alone = served.Server("config.wsgi", database_url, args.redis, 2, logdir)
    with environment(DATABASE_REPLICA_URLS=standby_url(database_url, standby)):
        routed = served.Server("config.wsgi", database_url, args.redis, 2, logdir)
    rows = []
    try:
        for server in (alone, routed):
            server.wait(state, cases[0])
        for case in cases:
            bodies = [served.request_once(server.port, state, case) for server in (alone, routed)]
            for status, body in bodies:
                if status >= 300:
                    raise RuntimeError(f"{case.path} answered {status}: {body[:300]!r}")
            if served.comparable(bodies[0][1]) != served.comparable(bodies[1][1]):
                raise RuntimeError(f"{case.name}: the replica's body differs from the primary's")
        for case in cases:
            script = served.lua_script(state, case, logdir)
            for connections in served.CONNECTIONS:
                def load(server, case=case, script=script, connections=connections, seconds=args.served_seconds):
                    return served.run_wrk(server.port, script, case, connections, seconds)

                load(alone, seconds=1)  # warm-up, unmeasured
                load(routed, seconds=1)
                ours, theirs = [], []
                for _ in range(args.served_runs):  # interleaved: drift in the machine hits both alike
                    ours.append(load(alone))
                    theirs.append(load(routed))
                rows.append((case, connections, ours, theirs))
                print(f"  {case.name} c={connections}: {served.median_of(ours, 'rps'):.0f} on the primary alone, "
                      f"{served.median_of(theirs, 'rps'):.0f} with the replica", file=sys.stderr)
    finally:
        alone.stop()
        routed.stop()
    return rows


def count_round_trips(args, state, cases, database_url, standby, logdir, requests=20):
    """{case name: (primary trips, replica trips, redis trips)} per request, one worker, sequential."""
    from bench import served

    primary = served.CountingProxy(served.host_port(database_url, 5432), "pg")
    replica = served.CountingProxy(("127.0.0.1", standby.port), "pg")
    redis = served.CountingProxy(served.host_port(args.redis, 6379), "redis")
    clear = "?sslmode=disable&gssencmode=disable"  # the proxy reads the protocol's messages in the clear
    with environment(DATABASE_REPLICA_URLS=served.with_port(database_url, replica.port, clear)):
        server = served.Server("config.wsgi", served.with_port(database_url, primary.port, clear),
                               served.with_port(args.redis, redis.port), 1, logdir)
    results = {}
    try:
        server.wait(state, cases[0])
        for case in cases:
            for n in range(6):  # warm: connections open, prepared statements made
                served.request_once(server.port, state, case, token=f"w{n}")
            before = [proxy.counts()[0] for proxy in (primary, replica, redis)]
            for n in range(requests):
                status, _ = served.request_once(server.port, state, case, token=f"c{n}")
                if status >= 300:
                    raise RuntimeError(f"{case.path} answered {status}")
            after = [proxy.counts()[0] for proxy in (primary, replica, redis)]
            results[case.name] = [(a - b) / requests for a, b in zip(after, before, strict=True)]
    finally:
        server.stop()
        for proxy in (primary, replica, redis):
            proxy.close()
    return results


def section_text(args, rows, trips, standby):
    from bench import served

    lines = [
        HEADING,
        "",
        f"The four lists from two Flowdesk servers side by side (gunicorn, 2 sync workers each, DEBUG off): one "
        f"on the primary alone, one with `DATABASE_REPLICA_URLS` naming a hot standby streaming from it "
        f"(PostgreSQL {standby.major}, `pg_basebackup -R`, a second server on this machine: "
        "`python -m bench.replica`). wrk, "
        f"{args.served_runs} runs of {args.served_seconds} s at each connection count, the two in turn; medians "
        "(± half the range). Data: "
        f"{args.live_sessions:,} live-flow sessions, {args.chat_sessions:,} chat sessions, {args.user_sessions:,} "
        f"user sessions, {args.message_flows:,} message flows. Round trips per request counted by a proxy (one "
        "worker, sequential requests): the key's query stays on the primary (a revoked key stops at once), the "
        "page goes to the replica, the sticky check rides in the throttle's Redis round trip. Both PostgreSQL "
        "servers, both Flowdesks and wrk share this machine's cores, so this is what routing costs and where "
        "the reads go, not what a second machine adds.",
        "",
        "| list | conns | primary alone req/s | with the replica req/s | ratio | p50 / p99 ms alone | "
        "p50 / p99 ms with the replica | DB trips primary / replica | Redis trips |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case, connections, alone, routed in rows:
        primary_trips, replica_trips, redis_trips = trips[case.name]
        bad = sum(run["bad"] for run in alone + routed)
        lines.append("| " + " | ".join([
            case.name + (f" ({bad} non-2xx)" if bad else ""), str(connections),
            f"{served.median_of(alone, 'rps'):,.0f} ± {served.spread(alone, 'rps') * 100:.0f}%",
            f"{served.median_of(routed, 'rps'):,.0f} ± {served.spread(routed, 'rps') * 100:.0f}%",
            f"{served.median_of(routed, 'rps') / served.median_of(alone, 'rps'):.2f}x",
            f"{served.median_of(alone, 'p50'):.1f} / {served.median_of(alone, 'p99'):.1f}",
            f"{served.median_of(routed, 'p50'):.1f} / {served.median_of(routed, 'p99'):.1f}",
            f"{primary_trips:.1f} / {replica_trips:.1f}",
            f"{redis_trips:.1f}",
        ]) + " |")
    return "\n".join(lines) + "\n"


def previous_subsection(text):
    """The replica subsection of a RESULTS.md text, or None."""
    match = re.compile(re.escape(HEADING) + r".*?(?=^##+ |\Z)", re.S | re.M).search(text)
    return match.group(0).rstrip("\n") if match else None


def write_into_results(path, text):
    """``text`` as the served section's replica subsection: in place of a previous one, else at the
    section's end (else at the end of the file)."""
    path = Path(path)
    current = path.read_text() if path.exists() else ""
    previous = re.compile(re.escape(HEADING) + r".*?(?=^##+ |\Z)", re.S | re.M)
    if previous.search(current):
        current = previous.sub(lambda _: text + "\n", current, count=1)
    elif match := SERVED_SECTION.search(current):
        body = match.group(0).rstrip("\n")
        current = current[: match.start()] + body + "\n\n" + text + "\n" + current[match.end():]
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current)


def main(argv=None):
    from bench import run

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--database" not in argv:
        argv += ["--database", "flowdesk_bench_replica"]  # not the full benchmark's database
    args = run.parse_args(argv)
    run.recreate_database(args.server, args.database)
    database_url = f"{args.server}/{args.database}"
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("DATABASE_REPLICA_URLS", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.update(run.NO_RATE_LIMITS)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench import cases, served
    from flowdesk.db.standby import Standby

    if not run.have("wrk"):
        print("bench.replica needs wrk (scripts/bench installs it)", file=sys.stderr)
        return 2
    call_command("migrate", verbosity=0)
    print("== generating", file=sys.stderr)
    state = cases.setup(args)
    standby = Standby(connection.settings_dict)
    reason = standby.why_not() or standby.start()
    if reason:
        print(f"no streaming replica: {reason}", file=sys.stderr)
        return 1
    logdir = tempfile.mkdtemp(prefix="flowdesk-replica-bench-")
    try:
        standby.wait_caught_up()
        print(f"== serving (standby on port {standby.port})", file=sys.stderr)
        list_ = list_cases(state)
        rows = measure(args, state, list_, database_url, standby, logdir)
        trips = count_round_trips(args, state, list_, database_url, standby, logdir)
        served._forget_queues(args.redis)
    finally:
        standby.stop()
        standby.remove()
    text = section_text(args, rows, trips, standby)
    print(text, file=sys.stderr)
    write_into_results(args.output, text)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
