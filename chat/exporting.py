"""An organization's chat sessions as the list endpoint's envelope, each item with its
`messages` in the history shape (oldest first): what import_chat_sessions reads back whole."""

from chat.api.serializers import MESSAGE_FIELDS, SESSION_ITEM_COLUMNS, message_data, session_item_row
from chat.models import ChatMessage, ChatSession
from flowdesk.api.renderers import dumps
from flowdesk.exporting.export import Export


class ChatSessionsExport(Export):
    noun = ("chat session", "chat sessions")
    ordering = ("-activity_at", "-id")  # the list's: chatsession_list_idx
    updated_field = "activity_at"  # a chat's last activity

    def __init__(self, queryset, request_id, **dates):
        super().__init__(queryset, **dates)
        self.request_id = request_id

    def render(self, pks):
        # Two queries a batch: the items, then every message of theirs.
        rows = ChatSession.objects.filter(pk__in=pks).order_by(*self.ordering).values_list("pk", *SESSION_ITEM_COLUMNS)
        messages = {pk: [] for pk in pks}
        for message in (
            # session (and its workflow), conversation: what message_data reads
            ChatMessage.objects.filter(session_id__in=pks)
            .select_related("session__workflow", "conversation")
            .only(*MESSAGE_FIELDS)
            .order_by("session_id", "created_at", "id")
        ):
            messages[message.session_id].append(message_data(message))
        return [{**session_item_row(row), "messages": messages[pk]} for pk, *row in rows]

    def head(self):
        return b'{"code":200,"data":{"hasMore":false,"items":['

    def tail(self):
        # The whole scope in one page: `limit` is the number of items written.
        return (
            b'],"limit":' + dumps(self.count) + b',"offset":0},"message":"success","requestId":'
            + dumps(self.request_id) + b"}"
        )
