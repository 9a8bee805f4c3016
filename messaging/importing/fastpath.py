"""Fast acceptance of well-formed imported records.

Through DRF a record costs 15 field validations (~150 µs), most of an import's time.
``well_formed_flow`` accepts a record that ImportMessageFlowSerializer would accept and returns
exactly what it would (same values, same key order), in plain Python. It accepts a subset:
anything it is not sure of returns None, and the caller validates with the serializer, which
words the error and its path. tests/messaging/test_fast_validation.py holds the two together.
"""


import orjson

from flowdesk.importing.fastcheck import NotSure, choice, finite_json, no_nul_in_json, text, when
from messaging.api.serializers import settings_errors
from messaging.models import Direction, MessageChannel

DIRECTIONS = frozenset(Direction.values)
CHANNELS = frozenset(MessageChannel.values)
_MISSING = object()


def _settings(value):
    """MessageFlowSettingsField: kept as given; settings_errors finds nothing, JSON-dumpable, no NUL."""
    if type(value) is not dict or settings_errors(value):
        raise NotSure
    # What orjson writes json.dumps writes too (orjson refuses lone surrogates, ints past 64 bits
    # and depth past 255).
    dumped = orjson.dumps(value)
    no_nul_in_json(dumped)
    finite_json(value, dumped)
    return value


def well_formed_flow(record):
    """ImportMessageFlowSerializer's validated data for ``record``, or None when not sure."""
    try:
        get = record.get
        data = {
            "id": text(record["_id"], 64, blank=False),
            "workspace_id": text(record["workspaceId"], 64, blank=False),
            "name": text(record["name"], 200),
            "direction": choice(record["direction"], DIRECTIONS),
            "agent": text(record["agent"], 200, blank=False),
        }
        value = get("initiationMessage", _MISSING)
        if value is not _MISSING:
            data["initiation_message"] = text(value, null=True)
        data["prompt"] = text(record["prompt"])
        data["message_channel"] = choice(record["messageChannel"], CHANNELS)
        value = get("description", _MISSING)
        if value is not _MISSING:
            data["description"] = text(value, null=True)
        value = get("settings", _MISSING)
        if value is not _MISSING:
            data["settings"] = _settings(value)
        for key, name in (("isActive", "is_active"), ("autopilot", "autopilot")):
            value = get(key, _MISSING)
            if value is not _MISSING:
                if type(value) is not bool:
                    raise NotSure
                data[name] = value
        data["created_at"] = when(record["createdAt"])
        data["updated_at"] = when(record["updatedAt"])
        value = get("__v", _MISSING)
        if value is not _MISSING:
            if type(value) is not int or not 0 <= value <= 2**31 - 1:
                raise NotSure
            data["version"] = value
    except Exception:  # noqa: BLE001 - any doubt: the serializer decides (and words the error)
        return None
    return data
