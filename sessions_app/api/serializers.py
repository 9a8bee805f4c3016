"""User-sessions family: the vendor's camelCase shapes.

Reads are rendered by plain functions: the list renders every dialogue item of every session and
DRF's field machinery would cost several times the SQL. ``sessions_data`` renders the list from
rows, ``session_data`` one session from its model instance (the same bytes). The Serializer
classes validate what comes in (PUT bodies, appended dialogue items, imported records);
``well_formed_session`` is the import's fast acceptance of a record the serializer would accept.
"""

import json
import math
import re

import orjson
from django.core.validators import RegexValidator
from django.db.models import TextField
from django.db.models.functions import Cast
from rest_framework import serializers

from flowdesk.api.fields import (
    IsoZDateTimeField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    iso_z,
)
from flowdesk.api.views import StrictSerializerMixin
from flowdesk.importing import fastcheck
from sessions_app.models import AudioClip, ContentType, DialogueItem, ResponseMode

# JavaScript clients read numbers as doubles: integers beyond this lose precision (and beyond
# 64 bits cannot be rendered at all), so they are refused on the way in.
MAX_SAFE_INTEGER = 2**53 - 1
# Nested dialogue content deeper than this is refused (an import file has no parser depth limit).
MAX_DIALOGUE_DEPTH = 16


# --- read shapes ---------------------------------------------------------------------------


def _has_null_ui(items):
    stack = [items]
    while stack:
        for item in stack.pop():
            if type(item) is dict:
                if "ui" in item and item["ui"] is None:
                    return True
                if type(item.get("content")) is list:
                    stack.append(item["content"])
    return False


def _without_null_ui(items):
    return [
        {key: _without_null_ui(value) if key == "content" and type(value) is list else value
         for key, value in item.items() if not (key == "ui" and value is None)}
        if type(item) is dict else item
        for item in items
    ]


def vendor_content(content):
    """Nested items as the vendor's schema has them: a `ui` of null is no `ui` (rows written
    outside the API, e.g. in the admin or before migration 0003, may still hold one)."""
    if type(content) is list and _has_null_ui(content):
        return _without_null_ui(content)
    return content


def item_data(item_id, content_type, is_user, content, ui):
    """One dialogue item; `ui` only when there is one (the vendor's optional string)."""
    data = {"id": item_id, "contentType": content_type, "isUser": is_user, "content": vendor_content(content)}
    if ui is not None:
        data["ui"] = ui
    return data


def dialogue_item_data(item):
    return item_data(item.item_id, item.content_type, item.is_user, item.content, item.ui)


def audio_data(clip):
    return {"id": clip.clip_id, "base64": clip.base64}


def session_data(session):
    """One session as GET /session lists it; reads ``UserSession.objects.with_children()``."""
    return {
        "uuid": session.uuid,
        "sessionId": session.session_id,
        "name": session.name,
        "dialogue": None if session.dialogue_null else [dialogue_item_data(i) for i in session.dialogue_items.all()],
        "quickReplies": session.quick_replies,
        "isReplying": session.is_replying,
        "workspace": session.workspace,
        "isVMRunning": session.is_vm_running,
        "clients": session.clients,
        "language": session.language,
        "easyMode": session.easy_mode,
        "responseMode": session.response_mode,
        "llmContext": session.llm_context,
        "tutorial": {
            "isTutorial": session.tutorial_is_tutorial,
            "tutorialId": session.tutorial_id,
            "progress": session.tutorial_progress,
        },
        "stats": {
            "totalConnectingTime": session.stats_total_connecting_time,
            "currentNumOfBlocks": session.stats_current_num_of_blocks,
            "totalInvokedLLM": session.stats_total_invoked_llm,
            "totalUserMessages": session.stats_total_user_messages,
            "totalCodeExecutions": session.stats_total_code_executions,
        },
        "audios": None if session.audios_null else [audio_data(clip) for clip in session.audio_clips.all()],
        "userAudio": session.user_audio,
        "screenshot": session.screenshot,
        "clicks": session.clicks,
        "userInfo": session.user_info,
        "createdAt": iso_z(session.created_at),
        "updatedAt": iso_z(session.updated_at),
    }


def _json_text(name):
    """A JSON column read as its text, to be parsed by orjson (Django's json.loads per value was
    a third of the list's time)."""
    return Cast(name, output_field=TextField())


def _loads(text):
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # e.g. an integer beyond 64 bits: read as Django would
        return json.loads(text)


_SESSION_ROW = (
    "pk", "uuid", "session_id", "name", "dialogue_null", _json_text("quick_replies"), "is_replying",
    _json_text("workspace"), "is_vm_running", _json_text("clients"), "language", "easy_mode", "response_mode",
    "llm_context", "tutorial_is_tutorial", _json_text("tutorial_id"), _json_text("tutorial_progress"),
    _json_text("stats_total_connecting_time"), "stats_current_num_of_blocks", "stats_total_invoked_llm",
    "stats_total_user_messages", "stats_total_code_executions", "audios_null", "user_audio", "screenshot",
    _json_text("clicks"), _json_text("user_info"), "created_at", "updated_at",
)


def sessions_data(sessions):
    """GET /session's items for a queryset of sessions (filtered, ordered, sliced), in three
    queries: the sessions, their dialogue items, their audio clips. Rows, not model instances:
    the same body as ``session_data``, several times faster for 50 sessions of 20 items."""
    rows = list(sessions.values_list(*_SESSION_ROW))
    pks = [row[0] for row in rows]
    dialogue_of, audios_of = {pk: [] for pk in pks}, {pk: [] for pk in pks}
    if pks:
        for session_pk, item_id, content_type, is_user, content, ui in (
            DialogueItem.objects.filter(session_id__in=pks)
            .order_by("session_id", "position")
            .values_list("session_id", "item_id", "content_type", "is_user", _json_text("content"), "ui")
        ):
            dialogue_of[session_pk].append(item_data(item_id, content_type, is_user, _loads(content), ui))
        for session_pk, clip_id, base64 in (
            AudioClip.objects.filter(session_id__in=pks)
            .order_by("session_id", "position")
            .values_list("session_id", "clip_id", "base64")
        ):
            audios_of[session_pk].append({"id": clip_id, "base64": base64})
    return [
        {
            "uuid": uuid,
            "sessionId": session_id,
            "name": name,
            "dialogue": None if dialogue_null else dialogue_of[pk],
            "quickReplies": _loads(quick_replies),
            "isReplying": is_replying,
            "workspace": _loads(workspace),
            "isVMRunning": is_vm_running,
            "clients": _loads(clients),
            "language": language,
            "easyMode": easy_mode,
            "responseMode": response_mode,
            "llmContext": llm_context,
            "tutorial": {"isTutorial": is_tutorial, "tutorialId": _loads(tutorial_id), "progress": _loads(progress)},
            "stats": {
                "totalConnectingTime": _loads(connecting_time),
                "currentNumOfBlocks": blocks,
                "totalInvokedLLM": invoked_llm,
                "totalUserMessages": user_messages,
                "totalCodeExecutions": code_executions,
            },
            "audios": None if audios_null else audios_of[pk],
            "userAudio": user_audio,
            "screenshot": screenshot,
            "clicks": _loads(clicks),
            "userInfo": _loads(user_info),
            "createdAt": iso_z(created_at),
            "updatedAt": iso_z(updated_at),
        }
        for (
            pk, uuid, session_id, name, dialogue_null, quick_replies, is_replying, workspace, is_vm_running, clients,
            language, easy_mode, response_mode, llm_context, is_tutorial, tutorial_id, progress, connecting_time,
            blocks, invoked_llm, user_messages, code_executions, audios_null, user_audio, screenshot, clicks,
            user_info, created_at, updated_at,
        ) in rows
    ]


# --- field types -----------------------------------------------------------------------------


def _storable_text(value):
    """PostgreSQL stores neither NUL characters nor lone surrogates (text or jsonb)."""
    if "\x00" in value:
        return "Null characters are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Text must be valid Unicode (no lone surrogates)."
    return None


def json_problem(value):
    """Why an arbitrary JSON value cannot be stored and rendered back, or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = _storable_text(item)
            if problem:
                return problem
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            continue
        elif isinstance(item, int):
            if abs(item) > MAX_SAFE_INTEGER:
                return f"Integers must lie within ±{MAX_SAFE_INTEGER}."
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _validate_with(field, serializer_class, data, many=False):
    """Validate ``data`` with a serializer bound once per field and reused (a new serializer per
    value costs more than the validation: imports validate tens of nested items per record)."""
    key = "_many_validator" if many else "_validator"
    serializer = field.__dict__.get(key)
    if serializer is None:
        serializer = field.__dict__[key] = serializer_class(many=many)
    try:
        return serializer.run_validation(data)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError(exc.detail) from None


class Text(StrictCharField):
    """A string kept exactly as sent, and storable."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = _storable_text(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


def text(**kwargs):
    kwargs.setdefault("allow_blank", True)
    return Text(**kwargs)


class UiField(Text):
    """A dialogue item's `ui`: a string; null is read as no `ui`, so it is never answered (the
    field is not ``allow_null``, which would make the answer's schema nullable)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data is None:
            return True, None
        return super().validate_empty_values(data)


class AnyJSONField(serializers.JSONField):
    """Any JSON value, kept as given."""

    def to_internal_value(self, data):
        problem = json_problem(data)
        if problem:
            raise serializers.ValidationError(problem)
        return super().to_internal_value(data)


class JSONObjectOrNullField(AnyJSONField):
    default_error_messages = {"not_object": "Must be a JSON object or null."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_object")
        return super().to_internal_value(data)


class NumberField(serializers.Field):
    """A JSON number kept as given: 3 stays 3, 2.5 stays 2.5."""

    default_error_messages = {"invalid": "A number is required.", "range": "Out of range."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, int) and abs(data) > MAX_SAFE_INTEGER:
            self.fail("range")
        return data

    def to_representation(self, value):
        return value


def counter():
    return StrictIntegerField(min_value=0, max_value=MAX_SAFE_INTEGER)


def text_list(**kwargs):
    return serializers.ListField(child=text(), allow_null=True, **kwargs)


class ItemsField(serializers.Field):
    """A JSON array of objects, each validated by ``serializer_class``; null stays null."""

    default_error_messages = {"not_a_list": "Expected a list of objects."}

    def __init__(self, serializer_class, **kwargs):
        self.serializer_class = serializer_class
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        return [dict(item) for item in _validate_with(self, self.serializer_class, data, many=True)]

    def to_representation(self, value):
        return value


class ObjectField(serializers.Field):
    """A JSON object validated as a whole by ``serializer_class`` (never partially)."""

    def __init__(self, serializer_class, **kwargs):
        self.serializer_class = serializer_class
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return dict(_validate_with(self, self.serializer_class, data))

    def to_representation(self, value):
        return value


def _depth(value):
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


class DialogueContentField(serializers.Field):
    """A string, or a list of dialogue items (validated like top-level ones, recursively)."""

    default_error_messages = {
        "invalid": "Must be a string or a list of dialogue items.",
        "too_deep": f"Dialogue content is nested deeper than {MAX_DIALOGUE_DEPTH} levels.",
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            problem = _storable_text(data)
            if problem:
                raise serializers.ValidationError(problem)
            return data
        if not isinstance(data, list):
            self.fail("invalid")
        # Each level of items is a list holding objects: two JSON levels per dialogue level.
        if _depth(data) > 2 * MAX_DIALOGUE_DEPTH:
            self.fail("too_deep")
        return [dict(item) for item in _validate_with(self, DialogueItemSerializer, data, many=True)]

    def to_representation(self, value):
        return value


class UserInfoField(serializers.Field):
    """A user id string, or {id, username, image, email}."""

    default_error_messages = {"invalid": "Must be a user id string or an object with id, username, image and email."}

    def to_internal_value(self, data):
        if isinstance(data, str):
            return Text(max_length=200).run_validation(data)
        if not isinstance(data, dict):
            self.fail("invalid")
        return dict(_validate_with(self, UserInfoSerializer, data))

    def to_representation(self, value):
        return value


# --- nested shapes ---------------------------------------------------------------------------


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


class AudioSerializer(StrictSerializerMixin, serializers.Serializer):
    """One audio clip."""

    id = text(max_length=200)
    base64 = text()


class ClickSerializer(StrictSerializerMixin, serializers.Serializer):
    """One recorded click."""

    x = NumberField()
    y = NumberField()
    value = NumberField()
    timestamp = NumberField()


class TutorialSerializer(StrictSerializerMixin, serializers.Serializer):
    """The session's tutorial progress."""

    isTutorial = StrictBooleanField()
    tutorialId = NumberField(allow_null=True)
    progress = NumberField()


class StatsSerializer(StrictSerializerMixin, serializers.Serializer):
    """The session's counters."""

    totalConnectingTime = NumberField()
    currentNumOfBlocks = counter()
    totalInvokedLLM = counter()
    totalUserMessages = counter()
    totalCodeExecutions = counter()


class UserInfoSerializer(StrictSerializerMixin, serializers.Serializer):
    """The session's user, when not given as a bare id."""

    id = text(max_length=200)
    username = text(max_length=200)
    image = text(allow_null=True)
    email = text(max_length=320)


# --- the session -----------------------------------------------------------------------------

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


def session_values(data):
    """Model column values from validated (possibly partial) UserSessionSerializer data."""
    values = {}
    simple = {
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
    for key, column in simple.items():
        if key in data:
            values[column] = data[key]
    if "dialogue" in data:
        values["dialogue_null"] = data["dialogue"] is None
    if "audios" in data:
        values["audios_null"] = data["audios"] is None
    if "tutorial" in data:
        tutorial = data["tutorial"]
        values["tutorial_is_tutorial"] = tutorial["isTutorial"]
        values["tutorial_id"] = tutorial["tutorialId"]
        values["tutorial_progress"] = tutorial["progress"]
    if "stats" in data:
        stats = data["stats"]
        values["stats_total_connecting_time"] = stats["totalConnectingTime"]
        values["stats_current_num_of_blocks"] = stats["currentNumOfBlocks"]
        values["stats_total_invoked_llm"] = stats["totalInvokedLLM"]
        values["stats_total_user_messages"] = stats["totalUserMessages"]
        values["stats_total_code_executions"] = stats["totalCodeExecutions"]
    return values


def dialogue_rows(items):
    """(item_id, content_type, is_user, content, ui) per validated dialogue item, in order."""
    return [(i["id"], i["contentType"], i["isUser"], i["content"], i.get("ui")) for i in items or ()]


def audio_rows(clips):
    return [(clip["id"], clip["base64"]) for clip in clips or ()]


class LimitOffsetQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    offset = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)


# PUT /session/{sessionId} reads the vendor's partial session: keys it does not know are dropped,
# at any depth, as the vendor's schema validation drops them.
_NESTED_KEYS = {
    "tutorial": ("isTutorial", "tutorialId", "progress"),
    "stats": ("totalConnectingTime", "currentNumOfBlocks", "totalInvokedLLM", "totalUserMessages",
              "totalCodeExecutions"),
    "userInfo": ("id", "username", "image", "email"),
}
_LIST_ITEM_KEYS = {"audios": ("id", "base64"), "clicks": ("x", "y", "value", "timestamp")}
_DIALOGUE_ITEM_KEYS = ("id", "contentType", "isUser", "content", "ui")


def _known(value, keys):
    return {key: value[key] for key in keys if key in value} if type(value) is dict else value


def _known_dialogue(items):
    if type(items) is not list:
        return items
    known = []
    for item in items:
        item = _known(item, _DIALOGUE_ITEM_KEYS)
        if type(item) is dict and type(item.get("content")) is list:
            item["content"] = _known_dialogue(item["content"])
        known.append(item)
    return known


def known_session_keys(body):
    """The PUT body without the keys no session has; anything not an object is left to the serializer."""
    if type(body) is not dict:
        return body
    known = {key: value for key, value in body.items() if key in UserSessionSerializer._declared_fields}
    for key, keys in _NESTED_KEYS.items():
        if key in known:
            known[key] = _known(known[key], keys)
    for key, keys in _LIST_ITEM_KEYS.items():
        if type(known.get(key)) is list:
            known[key] = [_known(item, keys) for item in known[key]]
    if "dialogue" in known:
        known["dialogue"] = _known_dialogue(known["dialogue"])
    return known


# --- fast acceptance of well-formed imported records ---------------------------------------
#
# An import validates 20-odd dialogue items a record: through DRF, ~160 field validations, most of
# the import's time. ``well_formed_session`` accepts a record that the serializer would accept, and
# returns exactly what the serializer would (same values, same key order, `ui` defaulted), in plain
# Python. It accepts a subset: anything it is not sure of (an error, an odd type) returns None, and
# the caller validates with UserSessionSerializer, which words the error and its path.

_SESSION_KEYS = frozenset(UserSessionSerializer._declared_fields)
_ITEM_KEYS = frozenset(_DIALOGUE_ITEM_KEYS)
_ITEM_KEYS_NO_UI = _ITEM_KEYS - {"ui"}
_CONTENT_TYPES = frozenset(ContentType.values)
_RESPONSE_MODES = frozenset(ResponseMode.values)
_TUTORIAL_KEYS = frozenset(("isTutorial", "tutorialId", "progress"))
_STATS_KEYS = frozenset(
    ("totalConnectingTime", "currentNumOfBlocks", "totalInvokedLLM", "totalUserMessages", "totalCodeExecutions")
)
_AUDIO_KEYS = frozenset(("id", "base64"))
_CLICK_KEYS = frozenset(("x", "y", "value", "timestamp"))
_USER_INFO_KEYS = frozenset(("id", "username", "image", "email"))
_SESSION_ID = re.compile(SESSION_ID_REGEX)
_NotSure = fastcheck.NotSure
_text, _timestamp = fastcheck.text, fastcheck.when


def _text_or_null(value, max_length=None):
    return None if value is None else _text(value, max_length)


def _bool(value):
    if type(value) is not bool:
        raise _NotSure
    return value


def _number(value):
    kind = type(value)
    if kind is float or (kind is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER):
        return value
    raise _NotSure


def _counter(value):
    if type(value) is not int or not 0 <= value <= MAX_SAFE_INTEGER:
        raise _NotSure
    return value


def _json(value):
    """Any JSON value AnyJSONField takes: storable text, safe integers, finite floats (DRF's
    JSONField refuses NaN and infinities)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if "\x00" in item or (not item.isascii() and _storable_text(item)):
                raise _NotSure
        elif kind is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                raise _NotSure
        elif kind is float:
            if not math.isfinite(item):
                raise _NotSure
        elif item is not None and kind is not bool:
            raise _NotSure
    return value


def _text_list(value):
    if value is None:
        return None
    if type(value) is not list:
        raise _NotSure
    return [_text(item) for item in value]


def _dialogue_item(item):
    if type(item) is not dict:
        raise _NotSure
    keys = item.keys()
    if keys != _ITEM_KEYS and keys != _ITEM_KEYS_NO_UI:
        raise _NotSure
    content = item["content"]
    if type(content) is str:
        _text(content)
    elif type(content) is list:
        if _depth(content) > 2 * MAX_DIALOGUE_DEPTH:
            raise _NotSure
        content = [_dialogue_item(child) for child in content]
    else:
        raise _NotSure
    content_type = item["contentType"]
    if type(content_type) is not str or content_type not in _CONTENT_TYPES:
        raise _NotSure
    validated = {
        "id": _counter(item["id"]),
        "contentType": content_type,
        "isUser": _bool(item["isUser"]),
        "content": content,
    }
    ui = item.get("ui")
    if ui is not None:
        validated["ui"] = _text(ui)
    return validated


def _dialogue(items):
    if items is None:
        return None
    if type(items) is not list:
        raise _NotSure
    return [_dialogue_item(item) for item in items]


def _keys(value, keys):
    if type(value) is not dict or value.keys() != keys:
        raise _NotSure
    return value


def _items(value, keys, build):
    if value is None:
        return None
    if type(value) is not list:
        raise _NotSure
    return [build(_keys(item, keys)) for item in value]


def _audio(clip):
    return {"id": _text(clip["id"], 200), "base64": _text(clip["base64"])}


def _click(click):
    return {
        "x": _number(click["x"]),
        "y": _number(click["y"]),
        "value": _number(click["value"]),
        "timestamp": _number(click["timestamp"]),
    }


def _user_info(value):
    if value is None:
        return None
    if type(value) is str:
        return _text(value, 200, blank=False)
    info = _keys(value, _USER_INFO_KEYS)
    return {
        "id": _text(info["id"], 200),
        "username": _text(info["username"], 200),
        "image": _text_or_null(info["image"]),
        "email": _text(info["email"], 320),
    }


def well_formed_session(record):
    """What ``UserSessionSerializer().run_validation(record)`` returns, or None when not sure."""
    try:
        if type(record) is not dict or record.keys() != _SESSION_KEYS:
            raise _NotSure
        session_id = record["sessionId"]
        if type(session_id) is not str or not _SESSION_ID.match(session_id) or session_id in RESERVED_SESSION_IDS:
            raise _NotSure
        workspace = record["workspace"]
        if workspace is not None and type(workspace) is not dict:
            raise _NotSure
        response_mode = record["responseMode"]
        if type(response_mode) is not str or response_mode not in _RESPONSE_MODES:
            raise _NotSure
        easy_mode = record["easyMode"]
        tutorial = _keys(record["tutorial"], _TUTORIAL_KEYS)
        tutorial_id = tutorial["tutorialId"]
        stats = _keys(record["stats"], _STATS_KEYS)
        return {
            "uuid": _text(record["uuid"], 64, blank=False),
            "sessionId": session_id,
            "name": _text_or_null(record["name"]),
            "dialogue": _dialogue(record["dialogue"]),
            "quickReplies": _text_list(record["quickReplies"]),
            "isReplying": _bool(record["isReplying"]),
            "workspace": _json(workspace),
            "isVMRunning": _bool(record["isVMRunning"]),
            "clients": _text_list(record["clients"]),
            "language": _text_or_null(record["language"]),
            "easyMode": None if easy_mode is None else _bool(easy_mode),
            "responseMode": response_mode,
            "llmContext": _text_or_null(record["llmContext"]),
            "tutorial": {
                "isTutorial": _bool(tutorial["isTutorial"]),
                "tutorialId": None if tutorial_id is None else _number(tutorial_id),
                "progress": _number(tutorial["progress"]),
            },
            "stats": {
                "totalConnectingTime": _number(stats["totalConnectingTime"]),
                "currentNumOfBlocks": _counter(stats["currentNumOfBlocks"]),
                "totalInvokedLLM": _counter(stats["totalInvokedLLM"]),
                "totalUserMessages": _counter(stats["totalUserMessages"]),
                "totalCodeExecutions": _counter(stats["totalCodeExecutions"]),
            },
            "audios": _items(record["audios"], _AUDIO_KEYS, _audio),
            "userAudio": _text_or_null(record["userAudio"]),
            "screenshot": _text_or_null(record["screenshot"]),
            "clicks": _items(record["clicks"], _CLICK_KEYS, _click),
            "userInfo": _user_info(record["userInfo"]),
            "createdAt": _timestamp(record["createdAt"]),
            "updatedAt": _timestamp(record["updatedAt"]),
        }
    except _NotSure:
        return None
