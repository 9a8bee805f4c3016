"""The import's plain-Python acceptance of well-formed records agrees with UserSessionSerializer.

``well_formed_session`` may decline a record (the import then asks the serializer), but whatever
it accepts the serializer must accept too, with exactly the same validated data.
"""

import copy
import json

import pytest
from rest_framework import serializers

from sessions_app.api.serializers import UserSessionSerializer, well_formed_session

from .conftest import fixture_records

ODD_VALUES = [
    None, True, False, 0, -1, 1.5, 2**53 - 1, 2**53, -(2**53), float("inf"), float("nan"), "", " ", "x", "a" * 65, "a" * 201,
    "a" * 321, "nul\x00", "lone \ud800", "été", "new", "resume", "bad id!", "2023-11-07T05:31:56Z",
    "2023-11-07", "not a date", [], [None], [1, "x"], ["\x00"], [2**60], {}, {"a": 1}, {"a": "\x00"},
    {"id": "u", "username": None, "image": None, "email": None}, "user", "ai", "audio", "text",
]


def serializer_result(record):
    try:
        return True, UserSessionSerializer().run_validation(record)
    except serializers.ValidationError:
        return False, None


def ordered(value):
    """A comparable form that keeps key order (dict equality ignores it) and value types."""
    return json.dumps(value, default=repr, sort_keys=False)


def paths(value, prefix=()):
    """Every (path) to a value inside a record."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from paths(child, (*prefix, index))


def replaced(record, path, new):
    record = copy.deepcopy(record)
    target = record
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = copy.deepcopy(new)
    return record


def removed(record, path):
    record = copy.deepcopy(record)
    target = record
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return record


def variants():
    for record in fixture_records():
        yield record
        for path in paths(record):
            for value in ODD_VALUES:
                yield replaced(record, path, value)
            yield removed(record, path)
            if isinstance(path[-1], str):
                yield replaced(record, (*path[:-1], "extra"), 1)
        # repeated dialogue ids, top-level and nested: both kept as given
        if record["dialogue"]:
            yield replaced(record, ("dialogue", 1, "id"), record["dialogue"][0]["id"])
            yield replaced(record, ("dialogue", 1, "content"), [record["dialogue"][0]] * 2)


def nested(depth):
    content = "leaf"
    for _ in range(depth):
        content = [{"id": 1, "contentType": "group_log", "isUser": False, "content": content}]
    return content


@pytest.mark.parametrize("depth", [15, 16, 17])
def test_nesting_limit_is_the_serializers(depth):
    record = replaced(fixture_records()[0], ("dialogue", 0, "content"), nested(depth))
    accepted, data = serializer_result(record)
    fast = well_formed_session(record)
    assert accepted == (depth <= 15)  # the item's own level counts
    assert (fast is not None) == accepted
    if accepted:
        assert ordered(fast) == ordered(data)


def test_accepts_only_what_the_serializer_accepts_with_the_same_data():
    accepted_fast = refused = 0
    for record in variants():
        fast = well_formed_session(record)
        accepted, data = serializer_result(record)
        if fast is None:
            refused += 1
            continue
        accepted_fast += 1
        assert accepted, record
        assert ordered(fast) == ordered(data)
        assert fast == data
    # The fixture's records themselves take the fast path, and invalid variants do not.
    assert accepted_fast > len(fixture_records())
    assert refused > 0


def test_every_fixture_record_takes_the_fast_path():
    for record in fixture_records():
        assert well_formed_session(record) is not None
