"""One resource's export: the records of a scope as its list endpoint renders them, in batches.

A family subclasses ``Export`` with the list's order (``ordering``), the column its date filters
read (``updated_field``) and ``render`` (pks in, the family renderer's records out, in order).
The export commands and the admin's downloads both write through it, so a file is the same
bytes whichever wrote it.

Batches are keyset pages: each is a range of the list's index (a row comparison past the last
key), whatever the depth, and only one batch is held at a time.
"""

from django.db import connections, transaction
from django.db.models import F
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan

from flowdesk.api.renderers import dumps


class Export:
    #: what one record is called, singular and plural ("live flow session", "live flow sessions")
    noun = ("record", "records")
    #: the list endpoint's order: fields all ascending or all descending ("-"), the pk last
    ordering = ("id",)
    #: the timestamp --updated-after/--updated-before read
    updated_field = "updated_at"
    batch_size = 500
    #: a stored count of what rendering a record loads besides it (a chat session's messages), or
    #: None; a batch then ends before this count passes ``batch_weight`` (a record alone may pass it)
    weight_field = None
    batch_weight = 5000

    def __init__(self, queryset, updated_after=None, updated_before=None):
        if updated_after is not None:
            queryset = queryset.filter(**{f"{self.updated_field}__gte": updated_after})
        if updated_before is not None:
            queryset = queryset.filter(**{f"{self.updated_field}__lt": updated_before})
        self.queryset = queryset
        self.count = 0  # records written so far

    # --- hooks -------------------------------------------------------------------------------

    def render(self, pks):
        """The records of these pks, rendered by the family's renderer, in ``ordering``."""
        raise NotImplementedError

    def head(self):
        """What the JSON document writes before the records."""
        return b"["

    def tail(self):
        """What it writes after them (``self.count`` is the number written)."""
        return b"]"

    # --- the records -------------------------------------------------------------------------

    def batches(self):
        """Lists of rendered records, ``batch_size`` at a time, in the list's order."""
        names = [name.lstrip("-") for name in self.ordering]
        after = TupleLessThan if self.ordering[0].startswith("-") else TupleGreaterThan
        # values_list of the keys only: the admin's querysets carry select_related and prefetches
        weighed = self.weight_field is not None
        keys = self.queryset.prefetch_related(None).order_by(*self.ordering).values_list(
            *names, *([self.weight_field] if weighed else []))
        last = None
        while True:
            page = keys if last is None else keys.filter(after(Tuple(*map(F, names)), last))
            rows = list(page[: self.batch_size])
            if not rows:
                return
            more = len(rows) == self.batch_size
            if weighed:
                kept = self._within_weight(rows)
                more = more or len(kept) < len(rows)
                rows = [row[:-1] for row in kept]
            records = self.render([row[-1] for row in rows])
            self.count += len(records)
            yield records
            if not more:
                return
            last = rows[-1]

    def _within_weight(self, rows):
        """The first of these rows (their weight last) whose weights add up to at most
        batch_weight; the first row at least."""
        total = 0
        for index, row in enumerate(rows):
            total += row[-1]
            if total > self.batch_weight and index:
                return rows[:index]
        return rows

    def json_chunks(self):
        """The JSON document (the list endpoint's body), a batch a chunk."""
        yield self.head()
        first = True
        for records in self.batches():
            if not records:  # its rows went between the keys' query and the render's
                continue
            chunk = b",".join(map(dumps, records))
            yield chunk if first else b"," + chunk
            first = False
        yield self.tail()

    def jsonl_chunks(self):
        """JSON Lines: one record a line, as the import commands read them."""
        for records in self.batches():
            yield b"".join(dumps(record) + b"\n" for record in records)

    def chunks(self, fmt="json"):
        """The body in ``fmt`` (json or jsonl), read from one snapshot of the database."""
        return self._in_snapshot(self.jsonl_chunks() if fmt == "jsonl" else self.json_chunks())

    def _in_snapshot(self, chunks):
        # One REPEATABLE READ transaction on PostgreSQL: a record updated while the export runs
        # would otherwise move across the keyset (the user sessions' order is updated_at) and be
        # written twice or not at all. Not on SQLite, whose transactions here take the write lock.
        connection = connections[self.queryset.db]
        if connection.vendor != "postgresql" or not connection.get_autocommit():
            yield from chunks
            return
        with transaction.atomic(using=self.queryset.db):
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield from chunks

    def record(self, *, actor, object_id, organization=None, request=None):
        """The export's audit event: who exported which scope (a live flow, a user, an
        organization), how many records."""
        import audit
        from audit.models import Action

        audit.record(
            Action.EXPORT, actor=actor, object_type=self.noun[1], object_id=object_id,
            organization=organization, request=request, changes={"records": self.count},
        )

    def summary(self):
        singular, plural = self.noun
        return f"exported {self.count} {singular if self.count == 1 else plural}"
