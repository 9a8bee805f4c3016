"""What the import reads: a record, taken by the fast path or else by UserSessionSerializer.

An import validates 20-odd dialogue items a record: through DRF, ~160 field validations, most of
the import's time. ``well_formed_session`` accepts a record that the serializer would accept, and
returns exactly what the serializer would (same values, same key order, `ui` defaulted), in plain
Python. It accepts a subset: anything it is not sure of (an error, an odd type) returns None, and
the caller validates with UserSessionSerializer, which words the error and its path.
tests/sessions_app/test_fast_validation.py holds the two together (flowdesk.importing.testing).
"""

import math
import re

from flowdesk.importing.command import serializer_errors
from flowdesk.importing.fastcheck import NotSure, choice, text, when
from sessions_app.api.serializers.dialogue import DialogueItemSerializer
from sessions_app.api.serializers.fields import MAX_DIALOGUE_DEPTH, MAX_SAFE_INTEGER, nesting_depth
from sessions_app.api.serializers.nested import (
    AudioSerializer,
    ClickSerializer,
    StatsSerializer,
    TutorialSerializer,
    UserInfoSerializer,
)
from sessions_app.api.serializers.sessions import (
    RESERVED_SESSION_IDS,
    SESSION_ID_REGEX,
    UserSessionSerializer,
)
from sessions_app.models import ContentType, ResponseMode

__all__ = [
    "validated_session", "well_formed_session",
]


def validated_session(record):
    """A record's validated data: the fast path's, or the serializer's (raising RecordError)."""
    data = well_formed_session(record)
    return serializer_errors(UserSessionSerializer, record) if data is None else data


# --- the fast path -------------------------------------------------------------------------------

def _keys_of(serializer_class):
    return frozenset(serializer_class._declared_fields)


_SESSION_KEYS = _keys_of(UserSessionSerializer)
_ITEM_KEYS = _keys_of(DialogueItemSerializer)
_ITEM_KEYS_NO_UI = _ITEM_KEYS - {"ui"}
_TUTORIAL_KEYS, _STATS_KEYS = _keys_of(TutorialSerializer), _keys_of(StatsSerializer)
_AUDIO_KEYS, _CLICK_KEYS, _USER_INFO_KEYS = _keys_of(AudioSerializer), _keys_of(ClickSerializer), _keys_of(UserInfoSerializer)
_CONTENT_TYPES = frozenset(ContentType.values)
_RESPONSE_MODES = frozenset(ResponseMode.values)
_SESSION_ID = re.compile(SESSION_ID_REGEX)


def _text_or_null(value, max_length=None):
    return text(value, max_length, null=True)


def _bool(value):
    if type(value) is not bool:
        raise NotSure
    return value


def _number(value):
    kind = type(value)
    if kind is float or (kind is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER):
        return value
    raise NotSure


def _counter(value):
    if type(value) is not int or not 0 <= value <= MAX_SAFE_INTEGER:
        raise NotSure
    return value


def _json(value):
    """Any JSON value AnyJSONField takes: storable text, safe integers, finite floats (DRF's
    JSONField refuses NaN and infinities)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            text(item)
        elif kind is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            _number(item)
        elif kind is float:
            if not math.isfinite(item):
                raise NotSure
        elif item is not None and kind is not bool:
            raise NotSure
    return value


def _list_of(value, build):
    """A list (or null) of what ``build`` accepts, as it returns them."""
    if value is None:
        return None
    if type(value) is not list:
        raise NotSure
    return [build(item) for item in value]


def _keys(value, keys):
    if type(value) is not dict or value.keys() != keys:
        raise NotSure
    return value


def _dialogue_item(item):
    if type(item) is not dict:
        raise NotSure
    keys = item.keys()
    if keys != _ITEM_KEYS and keys != _ITEM_KEYS_NO_UI:
        raise NotSure
    content = item["content"]
    if type(content) is str:
        text(content)
    elif type(content) is list:
        if nesting_depth(content) > 2 * MAX_DIALOGUE_DEPTH:
            raise NotSure
        content = [_dialogue_item(child) for child in content]
    else:
        raise NotSure
    validated = {
        "id": _counter(item["id"]),
        "contentType": choice(item["contentType"], _CONTENT_TYPES),
        "isUser": _bool(item["isUser"]),
        "content": content,
    }
    ui = item.get("ui")
    if ui is not None:
        validated["ui"] = text(ui)
    return validated


def _audio(clip):
    clip = _keys(clip, _AUDIO_KEYS)
    return {"id": text(clip["id"], 200), "base64": text(clip["base64"])}


def _click(click):
    click = _keys(click, _CLICK_KEYS)
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
        return text(value, 200, blank=False)
    info = _keys(value, _USER_INFO_KEYS)
    return {
        "id": text(info["id"], 200),
        "username": text(info["username"], 200),
        "image": _text_or_null(info["image"]),
        "email": text(info["email"], 320),
    }


def well_formed_session(record):
    """What ``UserSessionSerializer().run_validation(record)`` returns, or None when not sure."""
    try:
        if type(record) is not dict or record.keys() != _SESSION_KEYS:
            raise NotSure
        session_id = record["sessionId"]
        if type(session_id) is not str or not _SESSION_ID.match(session_id) or session_id in RESERVED_SESSION_IDS:
            raise NotSure
        workspace = record["workspace"]
        if workspace is not None and type(workspace) is not dict:
            raise NotSure
        easy_mode = record["easyMode"]
        tutorial = _keys(record["tutorial"], _TUTORIAL_KEYS)
        tutorial_id = tutorial["tutorialId"]
        stats = _keys(record["stats"], _STATS_KEYS)
        return {
            "uuid": text(record["uuid"], 64, blank=False),
            "sessionId": session_id,
            "name": _text_or_null(record["name"]),
            "dialogue": _list_of(record["dialogue"], _dialogue_item),
            "quickReplies": _list_of(record["quickReplies"], text),
            "isReplying": _bool(record["isReplying"]),
            "workspace": _json(workspace),
            "isVMRunning": _bool(record["isVMRunning"]),
            "clients": _list_of(record["clients"], text),
            "language": _text_or_null(record["language"]),
            "easyMode": None if easy_mode is None else _bool(easy_mode),
            "responseMode": choice(record["responseMode"], _RESPONSE_MODES),
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
            "audios": _list_of(record["audios"], _audio),
            "userAudio": _text_or_null(record["userAudio"]),
            "screenshot": _text_or_null(record["screenshot"]),
            "clicks": _list_of(record["clicks"], _click),
            "userInfo": _user_info(record["userInfo"]),
            "createdAt": when(record["createdAt"]),
            "updatedAt": when(record["updatedAt"]),
        }
    except NotSure:
        return None
