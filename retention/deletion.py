"""Deleting rows and everything that cascades from them, as a few set-based statements.

``QuerySet.delete()`` loads every row it cascades to (a session's steps, a chat's messages) into
memory first; this issues one DELETE per table instead, children first, following the models'
own ``on_delete`` rules, so a table added later under a session is deleted with it too.
"""

from django.db.models import deletion


class CannotDelete(Exception):
    """A row to delete is still referenced by a PROTECT / RESTRICT key, or a rule this does not follow."""


# The database applies these itself.
_IN_DATABASE = (deletion.DO_NOTHING, deletion.DB_CASCADE, deletion.DB_SET_NULL, deletion.DB_SET_DEFAULT)


def delete_rows(queryset, doomed=None):
    """Delete the rows of ``queryset`` and, first, every row that cascades from them; a SET_NULL
    key pointing at them from a row that stays is cleared. Returns how many rows of ``queryset``
    went. Run it inside a transaction: the keys are checked at commit."""
    model = queryset.model
    doomed = {**(doomed or {}), model: queryset}
    for relation in deletion.get_candidate_relations_to_delete(model._meta):
        on_delete = relation.on_delete
        if on_delete in _IN_DATABASE:
            continue
        related = relation.related_model
        rows = related._base_manager.filter(**{f"{relation.field.name}__in": queryset})
        if on_delete is deletion.CASCADE:
            delete_rows(rows, doomed)
        elif on_delete is deletion.SET_NULL:
            if related in doomed:  # e.g. a session's current step: the session goes too
                rows = rows.exclude(pk__in=doomed[related].values("pk"))
            rows.update(**{relation.field.name: None})
        elif on_delete in (deletion.PROTECT, deletion.RESTRICT):
            if related in doomed:
                rows = rows.exclude(pk__in=doomed[related].values("pk"))
            if rows.exists():
                raise CannotDelete(f"{related._meta.label} rows still refer to the {model._meta.label} rows to delete.")
        else:
            raise CannotDelete(f"{related._meta.label}.{relation.field.name}: on_delete {on_delete!r} is not followed here.")
    return queryset._raw_delete(queryset.db)
