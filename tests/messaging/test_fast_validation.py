"""The import's plain-Python acceptance of well-formed records agrees with ImportMessageFlowSerializer.

``well_formed_flow`` may decline a record (the import then asks the serializer), but whatever it
accepts the serializer must accept too, with exactly the same validated data (values, types and
key order).
"""

import copy
import json
from pathlib import Path

from rest_framework import serializers

from messaging.importing.fastpath import well_formed_flow
from messaging.importing.serializers import ImportMessageFlowSerializer

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "message_flows.json"

ODD_VALUES = [
    None, True, False, 0, -1, 1, 1.5, 2**31 - 1, 2**31, 2**63, 2**64 + 1, float("inf"), float("nan"), "", " ", "x",
    "a" * 64, "a" * 65, "a" * 200, "a" * 201, "nul\x00", "lone \ud800", "été", "back\\u0000slash", "SMS", "Email",
    "sms", "inbound", "outbound", "bidirectional", "Inbound", "2023-11-07T05:31:56Z", "2023-11-07T05:31:56.123456Z",
    "2023-11-07T05:31:56+02:00", "2023-11-07", " 2023-11-07T05:31:56Z", "2023-11-07T05:31:56z", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z", "not a date", [], [None], ["\x00"], {}, {"a": 1}, {"a": "\x00"}, {"a\x00": 1},
    {"a": "\ud800"}, {"a": 2**70}, {"responseSettings": None}, {"responseSettings": {}}, {"security": []},
    {"emailSettings": "x"}, {"emailSettings": {"signature": "x"}, "other": [1, 2]},
]

DOCUMENTED_KEYS = {
    "responseSettings": ["delay", "workingHours", "enabled", "start", "end", "timezone", "outOfHoursMessage"],
    "workingHours": ["enabled", "start", "end", "timezone", "outOfHoursMessage"],
    "security": ["hipaaCompliance"],
    "emailSettings": ["subjectLine", "signature"],
}


def settings_with(section, key, value):
    if section == "workingHours":
        return {"responseSettings": {"delay": 0, "workingHours": {key: value}}}
    return {section: {key: value}}


KEYS = [
    "_id", "workspaceId", "name", "direction", "description", "agent", "settings", "prompt", "isActive", "autopilot",
    "messageChannel", "createdAt", "updatedAt", "initiationMessage", "__v",
]


def base_records():
    records = json.loads(FIXTURE.read_text())
    # GET one's shape too: initiationMessage and __v present.
    return [*records, {**records[0], "initiationMessage": "Hi!", "__v": 3}, {**records[-1], "initiationMessage": None}]


def serializer_result(record):
    try:
        return True, ImportMessageFlowSerializer().run_validation(record)
    except serializers.ValidationError:
        return False, None


def ordered(value):
    """A comparable form that keeps key order and value types (dict equality ignores both)."""
    return json.dumps(value, default=repr) + repr([type(v) for v in value.values()])


def variants():
    for record in base_records():
        yield record
        for key in KEYS:
            for value in ODD_VALUES:
                yield {**record, key: copy.deepcopy(value)}
            yield {name: value for name, value in record.items() if name != key}
        for section in ("responseSettings", "security", "emailSettings"):
            for value in ODD_VALUES:
                yield {**record, "settings": {section: copy.deepcopy(value)}}
        # The documented keys of each section, and the working hours nested and flat.
        for section, keys in DOCUMENTED_KEYS.items():
            for key in keys:
                for value in ODD_VALUES:
                    yield {**record, "settings": settings_with(section, key, copy.deepcopy(value))}
        yield {**record, "extra": 1}
        yield {**record, "settings": {"deep": [[[[{"x": "\x00"}]]]]}}


def test_fast_path_accepts_only_what_the_serializer_accepts_with_the_same_data():
    accepted = declined = 0
    for record in variants():
        fast = well_formed_flow(copy.deepcopy(record))
        ok, expected = serializer_result(copy.deepcopy(record))
        if fast is None:
            declined += 1
            continue
        accepted += 1
        assert ok, f"fast path accepted what the serializer refuses: {record!r}"
        assert ordered(fast) == ordered(expected), record
    # The usual records take the fast path; the test is not vacuous either way.
    assert accepted > 300 and declined > 300, (accepted, declined)


def test_fast_path_takes_every_documented_record():
    for record in base_records():
        assert well_formed_flow(record) is not None, record


# Kept exactly as given: no defaults, flat working hours not nested (the API's create does both).
AS_GIVEN = [
    {},
    {"security": {}},
    {"responseSettings": {"enabled": True, "start": "08:00"}},
    {"responseSettings": {"delay": 1.5, "workingHours": {"enabled": True}}, "emailSettings": None, "x": [1]},
]


def test_both_paths_keep_settings_exactly_as_given():
    record = json.loads(FIXTURE.read_text())[0]
    for settings in AS_GIVEN:
        fast = well_formed_flow({**record, "settings": copy.deepcopy(settings)})
        ok, expected = serializer_result({**record, "settings": copy.deepcopy(settings)})
        assert fast is not None and ok
        assert fast["settings"] == expected["settings"] == settings
        assert ordered(fast["settings"]) == ordered(settings)
