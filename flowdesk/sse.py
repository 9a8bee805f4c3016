"""Server-Sent Events from the one event source: the current state first, then every change.

Served on ASGI (uvicorn), where a stream holds no worker: each open stream is a coroutine
waiting on its channel, never a loop over the database.
"""

import asyncio

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse

from flowdesk import events


def frame(event_id, data):
    return b"id: %d\ndata: %s\n\n" % (event_id, orjson.dumps(data))


HEARTBEAT = b": heartbeat\n\n"


async def _next_change(queue):
    """Waits for the channel's next event, yielding a heartbeat comment each quiet interval."""
    while True:
        try:
            await asyncio.wait_for(queue.get(), settings.FLOWDESK_SSE_HEARTBEAT_SECONDS)
            return
        except TimeoutError:
            yield HEARTBEAT


async def state_stream(channel, load, last_event_id=None, done=lambda data: False):
    """Frames of ``load()`` = (revision, data) whenever ``channel`` hears a change.

    A revision at or below ``last_event_id`` (what the client already has) is not sent again;
    the stream ends after a state for which ``done(data)`` is true, or when the object is gone.
    """
    sent = last_event_id if last_event_id is not None else -1
    async with events.listen(channel) as queue:  # listening before reading: no change is missed
        while True:
            found = await sync_to_async(load)()
            if found is None:
                return
            revision, data = found
            if revision > sent:
                yield frame(revision, data)
                sent = revision
            if done(data):
                return
            async for heartbeat in _next_change(queue):
                yield heartbeat
            while not queue.empty():  # changes that came together are read as one state
                queue.get_nowait()


def served_on_asgi(request):
    """Whether this request came through ASGI: under WSGI a stream would hold its worker."""
    from django.core.handlers.asgi import ASGIRequest

    return isinstance(getattr(request, "_request", request), ASGIRequest)


def state_snapshot(load, last_event_id=None):
    """Under WSGI: the current state as one frame (if the client lacks it), then the end."""
    found = load()
    if found is not None and (last_event_id is None or found[0] > last_event_id):
        yield frame(*found)


def event_stream_response(stream):
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def named_frame(index, event, data):
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (index, event.encode(), orjson.dumps(data))


async def log_stream(channel, load_after, after=-1, ends=(), check=None):
    """Frames of a stored, numbered event log: those after ``after``, then each as it is added.

    ``load_after(index)`` returns the stored (index, event, data) past ``index``; the stream ends
    after an event whose name is in ``ends``. ``check()``, if given, is asked on a quiet heartbeat
    whether whatever writes the log is still there (it may end the log with an ending event of its
    own); it returns the seconds until it should be asked again, or None to stop asking. So a
    stream of a writer that died ends, with no query on the way while the log is written.
    """
    loop = asyncio.get_running_loop()
    due = loop.time() if check else None
    async with events.listen(channel) as queue:
        while True:
            for index, event, data in await sync_to_async(load_after)(after):
                yield named_frame(index, event, data)
                after = index
                if event in ends:
                    return
            async for heartbeat in _next_change(queue):
                yield heartbeat
                if due is not None and loop.time() >= due:
                    wait = await sync_to_async(check)()
                    due = None if wait is None else loop.time() + wait
                    if wait is None:
                        break  # it ended: read the end


def log_snapshot(load_after, after=-1, ends=()):
    """Under WSGI: the stored events past ``after``, then the end (the rest: resume on ASGI)."""
    last = None
    for index, event, data in load_after(after):
        yield named_frame(index, event, data)
        last = event
    if last not in ends:
        yield b": more to come: ask again with lastEventIndex (served on ASGI, the stream waits for it)\n\n"


def event_schema(data_description):
    """OpenAPI for one Server-Sent Event of a stream (what a client parses out of each frame)."""
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "The event's number in its stream."},
            "event": {"type": "string", "description": "The event's name (`message` where none is sent)."},
            "data": {"type": "string", "description": data_description},
        },
        "required": ["data"],
    }
