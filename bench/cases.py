"""What the benchmark measures, section by section (see bench/run.py)."""

import io
import os
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

    connection.ensure_connection()
    with transaction.atomic():
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
    with transaction.atomic():
        start = time.perf_counter()
        rows = generate.generate_user_sessions(connection.connection, user.pk, ORG, sessions=args.user_sessions,
                                               dialogue_items=args.dialogue_items)
        state["generated"].append((f"user sessions + dialogue items ({args.user_sessions:,} sessions)", rows,
                                   time.perf_counter() - start))
    with transaction.atomic():
        start = time.perf_counter()
        rows = generate.generate_message_flows(connection.connection, ORG, flows=args.message_flows,
                                               workspaces=args.message_workspaces)
        state["generated"].append((f"message flows ({args.message_flows:,} over {args.message_workspaces} "
                                   "workspaces)", rows, time.perf_counter() - start))
    state["user_id"] = user.pk
    state["user_sessions"] = args.user_sessions
    state["dialogue_items"] = args.dialogue_items
    state["message_workspace"] = generate.message_flow_workspace(0)
    state["message_flows"] = args.message_flows
    state["message_workspaces"] = args.message_workspaces
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
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
    """(family, page, url, headers, floor) for each list endpoint at its usual page."""
    live_flow = state["live_flow"]
    workspace = state["message_workspace"]
    per_workspace = state["message_flows"] // state["message_workspaces"]
    return [
        (
            "live flows",
            f"50 sessions of {state.get('live_steps', 10)} steps",
            f"/live_flows/{live_flow}/sessions?limit=50",
            {},
            lambda: floors.live_flow_sessions(connection.connection, live_flow, 50),
        ),
        (
            "workflow chat",
            f"50 of {state['chat_sessions']:,} chat sessions",
            "/v1/ai/workflow/chat/sessions?limit=50",
            {},
            lambda: floors.chat_sessions(connection.connection, ORG, 50),
        ),
        (
            "user sessions",
            f"50 of {state['user_sessions']:,} sessions, {state['dialogue_items']} dialogue items each",
            "/session?limit=50",
            {},
            lambda: floors.user_sessions(connection.connection, state["user_id"], 50),
        ),
        (
            "message flows",
            f"100 of {per_workspace:,} in the workspace ({state['message_flows']:,} in all)",
            "/v1/api/message-flows?limit=100",
            {"HTTP_X_WORKSPACE_ID": workspace},
            lambda: floors.message_flows(connection.connection, workspace, 100),
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
    for family, page, url, headers, floor in list_cases(state):
        def through_django(url=url, headers=headers):
            response = http.get(url, **headers)
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


TEMPLATE_RECORDS = 1000  # the export files cycle through at most this many list records, with fresh ids


def write_records(path, count, template, renew):
    """A JSON array of ``count`` records: the template's list records in turn, each given fresh ids
    by ``renew(record, n)`` (so every record is new to the database), written as it goes."""
    with open(path, "wb") as out:
        out.write(b"[")
        for n in range(count):
            if n:
                out.write(b",\n")
            record = orjson.loads(orjson.dumps(template[n % len(template)]))
            renew(record, n)
            out.write(orjson.dumps(record))
        out.write(b"]")


class ImportCase:
    """One import command: its export file (the list endpoint's body), scope flags and the rows it writes."""

    def __init__(self, command, template, renew, scope, tables):
        self.command, self.template, self.renew, self.scope, self.tables = command, template, renew, scope, tables

    def write(self, path, count, tag):
        write_records(path, count, self.template, lambda record, n: self.renew(record, n, tag))


def import_cases(state):
    raw = connection.connection
    tpl = lambda body: orjson.loads(body)  # noqa: E731

    def renew_live(record, n, tag):
        record["id"] = str(uuid.uuid4())
        mapping = {}
        for recorded in record["steps"]:
            mapping[recorded["id"]] = recorded["id"] = str(uuid.uuid4())
        if record["current_step"]:
            record["current_step"]["id"] = mapping[record["current_step"]["id"]]

    def renew_user_session(record, n, tag):
        record["uuid"] = str(uuid.uuid4())
        record["sessionId"] = f"{tag}_{n:09d}"

    def renew_chat(record, n, tag):
        if record["contextType"] == "workflow":
            record["workflowId"] = str(uuid.uuid4())
        else:
            record["sessionId"] = f"session_{tag}_{n}"

    def renew_message_flow(record, n, tag):
        record["_id"] = f"{tag}{n:012x}"
        record["workspaceId"] = f"{tag}_{record['workspaceId']}"

    live_flow_q = "(SELECT id FROM flows_liveflowsession WHERE live_flow_id = '{live}')"
    user_q = "(SELECT id FROM auth_user WHERE username = 'bench_{tag}')"
    session_q = f"(SELECT id FROM sessions_app_usersession WHERE user_id IN {user_q})"
    workspace_q = "(SELECT id FROM accounts_workspace WHERE organization_id = 'org_{tag}')"
    return [
        ImportCase(
            "import_live_flow_sessions",
            tpl(floors.live_flow_sessions(raw, state["live_flow"], TEMPLATE_RECORDS)), renew_live,
            lambda tag: ["--org", ORG, "--live-flow", str(uuid.UUID(int=int(tag, 16), version=4))],
            lambda tag: [
                ("flows_liveflowsession", "live_flow_id = '{live}'"),
                ("flows_liveflowsessionstep", f"session_id IN {live_flow_q}"),
            ],
        ),
        ImportCase(
            "import_user_sessions",
            tpl(floors.user_sessions(raw, state["user_id"], TEMPLATE_RECORDS)), renew_user_session,
            lambda tag: ["--user", f"bench_{tag}"],
            lambda tag: [
                ("sessions_app_usersession", f"user_id IN {user_q}"),
                ("sessions_app_dialogueitem", f"session_id IN {session_q}"),
                ("sessions_app_audioclip", f"session_id IN {session_q}"),
            ],
        ),
        ImportCase(
            "import_chat_sessions",
            tpl(floors.chat_sessions(raw, ORG, TEMPLATE_RECORDS))["data"]["items"], renew_chat,
            lambda tag: ["--org", f"org_{tag}"],
            lambda tag: [
                ("chat_workflow", "organization_id = 'org_{tag}'"),
                ("chat_chatsession", "organization_id = 'org_{tag}'"),
            ],
        ),
        ImportCase(
            "import_message_flows",
            tpl(floors.message_flows(raw, state["message_workspace"], TEMPLATE_RECORDS)), renew_message_flow,
            lambda tag: ["--org", f"org_{tag}"],
            lambda tag: [
                ("messaging_agent", f"workspace_id IN {workspace_q}"),
                ("messaging_messageflow", f"workspace_id IN {workspace_q}"),
            ],
        ),
    ]


def copy_rate(tables, records):
    """The given (table, where) rows copied out, deleted, and COPY'd back in: records/s.

    The timed part is a transaction of its own, commit included, as the import command's is: the
    deferred key checks PostgreSQL runs at commit are charged to both sides alike.
    """
    with transaction.atomic():
        raw = connection.connection
        buffers = []
        for table, where in tables:
            data = io.BytesIO()
            # The stored columns only: generated ones (the search index's, #18) take no COPY FROM.
            with raw.cursor() as cursor:
                cursor.execute("SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM "
                               "information_schema.columns WHERE table_name = %s AND is_generated = 'NEVER'", [table])
                columns = cursor.fetchone()[0]
            with raw.cursor() as cursor, cursor.copy(f"COPY (SELECT {columns} FROM {table} WHERE {where}) TO STDOUT") as copy:
                for chunk in copy:
                    data.write(chunk)
            buffers.append((f"{table} ({columns})", data.getvalue()))
        with raw.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for table, where in reversed(tables):
                cursor.execute(f"DELETE FROM {table} WHERE {where}")
    start = time.perf_counter()
    with transaction.atomic():
        with connection.connection.cursor() as cursor:
            for table, data in buffers:
                with cursor.copy(f"COPY {table} FROM STDIN") as copy:
                    copy.write(data)
    seconds = time.perf_counter() - start
    return records / seconds


# The command's own high-water mark (VmHWM), written by the command's process as it exits. Not the
# rusage of the child: on Linux its ru_maxrss starts at the RSS of the process that spawned it (this
# benchmark, with its export templates in memory), which would hide the command's own figure.
_PEAK_WRAPPER = """
import atexit, os, runpy, sys
def report():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            os.write(int(os.environ["BENCH_PEAK_FD"]), line.split()[1].encode())
atexit.register(report)
sys.argv = sys.argv[1:]
runpy.run_path("manage.py", run_name="__main__")
"""


def peak_memory_kib(args):
    """Peak resident memory of `manage.py *args`, in KiB."""
    read, write = os.pipe()
    env = {**os.environ, "BENCH_PEAK_FD": str(write)}
    process = subprocess.Popen([sys.executable, "-c", _PEAK_WRAPPER, "manage.py", *args], cwd=settings.BASE_DIR,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, pass_fds=(write,))
    os.close(write)
    _, err = process.communicate()
    with os.fdopen(read, "rb") as pipe:
        peak = pipe.read()
    if process.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed: {err.decode()[-2000:]}")
    return int(peak)


def _tag():
    return uuid.uuid4().hex[:12]


def _where(tables, tag):
    live = str(uuid.UUID(int=int(tag, 16), version=4))
    return [(table, where.format(tag=tag, live=live)) for table, where in tables(tag)]


def section_imports(args, state, report):
    report.section("4. Imports against COPY")
    report.add("Records per second of each import command (its list endpoint's body, new records) against "
               "PostgreSQL's COPY of the same rows (target: at least a third of COPY's rate), and the command's "
               "peak memory (max RSS of `manage.py import_...`) for the small against the large file "
               "(target: at most 1.5x).")
    report.add()
    tmp = Path(tempfile.mkdtemp(prefix="flowdesk-bench-"))
    cases = import_cases(state)
    count = args.import_small
    rows, mem_rows = [], []
    for case in cases:
        seconds, copy_rates = [], []
        for _ in range(args.import_runs):
            tag = _tag()
            path = tmp / f"{case.command}.json"
            case.write(path, count, tag)
            start = time.perf_counter()
            call_command(case.command, str(path), *case.scope(tag), no_progress=True,
                         stdout=io.StringIO(), stderr=io.StringIO())
            seconds.append(time.perf_counter() - start)
            copy_rates.append(copy_rate(_where(case.tables, tag), count))
        path.unlink()
        import_t = Timing(seconds)
        copy_t = Timing([count / r for r in copy_rates])
        share = copy_t.median / import_t.median
        rows.append((case.command, f"{count:,}", f"{import_t.per_second(count):,.0f}/s ± {import_t.spread * 100:.0f}%",
                     f"{copy_t.per_second(count):,.0f}/s ± {copy_t.spread * 100:.0f}%",
                     f"{share:.2f} of COPY", "met" if share >= 1 / 3 else "missed"))
        print(f"  {rows[-1]}", file=sys.stderr)
    report.table(["command", "records", "import", "COPY", "share", "target 1/3"], rows)
    report.add()

    for case in cases:
        peaks = {}
        for size in (args.import_small, args.import_large):
            tag = _tag()
            path = tmp / f"{case.command}-{size}.json"
            case.write(path, size, tag)
            peaks[size] = peak_memory_kib([case.command, str(path), *case.scope(tag), "--no-progress"])
            path.unlink()
        ratio = peaks[args.import_large] / peaks[args.import_small]
        mem_rows.append((case.command, f"{peaks[args.import_small] / 1024:.0f} MiB",
                         f"{peaks[args.import_large] / 1024:.0f} MiB", f"{ratio:.2f}x",
                         "met" if ratio <= 1.5 else "missed"))
        print(f"  {mem_rows[-1]}", file=sys.stderr)
    report.table(["command", f"peak, {args.import_small:,} records", f"peak, {args.import_large:,} records", "ratio",
                  "target 1.5x"], mem_rows)


# --- 5. served: Flowdesk under gunicorn against the served floor (bench/served.py) ----------------


def section_served(args, state, report):
    from bench import served

    served.section(args, state, report)


# --- 6. serving one big live flow: peak memory ------------------------------------------------

MEMORY_ORG = "org_benchLiveMemory1"

# One request through Django's whole stack in a process of its own, its body read as it comes and
# dropped: what it reports is that process's peak (VmHWM) and its resident size before the request.
_SERVE_WRAPPER = """
import json, os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from django.test import Client

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

url, key, org = sys.argv[1:4]
client = Client(HTTP_AUTHORIZATION="Bearer " + key, HTTP_CURRENT_ORG_ID=org)
client.get("/live_flows/00000000-0000-4000-8000-000000000000")  # warm: URLconf, key lookup
before = rss("VmRSS")
start = time.perf_counter()
response = client.get(url)
size, sessions, tail = 0, 0, b""
for chunk in (response.streaming_content if response.streaming else [response.content]):
    size += len(chunk)
    sessions += (tail + chunk).count(b'"steps_count":') - tail.count(b'"steps_count":')
    tail = chunk[-20:]
seconds = time.perf_counter() - start
os.write(int(os.environ["BENCH_PEAK_FD"]), json.dumps({
    "status": response.status_code, "streamed": response.streaming, "bytes": size, "sessions": sessions,
    "seconds": seconds, "before_kib": before, "peak_kib": rss("VmHWM"),
}).encode())
"""


def serve_once(url, key, org):
    """Peak memory and more of serving ``url`` once, in a fresh process (see _SERVE_WRAPPER)."""
    read, write = os.pipe()
    env = {**os.environ, "BENCH_PEAK_FD": str(write)}
    process = subprocess.Popen([sys.executable, "-c", _SERVE_WRAPPER, url, key, org], cwd=settings.BASE_DIR,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, pass_fds=(write,))
    os.close(write)
    _, err = process.communicate()
    with os.fdopen(read, "rb") as pipe:
        result = pipe.read()
    if process.returncode != 0 or not result:
        raise RuntimeError(f"serving {url} failed: {err.decode()[-2000:]}")
    return orjson.loads(result)


def section_live_memory(args, state, report):
    from accounts.models import Membership, Organization

    sizes = (args.memory_small, args.memory_large)
    report.section(f"6. Memory: serving one live flow with {sizes[0]:,} against {sizes[1]:,} sessions")
    report.add(f"`GET /live_flows/{{id}}/` answers the live flow with every session ({args.live_steps} recorded "
               "steps each) in `sessions`. Peak resident memory (VmHWM) of a process serving it once through "
               "Django's test client, the body read as it comes (target: at most 1.5x from the smaller live "
               "flow to the larger).")
    report.add()
    Organization.objects.get_or_create(pk=MEMORY_ORG, defaults={"name": "Benchmark, live-flow memory"})
    Membership.objects.get_or_create(user_id=state["user_id"], organization_id=MEMORY_ORG)
    live_flows = {}
    for seed, size in zip((11, 12), sizes, strict=True):
        with transaction.atomic():
            start = time.perf_counter()
            rows, (live_flow,) = generate.generate_live_flows(
                connection.connection, MEMORY_ORG, sessions=size, steps_per_session=args.live_steps, versions=1,
                seed=seed,
            )
        print(f"  generated {rows:,} rows in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        live_flows[size] = live_flow
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE flows_liveflowsession, flows_liveflowsessionstep")
    results = {}
    for size in sizes:
        result = serve_once(f"/live_flows/{live_flows[size]}/", state["key"], MEMORY_ORG)
        if result["status"] != 200 or result["sessions"] != size:
            raise RuntimeError(f"GET /live_flows/{live_flows[size]}/ answered {result}")
        results[size] = result
        print(f"  {size:,} sessions: {result}", file=sys.stderr)
    ratio = results[sizes[1]]["peak_kib"] / results[sizes[0]]["peak_kib"]
    rows = [
        (f"{size:,}", f"{result['bytes'] / 2**20:,.0f} MiB", "yes" if result["streamed"] else "no",
         f"{result['seconds']:.1f} s", f"{result['before_kib'] / 1024:.0f} MiB", f"{result['peak_kib'] / 1024:.0f} MiB")
        for size, result in results.items()
    ]
    report.table(["sessions", "body", "streamed", "time", "resident before the request", "peak"], rows)
    report.add()
    report.add(f"Peak ratio: {ratio:.2f}x ({'met' if ratio <= 1.5 else 'missed'}, target 1.5x).")



def section_exports(args, state, report):
    """Peak memory of an export command at the small and the large organization (issue #17)."""
    small, large = args.chat_small, args.chat_sessions
    report.section(f"7. Exports: memory of export_chat_sessions at {small:,} against {large:,} chat sessions")
    report.add(f"Peak resident memory (VmHWM) of `manage.py export_chat_sessions --org O -o FILE` for the "
               f"organization of {small:,} chat sessions against the one of {large:,} ({args.chat_messages} "
               "messages each, in the history shape), and its time (target: memory flat, at most 1.5x).")
    report.add()
    tmp = Path(tempfile.mkdtemp(prefix="flowdesk-bench-export-"))
    rows, peaks = [], {}
    for org, count in ((CHAT_SMALL_ORG, small), (ORG, large)):
        path = tmp / f"{org}.json"
        start = time.perf_counter()
        peaks[count] = peak_memory_kib(["export_chat_sessions", "--org", org, "--no-progress", "-o", str(path)])
        seconds = time.perf_counter() - start
        size = path.stat().st_size
        path.unlink()
        rows.append((f"{count:,}", f"{size / 2**20:,.0f} MiB", f"{seconds:.1f} s", f"{count / seconds:,.0f}/s",
                     f"{peaks[count] / 1024:.0f} MiB"))
        print(f"  {rows[-1]}", file=sys.stderr)
    tmp.rmdir()
    report.table(["chat sessions", "file", "time", "records", "peak"], rows)
    ratio = peaks[large] / peaks[small]
    report.add()
    report.add(f"Peak ratio: {ratio:.2f}x ({'met' if ratio <= 1.5 else 'missed'}, target 1.5x).")
