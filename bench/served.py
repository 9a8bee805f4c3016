"""Served over HTTP: Flowdesk under its production server against the served floor (bench/floor_app.py).

Both run as `gunicorn -c config/gunicorn.py` with 2 workers (DEBUG off) on free loopback ports,
against the benchmark's database and a Redis database of its own (`--redis`, also Flowdesk's Celery
broker, as in production: no worker consumes it, so started live-flow sessions stay queued). wrk
drives each case at 1 and at 16 connections, Flowdesk and floor in turn (`--served-runs` runs each,
`--served-seconds` long), from a Lua script carrying the key, the tenant header and, for writes, a
new body per request; each figure is the median of the runs.

Round trips are counted in a pass of their own, untimed: a second pair of servers (1 worker each)
reaches PostgreSQL and Redis through a counting proxy in this process, and each case is requested
sequentially. A round trip is a turn of the conversation (the client sends after it last received);
statements are the protocol's Query and Execute messages, Redis commands the RESP arrays sent.
Why a proxy: pg_stat_statements needs a server restart to load, pg_stat_database counts
transactions (not round trips) and publishes them up to 10 s late, and Redis `INFO commandstats`
counts every client of the server, other databases' too.
"""

import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import orjson
from django.conf import settings

from bench.cases import ORG
from bench.sockets import free_port, pipe

CONNECTIONS = (1, 16)
TOKEN = "@@"  # replaced by a new value in every write request's body


# --- the cases ------------------------------------------------------------------------------------


class Case:
    def __init__(self, name, kind, method, path, headers=None, body=None):
        self.name, self.kind, self.method, self.path = name, kind, method, path
        self.headers = headers or {}
        self.body = body  # a JSON text with TOKEN where each request puts its own value

    def body_for(self, token):
        return None if self.body is None else self.body.replace(TOKEN, token).encode()


def served_cases(state):
    """The four lists, one GET of each family and one write per family, at the same rows on both sides."""
    from chat.models import ChatSession
    from flows import models as flows
    from messaging.models import MessageFlow
    from sessions_app.models import UserSession

    live_flow = state["live_flow"]
    session = flows.LiveFlowSession.objects.filter(live_flow_id=live_flow).order_by("-created_at").first()
    other_live_flow = (flows.LiveFlow.objects.filter(organization_id=ORG).exclude(pk=live_flow).first()
                       or flows.LiveFlow.objects.get(pk=live_flow))
    user_sessions = UserSession.objects.filter(user_id=state["user_id"])
    chats = ChatSession.objects.filter(organization_id=ORG, session_id__isnull=False)
    workspace = state["message_workspace"]
    message_flows = MessageFlow.objects.filter(workspace_id=workspace).order_by("created_at", "id")
    ws = {"x-workspace-id": workspace}
    # Writes go to other rows than the reads (the oldest), so the lists and GETs see the data as generated.
    return [
        Case("live flow sessions list", "list", "GET", f"/live_flows/{live_flow}/sessions?limit=50"),
        Case("user sessions list", "list", "GET", "/session?limit=50"),
        Case("chat sessions list", "list", "GET", "/v1/ai/workflow/chat/sessions?limit=50"),
        Case("message flows list", "list", "GET", "/v1/api/message-flows?limit=100", ws),
        Case("GET one live flow session", "get", "GET", f"/live_flows/{live_flow}/sessions/{session.pk}"),
        Case("GET one user session", "get", "GET", f"/session/{user_sessions.order_by('-updated_at').first().session_id}"),
        Case("GET one chat session", "get", "GET",
             f"/v1/ai/workflow/chat/sessions/{chats.order_by('-activity_at').first().session_id}"),
        Case("GET one message flow", "get", "GET", f"/v1/api/message-flows/{message_flows.first().pk}", ws),
        Case("start a live flow session", "write", "POST", f"/live_flows/{other_live_flow.pk}/sessions/",
             body=orjson.dumps({"inputs": {"message": f"Question {TOKEN}"}}).decode()),
        Case("append to a dialogue", "write", "POST",
             f"/session/{user_sessions.order_by('updated_at').first().session_id}/dialogue",
             body=orjson.dumps({"contentType": "user", "content": f"How do I loop? {TOKEN}"}).decode()),
        Case("post a chat message", "write", "POST", "/v1/ai/workflow/chat/messages",
             body=orjson.dumps({"sessionId": chats.order_by("activity_at").first().session_id, "role": "user",
                                "content": f"Email me new tickets {TOKEN}"}).decode()),
        Case("PATCH a message flow", "write", "PATCH", f"/v1/api/message-flows/{message_flows.last().pk}", ws,
             body=orjson.dumps({"description": f"Night shift {TOKEN}"}).decode()),
    ]


def request_headers(state, case):
    headers = {"Authorization": f"Bearer {state['key']}", **case.headers}
    if case.body is not None:
        headers["Content-Type"] = "application/json"
    return headers


def request_once(port, state, case, token="check"):
    """(status, body) of one request to the server on ``port``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(case.method, case.path, body=case.body_for(token), headers=request_headers(state, case))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- the servers ----------------------------------------------------------------------------------


def gunicorn_command(app, port, workers):
    """Flowdesk's production REST server (config/gunicorn.py reads the bind and workers from the environment)."""
    return [str(Path(sys.executable).parent / "gunicorn"), "-c", "config/gunicorn.py", "--no-control-socket", app]


def uvicorn_command(app, port, workers):
    """The README's ASGI server: `uvicorn config.asgi:application --workers N`."""
    return [str(Path(sys.executable).parent / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--log-level", "warning", "--no-access-log"]


class Server:
    """``command(app, port, workers)`` (default: `gunicorn -c config/gunicorn.py <app>`) on a free
    loopback port, its log in a temporary file."""

    def __init__(self, app, database_url, redis_url, workers, logdir, command=gunicorn_command):
        self.app, self.port = app, free_port()
        self.log = Path(logdir) / f"{app.replace(':', '_')}-{self.port}.log"
        env = {
            **os.environ, "FLOWDESK_BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(workers), "DEBUG": "false",
            "DATABASE_URL": database_url, "FLOOR_DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url, "FLOWDESK_LIVE_FLOW_RUNNER": "celery",
        }
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command(app, self.port, workers), cwd=settings.BASE_DIR,
                                            env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait(self, state, case):
        for _ in range(150):
            if self.process.poll() is not None:
                break
            try:
                status, body = request_once(self.port, state, case)
                if status < 300:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.app} did not answer {case.path}: see {self.log}:\n{self.log.read_text()[-3000:]}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- load: wrk, or a small Python client ----------------------------------------------------------

_LUA = """
local counter = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
wrk.method = {method}
{headers}
local template = {body}
if template then
  function request()
    counter = counter + 1
    local body = template:gsub("{token}", tid .. "-" .. counter)
    return wrk.format(nil, nil, nil, body)
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {{"requests": %d, "seconds": %f, "p50_us": %f, "p99_us": %f, ' ..
    '"non2xx": %d, "errors": %d}}\\n', summary.requests, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def lua_script(state, case, directory):
    def lua(value):
        return "nil" if value is None else orjson.dumps(value).decode()  # a JSON string is a Lua string here

    headers = "\n".join(f"wrk.headers[{lua(k)}] = {lua(v)}" for k, v in request_headers(state, case).items())
    # The tid and counter make every body new; a token prefix keeps the two sides' values apart.
    text = _LUA.format(method=lua(case.method), headers=headers, body=lua(case.body), token=TOKEN)
    path = Path(directory) / f"{abs(hash((case.name, case.path)))}.lua"
    path.write_text(text)
    return path


def run_wrk(port, script, case, connections, seconds):
    out = subprocess.run(
        ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", str(script),
         f"http://127.0.0.1:{port}{case.path}"],
        capture_output=True, text=True, timeout=seconds + 120,
    )
    line = next((line for line in out.stdout.splitlines() if line.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout[-2000:]} {out.stderr[-2000:]}")
    result = orjson.loads(line[len("WRK_JSON "):])
    return {"requests": result["requests"], "rps": result["requests"] / result["seconds"],
            "p50": result["p50_us"] / 1000, "p99": result["p99_us"] / 1000, "bad": result["non2xx"] + result["errors"]}


def run_python(port, state, case, connections, seconds):
    """The fallback without wrk: threads in a loop, one request per connection (gunicorn's sync
    workers close it after each response). This process shares the 2 cores with the servers, so its
    figures are lower than wrk's."""
    latencies, bad, lock = [], [0], threading.Lock()
    deadline = time.perf_counter() + seconds

    def loop(n):
        count = 0
        while time.perf_counter() < deadline:
            count += 1
            start = time.perf_counter()
            try:
                status, _ = request_once(port, state, case, token=f"p{n}-{count}")
            except OSError:
                status = 0
            with lock:
                latencies.append(time.perf_counter() - start)
                bad[0] += not 200 <= status < 300

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, "bad": bad[0]}


def load_case(server, state, case, script, connections, seconds):
    """One run of ``case`` against ``server``: wrk with ``script``, else (``script`` None) the Python client."""
    for _ in range(3):
        if script is not None:
            result = run_wrk(server.port, script, case, connections, seconds)
        else:
            result = run_python(server.port, state, case, connections, seconds)
        # A slow case at 16 connections: each connection's first answer waits for the
        # 15 before it. Too few answers to tell a p99: run longer.
        if result["requests"] >= 4 * connections:
            break
        seconds *= 3
    result["seconds"] = seconds
    return result


# --- round trips: a counting proxy ----------------------------------------------------------------


def resp_commands(buffer):
    """(complete RESP commands at the start of ``buffer``, bytes they take)."""
    count = i = 0
    while i < len(buffer):
        end = buffer.find(b"\r\n", i)
        if end < 0:
            break
        if buffer[i:i + 1] != b"*":  # an inline command
            count, i = count + 1, end + 2
            continue
        k = end + 2
        for _ in range(int(buffer[i + 1:end])):
            e = buffer.find(b"\r\n", k)
            if e < 0:
                return count, i
            k = e + 2 + int(buffer[k + 1:e]) + 2
            if k > len(buffer):
                return count, i
        count, i = count + 1, k
    return count, i


def pg_statements(buffer, started):
    """(Query and Execute messages at the start of ``buffer``, bytes they take, startup done)."""
    count = i = 0
    while True:
        if not started:  # untyped: SSLRequest / GSSENCRequest, then the startup message
            if len(buffer) - i < 8:
                return count, i, started
            length = int.from_bytes(buffer[i:i + 4], "big")
            code = int.from_bytes(buffer[i + 4:i + 8], "big")
            if len(buffer) - i < length:
                return count, i, started
            i += length
            started = code not in (80877103, 80877104)
            continue
        if len(buffer) - i < 5:
            return count, i, started
        length = int.from_bytes(buffer[i + 1:i + 5], "big")
        if len(buffer) - i < 1 + length:
            return count, i, started
        count += buffer[i:i + 1] in (b"Q", b"E")
        i += 1 + length


class CountingProxy:
    """A TCP proxy to ``target`` that counts round trips and statements (``kind``: "pg" or "redis")."""

    def __init__(self, target, kind):
        self.target, self.kind = target, kind
        self.trips = self.statements = self.connections = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def counts(self):
        with self.lock:
            return self.trips, self.statements, self.connections

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.connections += 1
            turn = {"last": "server", "buffer": bytearray(), "started": False}
            threading.Thread(target=pipe, args=(client, upstream, partial(self._count, turn, True)), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client, partial(self._count, turn, False)), daemon=True).start()

    def _count(self, turn, from_client, data):
        with self.lock:
            if from_client:
                if turn["last"] == "server":
                    self.trips += 1
                turn["last"] = "client"
                turn["buffer"] += data
                if self.kind == "redis":
                    count, used = resp_commands(turn["buffer"])
                else:
                    count, used, turn["started"] = pg_statements(turn["buffer"], turn["started"])
                self.statements += count
                del turn["buffer"][:used]
            else:
                turn["last"] = "server"  # before the client can see the reply

    def close(self):
        self.listener.close()


def with_port(url, port, query=""):
    scheme, rest = url.split("://", 1)
    hostpart, _, path = rest.partition("/")
    user = hostpart.rpartition("@")[0]
    return f"{scheme}://{user + '@' if user else ''}127.0.0.1:{port}/{path}{query}"


def host_port(url, default):
    hostpart = url.split("://", 1)[1].partition("/")[0].rpartition("@")[2]
    host, _, port = hostpart.partition(":")
    return host or "127.0.0.1", int(port or default)


def count_round_trips(args, state, cases, database_url, logdir, requests=20):
    """{(app, case name): (db trips, db statements, redis trips, redis commands, new connections)} per request."""
    results = {}
    servers = []
    try:
        for app in ("config.wsgi", "bench.floor_app"):
            pg = CountingProxy(host_port(database_url, 5432), "pg")
            redis = CountingProxy(host_port(args.redis, 6379), "redis")
            # sslmode/gssencmode off: the proxy reads the protocol's messages in the clear.
            db_url = with_port(database_url, pg.port, "?sslmode=disable&gssencmode=disable")
            servers.append((app, Server(app, db_url, with_port(args.redis, redis.port), 1, logdir), pg, redis))
        for app, server, pg, redis in servers:
            server.wait(state, cases[0])
            for case in cases:
                # Warm: the worker's connections open, its caches fill, psycopg prepares what it runs
                # five times (the floor: an extra round trip once).
                for n in range(6):
                    request_once(server.port, state, case, token=f"w{n}")
                before = pg.counts() + redis.counts()
                for n in range(requests):
                    status, _ = request_once(server.port, state, case, token=f"c{n}")
                    if status >= 300:
                        raise RuntimeError(f"{app} answered {status} to {case.method} {case.path}")
                after = pg.counts() + redis.counts()
                d = [(a - b) / requests for a, b in zip(after, before, strict=True)]
                results[(app, case.name)] = (d[0], d[1], d[3], d[4], (d[2] + d[5]) * requests)
    finally:
        for _, server, pg, redis in servers:
            server.stop()
            pg.close()
            redis.close()
    return results


# --- the section ----------------------------------------------------------------------------------


def comparable(body):
    data = orjson.loads(body)
    if isinstance(data, dict):
        data.pop("requestId", None)
    return data


def keys(body):
    data = orjson.loads(body)
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    if isinstance(data, list):
        data = data[0] if data else {}
    return sorted(data)


def median_of(runs, field):
    return statistics.median(run[field] for run in runs)


def spread(runs, field):
    values = [run[field] for run in runs]
    middle = statistics.median(values)
    return (max(values) - min(values)) / 2 / middle if middle else 0.0


def target(case, rps_ratio, p99_ratio):
    if case.kind == "list":
        return "met" if rps_ratio >= 0.5 and p99_ratio <= 2.5 else "MISS"
    if case.kind == "write":
        return "met" if rps_ratio >= 0.5 else "MISS"
    return "(no target)"


def compare_served(state, cases, servers, runs, seconds, logdir, have_wrk, same_body):
    """Two servers ((name, Server), (name, Server)) on the same cases: each case's answers checked
    alike first (``same_body(case)``: the whole body, else its keys), then loaded on both in turn.
    Returns (rows [(case, connections, first's runs, second's runs)], {case name: check})."""
    (first_name, first), (second_name, second) = servers
    checks = {}
    for case in cases:
        answers = [request_once(server.port, state, case, token=f"{n}-check") for n, (_, server) in enumerate(servers)]
        for (status, body), (name, _) in zip(answers, servers, strict=True):
            if status >= 300:
                raise RuntimeError(f"{name} answered {status} to {case.method} {case.path}: {body[:500]!r}")
        (_, a), (_, b) = answers
        if same_body(case):
            checks[case.name] = "same body" if comparable(a) == comparable(b) else "BODY DIFFERS"
        else:
            checks[case.name] = "same keys" if keys(a) == keys(b) else "KEYS DIFFER"
    rows = []
    for case in cases:
        script = lua_script(state, case, logdir) if have_wrk else None
        for connections in CONNECTIONS:
            def load(server, seconds, case=case, script=script, connections=connections):
                return load_case(server, state, case, script, connections, seconds)

            load(first, 1)  # warm-up, unmeasured
            load(second, 1)
            ones, others = [], []
            for _ in range(runs):  # interleaved: drift in the machine hits both alike
                ones.append(load(first, seconds))
                others.append(load(second, seconds))
            rows.append((case, connections, ones, others))
            print(f"  {case.name} c={connections}: {first_name} {median_of(ones, 'rps'):.0f}, {second_name} "
                  f"{median_of(others, 'rps'):.0f} req/s", file=sys.stderr)
    return rows, checks


def section(args, state, report):
    report.section("5. Served: Flowdesk under gunicorn against the served floor")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        report.add("Skipped: needs gunicorn in the virtualenv.")
        return
    have_wrk = subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode == 0
    database_url = os.environ["DATABASE_URL"]
    cases = served_cases(state)
    logdir = tempfile.mkdtemp(prefix="flowdesk-served-")
    flowdesk = Server("config.wsgi", database_url, args.redis, 2, logdir)
    floor = Server("bench.floor_app", database_url, args.redis, 2, logdir)
    try:
        flowdesk.wait(state, cases[0])
        floor.wait(state, cases[0])
        rows, checks = compare_served(
            state, cases, (("Flowdesk", flowdesk), ("floor", floor)), args.served_runs, args.served_seconds, logdir,
            have_wrk, same_body=lambda case: case.kind == "list",
        )
    finally:
        flowdesk.stop()
        floor.stop()
    trips = count_round_trips(args, state, cases, database_url, logdir)
    _forget_queues(args.redis)

    tool = "wrk" if have_wrk else "a Python client (wrk was not installed; its figures are lower than wrk's)"
    report.add(f"Both servers: `gunicorn -c config/gunicorn.py`, 2 sync workers, DEBUG off, loopback, this "
               f"database and Redis (`{args.redis}`, also Flowdesk's Celery broker). Load: {tool}, "
               f"{args.served_runs} runs of {args.served_seconds} s at each connection count (3x longer, up to "
               "twice, where a run answered fewer than 4 requests a connection), Flowdesk and floor in turn; "
               "medians (± half the range of req/s). At 16 connections 14 wait in the listen queue of the 2 "
               "workers, so their latency is mostly waiting. The floor (`bench/floor_app.py`): one indexed key "
               "check, then bench/floors.py's SQL through psycopg and orjson (writes: the same INSERT/UPDATE "
               "statements in one transaction). Round trips per request (DB: trips (statements); Redis: trips "
               "(commands)), counted by a proxy in an untimed pass of sequential requests. Targets: lists >= 0.5x "
               "the floor's req/s and p99 <= 2.5x at 1 and 16 connections; writes >= 0.5x.")
    report.add()
    table = []
    for case, connections, ours, theirs in rows:
        rps_ratio = median_of(ours, "rps") / median_of(theirs, "rps")
        p99_ratio = median_of(ours, "p99") / median_of(theirs, "p99")
        f_trips, floor_trips = trips[("config.wsgi", case.name)], trips[("bench.floor_app", case.name)]
        bad = sum(run["bad"] for run in ours + theirs)
        table.append((
            case.name, connections,
            f"{median_of(ours, 'rps'):,.0f} ± {spread(ours, 'rps') * 100:.0f}%",
            f"{median_of(theirs, 'rps'):,.0f} ± {spread(theirs, 'rps') * 100:.0f}%",
            f"{rps_ratio:.2f}x",
            f"{median_of(ours, 'p50'):.1f} / {median_of(ours, 'p99'):.1f}",
            f"{median_of(theirs, 'p50'):.1f} / {median_of(theirs, 'p99'):.1f}",
            f"{p99_ratio:.2f}x",
            f"{f_trips[0]:.1f} ({f_trips[1]:.1f}) / {floor_trips[0]:.1f} ({floor_trips[1]:.1f})",
            f"{f_trips[2]:.1f} ({f_trips[3]:.1f}) / {floor_trips[2]:.1f} ({floor_trips[3]:.1f})",
            checks[case.name] + (f", {bad} non-2xx" if bad else ""),
            target(case, rps_ratio, p99_ratio),
        ))
    report.table(["case", "conns", "Flowdesk req/s", "floor req/s", "req/s ratio", "Flowdesk p50 / p99 ms",
                  "floor p50 / p99 ms", "p99 ratio", "DB trips (stmts) Flowdesk / floor",
                  "Redis trips (cmds) Flowdesk / floor", "check", "target"], table)
    reconnects = {key: value[4] for key, value in trips.items() if value[4]}
    if reconnects:
        report.add()
        report.add("Connections opened during the counted requests (their set-up is in the trips): " + ", ".join(
            f"{app} {name}: {count:.0f}" for (app, name), count in reconnects.items()))


def _forget_queues(redis_url):
    """Drop what the writes queued (Celery's queue, the floor's list): nothing consumes them."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete("celery", "bench:floor:live_flow_steps")
