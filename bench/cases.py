"""What the benchmark measures, section by section (see bench/run.py)."""

import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client

from bench import floors, generate
from bench.measure import Timing, interleaved, timed

ORG = "org_benchmark0000001"
CHAT_SMALL_ORG = "org_benchChatSmall01"


def setup(args):
    from django.contrib.auth import get_user_model

    from accounts.models import ApiKey, Membership, Organization

    organization = Organization.objects.create(pk=ORG, name="Benchmark")
    user = get_user_model().objects.create_user("bench")
    Membership.objects.create(user=user, organization=organization)
    _, raw = ApiKey.generate(user=user, organization=organization, name="bench")
    state = {"key": raw, "generated": []}

    conn = connection.connection if connection.connection else None
    with transaction.atomic():
        connection.ensure_connection()
        conn = connection.connection
        start = time.perf_counter()
        rows, live_flows = generate.generate_live_flows(
            conn, ORG, sessions=args.live_sessions, steps_per_session=args.live_steps, versions=args.live_versions
        )
        state["generated"].append(("live flow sessions + recorded steps", rows, time.perf_counter() - start))
    state["live_flow"] = live_flows[0]
    state["live_steps"] = args.live_steps
    state["chat_sessions"] = args.chat_sessions

    Organization.objects.create(pk=CHAT_SMALL_ORG, name="Benchmark, small chat")
    Membership.objects.create(user=user, organization_id=CHAT_SMALL_ORG)
    for org, count in ((ORG, args.chat_sessions), (CHAT_SMALL_ORG, args.chat_small)):
        with transaction.atomic():
            start = time.perf_counter()
            rows = generate.generate_chat(connection.connection, org, sessions=count,
                                          messages_per_session=args.chat_messages)
            state["generated"].append((f"chat sessions + messages ({count:,} sessions)", rows,
                                       time.perf_counter() - start))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return state


def client(state):
    return Client(HTTP_AUTHORIZATION=f"Bearer {state['key']}")


# --- 1. data ---------------------------------------------------------------------------------


def section_generate(args, state, report):
    report.section("1. Data generation (COPY)")
    report.table(
        ["data", "rows", "seconds", "rows/s"],
        [(name, f"{rows:,}", f"{seconds:.1f}", f"{rows / seconds:,.0f}") for name, rows, seconds in state["generated"]],
    )


# --- 2. list latency against the floor --------------------------------------------------------


def list_cases(state):
    """(family, page, url, floor) for each list endpoint at its usual page."""
    live_flow = state["live_flow"]
    return [
        (
            "live flows",
            f"50 sessions of {state.get('live_steps', 10)} steps",
            f"/live_flows/{live_flow}/sessions?limit=50",
            lambda: floors.live_flow_sessions(connection.connection, live_flow, 50),
        ),
        (
            "workflow chat",
            f"50 of {state['chat_sessions']:,} chat sessions",
            "/v1/ai/workflow/chat/sessions?limit=50",
            lambda: floors.chat_sessions(connection.connection, ORG, 50),
        ),
    ]


def comparable(body):
    """A parsed body, without what differs between any two requests (the request id)."""
    data = orjson.loads(body)
    if isinstance(data, dict):
        data.pop("requestId", None)
    return data


def section_lists(args, state, report):
    report.section("2. List latency: a full request through Django against the floor")
    report.add("The floor: the same response bytes from one raw SQL query through psycopg and orjson, in the "
               "same process. Target: Django within 2x of the floor.")
    report.add()
    http = client(state)
    rows = []
    connection.ensure_connection()
    for family, page, url, floor in list_cases(state):
        def through_django(url=url):
            response = http.get(url)
            assert response.status_code == 200, response.content[:300]
            return response.content

        django_t, floor_t, django_body, floor_body = interleaved(through_django, floor, runs=args.runs)
        same = comparable(django_body) == comparable(floor_body)
        ratio = django_t.median / floor_t.median
        rows.append((family, page, django_t.ms(), floor_t.ms(), f"{ratio:.2f}x", "yes" if same else "NO",
                     "met" if ratio <= 2 else "missed"))
    report.table(["family", "page", "Django", "floor", "ratio", "same body", "target 2x"], rows)


# --- 3. scale ---------------------------------------------------------------------------------


def section_scale(args, state, report):
    report.section(f"3. Scale: the first chat page at {args.chat_small:,} and {args.chat_sessions:,} sessions")
    http = client(state)
    url = "/v1/ai/workflow/chat/sessions?limit=50"

    def page(org, query=""):
        def get():
            response = http.get(url + query, HTTP_CURRENT_ORG_ID=org)
            assert response.status_code == 200, response.content[:300]
            return response
        return get

    small_t, big_t, _, _ = interleaved(page(CHAT_SMALL_ORG), page(ORG), runs=args.runs)
    offset = min(100_000, max(args.chat_sessions - 50, 0))
    deep_t, _ = timed(page(ORG, f"&offset={offset}"), runs=args.runs)
    ratio = big_t.median / small_t.median
    report.table(
        ["page", "sessions in the organization", "time", "ratio to the small organization", "target 1.5x"],
        [
            ("first 50", f"{args.chat_small:,}", small_t.ms(), "1.00x", ""),
            ("first 50", f"{args.chat_sessions:,}", big_t.ms(), f"{ratio:.2f}x", "met" if ratio <= 1.5 else "missed"),
            (f"50 at offset {offset:,}", f"{args.chat_sessions:,}", deep_t.ms(),
             f"{deep_t.median / small_t.median:.2f}x", "(no target)"),
        ],
    )


# --- 4. imports against COPY --------------------------------------------------------------------


def export_live_flow_sessions(state, count):
    """The list endpoint's own body for `count` sessions, with fresh ids (a new set of sessions)."""
    body = orjson.loads(client(state).get(f"/live_flows/{state['live_flow']}/sessions?limit={count}").content)
    for session in body:
        session["id"] = str(uuid.uuid4())
        mapping = {}
        for recorded in session["steps"]:
            mapping[recorded["id"]] = recorded["id"] = str(uuid.uuid4())
        if session["current_step"]:
            session["current_step"]["id"] = mapping[session["current_step"]["id"]]
    return body


def copy_rate(model_tables_ids, records):
    """Rows of the given (table, where) pairs copied out, deleted, and COPY'd back in: records/s."""
    with transaction.atomic():
        raw = connection.connection
        buffers = []
        for table, where in model_tables_ids:
            data = io.BytesIO()
            with raw.cursor() as cursor, cursor.copy(f"COPY (SELECT * FROM {table} WHERE {where}) TO STDOUT") as copy:
                for chunk in copy:
                    data.write(chunk)
            buffers.append((table, data.getvalue()))
        with raw.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for table, where in reversed(model_tables_ids):
                cursor.execute(f"DELETE FROM {table} WHERE {where}")
        start = time.perf_counter()
        with raw.cursor() as cursor:
            for table, data in buffers:
                with cursor.copy(f"COPY {table} FROM STDIN") as copy:
                    copy.write(data)
        seconds = time.perf_counter() - start
    return records / seconds


def peak_memory_kib(cmd):
    process = subprocess.Popen(cmd, cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {process.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss


def section_imports(args, state, report):
    report.section("4. Imports against COPY")
    report.add("Records per second of the import command against PostgreSQL's COPY of the same rows "
               "(target: at least a third of COPY's rate), and the command's peak memory for the small "
               "against the large file (target: at most 1.5x).")
    report.add()
    tmp = Path(tempfile.mkdtemp(prefix="flowdesk-bench-"))
    rows = []
    # import speed: fresh sessions each run, so every run does the same work
    seconds = []
    copy_rates = []
    count = args.import_small
    for _ in range(max(3, args.runs // 2)):
        live_flow = str(uuid.uuid4())
        path = tmp / "live.json"
        path.write_bytes(orjson.dumps(export_live_flow_sessions(state, count)))
        start = time.perf_counter()
        call_command("import_live_flow_sessions", str(path), org=ORG, live_flow=live_flow, no_progress=True,
                     stdout=io.StringIO(), stderr=io.StringIO())
        seconds.append(time.perf_counter() - start)
        copy_rates.append(copy_rate(
            [("flows_liveflowsession", f"live_flow_id = '{live_flow}'"),
             ("flows_liveflowsessionstep",
              f"session_id IN (SELECT id FROM flows_liveflowsession WHERE live_flow_id = '{live_flow}')")],
            count,
        ))
    import_t = Timing(seconds)
    copy_t = Timing([count / r for r in copy_rates])
    ratio = import_t.median / copy_t.median
    rows.append(("import_live_flow_sessions", f"{count:,}", f"{import_t.per_second(count):,.0f}/s ± {import_t.spread * 100:.0f}%",
                 f"{copy_t.per_second(count):,.0f}/s ± {copy_t.spread * 100:.0f}%",
                 f"{1 / ratio:.2f} of COPY", "met" if ratio <= 3 else "missed"))
    report.table(["command", "records", "import", "COPY", "share", "target 1/3"], rows)
    report.add()

    mem_rows = []
    peaks = {}
    for count in (args.import_small, args.import_large):
        path = tmp / f"live-{count}.json"
        path.write_bytes(orjson.dumps(export_live_flow_sessions(state, count)))
        peaks[count] = peak_memory_kib([
            sys.executable, "manage.py", "import_live_flow_sessions", str(path), "--org", ORG,
            "--live-flow", str(uuid.uuid4()), "--no-progress",
        ])
    ratio = peaks[args.import_large] / peaks[args.import_small]
    mem_rows.append(("import_live_flow_sessions", f"{peaks[args.import_small] / 1024:.0f} MiB",
                     f"{peaks[args.import_large] / 1024:.0f} MiB", f"{ratio:.2f}x", "met" if ratio <= 1.5 else "missed"))
    report.table(["command", f"peak, {args.import_small:,} records", f"peak, {args.import_large:,} records", "ratio",
                  "target 1.5x"], mem_rows)


# --- 5. served throughput -----------------------------------------------------------------------


def section_served(args, state, report):
    report.section("5. Served throughput: the live-flow list under gunicorn on loopback")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists() or not _which("wrk"):
        report.add("Skipped: needs gunicorn in the virtualenv and wrk (Debian package `wrk`).")
        return
    port = 8711
    env = {**os.environ, "DATABASE_URL": settings.DATABASES["default"]["NAME"] and os.environ["DATABASE_URL"]}
    server = subprocess.Popen(
        [str(gunicorn), "config.wsgi:application", "--workers", str(os.cpu_count() or 2), "--bind",
         f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=settings.BASE_DIR, env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}/live_flows/{state['live_flow']}/sessions?limit=50"
        for _ in range(50):
            try:
                out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                                      f"Authorization: Bearer {state['key']}", url], capture_output=True, text=True,
                                     timeout=5)
                if out.stdout == "200":
                    break
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.2)
        result = subprocess.run(
            ["wrk", "-t2", "-c8", f"-d{args.served_seconds}s", "--latency", "-H",
             f"Authorization: Bearer {state['key']}", url],
            capture_output=True, text=True, timeout=args.served_seconds + 60,
        )
        rps = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
        p99 = re.search(r"99%\s+([\d.]+\w+)", result.stdout)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
        report.table(
            ["endpoint", "workers", "connections", "requests/s", "p99 latency", "non-2xx"],
            [("live-flow list, 50 sessions of 10 steps", os.cpu_count(), 8, rps.group(1) if rps else "?",
              p99.group(1) if p99 else "?", errors.group(1) if errors else 0)],
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def _which(tool):
    from shutil import which

    return which(tool) is not None
