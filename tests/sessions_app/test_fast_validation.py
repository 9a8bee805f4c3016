"""The import's plain-Python acceptance of well-formed records agrees with UserSessionSerializer.

``well_formed_session`` may decline a record (the import then asks the serializer), but whatever
it accepts the serializer must accept too, with exactly the same validated data. The shared
harness (flowdesk.importing.testing) varies every key of every fixture record.
"""

import pytest

from flowdesk.importing.testing import ODD_VALUES, FastPathHarness, ordered, replaced
from sessions_app.api.serializers import UserSessionSerializer
from sessions_app.importing.fastpath import well_formed_session

from .conftest import fixture_records

# Besides the shared odd values: the family's bounds (2**53 - 1 is the largest integer taken), its
# reserved ids and choices, numbers nested in lists, a user info object with nulls.
SESSION_ODD_VALUES = [
    *ODD_VALUES, 2**53 - 1, -(2**53), "a" * 321, "new", "resume", [2**60],
    {"id": "u", "username": None, "image": None, "email": None}, "user", "ai", "audio", "text",
]


def validated(record):
    return UserSessionSerializer().run_validation(record)


def repeated_dialogue_ids(record):
    """Repeated dialogue ids, top-level and nested: both kept as given."""
    if record["dialogue"]:
        yield replaced(record, ("dialogue", 1, "id"), record["dialogue"][0]["id"])
        yield replaced(record, ("dialogue", 1, "content"), [record["dialogue"][0]] * 2)


def harness():
    return FastPathHarness(
        fast=well_formed_session,
        serializer=validated,
        records=fixture_records(),
        odd_values=SESSION_ODD_VALUES,
        extra_variants=repeated_dialogue_ids,
    )


def nested(depth):
    content = "leaf"
    for _ in range(depth):
        content = [{"id": 1, "contentType": "group_log", "isUser": False, "content": content}]
    return content


@pytest.mark.parametrize("depth", [15, 16, 17])
def test_nesting_limit_is_the_serializers(depth):
    record = replaced(fixture_records()[0], ("dialogue", 0, "content"), nested(depth))
    check = harness()
    accepted, data = check.run_serializer(record)
    fast = check.run_fast(record)
    assert accepted == (depth <= 15)  # the item's own level counts
    assert (fast is not None) == accepted
    if accepted:
        assert ordered(fast) == ordered(data)


def test_accepts_only_what_the_serializer_accepts_with_the_same_data():
    # The harness compares `ordered` forms (key order and value types kept): stricter than ==.
    harness().check()


def test_every_fixture_record_takes_the_fast_path():
    for record in fixture_records():
        assert well_formed_session(record) is not None
