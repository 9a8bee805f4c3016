"""Live-flow bodies written as the rows come: a live flow's ``sessions`` is every session it ran
(100,000 of them, each with its recorded steps, is an ordinary live flow), so neither the rows nor
a long body are ever held whole.

Two queries after the live flows' own, whatever the number of live flows, sessions and steps: the
flow versions with their steps and transitions, then one stream of the sessions joined to their
recorded steps, read through a server-side cursor on PostgreSQL (chunked reads on SQLite).
Sessions are rendered by the session list's SessionRenderer, so a session reads the same in both.
"""

from itertools import chain

from django.db import connection, transaction
from django.db.models import Q
from django.http import HttpResponse, StreamingHttpResponse

from flowdesk.api.fields import iso_z
from flowdesk.api.renderers import dumps
from flows.api.serializers import (
    RECORDED_COLUMNS,
    SESSION_COLUMNS,
    STEP_COLUMNS,
    TRANSITION_COLUMNS,
    VERSION_COLUMNS,
)
from flows.models import FlowVersion, LiveFlowSession

LIVE_FLOW_COLUMNS = ("id", "name", "description", "organization_id", "current_version_id", "created_at", "updated_at")

# Rows fetched per round trip of the session stream, and the body buffered before a chunk is sent.
FETCH_ROWS = 2000
CHUNK_BYTES = 64 * 1024
# A body that ends within this many bytes is answered whole (with a Content-Length); a longer one
# is streamed.
WHOLE_BODY_BYTES = 1024 * 1024


def load_versions(renderer, versions):
    """The versions matching the Q ``versions``, each with its steps and transitions, added to the
    renderer. One query: steps are joined to their version and each transition rides on the row of
    its source step (a transition's steps are in its own version: the database holds it to that)."""
    step_columns = [f"steps__{name}" for name in STEP_COLUMNS]
    transition_columns = [f"steps__outgoing__{name}" for name in TRANSITION_COLUMNS]
    rows = (
        FlowVersion.objects.filter(versions)
        .order_by("id", "steps__created_at", "steps__id")
        .values_list(*VERSION_COLUMNS, *step_columns, *transition_columns)
    )
    step_at = len(VERSION_COLUMNS)
    transition_at = step_at + len(STEP_COLUMNS)
    current = None
    for row in rows:
        version, step, transition = row[:step_at], row[step_at:transition_at], row[transition_at:]
        if current is None or current[0][0] != version[0]:
            if current is not None:
                _add_version(renderer, *current)
            current = (version, [], [])
        if step[0] is not None and (not current[1] or current[1][-1][0] != step[0]):
            current[1].append(step)
        if transition[-1] is not None:
            current[2].append(transition)
    if current is not None:
        _add_version(renderer, *current)


def _add_version(renderer, version, steps, transitions):
    transitions.sort(key=lambda row: row[-1])  # by id, as StepTransition lists them
    renderer.add_version(version, steps, transitions)


def session_stream(renderer, sessions, ordering):
    """(live_flow_id, LiveFlowSessionRead) for each session of ``sessions`` in ``ordering``, with
    its recorded steps in theirs: one query, read a chunk at a time."""
    recorded_columns = [f"steps__{name}" for name in RECORDED_COLUMNS]
    rows = (
        sessions.prefetch_related(None)
        .order_by(*ordering, "steps__created_at", "steps__id")
        .values_list("live_flow_id", *SESSION_COLUMNS, *recorded_columns)
        .iterator(chunk_size=FETCH_ROWS)
    )
    width = 1 + len(SESSION_COLUMNS)
    version_at = SESSION_COLUMNS.index("flow_version_id")
    current, recorded = None, []
    for row in rows:
        if current is not None and row[1] != current[1]:
            yield current[0], _session(renderer, current[1:], recorded, version_at)
            recorded = []
        current = row[:width]
        if row[width] is not None:
            recorded.append(row[width:])
    if current is not None:
        yield current[0], _session(renderer, current[1:], recorded, version_at)


def _session(renderer, row, recorded, version_at):
    if not renderer.has_version(row[version_at]):
        # Started on a version created after the versions were read: fetched on its own.
        load_versions(renderer, Q(id=row[version_at]))
    return renderer.session_row(row, recorded)


def session_array(renderer, sessions):
    """The JSON array of the sessions of ``sessions``, newest first (the session list's body)."""
    return _in_transaction(_session_array(renderer, sessions))


def _session_array(renderer, sessions):
    out = Buffer()
    out.add(b"[")
    for index, (_, session) in enumerate(session_stream(renderer, sessions, ("-created_at", "-id"))):
        out.add((b"," if index else b"") + dumps(session))
        yield from out.flush()
    out.add(b"]")
    yield from out.flush(force=True)


class LiveFlowBody:
    """The body of the live flows in ``live_flows`` (a scoped, ordered LiveFlow queryset), as
    LiveFlowRead with ``sessions`` the array of each one's sessions, newest first."""

    def __init__(self, live_flows, renderer):
        self.renderer = renderer
        self.live_flows = list(live_flows.values_list(*LIVE_FLOW_COLUMNS))  # the live flows' own query

    def __bool__(self):
        return bool(self.live_flows)

    def array(self):
        return _in_transaction(self._write(many=True))

    def one(self):
        return _in_transaction(self._write(many=False))

    def _write(self, many):
        out = Buffer()
        if many:
            out.add(b"[")
        if not self.live_flows:
            out.add(b"]" if many else b"null")
            yield from out.flush(force=True)
            return
        ids = [row[0] for row in self.live_flows]
        current_versions = {row[4] for row in self.live_flows if row[4] is not None}
        load_versions(
            self.renderer,
            Q(id__in=current_versions)
            | Q(id__in=LiveFlowSession.objects.filter(live_flow_id__in=ids).values("flow_version_id")),
        )
        if len(ids) == 1:
            ordering = ("-created_at", "-id")  # session_list_idx: no sort
        else:
            # Grouped by live flow, in the live flows' own order (LiveFlow.Meta.ordering).
            ordering = ("-live_flow__created_at", "live_flow_id", "-created_at", "-id")
        stream = session_stream(self.renderer, LiveFlowSession.objects.filter(live_flow_id__in=ids), ordering)
        position = {pk: index for index, pk in enumerate(ids)}
        pending = next(stream, None)
        for index, (pk, name, description, organization_id, version_id, created_at, updated_at) in enumerate(
            self.live_flows
        ):
            if version_id is not None and not self.renderer.has_version(version_id):
                load_versions(self.renderer, Q(id=version_id))  # made current after the versions were read
            head = {
                "name": name,
                "description": description,
                "id": str(pk),
                "organisation_id": organization_id,
                "current_version": self.renderer.version(version_id) if version_id is not None else None,
            }
            out.add((b"," if index else b"") + dumps(head)[:-1] + b',"sessions":[')
            first = True
            while pending is not None and position[pending[0]] < index:
                pending = next(stream, None)  # a live flow passed already (its created_at changed meanwhile)
            while pending is not None and pending[0] == pk:
                out.add((b"" if first else b",") + dumps(pending[1]))
                first = False
                pending = next(stream, None)
                yield from out.flush()
            out.add(b"]," + dumps({"created_at": iso_z(created_at), "updated_at": iso_z(updated_at)})[1:])
            yield from out.flush()
        if many:
            out.add(b"]")
        yield from out.flush(force=True)


class Buffer:
    """Bytes gathered into chunks of about CHUNK_BYTES."""

    def __init__(self):
        self.parts, self.size = [], 0

    def add(self, data):
        self.parts.append(data)
        self.size += len(data)

    def flush(self, force=False):
        if self.parts and (force or self.size >= CHUNK_BYTES):
            yield b"".join(self.parts)
            self.parts, self.size = [], 0


def _in_transaction(chunks):
    """The chunks, read inside a transaction when none is open: PostgreSQL's server-side cursor
    then reads as it goes, where outside one (WITH HOLD) it would compute the whole result first."""
    if not connection.get_autocommit():
        yield from chunks
        return
    with transaction.atomic():
        yield from chunks


def json_body(chunks):
    """A response of these JSON chunks: whole when they end within WHOLE_BODY_BYTES, else streamed
    (the first chunks are read here, so the answer's queries start inside the view)."""
    head, size = [], 0
    for chunk in chunks:
        head.append(chunk)
        size += len(chunk)
        if size >= WHOLE_BODY_BYTES:
            return StreamingHttpResponse(_Rest(head, chunks), content_type="application/json")
    return HttpResponse(b"".join(head), content_type="application/json")


class _Rest:
    """The chunks read already, then the rest; closed with the response. A client that hangs up
    halfway leaves ``chunks`` suspended inside its transaction: closing it here rolls that back in
    the request's own thread, before request_finished, where the garbage collector would do it
    later, in whatever thread runs then, on that thread's connection."""

    def __init__(self, head, chunks):
        self.head, self.chunks = head, chunks

    def __iter__(self):
        return chain(self.head, self.chunks)

    def close(self):
        self.chunks.close()
