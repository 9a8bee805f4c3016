"""Several reads in one round trip to PostgreSQL: psycopg's pipeline mode.

A list with child rows (a page of sessions and their dialogue items) is several statements; sent
one after another, each waits for the last one's answer, and on a network each wait is the
request's biggest cost (bench/served.py counts them). When the children are selected by a
subquery of the page (not by the page's ids), no statement needs another's answer, and all of
them can go out together and be answered together. They are read in one snapshot (a REPEATABLE
READ transaction, begun and committed in the same round trip): a row changing between two of the
statements (a session moving up the page) cannot make the children disagree with the page.
"""

import contextlib

import psycopg
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models.query import ValuesListIterable


def fetch_together(*querysets):
    """The rows of each ``values_list()`` queryset, as ``list(queryset)`` gives them.

    On PostgreSQL they are sent in one pipeline (one round trip); elsewhere one after another.
    Outside a transaction they read one snapshot; inside one, they are statements of it.
    The querysets must not depend on each other's results (select children with ``__in=`` a
    subquery, not a list of ids read first).
    """
    aliases = {queryset.db for queryset in querysets}
    connection = connections[next(iter(aliases))] if len(aliases) == 1 else None
    if connection is None or connection.vendor != "postgresql" or len(querysets) < 2 or any(
        queryset._iterable_class is not ValuesListIterable for queryset in querysets
    ):
        return _one_by_one(querysets)
    # In the caller's transaction: sent together in it, with its isolation (no snapshot of their own).
    own_transaction = not connection.in_atomic_block
    compiled = []
    for queryset in querysets:
        compiler = queryset.query.get_compiler(using=queryset.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:  # e.g. pk__in=[]: Django sends nothing for it
            compiled.append((compiler, None, None))
        else:
            compiled.append((compiler, sql, params))
    fetched = _pipelined(connection, [(sql, params) for _, sql, params in compiled], own_transaction)
    return [list(compiler.results_iter(results=[rows], tuple_expected=True))
            for (compiler, _, _), rows in zip(compiled, fetched, strict=True)]


def fetch_sql_together(using, statements):
    """The rows (tuples, as psycopg reads them) of each ``(sql, params)`` of ``statements``, sent
    in one pipeline on the PostgreSQL connection ``using``: fetch_together for raw SQL."""
    connection = connections[using]
    return _pipelined(connection, statements, not connection.in_atomic_block)


def _pipelined(connection, statements, own_transaction):
    """Each statement's rows (None sql: an empty answer), sent together; in a READ ONLY snapshot of
    their own when ``own_transaction``, else as statements of the caller's transaction."""
    connection.ensure_connection()
    with connection.cursor() as first:  # Django's cursors: its query log and wrappers still see each statement
        cursors = [first, *(connection.cursor() for _ in statements[1:])]
        raw = connection.connection
        try:
            # Django's errors (and its note that the connection may be broken), as its cursors raise them.
            with connection.wrap_database_errors, raw.pipeline():
                if own_transaction:
                    raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                for cursor, (sql, params) in zip(cursors, statements, strict=True):
                    if sql is not None:
                        cursor.execute(sql, params)
                if own_transaction:
                    raw.execute("COMMIT")
            # Read after the block: its end is the one sync, which brings every answer (a fetch
            # inside it would be a sync of its own, and a second round trip).
            fetched = [cursor.fetchall() if sql is not None else []
                       for cursor, (sql, _) in zip(cursors, statements, strict=True)]
        finally:
            for cursor in cursors[1:]:
                cursor.close()
            if own_transaction and raw.info.transaction_status in (
                psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR
            ):
                with contextlib.suppress(psycopg.Error):  # a statement failed: its transaction is left open
                    raw.rollback()
    return fetched


def _one_by_one(querysets):
    return [list(queryset) for queryset in querysets]
