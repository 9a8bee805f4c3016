"""Per-key rate limits, one fixed window per key and family, counted in Django's cache.

With `REDIS_URL` the cache is Redis and every server process shares the counters (INCR is
atomic there); without it each process counts in local memory.
"""

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework import throttling
from rest_framework.exceptions import Throttled

from config.env import Rate, parse_rate  # noqa: F401 - parse_rate is part of this module's API
from flowdesk.api.fields import iso_z
from flowdesk.db import routers as replica_routes


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    reset_at: float  # epoch seconds when the window ends


def hit(bucket, rate, now=None):
    """Count one request in ``bucket``; the decision for it."""
    now = time.time() if now is None else now
    window = int(now // rate.seconds) * rate.seconds
    key = f"rl:{bucket}:{window}"
    count = _count(key, rate.seconds + 5)
    return Decision(count <= rate.requests, max(rate.requests - count, 0), window + rate.seconds)


def _count(key, timeout):
    """The key's count after adding one: one round trip to Redis, a lock-free pair in local memory."""
    backend = caches["default"]
    # Whether the key wrote recently (its reads then stay off the replicas): read in the same round trip.
    sticky = replica_routes.pending_sticky_key()
    if isinstance(backend, RedisCache):
        # SET NX with its expiry, then INCR, in one pipeline: the first request of a window starts
        # the count and its expiry, and a request pays one round trip (add() then incr() were two).
        name = backend.make_and_validate_key(key)
        with _writer(backend._cache).pipeline(transaction=False) as pipe:
            pipe.set(name, 0, ex=timeout, nx=True).incr(name)
            if sticky is not None:
                pipe.get(backend.make_and_validate_key(sticky))
            results = pipe.execute()
        if sticky is not None:
            replica_routes.sticky_known(results[2] is not None)
        return results[1]
    if sticky is not None:
        replica_routes.sticky_known(cache.get(sticky) is not None)
    # add() only sets a missing key, so the first request of a window starts the count at 0.
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=timeout)
        return 1


def _writer(client):
    """The Redis client of the cache's writes, made once per cache client (Django's get_client makes
    a new one on every call: 5% of a small list request's time, served)."""
    writer = client.__dict__.get("_flowdesk_writer")
    if writer is None:
        writer = client._flowdesk_writer = client.get_client(write=True)
    return writer


class RateLimited(Throttled):
    def __init__(self, decision, now):
        super().__init__(wait=max(decision.reset_at - now, 0))
        self.reset_at = iso_z_from_epoch(decision.reset_at)
        self.detail = f"Rate limit exceeded; try again after {self.reset_at}."


def iso_z_from_epoch(epoch):
    from datetime import UTC, datetime

    return iso_z(datetime.fromtimestamp(epoch, UTC))


class KeyRateThrottle(throttling.BaseThrottle):
    """The family's limit (settings.FLOWDESK_RATE_LIMITS) for the request's API key."""

    def allow_request(self, request, view):
        key = request.auth
        family = getattr(view, "family", None)
        rate = settings.FLOWDESK_RATE_LIMITS.get(family)
        if key is None or rate is None:
            return True
        now = time.time()
        decision = hit(f"{family}:{key.pk}", rate, now)
        request.rate_limit = (rate, decision)
        if not decision.allowed:
            raise RateLimited(decision, now)
        return True


def retry_after(seconds):
    return str(max(1, math.ceil(seconds)))
