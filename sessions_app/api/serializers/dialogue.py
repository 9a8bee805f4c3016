"""A session's dialogue items: top-level, nested in `content`, and appended by POST .../dialogue."""

from rest_framework import serializers

from flowdesk.api.fields import StrictBooleanField, StrictIntegerField
from flowdesk.api.views import StrictSerializerMixin
from sessions_app.api.serializers.fields import (
    MAX_DIALOGUE_DEPTH,
    MAX_SAFE_INTEGER,
    UiField,
    nesting_depth,
    text_problem,
    validated_with,
)
from sessions_app.models import ContentType

__all__ = [
    "DialogueContentField", "DialogueItemSerializer", "NewDialogueItemSerializer",
]


class DialogueContentField(serializers.Field):
    """A string, or a list of dialogue items (validated like top-level ones, recursively)."""

    default_error_messages = {
        "invalid": "Must be a string or a list of dialogue items.",
        "too_deep": f"Dialogue content is nested deeper than {MAX_DIALOGUE_DEPTH} levels.",
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            problem = text_problem(data)
            if problem:
                raise serializers.ValidationError(problem)
            return data
        if not isinstance(data, list):
            self.fail("invalid")
        # Each level of items is a list holding objects: two JSON levels per dialogue level.
        if nesting_depth(data) > 2 * MAX_DIALOGUE_DEPTH:
            self.fail("too_deep")
        return [dict(item) for item in validated_with(self, DialogueItemSerializer, data, many=True)]

    def to_representation(self, value):
        return value


class DialogueItemSerializer(StrictSerializerMixin, serializers.Serializer):
    """One dialogue item; `content` is a string or a list of nested items; `ui` an optional string.

    Ids are the client's: repeated or out of order, they are kept as given.
    """

    id = StrictIntegerField(min_value=0, max_value=MAX_SAFE_INTEGER)
    contentType = serializers.ChoiceField(choices=ContentType.choices)
    isUser = StrictBooleanField()
    content = DialogueContentField()
    ui = UiField(required=False)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if "ui" in value and value["ui"] is None:
            del value["ui"]  # an exported null is the vendor's absent key
        return value


class NewDialogueItemSerializer(DialogueItemSerializer):
    """POST /session/{sessionId}/dialogue: the server numbers the item; isUser follows contentType."""

    id = None
    isUser = StrictBooleanField(required=False)

    def to_internal_value(self, data):
        if isinstance(data, dict) and "id" in data:
            raise serializers.ValidationError({"id": ["Assigned by the server; leave it out."]})
        return super().to_internal_value(data)

    def validate(self, attrs):
        if "isUser" not in attrs:
            attrs["isUser"] = attrs["contentType"] in (ContentType.USER, ContentType.USER_AUDIO)
        return attrs
