"""A whole session as imports and PUT /session/{sessionId} read it, and its model column values."""

from django.core.validators import RegexValidator
from rest_framework import serializers

from flowdesk.api.fields import IsoZDateTimeField, StrictBooleanField
from flowdesk.api.views import StrictSerializerMixin
from sessions_app.api.serializers.dialogue import DialogueItemSerializer
from sessions_app.api.serializers.fields import (
    ItemsField,
    JSONObjectOrNullField,
    ObjectField,
    Text,
    text,
    text_list,
)
from sessions_app.api.serializers.nested import (
    AudioSerializer,
    ClickSerializer,
    StatsSerializer,
    TutorialSerializer,
    UserInfoField,
    UserInfoSerializer,
)
from sessions_app.models import ResponseMode

__all__ = [
    "RESERVED_SESSION_IDS", "SESSION_ID_REGEX", "UserSessionSerializer", "audio_rows", "dialogue_rows",
    "known_session_keys", "session_values",
]

SESSION_ID_REGEX = r"\A[A-Za-z0-9_-]{1,64}\Z"
# Paths that would shadow a session with this id.
RESERVED_SESSION_IDS = {"new", "resume"}


class UserSessionSerializer(StrictSerializerMixin, serializers.Serializer):
    """A whole session in the shape GET /session lists it: imports validate every key.

    PUT uses it with ``partial=True``: any subset of keys, each key's value validated whole
    (nested objects and lists are replaced, not merged).
    """

    uuid = text(max_length=64, allow_blank=False)
    sessionId = Text(
        validators=[RegexValidator(SESSION_ID_REGEX, "1 to 64 letters, digits, '-' or '_'.")]
    )
    name = text(allow_null=True)
    dialogue = ItemsField(DialogueItemSerializer, allow_null=True)
    quickReplies = text_list()
    isReplying = StrictBooleanField()
    workspace = JSONObjectOrNullField(allow_null=True)
    isVMRunning = StrictBooleanField()
    clients = text_list()
    language = text(allow_null=True)
    easyMode = StrictBooleanField(allow_null=True)
    responseMode = serializers.ChoiceField(choices=ResponseMode.choices)
    llmContext = text(allow_null=True)
    tutorial = ObjectField(TutorialSerializer)
    stats = ObjectField(StatsSerializer)
    audios = ItemsField(AudioSerializer, allow_null=True)
    userAudio = text(allow_null=True)
    screenshot = text(allow_null=True)
    clicks = ItemsField(ClickSerializer, allow_null=True)
    userInfo = UserInfoField(allow_null=True)
    createdAt = IsoZDateTimeField()
    updatedAt = IsoZDateTimeField()

    def validate_sessionId(self, value):
        if value in RESERVED_SESSION_IDS:
            raise serializers.ValidationError(f"{value!r} is reserved by the API's paths.")
        return value


# Where validated keys are stored: a column of the same value, or (tutorial, stats) a column per
# nested key; `dialogue` and `audios` are rows of their own with a `*_null` flag.
COLUMN_OF_KEY = {
    "uuid": "uuid",
    "sessionId": "session_id",
    "name": "name",
    "quickReplies": "quick_replies",
    "isReplying": "is_replying",
    "workspace": "workspace",
    "isVMRunning": "is_vm_running",
    "clients": "clients",
    "language": "language",
    "easyMode": "easy_mode",
    "responseMode": "response_mode",
    "llmContext": "llm_context",
    "userAudio": "user_audio",
    "screenshot": "screenshot",
    "clicks": "clicks",
    "userInfo": "user_info",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
}
COLUMNS_OF_OBJECT = {
    "tutorial": {"isTutorial": "tutorial_is_tutorial", "tutorialId": "tutorial_id", "progress": "tutorial_progress"},
    "stats": {
        "totalConnectingTime": "stats_total_connecting_time",
        "currentNumOfBlocks": "stats_current_num_of_blocks",
        "totalInvokedLLM": "stats_total_invoked_llm",
        "totalUserMessages": "stats_total_user_messages",
        "totalCodeExecutions": "stats_total_code_executions",
    },
}


def session_values(data):
    """Model column values from validated (possibly partial) UserSessionSerializer data."""
    values = {column: data[key] for key, column in COLUMN_OF_KEY.items() if key in data}
    if "dialogue" in data:
        values["dialogue_null"] = data["dialogue"] is None
    if "audios" in data:
        values["audios_null"] = data["audios"] is None
    for key, columns in COLUMNS_OF_OBJECT.items():
        if key in data:
            values.update({column: data[key][name] for name, column in columns.items()})
    return values


def dialogue_rows(items):
    """(item_id, content_type, is_user, content, ui) per validated dialogue item, in order."""
    return [(i["id"], i["contentType"], i["isUser"], i["content"], i.get("ui")) for i in items or ()]


def audio_rows(clips):
    """(clip_id, base64) per validated audio clip, in order."""
    return [(clip["id"], clip["base64"]) for clip in clips or ()]


# PUT /session/{sessionId} reads the vendor's partial session: keys it does not know are dropped,
# at any depth, as the vendor's schema validation drops them.
DIALOGUE_ITEM_KEYS = tuple(DialogueItemSerializer._declared_fields)
OBJECT_KEYS = {
    "tutorial": tuple(TutorialSerializer._declared_fields),
    "stats": tuple(StatsSerializer._declared_fields),
    "userInfo": tuple(UserInfoSerializer._declared_fields),
}
LIST_ITEM_KEYS = {"audios": tuple(AudioSerializer._declared_fields), "clicks": tuple(ClickSerializer._declared_fields)}


def _known(value, keys):
    return {key: value[key] for key in keys if key in value} if type(value) is dict else value


def _known_dialogue(items):
    if type(items) is not list:
        return items
    known = []
    for item in items:
        item = _known(item, DIALOGUE_ITEM_KEYS)
        if type(item) is dict and type(item.get("content")) is list:
            item["content"] = _known_dialogue(item["content"])
        known.append(item)
    return known


def known_session_keys(body):
    """The PUT body without the keys no session has; anything not an object is left to the serializer."""
    if type(body) is not dict:
        return body
    known = {key: value for key, value in body.items() if key in UserSessionSerializer._declared_fields}
    for key, keys in OBJECT_KEYS.items():
        if key in known:
            known[key] = _known(known[key], keys)
    for key, keys in LIST_ITEM_KEYS.items():
        if type(known.get(key)) is list:
            known[key] = [_known(item, keys) for item in known[key]]
    if "dialogue" in known:
        known["dialogue"] = _known_dialogue(known["dialogue"])
    return known
