"""The records of import_chat_sessions: the list's items in the history's shapes, "" as absent.

The fast path (chat/importing/fastpath.py) accepts a subset of what these accept, with the same
validated data; these word the errors.
"""

from rest_framework import serializers
from rest_framework.fields import empty

from chat.api.serializers import ConversationIdField, ImageUrlsField, SessionIdField, StrictUUIDField
from chat.models import ContextType, Role, RunStatus
from flowdesk.api.fields import IsoZDateTimeField, StrictCharField, StrictIntegerField

MAX_COUNT = 2_000_000_000


class BlankIsAbsentMixin:
    """"" reads as null: the vendor's exports write Go's zero value for an absent string."""

    def run_validation(self, data=empty):
        if isinstance(data, str) and data == "":
            return None
        return super().run_validation(data)


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
    tokensUsed = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_COUNT)
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
    messageCount = StrictIntegerField(required=False, min_value=0, max_value=MAX_COUNT, default=0)
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
            for key in SESSION_KEYS_OF_A_MESSAGE:
                if message.get(key) is not None and message[key] != attrs.get(key):
                    raise serializers.ValidationError(
                        {"messages": {index: {key: [f"Differs from the session's {key}."]}}}
                    )
        return attrs


# The session's keys a message may repeat: where it does, it must say the same.
SESSION_KEYS_OF_A_MESSAGE = ("conversationId", "sessionId", "workflowId")
