"""The import's plain-Python acceptance of well-formed records agrees with ImportMessageFlowSerializer.

``well_formed_flow`` may decline a record (the import then asks the serializer), but whatever it
accepts the serializer must accept too, with exactly the same validated data (values, types and
key order). The shared harness varies every key; the variants here reach inside settings.
"""

import copy
import json
from pathlib import Path

from flowdesk.importing.testing import ODD_VALUES as SHARED_ODD_VALUES
from flowdesk.importing.testing import FastPathHarness, ordered
from messaging.importing.fastpath import well_formed_flow
from messaging.importing.serializers import ImportMessageFlowSerializer

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "message_flows.json"

# The family's odd values (its bounds, enumerations and settings sections), then the shared ones.
ODD_VALUES = [
    None, True, False, 0, -1, 1, 1.5, 2**31 - 1, 2**31, 2**63, 2**64 + 1, float("inf"), float("nan"), "", " ", "x",
    "a" * 64, "a" * 65, "a" * 200, "a" * 201, "nul\x00", "lone \ud800", "été", "back\\u0000slash", "SMS", "Email",
    "sms", "inbound", "outbound", "bidirectional", "Inbound", "2023-11-07T05:31:56Z", "2023-11-07T05:31:56.123456Z",
    "2023-11-07T05:31:56+02:00", "2023-11-07", " 2023-11-07T05:31:56Z", "2023-11-07T05:31:56z", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z", "not a date", [], [None], ["\x00"], {}, {"a": 1}, {"a": "\x00"}, {"a\x00": 1},
    {"a": "\ud800"}, {"a": 2**70}, {"responseSettings": None}, {"responseSettings": {}}, {"security": []},
    {"emailSettings": "x"}, {"emailSettings": {"signature": "x"}, "other": [1, 2]},
]
ODD_VALUES += [value for value in SHARED_ODD_VALUES if ordered(value) not in {ordered(odd) for odd in ODD_VALUES}]

DOCUMENTED_KEYS = {
    "responseSettings": ["delay", "workingHours", "enabled", "start", "end", "timezone", "outOfHoursMessage"],
    "workingHours": ["enabled", "start", "end", "timezone", "outOfHoursMessage"],
    "security": ["hipaaCompliance"],
    "emailSettings": ["subjectLine", "signature"],
}

KEYS = (
    "_id", "workspaceId", "name", "direction", "description", "agent", "settings", "prompt", "isActive", "autopilot",
    "messageChannel", "createdAt", "updatedAt", "initiationMessage", "__v",
)


def settings_with(section, key, value):
    if section == "workingHours":
        return {"responseSettings": {"delay": 0, "workingHours": {key: value}}}
    return {section: {key: value}}


def settings_variants(record):
    """Inside settings: each section, and each documented key (working hours nested and flat), odd."""
    for section in ("responseSettings", "security", "emailSettings"):
        for value in ODD_VALUES:
            yield {**record, "settings": {section: copy.deepcopy(value)}}
    for section, keys in DOCUMENTED_KEYS.items():
        for key in keys:
            for value in ODD_VALUES:
                yield {**record, "settings": settings_with(section, key, copy.deepcopy(value))}
    yield {**record, "settings": {"deep": [[[[{"x": "\x00"}]]]]}}


def base_records():
    records = json.loads(FIXTURE.read_text())
    # GET one's shape too: initiationMessage and __v present.
    return [*records, {**records[0], "initiationMessage": "Hi!", "__v": 3}, {**records[-1], "initiationMessage": None}]


HARNESS = FastPathHarness(
    fast=well_formed_flow,
    serializer=ImportMessageFlowSerializer().run_validation,
    records=base_records(),
    odd_values=ODD_VALUES,
    extra_variants=settings_variants,
    top_level_keys=KEYS,
)


def test_fast_path_accepts_only_what_the_serializer_accepts_with_the_same_data():
    taken, _ = HARNESS.check(min_fast=301, min_refused=301)
    # The usual records take the fast path, and it declines many: not vacuous either way.
    declined = sum(1 for _ in HARNESS.variants()) - taken
    assert declined > 300, declined


def test_fast_path_takes_every_documented_record():
    for record in base_records():
        assert HARNESS.run_fast(record) is not None, record


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
        fast = HARNESS.run_fast({**record, "settings": settings})
        ok, expected = HARNESS.run_serializer({**record, "settings": settings})
        assert fast is not None and ok
        assert fast["settings"] == expected["settings"] == settings
        assert ordered(fast["settings"]) == ordered(settings)
