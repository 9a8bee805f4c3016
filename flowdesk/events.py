"""One source of events: every change to an object is published once, after its transaction commits.

A write path calls ``publish(...)`` inside its transaction. When the transaction commits, the
object is rendered once (as its family's GET one answers it) and the event goes to

- the listeners of its channel (an SSE stream, a Socket.IO room): in this process in the
  embedded default, through Redis pub/sub to every process when ``REDIS_URL`` is set;
- the outlets registered with ``register_outlet`` (webhooks), in the publishing process.

An event nobody would hear (no listener of its channel in any process, no outlet that wants it)
is not rendered: rendering a whole session is most of a write's time when nothing listens.

Nothing is published for a transaction that rolls back, and a transaction that changes one
object several times publishes it once, rendered as it was committed.
"""

import asyncio
import contextlib
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from django.conf import settings
from django.db import connection, transaction

logger = logging.getLogger("flowdesk.events")

REDIS_PREFIX = "flowdesk:events:"


def channel_prefix(url):
    """The pub/sub names of a Redis URL's database: pub/sub ignores the database number, so two
    deployments on one Redis (db 1 and db 2) would hear each other's events without it."""
    import redis

    db = redis.Redis.from_url(url).connection_pool.connection_kwargs.get("db", 0)
    return f"{REDIS_PREFIX}{db}:"


@dataclass
class Event:
    type: str  # "live_flow_session.status_changed", "user_session.updated", ...
    channel: str  # "live_flow_session:<uuid>": who listens to this object
    organization_id: str
    data: dict  # the object as its family's GET one answers it
    id: str = field(default_factory=lambda: "evt_" + uuid.uuid4().hex)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_message(self):
        return {
            "event": self.type, "channel": self.channel, "organization": self.organization_id,
            "data": self.data, "id": self.id, "at": self.at.isoformat().replace("+00:00", "Z"),
        }

    @classmethod
    def from_message(cls, message):
        return cls(
            type=message["event"], channel=message["channel"], organization_id=message["organization"],
            data=message["data"], id=message["id"],
            at=datetime.fromisoformat(message["at"].replace("Z", "+00:00")),
        )


_outlets = []
_outlet_wants = {}  # outlet -> (the types it can take or None, wants or None)


def register_outlet(outlet, wants=None, types=None):
    """``outlet(event)`` is called for every event, after commit, in the publishing process.

    ``types``, if given, are the only event types the outlet takes; ``wants(event_type,
    organization_id)``, if given, says before the event is rendered whether the outlet would do
    anything with it. Without either the outlet hears every event."""
    if outlet not in _outlets:
        _outlets.append(outlet)
    if wants is not None or types is not None:
        _outlet_wants[outlet] = (None if types is None else frozenset(types), wants)


def heard(event_type, channel, organization_id):
    """Whether anyone would hear this event: a listener of the channel, or an outlet that wants it.

    ``organization_id()`` is called only when an outlet's ``wants`` needs it (it may cost a query)."""
    if broker().has_listeners(channel):
        return True
    for outlet in list(_outlets):
        types, wants = _outlet_wants.get(outlet, (None, None))
        if types is not None and event_type not in types:
            continue
        try:
            if wants is None or wants(event_type, organization_id()):
                return True
        except Exception:
            logger.exception("Event outlet %r could not say whether it wants %s", outlet, event_type)
            return True  # rendering for nothing beats losing the event
    return False


def publish(event_type, *, channel, organization_id, render):
    """Publish ``event_type`` for the object behind ``channel`` once the current transaction commits.

    ``render()`` returns the object's body; it runs after the commit, once per transaction and
    channel, however many times the object changed in it. Outside a transaction it runs at once.
    ``organization_id`` may be a callable too, when finding it costs a query.
    """
    pending = _pending_for_connection()
    key = (event_type, channel)
    promised = pending.get(key)
    if promised is not None and any(entry[1] is promised for entry in connection.run_on_commit):
        return  # this transaction already publishes it (a rolled-back one no longer holds its promise)

    found = []

    def organization():  # looked up at most once, and only when needed
        if not found:
            found.append(organization_id() if callable(organization_id) else organization_id)
        return found[0]

    def send():
        pending.pop(key, None)
        try:
            if not heard(event_type, channel, organization):
                return
            data = render()
            if data is None:
                return  # the object is gone again
            event = Event(type=event_type, channel=channel, organization_id=organization(), data=data)
        except Exception:
            logger.exception("Could not render %s for %s", event_type, channel)
            return
        dispatch(event)

    if connection.in_atomic_block:
        pending[key] = send
    transaction.on_commit(send)


def _pending_for_connection():
    # Per connection (so per thread): what the open transaction has already promised to publish.
    pending = getattr(connection, "_flowdesk_pending_events", None)
    if pending is None:
        pending = connection._flowdesk_pending_events = {}
    return pending


def dispatch(event):
    """Send an event that has happened to its listeners and outlets."""
    broker().send(event)
    for outlet in list(_outlets):
        try:
            outlet(event)
        except Exception:
            logger.exception("Event outlet %r failed on %s", outlet, event.type)


# --- brokers: who hears an event -----------------------------------------------------------------

class LocalBroker:
    """Listeners in this process: asyncio queues, fed from any thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._listeners = {}  # channel -> {(loop, queue)}

    def has_listeners(self, channel):
        with self._lock:
            return channel in self._listeners

    def send(self, event):
        with self._lock:
            listeners = list(self._listeners.get(event.channel, ()))
        for loop, queue in listeners:
            with contextlib.suppress(RuntimeError):  # the listener's loop has closed
                loop.call_soon_threadsafe(queue.put_nowait, event)

    @contextlib.asynccontextmanager
    async def listen(self, channel):
        queue = asyncio.Queue()
        entry = (asyncio.get_running_loop(), queue)
        with self._lock:
            self._listeners.setdefault(channel, set()).add(entry)
        try:
            yield queue
        finally:
            with self._lock:
                listeners = self._listeners.get(channel, set())
                listeners.discard(entry)
                if not listeners:
                    self._listeners.pop(channel, None)


class RedisBroker(LocalBroker):
    """Every process hears every event through Redis pub/sub; each process fans out to its own listeners."""

    def __init__(self, url):
        super().__init__()
        import redis

        self.url = url
        self.prefix = channel_prefix(url)
        self._publisher = redis.Redis.from_url(url)
        self._readers = {}  # loop -> (task, pubsub, channel counts)

    def has_listeners(self, channel):
        # One round trip, instead of rendering and publishing an event no process subscribes to.
        if super().has_listeners(channel):
            return True
        try:
            [(_, count)] = self._publisher.pubsub_numsub(self.prefix + channel)
        except Exception:
            logger.exception("Could not count the listeners of %s on Redis", channel)
            return True  # then publishing says what is wrong
        return count > 0

    def send(self, event):
        try:
            self._publisher.publish(self.prefix + event.channel, orjson.dumps(event.as_message()))
        except Exception:
            logger.exception("Could not publish %s on Redis", event.type)

    @contextlib.asynccontextmanager
    async def listen(self, channel):
        pubsub, counts = await self._reader()
        async with super().listen(channel) as queue:
            counts[channel] = counts.get(channel, 0) + 1
            if counts[channel] == 1:
                await pubsub.subscribe(self.prefix + channel)
            try:
                yield queue
            finally:
                counts[channel] -= 1
                if not counts[channel]:
                    del counts[channel]
                    with contextlib.suppress(Exception):
                        await pubsub.unsubscribe(self.prefix + channel)

    async def _reader(self):
        loop = asyncio.get_running_loop()
        if loop not in self._readers:
            import redis.asyncio

            pubsub = redis.asyncio.Redis.from_url(self.url).pubsub()
            # Subscribing first keeps get_message from returning at once before any channel is named.
            await pubsub.subscribe(self.prefix + "_")
            counts = {}
            task = loop.create_task(self._read(pubsub))
            self._readers[loop] = (task, pubsub, counts)
        _, pubsub, counts = self._readers[loop]
        return pubsub, counts

    async def _read(self, pubsub):
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Redis event subscription failed; retrying")
                await asyncio.sleep(1)
                continue
            if message is None:
                continue
            try:
                event = Event.from_message(orjson.loads(message["data"]))
            except Exception:
                logger.exception("Unreadable event on %s", message.get("channel"))
                continue
            LocalBroker.send(self, event)


_broker = None
_broker_lock = threading.Lock()


def broker():
    global _broker
    with _broker_lock:
        if _broker is None:
            url = settings.REDIS_URL
            _broker = RedisBroker(url) if url else LocalBroker()
        return _broker


def reset_broker():
    """For tests that change REDIS_URL."""
    global _broker
    with _broker_lock:
        _broker = None


def listen(channel):
    """``async with listen(channel) as queue:`` then ``event = await queue.get()``."""
    return broker().listen(channel)
