"""Workflow-chat family: the vendor's camelCase shapes.

Reads are plain functions (``session_item``, ``message_data``); the Serializer classes below
validate what comes in (bodies, query strings, import records).
"""

import re

from rest_framework import serializers

from accounts.api.fields import IsoZDateTimeField, StrictCharField, StrictIntegerField, iso_z
from accounts.api.views import StrictSerializerMixin
from chat.models import ContextType, Role

# Client-generated ids such as session_1234567890_abc; kept URL-safe so DELETE can name them.
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
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


def session_item_row(row):
    """session_item for a row of SESSION_ITEM_COLUMNS."""
    context_type, first_message_at, last_message_at, message_count, preview, session_id, workflow_id, name = row
    return {
        "contextType": context_type,
        "firstMessageAt": iso_z(first_message_at),
        "lastMessageAt": iso_z(last_message_at),
        "messageCount": message_count,
        "preview": preview,
        "sessionId": session_id,
        "workflowId": str(workflow_id) if workflow_id is not None else None,
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
