"""The admin's export actions: a family's ``Export`` (flowdesk/exporting), the bytes the export
commands write, streamed as a download."""

from django.contrib import messages
from django.http import StreamingHttpResponse


def export_download(request, filename, export, object_id, organization=None):
    """The export's JSON document as an attachment named ``filename``, streamed batch by batch;
    its audit event is written once the stream ends (or stops), with the records sent."""

    def chunks():
        try:
            yield from export.chunks("json")
        finally:
            export.record(actor=request.user, object_id=object_id, organization=organization, request=request)

    response = StreamingHttpResponse(chunks(), content_type="application/json")
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
