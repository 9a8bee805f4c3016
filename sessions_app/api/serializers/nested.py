"""The objects a session holds besides its dialogue: audio clips, clicks, tutorial, stats, user."""

from rest_framework import serializers

from flowdesk.api.fields import StrictBooleanField
from flowdesk.api.views import StrictSerializerMixin
from sessions_app.api.serializers.fields import NumberField, Text, counter, text, validated_with

__all__ = [
    "AudioSerializer", "ClickSerializer", "StatsSerializer", "TutorialSerializer", "UserInfoField", "UserInfoSerializer",
]


class AudioSerializer(StrictSerializerMixin, serializers.Serializer):
    """One audio clip."""

    id = text(max_length=200)
    base64 = text()


class ClickSerializer(StrictSerializerMixin, serializers.Serializer):
    """One recorded click."""

    x, y, value, timestamp = (NumberField() for _ in range(4))


class TutorialSerializer(StrictSerializerMixin, serializers.Serializer):
    """The session's tutorial progress."""

    isTutorial = StrictBooleanField()
    tutorialId = NumberField(allow_null=True)
    progress = NumberField()


class StatsSerializer(StrictSerializerMixin, serializers.Serializer):
    """The session's counters."""

    totalConnectingTime = NumberField()
    currentNumOfBlocks, totalInvokedLLM, totalUserMessages, totalCodeExecutions = (counter() for _ in range(4))


class UserInfoSerializer(StrictSerializerMixin, serializers.Serializer):
    """The session's user, when not given as a bare id."""

    id = text(max_length=200)
    username = text(max_length=200)
    image = text(allow_null=True)
    email = text(max_length=320)


class UserInfoField(serializers.Field):
    """A user id string, or {id, username, image, email}."""

    default_error_messages = {"invalid": "Must be a user id string or an object with id, username, image and email."}

    def to_internal_value(self, data):
        if isinstance(data, str):
            return Text(max_length=200).run_validation(data)
        if not isinstance(data, dict):
            self.fail("invalid")
        return dict(validated_with(self, UserInfoSerializer, data))

    def to_representation(self, value):
        return value
