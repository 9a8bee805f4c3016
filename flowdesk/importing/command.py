"""The machinery every `import_*` command shares.

A family's command subclasses ``ImportCommand`` and supplies three things: its scoping flags
(``add_scope_arguments`` / ``resolve_scope``), ``parse_record`` (one record in, a validated value
out, or a ``RecordError`` naming the field path) and ``write_batch`` (validated values in,
per-record outcomes out). Everything else is here: FILE or `-`, JSON arrays streamed with ijson
or JSON Lines, `--dry-run`, all-or-nothing, idempotent matching by id (``sync_rows``), the
progress bar on stderr and the summary line last on stdout.
"""

import contextlib
import io
import sys
from collections import Counter
from dataclasses import dataclass, field

import ijson
import orjson
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from rest_framework import serializers

from accounts.models import Membership, Organization
from flowdesk.api.errors import flatten_validation
from flowdesk.commands import FileCommand, file_format, progress_bar

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


class RecordError(Exception):
    """A record that cannot be imported; ``path`` is the field path inside the record."""

    def __init__(self, path, message, position=None):
        super().__init__(message)
        self.path = path
        self.message = message
        self.position = position


# One bound serializer per class, reused for every record: building a serializer's fields costs
# more than validating a record with them (half of an import's time before this).
_validators = {}


def serializer_errors(serializer_class, record, **kwargs):
    """Validate with a DRF serializer; the first error as a RecordError with its field path."""
    serializer = None if kwargs else _validators.get(serializer_class)
    if serializer is None:
        serializer = serializer_class(**kwargs)
        if not kwargs:
            _validators[serializer_class] = serializer
    try:
        # What is_valid() runs, without a new serializer (and its fields) per record.
        return serializer.run_validation(record)
    except serializers.ValidationError as exc:
        errors = exc.detail
    item = flatten_validation(errors, ())[0]
    raise RecordError(".".join(str(p) for p in item.loc) or "(record)", item.message)


class _DryRun(Exception):
    pass


class _PrefixedStream(io.RawIOBase):
    """A binary stream with some already-read bytes put back in front (stdin cannot seek)."""

    def __init__(self, head, rest):
        self._head = head
        self._rest = rest

    def readable(self):
        return True

    def readinto(self, buffer):
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@dataclass
class Progress:
    counts: Counter = field(default_factory=Counter)
    read: int = 0


class ImportCommand(FileCommand):
    #: what one record is called in messages ("session", "message flow")
    record_name = "record"
    #: ijson prefix of the records when the file is a JSON object rather than an array
    envelope_prefix = None
    batch_size = 500
    # organization_flag: a required --org, the organization the records go into (created when missing)
    org_help = "Organization id; created when missing."

    def add_file_arguments(self, parser):
        parser.add_argument("file", help="A JSON array (or JSON Lines with .jsonl / --format jsonl); - reads stdin.")
        parser.add_argument("--format", choices=["json", "jsonl"], help="Default: from the file name, else json.")
        parser.add_argument("--dry-run", action="store_true", help="Validate everything, write nothing.")

    # --- hooks -------------------------------------------------------------------------------

    def resolve_scope(self, options):
        raise NotImplementedError

    def parse_record(self, record, scope):
        raise NotImplementedError

    def write_batch(self, batch, scope):
        """``batch`` is a list of (position, parsed); returns one outcome per item, in order."""
        raise NotImplementedError

    def record_label(self, record):
        """How a record is named in messages besides its position: its id, where it has one."""
        if isinstance(record, dict):
            for key in ("id", "_id", "sessionId", "uuid", "workflowId"):
                if record.get(key) not in (None, ""):
                    return f"{key} {record[key]}"
        return None

    # --- shared helpers for scope flags --------------------------------------------------------

    def note(self, message):
        self.stderr.write(message)

    def get_or_create_organization(self, org_id):
        organization, created = Organization.objects.get_or_create(pk=org_id, defaults={"name": org_id})
        if created:
            self.note(f"Created organization {org_id}.")
        return organization

    def get_or_create_user(self, username, organization=None):
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            self.note(f"Created user {username}.")
        if organization is not None:
            _, joined = Membership.objects.get_or_create(user=user, organization=organization)
            if joined:
                self.note(f"Added user {username} to organization {organization.pk}.")
        return user

    # --- the run -----------------------------------------------------------------------------

    def handle(self, *args, **options):
        path = options["file"]
        fmt = file_format(options["format"], path)
        stream = self._open(path)
        progress = Progress()
        dry_run = options["dry_run"]
        bar = progress_bar(self, options, f"importing {path}", " records")
        try:
            with unprepared(), transaction.atomic():
                scope = self.resolve_scope(options)
                batch = []
                for position, record in self._records(stream, fmt, progress):
                    batch.append((position, self._parse(position, record, scope)))
                    bar.update(1)
                    if len(batch) >= self.batch_size:
                        self._flush(batch, scope, progress)
                        batch = []
                self._flush(batch, scope, progress)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            self.note("Dry run: everything validated, nothing written.")
        except RecordError as exc:
            raise CommandError(self._describe(exc)) from None
        except DatabaseError as exc:
            raise CommandError(f"The database refused the import, nothing was written: {exc}") from None
        finally:
            bar.close()
            if path != "-":
                stream.close()
        counts = progress.counts
        self.stdout.write(
            self.style.SUCCESS(
                f"created {counts[CREATED]}, updated {counts[UPDATED]}, unchanged {counts[UNCHANGED]}"
            )
        )

    def _describe(self, exc):
        where = f"{self.record_name} #{exc.position}" if exc.position is not None else "the file"
        label = getattr(exc, "label", None)
        if label:
            where += f" ({label})"
        return f"{where}: {exc.path}: {str(exc.message).rstrip('.')}. Nothing was imported."

    def _open(self, path):
        if path == "-":
            return sys.stdin.buffer
        try:
            return open(path, "rb")  # noqa: SIM115 - closed in handle()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None

    def _parse(self, position, record, scope):
        try:
            if not isinstance(record, dict):
                raise RecordError("(record)", "must be a JSON object")
            return self.parse_record(record, scope)
        except RecordError as exc:
            exc.position = position
            exc.label = self.record_label(record)
            raise

    def _flush(self, batch, scope, progress):
        if not batch:
            return
        outcomes = self.write_batch(batch, scope)
        progress.counts.update(outcomes)

    def _records(self, stream, fmt, progress):
        """(position, record) pairs; positions count from 1 (JSON Lines: the line number)."""
        if fmt == "jsonl":
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise RecordError("(line)", f"malformed JSON: {exc}", position=number) from None
            return
        head = stream.read(65536)
        stripped = head.lstrip()
        if not stripped:
            raise RecordError("(file)", "the file is empty; a JSON array was expected")
        if stripped[:1] == b"[":
            prefix = "item"
        elif stripped[:1] == b"{" and self.envelope_prefix:
            prefix = self.envelope_prefix
        else:
            expected = "a JSON array" + (" or the list endpoint's envelope" if self.envelope_prefix else "")
            raise RecordError("(file)", f"expected {expected}")
        position = 0
        try:
            for record in ijson.items(_PrefixedStream(head, stream), prefix, use_float=True):
                position += 1
                yield position, record
        except ijson.JSONError as exc:
            raise RecordError("(file)", f"malformed JSON after record {position}: {exc}") from None


@contextlib.contextmanager
def unprepared():
    """No prepared statements on the PostgreSQL connection while an import runs: a batch's
    statements hold IN lists of a batch's ids, and the generic plan PostgreSQL settles on for a
    prepared one made the chat import 1.45x slower (bench/FINDINGS.md)."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    raw = connection.connection
    threshold, raw.prepare_threshold = raw.prepare_threshold, None
    try:
        yield
    finally:
        raw.prepare_threshold = threshold


__all__ = [
    "CREATED",
    "UPDATED",
    "UNCHANGED",
    "ImportCommand",
    "RecordError",
    "serializer_errors",
]
