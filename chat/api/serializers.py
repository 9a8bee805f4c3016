"""Workflow-chat family: the vendor's camelCase shapes.

Reads are plain functions (``session_item``, ``message_data``); the Serializer classes below
validate what comes in (bodies, query strings, import records).
"""

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from chat.models import ContextType, Role, RunStatus
from flowdesk.api.fields import IsoZDateTimeField, StrictCharField, StrictIntegerField, iso_z
from flowdesk.api.views import StrictSerializerMixin
from flowdesk.importing.fastcheck import EARLIEST, LATEST, NotSure, choice, text, when

# Client-generated ids such as session_1234567890_abc; kept URL-safe so DELETE can name them.
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
_ZERO = timedelta(0)
SESSION_ID_MESSAGE = "Must be 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit."
# The client's conversation ids (the vendor allows 255 characters), in the same URL-safe alphabet.
CONVERSATION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,254}$")
CONVERSATION_ID_MESSAGE = "Must be 1-255 letters, digits, '_', '.', ':' or '-', starting with a letter or digit."

# --- read shapes ---------------------------------------------------------------------------

# What session_item reads; the list fetches only these columns.
SESSION_ITEM_FIELDS = (
    "context_type",
    "conversation",
    "conversation__conversation_id",
    "session_id",
    "workflow",
    "workflow__uuid",
    "workflow__name",
    "message_count",
    "first_message_at",
    "last_message_at",
    "preview",
)


def session_item(session):
    workflow = session.workflow
    conversation = session.conversation
    return {
        "contextType": session.context_type,
        "conversationId": conversation.conversation_id if conversation else None,
        "firstMessageAt": iso_z(session.first_message_at),
        "lastMessageAt": iso_z(session.last_message_at),
        "messageCount": session.message_count,
        "preview": session.preview,
        "sessionId": session.session_id,
        "workflowId": str(workflow.uuid) if workflow else None,
        "workflowName": workflow.name if workflow else None,
    }


# The list's columns, in the order session_item_row reads them: the page is rendered from rows,
# not model instances (a third of the request's time went into building 51 sessions and workflows).
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


def _iso_z(value):
    """iso_z, several times faster for what the database gives (UTC, year 1000 on); anything else
    goes to iso_z itself."""
    if value is None or value.utcoffset() != _ZERO or value.year < 1000:
        return iso_z(value)
    text = value.isoformat()[:-6]  # without "+00:00"; the fraction only where there is one
    return (text.rstrip("0") if value.microsecond else text) + "Z"


def session_item_row(row):
    """session_item for a row of SESSION_ITEM_COLUMNS."""
    context_type, conversation_id, first_message_at, last_message_at, message_count, preview, session_id, workflow_id, name = row
    return {
        "contextType": context_type,
        "conversationId": conversation_id,
        "firstMessageAt": _iso_z(first_message_at),
        "lastMessageAt": _iso_z(last_message_at),
        "messageCount": message_count,
        "preview": preview,
        "sessionId": session_id,
        "workflowId": str(workflow_id) if workflow_id is not None else None,
        "workflowName": name if workflow_id is not None else None,
    }


def _utc_text_z(text):
    """iso_z for PostgreSQL's to_char(... AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')."""
    if text is None:
        return None
    if text[0] == "0":  # a year before 1000: iso_z's own spelling of it
        return iso_z(datetime.fromisoformat(text + "+00:00"))
    return text.rstrip("0").rstrip(".") + "Z"  # the fraction only where there is one


def session_item_text_row(row):
    """session_item_row for a row whose timestamps are UTC text (``_utc_text_z``) and workflow id text."""
    context_type, conversation_id, first_message_at, last_message_at, message_count, preview, session_id, workflow_id, name = row
    return {
        "contextType": context_type,
        "conversationId": conversation_id,
        "firstMessageAt": _utc_text_z(first_message_at),
        "lastMessageAt": _utc_text_z(last_message_at),
        "messageCount": message_count,
        "preview": preview,
        "sessionId": session_id,
        "workflowId": workflow_id,
        "workflowName": name if workflow_id is not None else None,
    }


# What message_data reads; the history fetches only these columns.
MESSAGE_FIELDS = (
    "content",
    "role",
    "tokens_used",
    "image_urls",
    "created_at",
    "sender_user_id",
    "linked_run_id",
    "linked_run_status",
    "linked_run_started_at",
    "linked_run_finished_at",
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


# --- incoming shapes -----------------------------------------------------------------------


class StrictUUIDField(serializers.UUIDField):
    """A UUID string; DRF's UUIDField would also take an integer."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class SessionIdField(StrictCharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 128)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not SESSION_ID_PATTERN.match(value):
            raise serializers.ValidationError(SESSION_ID_MESSAGE)
        return value


class ConversationIdField(StrictCharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 255)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not CONVERSATION_ID_PATTERN.match(value):
            raise serializers.ValidationError(CONVERSATION_ID_MESSAGE)
        return value


class BlankIsAbsentMixin:
    """"" reads as null: the vendor's exports write Go's zero value for an absent string."""

    def run_validation(self, data=empty):
        if isinstance(data, str) and data == "":
            return None
        return super().run_validation(data)


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
        one_of_session_or_workflow(attrs, required=attrs.get("conversationId") is None)
        if "workflowName" in attrs and attrs.get("workflowId") is None:
            raise serializers.ValidationError({"workflowName": ["Only with workflowId."]})
        return attrs

    def service_kwargs(self):
        """The validated body as chat.services.post_message's keywords."""
        data = self.validated_data
        kwargs = {
            "role": data["role"],
            "content": data["content"],
            "conversation_id": data.get("conversationId"),
            "session_id": data.get("sessionId"),
            "workflow_id": data.get("workflowId"),
            "tokens_used": data.get("tokensUsed"),
            "image_urls": data.get("imageUrls") or [],
        }
        if "workflowName" in data:
            kwargs["workflow_name"] = data["workflowName"]
        return kwargs


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


# --- import records ------------------------------------------------------------------------


# An export may carry "" for an absent id or name (Go's zero value): these read it as null.


class ImportSessionIdField(BlankIsAbsentMixin, SessionIdField):
    pass


class ImportConversationIdField(BlankIsAbsentMixin, ConversationIdField):
    pass


class ImportUUIDField(BlankIsAbsentMixin, StrictUUIDField):
    pass


class ImportTextField(BlankIsAbsentMixin, StrictCharField):
    pass


class ImportChoiceField(BlankIsAbsentMixin, serializers.ChoiceField):
    pass


class ImportTimestampField(BlankIsAbsentMixin, IsoZDateTimeField):
    pass


class ImportChatMessageSerializer(serializers.Serializer):
    """One message in the history shape."""

    id = StrictUUIDField()
    content = StrictCharField(allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices)
    sessionId = ImportSessionIdField(required=False, allow_null=True)
    workflowId = ImportUUIDField(required=False, allow_null=True)
    organizationId = StrictCharField(required=False, allow_null=True, allow_blank=True)  # --org decides
    tokensUsed = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=2_000_000_000)
    imageUrls = ImageUrlsField(required=False, allow_null=True, max_length=None)
    createdAt = IsoZDateTimeField()
    conversationId = ImportConversationIdField(required=False, allow_null=True)
    senderUserId = ImportTextField(required=False, allow_null=True, max_length=255)
    linkedRunId = ImportTextField(required=False, allow_null=True, max_length=255)
    linkedRunStatus = ImportChoiceField(choices=RunStatus.choices, required=False, allow_null=True)
    linkedRunStartedAt = ImportTimestampField(required=False, allow_null=True)
    linkedRunFinishedAt = ImportTimestampField(required=False, allow_null=True)


class ImportChatSessionSerializer(serializers.Serializer):
    """One item of the list's `data.items`, optionally with its `messages`."""

    contextType = serializers.ChoiceField(choices=ContextType.choices)
    conversationId = ImportConversationIdField(required=False, allow_null=True)
    sessionId = ImportSessionIdField(required=False, allow_null=True)
    workflowId = ImportUUIDField(required=False, allow_null=True)
    workflowName = ImportTextField(required=False, allow_null=True, max_length=200)
    messageCount = StrictIntegerField(required=False, min_value=0, max_value=2_000_000_000, default=0)
    firstMessageAt = IsoZDateTimeField(required=False, allow_null=True, default=None)
    lastMessageAt = IsoZDateTimeField(required=False, allow_null=True, default=None)
    preview = StrictCharField(required=False, allow_null=True, allow_blank=True, default=None)
    messages = ImportChatMessageSerializer(many=True, required=False)

    def validate(self, attrs):
        if attrs["contextType"] == ContextType.SESSION and attrs.get("sessionId") is None:
            raise serializers.ValidationError({"sessionId": ["Required when contextType is 'session'."]})
        if attrs["contextType"] == ContextType.WORKFLOW and attrs.get("workflowId") is None:
            raise serializers.ValidationError({"workflowId": ["Required when contextType is 'workflow'."]})
        if attrs.get("workflowName") is not None and attrs.get("workflowId") is None:
            raise serializers.ValidationError({"workflowName": ["Only with workflowId."]})
        first, last = attrs["firstMessageAt"], attrs["lastMessageAt"]
        if first is not None and last is not None and first > last:
            raise serializers.ValidationError({"lastMessageAt": ["Earlier than firstMessageAt."]})
        seen = set()
        for index, message in enumerate(attrs.get("messages", [])):
            if message["id"] in seen:
                raise serializers.ValidationError({"messages": {index: {"id": ["Duplicate message id."]}}})
            seen.add(message["id"])
            for key in ("conversationId", "sessionId", "workflowId"):
                if message.get(key) is not None and message[key] != attrs.get(key):
                    raise serializers.ValidationError(
                        {"messages": {index: {key: [f"Differs from the session's {key}."]}}}
                    )
        return attrs



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


# --- the import's fast path ----------------------------------------------------------------
# DRF's field-by-field validation was most of import_chat_sessions' time. ``well_formed_chat_session``
# accepts a record that ImportChatSessionSerializer would accept and returns exactly what it would
# (same values, same types, same key order, defaults filled in), in plain Python. It accepts a
# subset: anything it is not sure of returns None, and the caller validates with the serializer,
# which words the error and its field path.

_CONTEXT_TYPES = frozenset(ContextType.values)
_ROLES = frozenset(Role.values)
MAX_COUNT = 2_000_000_000
_NotSure = NotSure
_text, _choice, _timestamp = text, choice, when


_RUN_STATUSES = frozenset(RunStatus.values)


def _session_id(value):
    if value is None or value == "":  # "" is absent (an export's zero value)
        return None
    value = _text(value, 128, blank=False)
    if not SESSION_ID_PATTERN.match(value):
        raise _NotSure
    return value


def _conversation_id(value):
    if value is None or value == "":
        return None
    value = _text(value, 255, blank=False)
    if not CONVERSATION_ID_PATTERN.match(value):
        raise _NotSure
    return value


def _uuid(value):
    if value is None:
        return None
    if type(value) is not str:
        raise _NotSure
    try:
        return uuid.UUID(hex=value)
    except ValueError:
        raise _NotSure from None


def _import_uuid(value):
    return None if value == "" else _uuid(value)


def _optional_text(value, max_length):
    return None if value is None or value == "" else _text(value, max_length)


def _count(value, maximum=MAX_COUNT):
    if type(value) is not int or not 0 <= value <= maximum:
        raise _NotSure
    return value


def _message(message):
    if type(message) is not dict:
        raise _NotSure
    message_id = message.get("id")
    if message_id is None:
        raise _NotSure
    data = {
        "id": _uuid(message_id),
        "content": _text(message.get("content")),
        "role": _choice(message.get("role"), _ROLES),
    }
    if "sessionId" in message:
        data["sessionId"] = _session_id(message["sessionId"])
    if "workflowId" in message:
        data["workflowId"] = _import_uuid(message["workflowId"])
    if "organizationId" in message:
        value = message["organizationId"]
        data["organizationId"] = None if value is None else _text(value)
    if "tokensUsed" in message:
        value = message["tokensUsed"]
        data["tokensUsed"] = None if value is None else _count(value)
    if "imageUrls" in message:
        value = message["imageUrls"]
        if value is not None:
            if type(value) is not list:
                raise _NotSure
            value = [_text(url, 2048, blank=False) for url in value]
        data["imageUrls"] = value
    data["createdAt"] = _timestamp(message.get("createdAt"))
    if "conversationId" in message:
        data["conversationId"] = _conversation_id(message["conversationId"])
    for key in ("senderUserId", "linkedRunId"):
        if key in message:
            data[key] = _optional_text(message[key], 255)
    if "linkedRunStatus" in message:
        value = message["linkedRunStatus"]
        data["linkedRunStatus"] = None if value is None or value == "" else _choice(value, _RUN_STATUSES)
    for key in ("linkedRunStartedAt", "linkedRunFinishedAt"):
        if key in message:
            value = message[key]
            data[key] = None if value is None or value == "" else _timestamp(value)
    return data


def well_formed_chat_session(record):
    """ImportChatSessionSerializer().run_validation(record) for a well-formed record, else None."""
    try:
        context_type = _choice(record.get("contextType"), _CONTEXT_TYPES)
        data = {"contextType": context_type}
        if "conversationId" in record:
            data["conversationId"] = _conversation_id(record["conversationId"])
        if "sessionId" in record:
            data["sessionId"] = _session_id(record["sessionId"])
        if "workflowId" in record:
            data["workflowId"] = _import_uuid(record["workflowId"])
        if "workflowName" in record:
            data["workflowName"] = _optional_text(record["workflowName"], 200)
        data["messageCount"] = _count(record["messageCount"]) if "messageCount" in record else 0
        value = record.get("firstMessageAt")
        data["firstMessageAt"] = first = None if value is None else _timestamp(value)
        value = record.get("lastMessageAt")
        data["lastMessageAt"] = last = None if value is None else _timestamp(value)
        value = record.get("preview")
        data["preview"] = None if value is None else _text(value)
        if "messages" in record:
            messages = record["messages"]
            if type(messages) is not list:
                raise _NotSure
            data["messages"] = messages = [_message(message) for message in messages]
        # ImportChatSessionSerializer.validate's rules.
        session_id, workflow_id = data.get("sessionId"), data.get("workflowId")
        if context_type == ContextType.SESSION and session_id is None:
            raise _NotSure
        if context_type == ContextType.WORKFLOW and workflow_id is None:
            raise _NotSure
        if data.get("workflowName") is not None and workflow_id is None:
            raise _NotSure
        if first is not None and last is not None and first > last:
            raise _NotSure
        if "messages" in data:
            ids = {message["id"] for message in messages}
            if len(ids) != len(messages):
                raise _NotSure
            conversation_id = data.get("conversationId")
            for message in messages:
                if message.get("sessionId") is not None and message["sessionId"] != session_id:
                    raise _NotSure
                if message.get("workflowId") is not None and message["workflowId"] != workflow_id:
                    raise _NotSure
                if message.get("conversationId") is not None and message["conversationId"] != conversation_id:
                    raise _NotSure
    except _NotSure:
        return None
    return data


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
        one_of_session_or_workflow(attrs, required=attrs.get("conversationId") is None)
        if "workflowName" in attrs and attrs.get("workflowId") is None:
            raise serializers.ValidationError({"workflowName": ["Only with workflowId."]})
        return attrs

    def turn_kwargs(self):
        data = self.validated_data
        kwargs = {
            "content": data["message"],
            "conversation_id": data.get("conversationId"),
            "session_id": data.get("sessionId"),
            "workflow_id": data.get("workflowId"),
            "image_urls": data.get("imageUrls") or [],
        }
        if "workflowName" in data:
            kwargs["workflow_name"] = data["workflowName"]
        return kwargs
