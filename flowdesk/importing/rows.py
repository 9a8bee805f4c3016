"""Writing an import's rows: matched by primary key, new ones in bulk (COPY on PostgreSQL).

``copy_into`` is the one COPY writer; the helpers above it give it rows in the shapes the
imports have them (model instances, value tuples, pk -> values dicts).
"""

import json

from django.db import connection
from django.db.models import JSONField

from flowdesk.importing.command import RecordError


def existing_ids(model, pks):
    """Which of ``pks`` are stored: one ``= ANY(%s)`` on PostgreSQL (an IN list of thousands of
    placeholders costs more to build than to run), ``in_bulk`` elsewhere (it keeps each IN list
    under SQLite's placeholder limit)."""
    pks = list(pks)
    if not pks:
        return set()
    if connection.vendor != "postgresql":
        return set(model.objects.only("pk").in_bulk(pks))
    quote = connection.ops.quote_name
    pk = quote(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk} FROM {quote(model._meta.db_table)} WHERE {pk} = ANY(%s)", [pks])
        return {row[0] for row in cursor.fetchall()}


def copy_into(model, fields, rows):
    """COPY ``rows`` (sequences of db values, one per field of ``fields``) into the model's table."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    with connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)


def insert_objects(model, objects):
    """Insert new model instances: COPY on PostgreSQL, bulk_create elsewhere.

    COPY writes the rows of an import several times faster than multi-row INSERTs whose SQL
    Django compiles value by value; what is stored is the same (each field's db value).
    """
    if not objects:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects, batch_size=500)
        return
    fields = model._meta.concrete_fields
    if objects[0].pk is None and getattr(model._meta.pk, "db_returning", False):
        # New rows of an auto-numbered table: the sequence numbers them (their pks stay unset here).
        fields = [f for f in fields if f is not model._meta.pk]
    copy_into(model, fields, ([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields] for obj in objects))
    for obj in objects:
        obj._state.adding = False
        obj._state.db = connection.alias


def _dumped(row, json_at):
    row = list(row)
    for i in json_at:
        if row[i] is not None:  # SQL NULL, as Django stores None in a nullable JSONField
            row[i] = json.dumps(row[i])  # as Django writes a JSONField
    return row


def insert_rows(model, attnames, rows):
    """New rows given as tuples of validated values for ``attnames``.

    On PostgreSQL the tuples go to COPY as they are (JSON columns dumped as Django would): a model
    instance per row, and Django's per-value preparation, cost more than the COPY itself.
    Elsewhere, model instances through ``insert_objects``.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        insert_objects(model, [model(**dict(zip(attnames, row, strict=True))) for row in rows])
        return
    fields = [model._meta.get_field(name) for name in attnames]
    json_at = [i for i, f in enumerate(fields) if isinstance(f, JSONField)]
    copy_into(model, fields, (_dumped(row, json_at) for row in rows) if json_at else rows)


def insert_values(model, rows):
    """New rows given as pk -> {attname: value}; fields a row does not carry get their defaults."""
    if not rows:
        return
    carried = next(iter(rows.values()))
    fields = model._meta.concrete_fields
    pk_name = model._meta.pk.attname
    tuples = [
        [pk if f.attname == pk_name else values[f.attname] if f.attname in carried else f.get_default() for f in fields]
        for pk, values in rows.items()
    ]
    insert_rows(model, [f.attname for f in fields], tuples)


def sync_rows(model, rows, fields, *, check=None, origin=None):
    """Insert or update rows by primary key, leaving equal rows alone.

    ``rows`` maps pk -> {attname: value}; ``check(existing, values)`` may return a message that
    refuses the row (e.g. it belongs to another tenant); ``origin`` maps pk -> (position, field
    path) so that the refusal names the record. Returns (created pks, updated pks).
    """
    created, updated = set(), set()
    if not rows:
        return created, updated
    existing = model.objects.in_bulk(list(rows))
    to_create, to_update = [], []
    for pk, values in rows.items():
        obj = existing.get(pk)
        if obj is None:
            to_create.append(model(pk=pk, **values))
            created.add(pk)
            continue
        if check is not None:
            message = check(obj, values)
            if message:
                position, path = (origin or {}).get(pk, (None, str(pk)))
                raise RecordError(path, message, position=position)
        changed = False
        for name in fields:
            if getattr(obj, name) != values[name]:
                setattr(obj, name, values[name])
                changed = True
        if changed:
            to_update.append(obj)
            updated.add(pk)
    insert_objects(model, to_create)
    if to_update:
        names = {f.attname: f.name for f in model._meta.concrete_fields}
        model.objects.bulk_update(to_update, [names[f] for f in fields], batch_size=500)
    return created, updated


def sync_new_rows(model, rows, fields, *, check=None, origin=None):
    """``sync_rows``, with the rows that are new (nearly all of a first import) found and written
    in bulk: ``existing_ids`` says which are stored, and the new rows go in from their values
    (with COPY on PostgreSQL, without a model instance each)."""
    present = existing_ids(model, rows)
    created, updated = sync_rows(
        model, {pk: values for pk, values in rows.items() if pk in present}, fields, check=check, origin=origin
    )
    new = {pk: values for pk, values in rows.items() if pk not in present}
    insert_values(model, new)
    return created | set(new), updated
