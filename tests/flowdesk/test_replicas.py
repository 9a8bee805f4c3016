"""Reads on PostgreSQL's streaming replicas (DATABASE_REPLICA_URLS, flowdesk/db/routers.py).

The PostgreSQL tests make a real streaming replica of the test server on this machine
(`pg_basebackup -R -X stream` into a temporary folder, a second `postgres` on a free port) and
register it as `replica_0`, pointed at the primary's test database: the replica has it by streaming.
Pausing the replica's replay (`pg_wal_replay_pause()`) then makes it visibly stale, so a list that
lacks a row just written on the primary was read from the replica.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.test import override_settings

from accounts.models import ApiKey, Organization
from config.env import env_database_replicas
from flowdesk.db import routers
from flowdesk.db.middleware import ReplicaMiddleware
from messaging.models import MessageFlow
from tests.messaging.conftest import NEW_FLOW, make_flow, workspace_client

ROOT = Path(__file__).resolve().parents[2]
ALIAS = "replica_0"
LIST = "/v1/api/message-flows"
PRIMARY_PG = {"ENGINE": "django.db.backends.postgresql", "NAME": "flowdesk", "HOST": "db", "PORT": 5432,
              "OPTIONS": {"sslmode": "prefer"}, "CONN_MAX_AGE": None, "CONN_HEALTH_CHECKS": False}


# --- DATABASE_REPLICA_URLS (no server needed) ---


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("not a url", "is not a usable database URL"),
        ("postgres://u@h:5432/app,,postgres://u@h2:5432/app", "without empty items"),
        ("mysql://u@h:3306/app", "postgres:// URLs only"),
        ("postgres://u@h:5432/", "must name a database"),
        ("sqlite:///tmp/x.sqlite3", "postgres:// URLs only"),
    ],
)
def test_replica_urls_are_parsed_strictly(monkeypatch, value, says):
    monkeypatch.setenv("DATABASE_REPLICA_URLS", value)
    with pytest.raises(ImproperlyConfigured, match="DATABASE_REPLICA_URLS") as refused:
        env_database_replicas("DATABASE_REPLICA_URLS", PRIMARY_PG, 2)
    assert says in str(refused.value)


def test_replicas_need_a_postgres_primary(monkeypatch):
    monkeypatch.setenv("DATABASE_REPLICA_URLS", "postgres://u@h:5432/app")
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}
    with pytest.raises(ImproperlyConfigured, match="DATABASE_REPLICA_URLS needs a postgres:// DATABASE_URL"):
        env_database_replicas("DATABASE_REPLICA_URLS", sqlite, 2)


def test_replicas_take_the_primarys_options_and_mirror_its_test_database(monkeypatch):
    monkeypatch.setenv("DATABASE_REPLICA_URLS", " postgres://ro@r1:5433/flowdesk , postgres://ro@r2/flowdesk?connect_timeout=7")
    first, second = env_database_replicas("DATABASE_REPLICA_URLS", PRIMARY_PG, 2)
    assert (first["HOST"], first["PORT"], first["USER"], first["NAME"]) == ("r1", 5433, "ro", "flowdesk")
    assert first["OPTIONS"] == {"sslmode": "prefer", "connect_timeout": 2}
    assert second["OPTIONS"] == {"sslmode": "prefer", "connect_timeout": 7}  # the URL's own option wins
    assert first["CONN_MAX_AGE"] is None and first["CONN_HEALTH_CHECKS"] is False
    assert first["TEST"] == {"MIRROR": "default"}  # the test run creates no database on a replica
    monkeypatch.delenv("DATABASE_REPLICA_URLS")
    assert env_database_replicas("DATABASE_REPLICA_URLS", PRIMARY_PG, 2) == []


SETTINGS_SCRIPT = """
from django.conf import settings
print(sorted(settings.DATABASES), settings.FLOWDESK_DATABASE_REPLICAS, settings.DATABASE_ROUTERS,
      settings.DATABASES["replica_1"]["HOST"], settings.FLOWDESK_REPLICA_STICKY_SECONDS)
"""


def _settings_run(**env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "FLOWDESK_REPLICA"))}
    environ.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + SETTINGS_SCRIPT],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)


def test_settings_add_one_database_per_replica_and_the_router():
    done = _settings_run(DATABASE_URL="postgres://u@db:5432/app",
                         DATABASE_REPLICA_URLS="postgres://u@r0:5432/app,postgres://u@r1:5432/app",
                         FLOWDESK_REPLICA_STICKY_SECONDS="3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "['default', 'replica_0', 'replica_1'] ['replica_0', 'replica_1'] "
        "['flowdesk.db.routers.ReplicaRouter'] r1 3"
    )


def test_a_bad_replica_url_stops_start_up_naming_the_variable():
    done = _settings_run(DATABASE_URL="postgres://u@db:5432/app", DATABASE_REPLICA_URLS="postgres://u@r0:5432/app,")
    assert done.returncode != 0
    assert "ImproperlyConfigured: DATABASE_REPLICA_URLS must be a comma-separated list without empty items" in done.stderr


# --- the router and the sticky window, without a server ---


ROUTED = override_settings(FLOWDESK_DATABASE_REPLICAS=[ALIAS], DATABASE_ROUTERS=["flowdesk.db.routers.ReplicaRouter"])


@pytest.fixture
def clean_routes():
    routers._down_until.clear()
    from django.core.cache import cache

    cache.clear()
    yield
    routers._down_until.clear()
    cache.clear()


@ROUTED
def test_a_write_through_the_orm_in_a_safe_request_makes_the_keys_reads_sticky(tenant, clean_routes, rf):
    from django.core.cache import cache

    def view(request):
        routers.authenticated(tenant.key.pk)
        if request.GET.get("write"):
            Organization.objects.filter(pk=tenant.organization.pk).update(name="renamed")
        return SimpleNamespace(status_code=200)

    middleware = ReplicaMiddleware(view)
    middleware(rf.get("/v1/api/message-flows"))
    assert cache.get(routers.sticky_key(tenant.key.pk)) is None  # a read leaves no marker
    middleware(rf.get("/v1/api/message-flows?write=1"))
    assert cache.get(routers.sticky_key(tenant.key.pk)) == 1


@ROUTED
def test_migrations_run_on_the_primary_only():
    assert router.allow_migrate("default", "messaging") is True
    assert router.allow_migrate(ALIAS, "messaging") is False


# --- a real streaming replica ---


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Replica:
    """A hot standby of the test server, streaming from it, in a temporary folder."""

    def __init__(self, primary):
        import psycopg

        self.psycopg = psycopg
        self.primary = primary
        self.primary_conninfo = {"host": primary["HOST"] or "127.0.0.1", "port": int(primary["PORT"] or 5432),
                                 "user": primary["USER"] or "postgres", "dbname": primary["NAME"]}
        with psycopg.connect(**self.primary_conninfo, autocommit=True) as conn:
            self.shown = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in (
                "server_version_num", "wal_level", "max_wal_senders", "max_connections", "max_worker_processes",
                "max_prepared_transactions", "max_locks_per_transaction")}
        self.major = int(self.shown["server_version_num"]) // 10000
        self.bin = Path(f"/usr/lib/postgresql/{self.major}/bin")
        self.port = None
        self.folder = None

    def why_not(self):
        if self.primary_conninfo["host"] not in ("127.0.0.1", "localhost", "::1"):
            return f"the test server is not on this machine ({self.primary_conninfo['host']})"
        missing = [tool for tool in ("pg_basebackup", "pg_ctl", "postgres") if not (self.bin / tool).exists()]
        if missing:
            found = ", ".join(sorted(glob.glob("/usr/lib/postgresql/*/bin"))) or "none"
            return f"needs PostgreSQL {self.major}'s {', '.join(missing)} in {self.bin} (found: {found})"
        if self.shown["wal_level"] == "minimal" or int(self.shown["max_wal_senders"]) < 2:
            return ("the test server needs wal_level=replica and max_wal_senders >= 2 (scripts/pg-replication); "
                    f"it has wal_level={self.shown['wal_level']}, max_wal_senders={self.shown['max_wal_senders']}")
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            return "running as root without runuser to start postgres as the postgres user"
        return None

    def _as_server_user(self, *command):
        # postgres refuses to run as root: as root, the cluster belongs to the postgres user.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *map(str, command)], capture_output=True, text=True, timeout=300)

    def start(self):
        self.folder = Path(tempfile.mkdtemp(prefix="flowdesk-replica-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        data = self.folder / "data"
        backup = self._as_server_user(
            self.bin / "pg_basebackup", "-h", self.primary_conninfo["host"], "-p", self.primary_conninfo["port"],
            "-U", self.primary_conninfo["user"], "-D", data, "-R", "-X", "stream", "-c", "fast", "--no-sync",
        )
        if backup.returncode != 0:
            self.remove()
            hint = ""
            if "pg_hba.conf" in backup.stderr:
                hint = " (scripts/pg-replication allows it: `host replication all 127.0.0.1/32 trust`)"
            return f"pg_basebackup failed{hint}: {backup.stderr.strip()}"
        self.port = _free_port()
        # The standby must allow at least as much as its primary, or it will not start.
        limits = "\n".join(f"{name} = {self.shown[name]}" for name in (
            "max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
            "max_locks_per_transaction"))
        (data / "postgresql.conf").write_text(
            f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.folder}'\n"
            f"hot_standby = on\nmax_standby_streaming_delay = 5s\nfsync = off\n{limits}\n"
        )
        (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        if os.geteuid() == 0:
            for name in ("postgresql.conf", "pg_hba.conf"):
                shutil.chown(data / name, "postgres", "postgres")
        started = self._as_server_user(self.bin / "pg_ctl", "-D", data, "-l", self.folder / "log", "-w", "-t", "120",
                                       "start")
        if started.returncode != 0:
            log = (self.folder / "log").read_text() if (self.folder / "log").exists() else ""
            self.remove()
            return f"the replica did not start: {started.stderr.strip()} {log[-2000:]}"
        self.admin = self.psycopg.connect(host="127.0.0.1", port=self.port, user=self.primary_conninfo["user"],
                                          dbname=self.primary["NAME"], autocommit=True, connect_timeout=10)
        self.wait_caught_up()
        return None

    def running(self):
        return self.folder is not None and (self.folder / "data" / "postmaster.pid").exists()

    def stop(self):
        if self.running():
            self._as_server_user(self.bin / "pg_ctl", "-D", self.folder / "data", "-m", "fast", "-w", "stop")

    def remove(self):
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def query(self, sql):
        return self.admin.execute(sql).fetchall()

    def wait_caught_up(self, timeout=60):
        """Until the replica has replayed everything the primary wrote so far."""
        with self.psycopg.connect(**self.primary_conninfo, autocommit=True) as conn:
            (lsn,) = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
        deadline = time.monotonic() + timeout
        while not self.admin.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[0]:
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.05)

    def pause(self):
        self.wait_caught_up()
        self.admin.execute("SELECT pg_wal_replay_pause()")
        while self.admin.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
            time.sleep(0.02)

    def resume(self):
        self.admin.execute("SELECT pg_wal_replay_resume()")


@pytest.fixture(scope="module")
def replica(django_db_setup, django_db_blocker):
    """replica_0: a streaming replica of the test server, registered with the router."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    primary = connections["default"].settings_dict  # NAME is the test database by now
    server = Replica(primary)
    reason = server.why_not() or server.start()
    if reason:
        pytest.skip(f"no streaming replica on this machine: {reason}")
    # As DATABASE_REPLICA_URLS would add it, with the primary's test database (TEST MIRROR).
    config = {**{k: primary[k] for k in ("ENGINE", "NAME", "USER", "PASSWORD", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS")},
              "HOST": "127.0.0.1", "PORT": server.port, "OPTIONS": {**primary["OPTIONS"], "connect_timeout": 1},
              "TEST": {"MIRROR": "default"}}
    connections.settings[ALIAS] = connections.configure_settings({"default": dict(primary), ALIAS: config})[ALIAS]
    routed = override_settings(FLOWDESK_DATABASE_REPLICAS=[ALIAS],
                               DATABASE_ROUTERS=["flowdesk.db.routers.ReplicaRouter"])
    routed.enable()
    try:
        yield server
    finally:
        routed.disable()
        try:
            connections[ALIAS].close()
        except Exception:
            pass
        del connections[ALIAS]
        connections.settings.pop(ALIAS, None)
        server.stop()
        server.remove()


REPLICA_TEST = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, databases=["default", ALIAS])]


def replica_test(function):
    for mark in REPLICA_TEST:
        function = mark(function)
    return function


@pytest.fixture
def live(replica, clean_routes):
    """The replica, replaying, with the whole test's writes caught up at the end."""
    yield replica
    if replica.running():
        replica.resume()
        replica.wait_caught_up()


def names(response):
    assert response.status_code == 200, response.content
    return sorted(flow["name"] for flow in response.json())


@pytest.fixture
def api(tenant):
    return workspace_client(tenant.raw_key, tenant.workspace.pk)


@replica_test
def test_a_list_reads_from_the_replica(live, tenant, api):
    make_flow(tenant.workspace, 1)
    live.pause()
    make_flow(tenant.workspace, 2)  # on the primary only, while the replica's replay is paused
    assert sorted(MessageFlow.objects.values_list("name", flat=True)) == ["Flow 1", "Flow 2"]
    # The key's first request also wrote its last_used_at: bookkeeping, which keeps nothing sticky.
    assert names(api.get(LIST)) == ["Flow 1"]
    assert names(api.get(LIST)) == ["Flow 1"]
    live.resume()
    live.wait_caught_up()
    assert names(api.get(LIST)) == ["Flow 1", "Flow 2"]


@replica_test
def test_a_keys_own_write_is_read_back_from_the_primary_for_the_sticky_window(live, tenant, api, settings):
    settings.FLOWDESK_REPLICA_STICKY_SECONDS = 2
    make_flow(tenant.workspace, 1)
    _, other_raw = ApiKey.generate(user=tenant.user, organization=tenant.organization, name="other")
    other = workspace_client(other_raw, tenant.workspace.pk)
    live.wait_caught_up()
    assert names(api.get(LIST)) == names(other.get(LIST)) == ["Flow 1"]
    live.pause()
    assert api.post(LIST, NEW_FLOW, format="json").status_code == 201
    written_at = time.monotonic()
    # The writer reads its write (from the primary); another key still reads the paused replica.
    assert names(api.get(LIST)) == ["Flow 1", NEW_FLOW["name"]]
    assert names(other.get(LIST)) == ["Flow 1"]
    assert time.monotonic() - written_at < 2, "the machine is too slow for a 2-second window"
    time.sleep(2.2 - (time.monotonic() - written_at))
    # The window has passed: the writer's reads are back on the (still paused) replica.
    assert names(api.get(LIST)) == ["Flow 1"]


@replica_test
def test_a_failed_write_keeps_nothing_sticky(live, tenant, api):
    make_flow(tenant.workspace, 1)
    live.pause()
    make_flow(tenant.workspace, 2)
    assert api.post(LIST, {"name": "no direction"}, format="json").status_code == 400
    assert names(api.get(LIST)) == ["Flow 1"]


@replica_test
def test_writes_locks_and_transactions_use_the_primary(live, tenant):
    from django.db import transaction

    route, token = routers.begin(True)
    try:
        routers.authenticated(tenant.key.pk)
        flows = MessageFlow.objects.all()
        assert flows.db == ALIAS
        assert flows.select_for_update().db == "default"
        assert router.db_for_write(MessageFlow) == "default"
        with transaction.atomic():
            assert flows.db == "default"
        assert flows.db == ALIAS
    finally:
        routers.end(token)
    # Outside a request (workers, commands) and in an unsafe request: the primary.
    assert MessageFlow.objects.all().db == "default"
    route, token = routers.begin(False)
    try:
        routers.authenticated(tenant.key.pk)
        assert MessageFlow.objects.all().db == "default"
    finally:
        routers.end(token)


@replica_test
def test_the_sticky_check_rides_on_the_throttles_redis_round_trip(live, tenant, api, settings, monkeypatch):
    import redis
    import redis.connection

    from config.settings import REDIS_URL

    url = (REDIS_URL or "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/15"
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError:
        pytest.skip("Redis is not running")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    from django.core.cache import cache

    cache.clear()
    sent = []
    send = redis.connection.AbstractConnection.send_packed_command
    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command",
                        lambda self, command, *a, **k: (sent.append(command), send(self, command, *a, **k))[1])
    try:
        make_flow(tenant.workspace, 1)
        live.pause()

        def round_trips(request):
            before = len(sent)
            response = request()
            return response, len(sent) - before

        listed, trips = round_trips(lambda: api.get(LIST))
        assert (names(listed), trips) == (["Flow 1"], 1)  # SET NX, INCR and the sticky GET, pipelined
        posted, trips = round_trips(lambda: api.post(LIST, NEW_FLOW, format="json"))
        assert (posted.status_code, trips) == (201, 2)  # the throttle's, then the sticky marker
        listed, trips = round_trips(lambda: api.get(LIST))
        assert (names(listed), trips) == (["Flow 1", NEW_FLOW["name"]], 1)
        # In Redis, so every web process (and machine) sees the marker.
        assert 0 < redis.Redis.from_url(url).ttl(cache.make_key(routers.sticky_key(tenant.key.pk))) <= 5
    finally:
        cache.clear()


@replica_test
def test_a_replica_dropped_under_a_query_is_answered_from_the_primary(live, tenant, api, monkeypatch):
    make_flow(tenant.workspace, 1)
    live.pause()
    make_flow(tenant.workspace, 2)
    assert names(api.get(LIST)) == ["Flow 1"]  # replica_0's connection is open
    # Its server process ends (as in a restart) and the idle check does not see it in time.
    live.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port IS NOT NULL "
               "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
    monkeypatch.setattr(routers, "_dropped", lambda raw: False)
    assert names(api.get(LIST)) == ["Flow 1", "Flow 2"]  # from the primary: no 503
    assert routers.is_down(ALIAS)


@replica_test
def test_a_stopped_replica_costs_no_error(live, tenant, api, monkeypatch):
    make_flow(tenant.workspace, 1)
    live.pause()
    make_flow(tenant.workspace, 2)
    assert names(api.get(LIST)) == ["Flow 1"]  # replica_0's connection is open
    live.stop()
    # Skipped when the replica is chosen, not answered again after failing (the test above).
    monkeypatch.setattr(routers, "broken", lambda alias: False)
    started = time.monotonic()
    assert names(api.get(LIST)) == ["Flow 1", "Flow 2"]  # the primary answers
    assert routers.is_down(ALIAS)
    # While it is marked down nobody waits for it: no connection is even tried.
    connections[ALIAS].close()
    assert names(api.get(LIST)) == ["Flow 1", "Flow 2"]
    assert connections[ALIAS].connection is None
    assert time.monotonic() - started < 1  # not even one connect_timeout
    # Past the retry time it is tried again; refused, the primary answers again.
    routers._down_until[ALIAS] = time.monotonic() - 1
    assert names(api.get(LIST)) == ["Flow 1", "Flow 2"]
    assert routers.is_down(ALIAS)
