"""Reads that may be stale go to PostgreSQL's streaming replicas (DATABASE_REPLICA_URLS).

A read goes to a replica only inside a safe request (GET, HEAD, OPTIONS) authenticated by an API
key, outside any transaction on the primary, and when that key has not written in the last
FLOWDESK_REPLICA_STICKY_SECONDS: read-your-writes, with the marker in the cache (Redis with
REDIS_URL, so every process and machine sees it). Everything else uses the primary: writes,
select_for_update and get_or_create (Django routes them as writes), transactions, the key's own
query (a revoked key stops at once), the admin, workers and management commands (no request
route). Migrations run on the primary only; replicas get them by streaming.

A key reads from the same replica while it is up (chosen by the key), so its lists do not step back
in time between two replicas of different lag. A replica that refuses the connection or times out
(a short connect_timeout) is skipped for FLOWDESK_REPLICA_RETRY_SECONDS: the read goes to the next
replica, or to the primary. A read a replica fails under a request that wrote nothing (it went
away, or cancelled the query) is answered again from the primary (flowdesk/db/middleware.py).
"""

import contextvars
import select
import time
import zlib

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

PRIMARY = DEFAULT_DB_ALIAS
STICKY_PREFIX = "db-sticky:"

_route = contextvars.ContextVar("flowdesk_db_route", default=None)
# alias -> time.monotonic() until which the replica is skipped (per process)
_down_until = {}


class Route:
    """What one request may read from: set by ReplicaMiddleware, filled in as the request goes."""

    __slots__ = ("stale_reads_ok", "key_id", "sticky", "wrote", "replica")

    def __init__(self, stale_reads_ok):
        self.stale_reads_ok = stale_reads_ok  # a safe method: nothing it reads decides a write
        self.key_id = None  # the API key, once authenticated
        self.sticky = None  # whether that key wrote recently; None until the cache was asked
        self.wrote = False  # this request wrote through the ORM
        self.replica = None  # the alias its stale reads use, chosen on the first one


def begin(stale_reads_ok):
    route = Route(stale_reads_ok)
    return route, _route.set(route)


def end(token):
    _route.reset(token)


def current():
    return _route.get()


def authenticated(key_id):
    """The request is the key's: its reads may go to a replica unless the key wrote recently."""
    route = _route.get()
    if route is not None:
        route.key_id = key_id


def sticky_key(key_id):
    return f"{STICKY_PREFIX}{key_id}"


def pending_sticky_key():
    """The cache key to read for this request's read-your-writes check, when it is still unknown
    (the throttle reads it in its own Redis round trip)."""
    route = _route.get()
    if route is None or not route.stale_reads_ok or route.key_id is None or route.sticky is not None:
        return None
    return sticky_key(route.key_id)


def sticky_known(value):
    route = _route.get()
    if route is not None:
        route.sticky = bool(value)


def mark_sticky(key_id):
    cache.set(sticky_key(key_id), 1, timeout=settings.FLOWDESK_REPLICA_STICKY_SECONDS)


def mark_down(alias):
    _down_until[alias] = time.monotonic() + settings.FLOWDESK_REPLICA_RETRY_SECONDS
    try:
        connections[alias].close()
    except DatabaseError:
        pass  # closing a broken connection: it is gone either way


def is_down(alias):
    until = _down_until.get(alias)
    if until is None:
        return False
    if time.monotonic() < until:
        return True
    _down_until.pop(alias, None)
    return False


def _dropped(raw):
    """Whether an idle connection was dropped by the server (it stopped or restarted): its socket
    is readable (the termination notice, or EOF) though no query is pending. One poll, no round trip."""
    if raw.closed or getattr(raw, "broken", False):
        return True
    try:
        readable, _, _ = select.select([raw.fileno()], [], [], 0)
    except Exception:  # OSError, or psycopg's own error for a socket it no longer has
        return True
    return bool(readable)


def usable(alias):
    """Whether the replica answers: its open connection was not dropped, or a new one connects."""
    if is_down(alias):
        return False
    connection = connections[alias]
    if connection.connection is not None and _dropped(connection.connection):
        try:
            connection.close()
        except DatabaseError:
            pass
    try:
        connection.ensure_connection()
    except DatabaseError:
        mark_down(alias)
        return False
    return True


def broken(alias):
    """Whether the alias's connection broke under a query (the server went away mid-request)."""
    connection = connections[alias]
    raw = connection.connection
    return connection.errors_occurred and (raw is None or raw.closed or getattr(raw, "broken", False))


def failed_on_replica(route):
    """Whether the request's database error came from its replica, with nothing written: asking the
    primary instead is then safe and answers it."""
    if route.replica in (None, PRIMARY) or route.wrote:
        return False
    return connections[route.replica].errors_occurred


def _replica_for(route):
    if route.replica is None:
        aliases = settings.FLOWDESK_DATABASE_REPLICAS
        start = zlib.crc32(str(route.key_id).encode())
        route.replica = PRIMARY
        for step in range(len(aliases)):
            alias = aliases[(start + step) % len(aliases)]
            if usable(alias):
                route.replica = alias
                break
    return route.replica


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        route = _route.get()
        if route is None or not route.stale_reads_ok or route.key_id is None:
            return PRIMARY
        if connections[PRIMARY].in_atomic_block:
            return PRIMARY  # a transaction reads what it wrote, and what it locked
        if route.sticky is None:
            route.sticky = cache.get(sticky_key(route.key_id)) is not None
        if route.sticky:
            return PRIMARY
        return _replica_for(route)

    def db_for_write(self, model, **hints):
        route = _route.get()
        if route is not None:
            route.wrote = True
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        # Replicas hold the primary's rows: an object read from one relates to any other.
        ours = {PRIMARY, *settings.FLOWDESK_DATABASE_REPLICAS}
        if obj1._state.db in ours and obj2._state.db in ours:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == PRIMARY
