"""A live flow's sessions as GET /live_flows/{id}/sessions answers them (SessionRenderer)."""

from flowdesk.exporting.export import Export
from flows.api.serializers import SessionRenderer, session_tree_rows
from flows.models import LiveFlowSession


class LiveFlowSessionsExport(Export):
    noun = ("live flow session", "live flow sessions")
    ordering = ("-created_at", "-id")  # the list's: session_list_idx

    def __init__(self, queryset, **dates):
        super().__init__(queryset, **dates)
        # One renderer for the whole export: a version is rendered once, however many sessions ran it.
        self.renderer = SessionRenderer()

    def render(self, pks):
        # Four queries a batch (session_tree_rows), whatever the number of sessions and steps.
        sessions = LiveFlowSession.objects.filter(pk__in=pks).order_by(*self.ordering)
        return self.renderer.page(session_tree_rows(sessions))
