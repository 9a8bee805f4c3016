"""Workflow-chat family: the vendor's camelCase shapes.

Reads are plain functions (``session_item``, ``message_data``); the Serializer classes below
validate what comes in (bodies, query strings, import records).
"""

import re
import uuid
from datetime import datetime, timedelta

from rest_framework import serializers

from accounts.api.fields import IsoZDateTimeField, StrictCharField, StrictIntegerField, iso_z
from accounts.api.views import StrictSerializerMixin
from accounts.fastcheck import NotSure, choice, text, when
from chat.models import ContextType, Role

# Client-generated ids such as session_1234567890_abc; kept URL-safe so DELETE can name them.
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
_ZERO = timedelta(0)
SESSION_ID_MESSAGE = "Must be 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit."

# --- read shapes ---------------------------------------------------------------------------

# What session_item reads; the list fetches only these columns.
SESSION_ITEM_FIELDS = (
    "context_type",
    "session_id",
    "workflow",
    "workflow__name",
    "message_count",
    "first_message_at",
    "last_message_at",
    "preview",
)


def session_item(session):
    workflow = session.workflow
    return {
        "contextType": session.context_type,
        "firstMessageAt": iso_z(session.first_message_at),
        "lastMessageAt": iso_z(session.last_message_at),
        "messageCount": session.message_count,
        "preview": session.preview,
        "sessionId": session.session_id,
        "workflowId": str(workflow.id) if workflow else None,
        "workflowName": workflow.name if workflow else None,
    }


# The list's columns, in the order session_item_row reads them: the page is rendered from rows,
# not model instances (a third of the request's time went into building 51 sessions and workflows).
SESSION_ITEM_COLUMNS = (
    "context_type",
    "first_message_at",
    "last_message_at",
    "message_count",
    "preview",
    "session_id",
    "workflow_id",
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
    context_type, first_message_at, last_message_at, message_count, preview, session_id, workflow_id, name = row
    return {
        "contextType": context_type,
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
    context_type, first_message_at, last_message_at, message_count, preview, session_id, workflow_id, name = row
    return {
        "contextType": context_type,
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
    "session",
    "session__session_id",
    "session__workflow_id",
    "session__organization_id",
)


def message_data(message):
    """One message in the history shape; reads message.session (sessionId, workflowId, organizationId)."""
    session = message.session
    return {
        "id": str(message.id),
        "content": message.content,
        "role": message.role,
        "sessionId": session.session_id,
        "workflowId": str(session.workflow_id) if session.workflow_id else None,
        "organizationId": session.organization_id,
        "tokensUsed": message.tokens_used,
        "imageUrls": message.image_urls,
        "createdAt": iso_z(message.created_at),
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


def one_of_session_or_workflow(attrs, required=True):
    has_session = attrs.get("sessionId") is not None
    has_workflow = attrs.get("workflowId") is not None
    if has_session and has_workflow:
        raise serializers.ValidationError({"workflowId": ["Give sessionId or workflowId, not both."]})
    if required and not (has_session or has_workflow):
        raise serializers.ValidationError({"sessionId": ["Give sessionId (a create-page chat) or workflowId."]})
    return attrs


class ImageUrlsField(serializers.ListField):
    child = StrictCharField(max_length=2048)

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)


class ChatMessageCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    """POST /v1/ai/workflow/chat/messages: one message to a create-page or a workflow chat."""

    sessionId = SessionIdField(required=False, allow_null=True)
    workflowId = StrictUUIDField(required=False, allow_null=True)
    workflowName = StrictCharField(required=False, allow_null=True, max_length=200)
    role = serializers.ChoiceField(choices=Role.choices)
    content = StrictCharField(allow_blank=True, max_length=100_000)
    tokensUsed = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=2_000_000_000)
    imageUrls = ImageUrlsField(required=False, allow_null=True)

    def validate(self, attrs):
        one_of_session_or_workflow(attrs)
        if "workflowName" in attrs and attrs.get("workflowId") is None:
            raise serializers.ValidationError({"workflowName": ["Only with workflowId."]})
        return attrs

    def service_kwargs(self):
        """The validated body as chat.services.post_message's keywords."""
        data = self.validated_data
        kwargs = {
            "role": data["role"],
            "content": data["content"],
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
    sessionId = SessionIdField(required=False)
    workflowId = serializers.UUIDField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)

    def validate(self, attrs):
        return one_of_session_or_workflow(attrs)


# --- import records ------------------------------------------------------------------------


class ImportChatMessageSerializer(serializers.Serializer):
    """One message in the history shape."""

    id = StrictUUIDField()
    content = StrictCharField(allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices)
    sessionId = SessionIdField(required=False, allow_null=True)
    workflowId = StrictUUIDField(required=False, allow_null=True)
    organizationId = StrictCharField(required=False, allow_null=True, allow_blank=True)  # --org decides
    tokensUsed = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=2_000_000_000)
    imageUrls = ImageUrlsField(required=False, allow_null=True, max_length=None)
    createdAt = IsoZDateTimeField()


class ImportChatSessionSerializer(serializers.Serializer):
    """One item of the list's `data.items`, optionally with its `messages`."""

    contextType = serializers.ChoiceField(choices=ContextType.choices)
    sessionId = SessionIdField(required=False, allow_null=True)
    workflowId = StrictUUIDField(required=False, allow_null=True)
    workflowName = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=200)
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
            for key in ("sessionId", "workflowId"):
                if message.get(key) is not None and message[key] != attrs.get(key):
                    raise serializers.ValidationError(
                        {"messages": {index: {key: [f"Differs from the session's {key}."]}}}
                    )
        return attrs



# --- documented shapes (the OpenAPI schema; rendering is session_item / message_data) ------


class ChatSessionItemSerializer(serializers.Serializer):
    contextType = serializers.ChoiceField(choices=["session", "workflow"])  # noqa: N815 - the vendor's spelling
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


def _session_id(value):
    if value is None:
        return None
    value = _text(value, 128, blank=False)
    if not SESSION_ID_PATTERN.match(value):
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
        data["workflowId"] = _uuid(message["workflowId"])
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
    return data


def well_formed_chat_session(record):
    """ImportChatSessionSerializer().run_validation(record) for a well-formed record, else None."""
    try:
        context_type = _choice(record.get("contextType"), _CONTEXT_TYPES)
        data = {"contextType": context_type}
        if "sessionId" in record:
            data["sessionId"] = _session_id(record["sessionId"])
        if "workflowId" in record:
            data["workflowId"] = _uuid(record["workflowId"])
        if "workflowName" in record:
            value = record["workflowName"]
            data["workflowName"] = None if value is None else _text(value, 200)
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
            for message in messages:
                if message.get("sessionId") is not None and message["sessionId"] != session_id:
                    raise _NotSure
                if message.get("workflowId") is not None and message["workflowId"] != workflow_id:
                    raise _NotSure
    except _NotSure:
        return None
    return data
