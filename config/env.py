"""Strict readers for settings taken from the environment.

A value that does not parse stops start-up with a message naming the variable,
rather than falling back to a default the operator did not ask for.
"""

import os
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name, default=None):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name, default, minimum=None, maximum=None):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}; got {value}")
    return value


def env_list(name, default):
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(f"{name} must be a comma-separated list without empty items; got {raw!r}")
    return items


def env_database(name, default):
    return _database(name, os.environ.get(name) or default)


def _database(name, raw, sqlite=True):
    import dj_database_url

    try:
        # Persistent connections with no health check: Django's check was a `SELECT 1` round trip at
        # the start of every request. A connection broken under a request (a PostgreSQL restart)
        # fails that request with a 503; Django then closes it and the next request reconnects.
        config = dj_database_url.parse(raw, conn_max_age=None, conn_health_checks=False)
    except Exception as exc:  # dj-database-url raises several types for bad URLs
        raise ImproperlyConfigured(f"{name} is not a usable database URL ({exc}): {raw!r}") from None
    engine = config.get("ENGINE", "")
    if not sqlite and engine != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"{name} must hold postgres:// URLs only; got {raw!r}")
    if engine not in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
        raise ImproperlyConfigured(
            f"{name} must be a postgres:// or sqlite:// URL; got {raw!r}"
        )
    if engine == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        # Several writers (threads, the dev server) wait for the lock instead of failing at once.
        config.setdefault("OPTIONS", {})["timeout"] = 20
        # A transaction takes the write lock when it begins: one that read first and then wrote
        # could not wait for it and failed at once with "database is locked" (found by the fuzzer:
        # two server workers and the engine starting sessions).
        config["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    elif not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} must name a database; got {raw!r}")
    return config


def env_database_replicas(name, primary, connect_timeout):
    """The read replicas of ``primary`` named in the comma-separated URLs of ``name``: each with the
    primary's options, a short connect timeout (a replica that is down is skipped, and every request
    should not wait long to find out) and, in tests, the primary's test database (a streaming
    replica has it already: the test run must not create it there)."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return []
    if primary["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"{name} needs a postgres:// DATABASE_URL (replicas are PostgreSQL's); got {raw!r}")
    urls = [item.strip() for item in raw.split(",")]
    if any(not url for url in urls):
        raise ImproperlyConfigured(f"{name} must be a comma-separated list without empty items; got {raw!r}")
    replicas = []
    for url in urls:
        config = _database(name, url, sqlite=False)
        # The primary's connection options (a URL's own query options win), persistence and cursors.
        config["OPTIONS"] = {**primary.get("OPTIONS", {}), "connect_timeout": connect_timeout, **config.get("OPTIONS", {})}
        for setting in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "DISABLE_SERVER_SIDE_CURSORS"):
            if setting in primary:
                config[setting] = primary[setting]
        config["TEST"] = {"MIRROR": "default"}
        replicas.append(config)
    return replicas


@dataclass(frozen=True)
class Rate:
    requests: int
    seconds: int


_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
            "d": 86400, "day": 86400}


def parse_rate(text):
    """'60/minute' -> Rate(60, 60); ValueError for anything else."""
    count, _, period = str(text).strip().partition("/")
    if not count.isdigit() or int(count) < 1 or period.strip().lower() not in _PERIODS:
        raise ValueError(f"expected N/second, N/minute, N/hour or N/day; got {text!r}")
    return Rate(int(count), _PERIODS[period.strip().lower()])


def env_rate(name, default):
    raw = os.environ.get(name) or default
    try:
        return parse_rate(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
