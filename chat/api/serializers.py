"""Workflow-chat family: the vendor's camelCase shapes.

Reads are plain functions, each beside the columns it reads (``session_item_row``,
``message_data``); the Serializer classes below validate what comes in (bodies, query strings).
The import's records are validated in chat/importing/.
"""

import re
from datetime import UTC, datetime, timedelta, timezone

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chat.models import ChatMessage, Role, RunStatus
from flowdesk.api.fields import StrictCharField, StrictIntegerField, iso_z, utc_text_z
from flowdesk.api.renderers import column_reader, only_fields
from flowdesk.api.views import StrictSerializerMixin
from flowdesk.importing.fastcheck import EARLIEST, LATEST

# Client-generated ids such as session_1234567890_abc; kept URL-safe so DELETE can name them.
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
SESSION_ID_MESSAGE = "Must be 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit."
# The client's conversation ids (the vendor allows 255 characters), in the same URL-safe alphabet.
CONVERSATION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,254}$")
CONVERSATION_ID_MESSAGE = "Must be 1-255 letters, digits, '_', '.', ':' or '-', starting with a letter or digit."

# --- read shapes ---------------------------------------------------------------------------


# The session item's columns, in the order session_item_row reads them. The list renders rows of
# them, not model instances (a third of the request's time went into building 51 sessions and
# workflows); GET one, DELETE and the admin export render instances through column_reader.
SESSION_ITEM_COLUMNS = (
    "context_type",
    "conversation__conversation_id",
    "first_message_at",
    "last_message_at",
    "message_count",
    "preview",
    "session_id",
    "workflow__uuid",
    "workflow__name",
)
# What session_item reads of an instance: one session fetches only these columns.
SESSION_ITEM_FIELDS = only_fields(SESSION_ITEM_COLUMNS)
_session_item_values = column_reader(SESSION_ITEM_COLUMNS)


def session_item_row(row, timestamp=iso_z):
    """The list item of a session, from a row of SESSION_ITEM_COLUMNS; ``timestamp`` formats its
    two timestamps as iso_z would."""
    context_type, conversation_id, first_message_at, last_message_at, message_count, preview, session_id, workflow_id, name = row
    return {
        "contextType": context_type,
        "conversationId": conversation_id,
        "firstMessageAt": timestamp(first_message_at),
        "lastMessageAt": timestamp(last_message_at),
        "messageCount": message_count,
        "preview": preview,
        "sessionId": session_id,
        "workflowId": str(workflow_id) if workflow_id is not None else None,
        "workflowName": name if workflow_id is not None else None,
    }


def session_item(session):
    """session_item_row for a session loaded with its workflow and conversation."""
    return session_item_row(_session_item_values(session))


def session_item_text_row(row):
    """session_item_row for a row whose timestamps are UTC text (``utc_text_z``) and workflow id text."""
    return session_item_row(row, utc_text_z)


# The history message's own columns by key: message_data renders them, the import writes them back.
MESSAGE_COLUMNS = {
    "content": "content",
    "role": "role",
    "tokensUsed": "tokens_used",
    "imageUrls": "image_urls",
    "createdAt": "created_at",
    "senderUserId": "sender_user_id",
    "linkedRunId": "linked_run_id",
    "linkedRunStatus": "linked_run_status",
    "linkedRunStartedAt": "linked_run_started_at",
    "linkedRunFinishedAt": "linked_run_finished_at",
}
# What message_data reads; the history fetches only these columns.
MESSAGE_FIELDS = (
    *MESSAGE_COLUMNS.values(),
    "session",
    "session__session_id",
    "session__workflow",
    "session__workflow__uuid",
    "session__organization_id",
    "conversation",
    "conversation__conversation_id",
)


def message_data(message):
    """One message in the history shape; reads message.session (sessionId, organizationId), its
    workflow (workflowId) and message.conversation (conversationId)."""
    session = message.session
    workflow = session.workflow
    conversation = message.conversation
    return {
        "id": str(message.id),
        "content": message.content,
        "role": message.role,
        "sessionId": session.session_id,
        "workflowId": str(workflow.uuid) if workflow else None,
        "organizationId": session.organization_id,
        "tokensUsed": message.tokens_used,
        "imageUrls": message.image_urls,
        "createdAt": iso_z(message.created_at),
        "conversationId": conversation.conversation_id if conversation else None,
        "senderUserId": message.sender_user_id,
        "linkedRunId": message.linked_run_id,
        "linkedRunStatus": message.linked_run_status,
        "linkedRunStartedAt": iso_z(message.linked_run_started_at),
        "linkedRunFinishedAt": iso_z(message.linked_run_finished_at),
    }


def stored_message(pk):
    """message_data of the stored message ``pk`` (None once it is gone), in one query: what the
    stream's events and the webhooks send."""
    # session, its workflow, conversation: what message_data reads
    message = ChatMessage.objects.select_related("session__workflow", "conversation").filter(pk=pk).first()
    return None if message is None else message_data(message)


# --- incoming shapes -----------------------------------------------------------------------


class StrictUUIDField(serializers.UUIDField):
    """A UUID string; DRF's UUIDField would also take an integer."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class ClientIdField(StrictCharField):
    """An id the client picks, in a URL-safe alphabet (``id_pattern``) so that a path can name it."""

    id_pattern, id_message, id_max_length = None, None, None

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", self.id_max_length)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not self.id_pattern.match(value):
            raise serializers.ValidationError(self.id_message)
        return value


class SessionIdField(ClientIdField):
    id_pattern, id_message, id_max_length = SESSION_ID_PATTERN, SESSION_ID_MESSAGE, 128


class ConversationIdField(ClientIdField):
    id_pattern, id_message, id_max_length = CONVERSATION_ID_PATTERN, CONVERSATION_ID_MESSAGE, 255


# RFC 3339's date-time: ASCII digits, a `T`, seconds, an optional fraction and a required offset.
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


def rfc3339_bound(value):
    """The instant an RFC 3339 timestamp names, in UTC, rounded up to the microsecond stored.

    "Older than 09:00:00.1234567" then means "at most 09:00:00.123456" among stored values, as it
    should; ValueError for anything else (other ISO 8601 forms, impossible dates, out of range).
    """
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("not RFC 3339")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    offset = timedelta(0)
    if not zulu:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError("bad offset")
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (1 if sign == "+" else -1)
    fraction = fraction or ""
    micro, rest = int((fraction + "000000")[:6]), fraction[6:]
    at = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                  tzinfo=timezone(offset))
    try:
        at = at.astimezone(UTC)
        if rest.strip("0"):
            at += timedelta(microseconds=1)
    except OverflowError:
        raise ValueError("out of range") from None
    if not EARLIEST <= at <= LATEST:
        raise ValueError("out of range")
    return at


@extend_schema_field(OpenApiTypes.DATETIME)
class Rfc3339Field(serializers.Field):
    default_error_messages = {"invalid": "Must be an RFC 3339 timestamp, e.g. 2024-05-01T09:00:00Z."}

    def to_internal_value(self, data):
        try:
            return rfc3339_bound(data)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value):
        return iso_z(value)


def one_of_session_or_workflow(attrs, required=True):
    has_session = attrs.get("sessionId") is not None
    has_workflow = attrs.get("workflowId") is not None
    if has_session and has_workflow:
        raise serializers.ValidationError({"workflowId": ["Give sessionId or workflowId, not both."]})
    if required and not (has_session or has_workflow):
        raise serializers.ValidationError(
            {"sessionId": ["Give conversationId, sessionId (a create-page chat) or workflowId."]}
        )
    return attrs


def validate_chat_target(attrs):
    """Where a posted message goes: a conversation, a create-page chat or a workflow chat."""
    one_of_session_or_workflow(attrs, required=attrs.get("conversationId") is None)
    if "workflowName" in attrs and attrs.get("workflowId") is None:
        raise serializers.ValidationError({"workflowName": ["Only with workflowId."]})
    return attrs


def chat_target_kwargs(data):
    """The validated target (and images) as chat.services.post_message's keywords."""
    kwargs = {
        "conversation_id": data.get("conversationId"),
        "session_id": data.get("sessionId"),
        "workflow_id": data.get("workflowId"),
        "image_urls": data.get("imageUrls") or [],
    }
    if "workflowName" in data:
        kwargs["workflow_name"] = data["workflowName"]
    return kwargs


class ImageUrlsField(serializers.ListField):
    child = StrictCharField(max_length=2048)

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)


class ChatMessageCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    """POST /v1/ai/workflow/chat/messages: one message to a create-page or a workflow chat.

    With `conversationId` the chat joins that conversation; with it alone the message goes to the
    conversation's current chat (its workflow's, else its create-page chat; a new one if none).
    """

    conversationId = ConversationIdField(
        required=False, allow_null=True,
        help_text="The client's stable conversation id, kept across the create page and the workflow it becomes.",
    )
    sessionId = SessionIdField(required=False, allow_null=True)
    workflowId = StrictUUIDField(required=False, allow_null=True)
    workflowName = StrictCharField(required=False, allow_null=True, max_length=200)
    role = serializers.ChoiceField(choices=Role.choices)
    content = StrictCharField(allow_blank=True, max_length=100_000)
    tokensUsed = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=2_000_000_000)
    imageUrls = ImageUrlsField(required=False, allow_null=True)

    def validate(self, attrs):
        return validate_chat_target(attrs)

    def service_kwargs(self):
        """The validated body as chat.services.post_message's keywords."""
        data = self.validated_data
        return {
            "role": data["role"],
            "content": data["content"],
            "tokens_used": data.get("tokensUsed"),
            **chat_target_kwargs(data),
        }


class ChatSessionPageQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=50, default=20)
    offset = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)


class ChatHistoryQuery(serializers.Serializer):
    conversationId = ConversationIdField(
        required=False, help_text="A conversation's messages, across its chats; takes precedence over the other two."
    )
    sessionId = SessionIdField(required=False, help_text="A create-page chat's messages.")
    workflowId = serializers.UUIDField(required=False, help_text="A workflow chat's messages.")
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    before = Rfc3339Field(
        required=False, help_text="RFC 3339: only messages created strictly before this instant (paging backwards)."
    )
    beforeId = serializers.UUIDField(
        required=False,
        help_text="The oldest message of the previous page: only messages before it in (createdAt, id) order. "
        "It must be a message of the chat asked for; with it, `before` is only checked.",
    )

    def validate(self, attrs):
        if attrs.get("conversationId") is not None:
            return attrs
        return one_of_session_or_workflow(attrs)


# --- documented shapes (the OpenAPI schema; rendering is session_item / message_data) ------


class ChatSessionItemSerializer(serializers.Serializer):
    contextType = serializers.ChoiceField(choices=["session", "workflow"])  # noqa: N815 - the vendor's spelling
    conversationId = serializers.CharField(allow_null=True)  # noqa: N815
    firstMessageAt = serializers.CharField(allow_null=True)  # noqa: N815
    lastMessageAt = serializers.CharField(allow_null=True)  # noqa: N815
    messageCount = serializers.IntegerField()  # noqa: N815
    preview = serializers.CharField(allow_null=True)
    sessionId = serializers.CharField(allow_null=True)  # noqa: N815
    workflowId = serializers.UUIDField(allow_null=True)  # noqa: N815
    workflowName = serializers.CharField(allow_null=True)  # noqa: N815


class ChatSessionPageSerializer(serializers.Serializer):
    hasMore = serializers.BooleanField()  # noqa: N815
    items = ChatSessionItemSerializer(many=True)
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class ChatMessageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    content = serializers.CharField()
    role = serializers.CharField()
    sessionId = serializers.CharField(allow_null=True)  # noqa: N815
    workflowId = serializers.UUIDField(allow_null=True)  # noqa: N815
    organizationId = serializers.CharField()  # noqa: N815
    tokensUsed = serializers.IntegerField(allow_null=True)  # noqa: N815
    imageUrls = serializers.ListField(child=serializers.CharField())  # noqa: N815
    createdAt = serializers.CharField()  # noqa: N815
    conversationId = serializers.CharField(allow_null=True)  # noqa: N815
    senderUserId = serializers.CharField(allow_null=True, help_text="Set for user messages: who sent it.")  # noqa: N815
    linkedRunId = serializers.CharField(allow_null=True)  # noqa: N815
    linkedRunStatus = serializers.ChoiceField(choices=RunStatus.choices, allow_null=True)  # noqa: N815
    linkedRunStartedAt = serializers.CharField(allow_null=True)  # noqa: N815
    linkedRunFinishedAt = serializers.CharField(allow_null=True)  # noqa: N815


def envelope(name, data):
    """The vendor's success envelope around `data`, for the schema."""
    from drf_spectacular.utils import inline_serializer

    return inline_serializer(
        name,
        {
            "code": serializers.IntegerField(help_text="200 on success."),
            "data": data,
            "message": serializers.CharField(help_text='"success"'),
            "requestId": serializers.CharField(help_text="Equals the X-Request-Id header."),
        },
    )


class ChatStreamSerializer(StrictSerializerMixin, serializers.Serializer):
    """POST /v1/ai/workflow/chat/stream: a new turn (`message` and where it goes), or the events of
    a turn again (`turnId`, `lastEventIndex`) for a client that reconnects."""

    message = StrictCharField(required=False, max_length=100_000, help_text="The user's message.")
    conversationId = ConversationIdField(required=False, allow_null=True)
    sessionId = SessionIdField(required=False, allow_null=True)
    workflowId = StrictUUIDField(required=False, allow_null=True)
    workflowName = StrictCharField(required=False, allow_null=True, max_length=200)
    imageUrls = ImageUrlsField(required=False, allow_null=True)
    turnId = StrictCharField(required=False, max_length=40, help_text="A turn this stream sent: its events again.")
    lastEventIndex = StrictIntegerField(
        required=False, min_value=-1, max_value=1_000_000, help_text="The last event index the client got."
    )

    def validate(self, attrs):
        if attrs.get("turnId") is not None:
            extra = sorted(set(attrs) - {"turnId", "lastEventIndex"})
            if extra:
                raise serializers.ValidationError({extra[0]: ["Not with turnId: a turn is resumed as it was."]})
            return attrs
        if "lastEventIndex" in attrs:
            raise serializers.ValidationError({"lastEventIndex": ["Only with turnId."]})
        if not attrs.get("message"):
            raise serializers.ValidationError({"message": ["This field is required."]})
        return validate_chat_target(attrs)

    def turn_kwargs(self):
        data = self.validated_data
        return {"content": data["message"], **chat_target_kwargs(data)}
