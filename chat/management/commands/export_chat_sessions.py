"""export_chat_sessions: an organization's chat sessions as the list endpoint's envelope, each
item with its messages."""

from chat.exporting import ChatSessionsExport
from chat.models import ChatSession
from flowdesk.api.middleware import new_request_id
from flowdesk.exporting.command import ExportCommand


class Command(ExportCommand):
    help = (
        "Export an organization's workflow chat sessions as the envelope of GET "
        "/v1/ai/workflow/chat/sessions (most recent activity first), each item with its `messages` "
        "in the history shape; import_chat_sessions reads it back, messages included. With "
        "--format jsonl, one item a line. The dates filter on the last activity."
    )
    organization_flag = True

    def make_export(self, options, updated_after, updated_before):
        organization = self.organization(options)
        return ChatSessionsExport(
            ChatSession.objects.filter(organization=organization), request_id=new_request_id(),
            updated_after=updated_after, updated_before=updated_before,
        )
