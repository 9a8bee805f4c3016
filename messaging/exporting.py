"""Message flows as GET /v1/api/message-flows answers them, each with GET one's
initiationMessage and __v (message_flow_row): what import_message_flows reads back whole."""

from flowdesk.exporting.export import Export
from messaging.api.renderers import DETAIL_COLUMNS, message_flow_row
from messaging.models import MessageFlow


class MessageFlowsExport(Export):
    noun = ("message flow", "message flows")
    # Each workspace's list in turn (message_flow_ws_order): one workspace's is its list's order.
    ordering = ("workspace_id", "created_at", "id")

    def render(self, pks):
        # One query a batch (the agent joined).
        rows = MessageFlow.objects.filter(pk__in=pks).order_by(*self.ordering).values_list(*DETAIL_COLUMNS)
        return [message_flow_row(row, detail=True) for row in rows]
