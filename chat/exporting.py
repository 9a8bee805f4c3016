"""An organization's chat sessions as the list endpoint's envelope, each item with its
`messages` in the history shape (oldest first): what import_chat_sessions reads back whole."""

from chat.api.serializers import MESSAGE_FIELDS, SESSION_ITEM_COLUMNS, message_data, session_item_row
from chat.models import ChatMessage, ChatSession
from flowdesk.api.renderers import dumps
from flowdesk.exporting.export import Export

# MESSAGE_FIELDS split: the message's own (with its conversation), and its session's.
MESSAGE_OWN_FIELDS = [name for name in MESSAGE_FIELDS if not name.startswith("session__")]
SESSION_FIELDS = [name.removeprefix("session__") for name in MESSAGE_FIELDS if name.startswith("session__")]
_SESSION = ChatMessage._meta.get_field("session")


class ChatSessionsExport(Export):
    noun = ("chat session", "chat sessions")
    ordering = ("-activity_at", "-id")  # the list's: chatsession_list_idx
    updated_field = "activity_at"  # a chat's last activity
    # A batch holds every message of its sessions: a few sessions of many messages make one.
    weight_field = "message_count"

    def __init__(self, queryset, request_id, **dates):
        super().__init__(queryset, **dates)
        self.request_id = request_id

    def render(self, pks):
        # Three queries a batch: the items, their sessions with workflows, every message of theirs.
        rows = ChatSession.objects.filter(pk__in=pks).order_by(*self.ordering).values_list("pk", *SESSION_ITEM_COLUMNS)
        # What message_data reads of a message's session, one instance a session: joined into the
        # messages' query, each message had its own (a session of 34,000 messages: 90 MB more).
        sessions = ChatSession.objects.filter(pk__in=pks).select_related("workflow").only(*SESSION_FIELDS).in_bulk()
        messages = {pk: [] for pk in pks}
        for message in (
            ChatMessage.objects.filter(session_id__in=pks)
            .select_related("conversation")  # what message_data reads besides the session
            .only(*MESSAGE_OWN_FIELDS)
            .order_by("session_id", "created_at", "id")
            .iterator(chunk_size=2000)
        ):
            _SESSION.set_cached_value(message, sessions[message.session_id])
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
