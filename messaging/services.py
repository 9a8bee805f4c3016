"""What the API, the import and the admin tell the rest of Flowdesk about message flows."""

from flowdesk import events
from messaging.api.renderers import message_flow_data
from messaging.models import MessageFlow

UPDATED = "message_flow.updated"


def channel(pk):
    return f"message_flow:{pk}"


def rendered(pk):
    """The flow as GET /v1/api/message-flows/{id} answers it, or None when it is gone."""
    # agent: the `agent` key
    flow = MessageFlow.objects.select_related("agent").filter(pk=pk).first()
    return None if flow is None else message_flow_data(flow, detail=True)


def published(pk, organization_id):
    """The flow was created or changed: its listeners and webhooks hear it once the transaction commits."""
    events.publish(UPDATED, channel=channel(pk), organization_id=organization_id, render=lambda: rendered(pk))
