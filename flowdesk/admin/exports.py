"""The admin's export actions: the list endpoints' bodies streamed in keyset batches."""

from django.contrib import messages
from django.db.models import Q
from django.http import StreamingHttpResponse

from flowdesk.api.renderers import dumps


def keyset_batches(queryset, ordering, size=200):
    """The queryset in ``ordering`` (two fields, e.g. ("-created_at", "-id")), ``size`` rows a query.

    Keyset pages rather than offsets: each batch is an index range scan whatever the depth.
    """
    (first, second) = ordering
    names = [name.lstrip("-") for name in ordering]
    queryset = queryset.order_by(*ordering)
    last = None
    while True:
        batch = queryset
        if last is not None:
            a, b = getattr(last, names[0]), getattr(last, names[1])
            op_a = "lt" if first.startswith("-") else "gt"
            op_b = "lt" if second.startswith("-") else "gt"
            batch = batch.filter(Q(**{f"{names[0]}__{op_a}": a}) | Q(**{names[0]: a, f"{names[1]}__{op_b}": b}))
        rows = list(batch[:size])
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        last = rows[-1]


def json_array_chunks(items):
    """A JSON array, written as the items come."""
    yield b"["
    first = True
    for item in items:
        yield (b"" if first else b",") + dumps(item)
        first = False
    yield b"]"


def json_download(filename, chunks):
    response = StreamingHttpResponse(chunks, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def single_scope(modeladmin, request, queryset, field, what):
    """The one value of ``field`` in the selection, or None after telling the user why not."""
    values = list(queryset.order_by().values_list(field, flat=True).distinct()[:2])
    if not values:
        modeladmin.message_user(request, "Nothing selected to export.", messages.WARNING)
        return None
    if len(values) > 1:
        modeladmin.message_user(
            request,
            f"The selection spans several {what}; the list endpoint and its import command take one "
            f"at a time. Filter the list by {what[:-1] if what.endswith('s') else what} first.",
            messages.ERROR,
        )
        return None
    return values[0]
