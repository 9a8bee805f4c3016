"""Reads on PostgreSQL's streaming replicas (DATABASE_REPLICA_URLS, flowdesk/db/routers.py).

The PostgreSQL tests make a real streaming replica of the test server on this machine
(flowdesk/db/standby.py: `pg_basebackup -R -X stream` into a temporary folder, a second `postgres`
on a free port) and register it as `replica_0`, pointed at the primary's test database: the replica has it by streaming.
Pausing the replica's replay (`pg_wal_replay_pause()`) then makes it visibly stale, so a list that
lacks a row just written on the primary was read from the replica.
"""

import time
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.test import override_settings

from accounts.models import ApiKey, Organization
from config.env import env_database_replicas
from flowdesk.db import routers
from flowdesk.db.middleware import ReplicaMiddleware
from flowdesk.db.standby import Standby
from messaging.models import MessageFlow
from tests.conftest import settings_run
from tests.messaging.conftest import NEW_FLOW, make_flow, workspace_client

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


def test_settings_add_one_database_per_replica_and_the_router():
    done = settings_run(SETTINGS_SCRIPT, DATABASE_URL="postgres://u@db:5432/app",
                        DATABASE_REPLICA_URLS="postgres://u@r0:5432/app,postgres://u@r1:5432/app",
                        FLOWDESK_REPLICA_STICKY_SECONDS="3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "['default', 'replica_0', 'replica_1'] ['replica_0', 'replica_1'] "
        "['flowdesk.db.routers.ReplicaRouter'] r1 3"
    )


def test_a_bad_replica_url_stops_start_up_naming_the_variable():
    done = settings_run(SETTINGS_SCRIPT, DATABASE_URL="postgres://u@db:5432/app",
                        DATABASE_REPLICA_URLS="postgres://u@r0:5432/app,")
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


@pytest.fixture(scope="module")
def replica(django_db_setup, django_db_blocker):
    """replica_0: a streaming replica of the test server, registered with the router."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    primary = connections["default"].settings_dict  # NAME is the test database by now
    server = Standby(primary)
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
    """The replica, running and replaying, with the whole test's writes caught up at the end."""
    if not replica.running():
        replica.start_again()  # a test stopped it
    yield replica
    if replica.running():
        replica.resume()
        replica.wait_caught_up()


def names(response):
    assert response.status_code == 200, response.content
    return sorted(flow["name"] for flow in response.json())


def flow_2_on_the_primary_only(live, tenant, api):
    """Flow 1 replayed on the replica, Flow 2 written while its replay is paused; the list, read from
    replica_0 (whose connection is then open), shows Flow 1 only."""
    make_flow(tenant.workspace, 1)
    live.pause()
    make_flow(tenant.workspace, 2)
    assert names(api.get(LIST)) == ["Flow 1"]


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
def test_a_failed_write_keeps_nothing_sticky(live, tenant, api, settings):
    settings.FLOWDESK_REPLICA_STICKY_SECONDS = 600  # a marker, had it been set, outlasts the test
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


@pytest.fixture
def redis_commands(settings, monkeypatch):
    """The cache in a Redis database of this module's own (db 9), emptied; the packed commands sent
    to Redis (one a round trip: a pipeline is sent as one)."""
    import redis
    import redis.connection

    from tests.served import REDIS_URL, redis_up

    url = REDIS_URL.rsplit("/", 1)[0] + "/9"
    if not redis_up(url):
        pytest.skip("Redis is not running")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    from django.core.cache import cache

    cache.clear()
    sent = []
    send = redis.connection.AbstractConnection.send_packed_command
    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command",
                        lambda self, command, *a, **k: (sent.append(command), send(self, command, *a, **k))[1])
    yield SimpleNamespace(sent=sent, redis=redis.Redis.from_url(url))
    cache.clear()


def _round_trips(sent, request):
    """(the response, the packed commands it sent to Redis, one bytes each), the event bus's PUBLISH
    aside (it goes to Redis only when REDIS_URL is set, and is no part of the cache's trips)."""
    before = len(sent)
    response = request()
    packed = [b"".join(command) if isinstance(command, list) else command for command in sent[before:]]
    return response, [command for command in packed if b"\r\nPUBLISH\r\n" not in command]


def test_without_replicas_a_throttled_read_sends_redis_nothing_more(tenant, redis_commands):
    # No DATABASE_REPLICA_URLS (the test settings): the throttle's pipeline is SET NX and INCR only.
    client = workspace_client(tenant.raw_key, tenant.workspace.pk)
    listed, trips = _round_trips(redis_commands.sent, lambda: client.get(LIST))
    assert listed.status_code == 200
    assert len(trips) == 1
    assert b"db-sticky" not in trips[0] and b"GET" not in trips[0], trips[0]
    posted, trips = _round_trips(redis_commands.sent, lambda: client.post(LIST, NEW_FLOW, format="json"))
    assert (posted.status_code, len(trips)) == (201, 1)  # no sticky marker written


@replica_test
def test_the_sticky_check_rides_on_the_throttles_redis_round_trip(live, tenant, api, redis_commands):
    from django.core.cache import cache

    make_flow(tenant.workspace, 1)
    live.pause()
    listed, trips = _round_trips(redis_commands.sent, lambda: api.get(LIST))
    assert (names(listed), len(trips)) == (["Flow 1"], 1)  # SET NX, INCR and the sticky GET, pipelined
    assert b"db-sticky" in trips[0]
    posted, trips = _round_trips(redis_commands.sent, lambda: api.post(LIST, NEW_FLOW, format="json"))
    assert (posted.status_code, len(trips)) == (201, 2)  # the throttle's, then the sticky marker
    listed, trips = _round_trips(redis_commands.sent, lambda: api.get(LIST))
    assert (names(listed), len(trips)) == (["Flow 1", NEW_FLOW["name"]], 1)
    # In Redis, so every web process (and machine) sees the marker.
    assert 0 < redis_commands.redis.ttl(cache.make_key(routers.sticky_key(tenant.key.pk))) <= 5


@replica_test
def test_a_replica_dropped_under_a_query_is_answered_from_the_primary(live, tenant, api, monkeypatch):
    flow_2_on_the_primary_only(live, tenant, api)
    # Its server process ends (as in a restart) and the idle check does not see it in time.
    live.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port IS NOT NULL "
               "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
    monkeypatch.setattr(routers, "_dropped", lambda raw: False)
    assert names(api.get(LIST)) == ["Flow 1", "Flow 2"]  # from the primary: no 503
    assert routers.is_down(ALIAS)


@replica_test
def test_a_stopped_replica_costs_no_error(live, tenant, api, monkeypatch):
    flow_2_on_the_primary_only(live, tenant, api)
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


@pytest.fixture
def servers(monkeypatch):
    """The port of the server each statement psycopg sends goes to, in order."""
    import psycopg

    sent = []
    execute = psycopg.Cursor.execute

    def counted(self, query, *args, **kwargs):
        sent.append(self.connection.info.port)
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    return sent


@replica_test
def test_a_served_list_makes_one_round_trip_on_the_primary_and_one_on_the_replica(live, tenant, servers):
    from tests.flowdesk.test_round_trips import served_get

    make_flow(tenant.workspace, 1)
    primary = int(connections["default"].settings_dict["PORT"] or 5432)
    headers = {"HTTP_API_KEY": tenant.raw_key, "HTTP_X_WORKSPACE_ID": tenant.workspace.pk}
    assert served_get(LIST, headers)[0] == 200  # the connections are open from here on
    for _ in range(2):
        before = len(servers)
        status, _ = served_get(LIST, headers)
        assert status == 200
        # The key (on the primary: a revoked key stops at once), then the page from the replica.
        assert servers[before:] == [primary, live.port]


@replica_test
def test_a_revoked_key_is_refused_at_once_though_the_replica_lags(live, tenant, api):
    make_flow(tenant.workspace, 1)
    assert names(api.get(LIST)) == ["Flow 1"]
    live.pause()
    tenant.key.revoke()
    assert api.get(LIST).status_code == 401


@replica_test
def test_a_query_the_replica_cancels_is_answered_from_the_primary(live, tenant, api):
    flow_2_on_the_primary_only(live, tenant, api)

    def cancelled(execute, sql, params, many, context):
        # As a standby cancels a query that conflicts with what it replays: a real server error
        # (57014), on a connection that stays usable.
        return execute("SELECT pg_cancel_backend(pg_backend_pid()), pg_sleep(5)", None, many, context)

    with connections[ALIAS].execute_wrapper(cancelled):
        assert names(api.get(LIST)) == ["Flow 1", "Flow 2"]  # from the primary: no 503
    assert not routers.is_down(ALIAS)  # a cancelled query does not take the replica out
    assert names(api.get(LIST)) == ["Flow 1"]


@replica_test
def test_a_replica_started_again_is_read_from_after_the_retry_time(live, tenant, api, settings):
    settings.FLOWDESK_REPLICA_RETRY_SECONDS = 600  # starting it again must not outlast the retry time
    flow_2_on_the_primary_only(live, tenant, api)
    live.stop()
    assert names(api.get(LIST)) == ["Flow 1", "Flow 2"]
    assert routers.is_down(ALIAS)
    live.start_again()  # it replays again, and catches up
    live.pause()
    make_flow(tenant.workspace, 3)
    assert names(api.get(LIST)) == ["Flow 1", "Flow 2", "Flow 3"]  # still skipped for the retry time
    routers._down_until[ALIAS] = time.monotonic() - 1
    assert names(api.get(LIST)) == ["Flow 1", "Flow 2"]  # from the replica again


def test_the_replica_benchmark_writes_its_subsection_of_the_served_section(tmp_path):
    from bench.replica import HEADING, write_into_results

    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n## 5. Served: lists\n\n| a |\n\n## 6. Memory\n\nflat\n")
    write_into_results(results, f"{HEADING}\n\nfirst\n")
    assert results.read_text() == f"# Results\n\n## 5. Served: lists\n\n| a |\n\n{HEADING}\n\nfirst\n\n## 6. Memory\n\nflat\n"
    write_into_results(results, f"{HEADING}\n\nsecond\n")  # the next run replaces it
    assert results.read_text() == f"# Results\n\n## 5. Served: lists\n\n| a |\n\n{HEADING}\n\nsecond\n\n## 6. Memory\n\nflat\n"
