"""The import's plain-Python acceptance of well-formed records agrees with ImportChatSessionSerializer.

``well_formed_chat_session`` may decline a record (the import then asks the serializer), but
whatever it accepts the serializer must accept too, with exactly the same validated data.
"""

import copy
import json

from rest_framework import serializers

from chat.api.serializers import ImportChatSessionSerializer, well_formed_chat_session

SESSION_ID = "session_1234567890_abc"
WORKFLOW_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def message(mid, role="user", at="2024-05-01T09:00:00Z", **extra):
    return {
        "id": mid, "content": "Build me a flow", "role": role, "sessionId": None, "workflowId": None,
        "organizationId": "org_vendor", "tokensUsed": 12, "imageUrls": ["https://example.com/a.png"],
        "createdAt": at, **extra,
    }


RECORDS = [
    # A list item as GET /sessions answers it (no messages).
    {
        "contextType": "session", "firstMessageAt": "2023-11-07T05:31:56Z", "lastMessageAt": "2023-11-07T05:41:56.5Z",
        "messageCount": 2, "preview": "Hello", "sessionId": SESSION_ID, "workflowId": None, "workflowName": None,
    },
    {
        "contextType": "workflow", "firstMessageAt": None, "lastMessageAt": None, "messageCount": 0,
        "preview": None, "sessionId": None, "workflowId": WORKFLOW_ID, "workflowName": "Onboarding",
    },
    # Items with their messages, and the fewest keys.
    {
        "contextType": "session", "sessionId": SESSION_ID,
        "messages": [
            message("0b5e3bb2-2b5f-4d5c-9c4b-0e6f5f4f3a11", sessionId=SESSION_ID),
            message("1c6f4cc3-3c60-4e6d-8d5c-1f706050b422", role="assistant", at="2024-05-01T09:00:01+02:00"),
        ],
    },
    {
        "contextType": "workflow", "workflowId": WORKFLOW_ID, "sessionId": "also_a_session",
        "messages": [
            {"id": "2d705dd4-4d71-4f7e-9e6d-20817161c533", "content": "", "role": "tool",
             "createdAt": "2024-05-01T09:00:00", "workflowId": WORKFLOW_ID},
        ],
    },
    {"contextType": "workflow", "workflowId": WORKFLOW_ID},
    # The keys the vendor added: a conversation, and a message's sender and linked run; "" for absent.
    {
        "contextType": "workflow", "conversationId": "4a8b2c1d-9e0f-4a1b-8c2d-3e4f5a6b7c8d", "sessionId": "",
        "workflowId": WORKFLOW_ID, "workflowName": "",
        "messages": [
            message("3e816ee5-5e82-4f8f-8f7e-31928272d644", conversationId="4a8b2c1d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
                    senderUserId="user_1", linkedRunId="run_1", linkedRunStatus="success",
                    linkedRunStartedAt="2024-05-01T09:00:00Z", linkedRunFinishedAt="2024-05-01T09:00:02.5Z"),
            message("4f927ff6-6f93-4090-9f8f-42a39383e755", role="assistant", conversationId="", senderUserId="",
                    linkedRunId="", linkedRunStatus="", linkedRunStartedAt="", linkedRunFinishedAt=None),
        ],
    },
]

ODD_VALUES = [
    None, True, False, 0, -1, 1, 1.5, 2_000_000_000, 2_000_000_001, 2**70, "", " ", "x", "a" * 129, "a" * 201,
    "a" * 2049, "nul\x00", "lone \ud800", "été", "session", "workflow", "user", "assistant", "bad id!", "ok\n",
    "_leading", SESSION_ID, WORKFLOW_ID, WORKFLOW_ID.upper(), WORKFLOW_ID.replace("-", ""), "{" + WORKFLOW_ID + "}",
    "0b5e3bb2-2b5f-4d5c-9c4b-0e6f5f4f3a11", "4a8b2c1d-9e0f-4a1b-8c2d-3e4f5a6b7c8d", "c" * 255, "c" * 256,
    "running", "cancelled", "2023-11-07T05:31:56Z", "2023-11-07", " 2023-11-07T05:31:56Z ",
    "2023-11-07T05:31:56+15:59", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "not a date", "2099-01-01T00:00:00Z",
    [], [None], ["x"], [""], ["\x00"], ["a" * 2049], {}, {"a": 1}, 12345678901234567890,
]


def serializer_result(record):
    try:
        return True, ImportChatSessionSerializer().run_validation(record)
    except serializers.ValidationError:
        return False, None


def ordered(value):
    """A comparable form that keeps key order (dict equality ignores it) and value types."""
    return json.dumps(value, default=lambda v: f"{type(v).__name__}:{v!r}", sort_keys=False)


def paths(value, prefix=()):
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
    for record in RECORDS:
        yield record
        for path in paths(record):
            for value in ODD_VALUES:
                yield replaced(record, path, value)
            yield removed(record, path)
            if isinstance(path[-1], str):
                yield replaced(record, (*path[:-1], "extra"), 1)
        for key in ("conversationId", "sessionId", "workflowId", "workflowName", "messages", "firstMessageAt",
                    "lastMessageAt"):
            for value in ODD_VALUES:
                yield replaced(record, (key,), value)
        if record.get("messages"):
            first = record["messages"][0]
            yield replaced(record, ("messages", 0, "id"), record["messages"][-1]["id"])  # a repeated id
            yield replaced(record, ("messages",), [first, {**first, "id": first["id"].upper()}])  # the same uuid
            yield replaced(record, ("messages",), [first] * 2)
            yield replaced(record, ("messages",), ["not an object"])


def test_accepts_only_what_the_serializer_accepts_with_the_same_data():
    accepted_fast = refused = 0
    for record in variants():
        fast = well_formed_chat_session(record)
        accepted, data = serializer_result(record)
        if fast is None:
            refused += 1
            continue
        accepted_fast += 1
        assert accepted, record
        assert ordered(fast) == ordered(data), record
        assert fast == data
    assert accepted_fast > 200
    assert refused > 200


def test_every_valid_variant_of_a_list_item_takes_the_fast_path():
    """The fast path only declines what the serializer refuses (for items without messages)."""
    for record in variants():
        if "messages" in record:
            continue
        accepted, data = serializer_result(record)
        assert (well_formed_chat_session(record) is not None) == accepted, record


def test_every_record_takes_the_fast_path():
    for record in RECORDS:
        assert well_formed_chat_session(record) is not None


def test_empty_strings_are_absent_on_both_paths():
    record = RECORDS[-1]
    fast, (accepted, data) = well_formed_chat_session(record), serializer_result(record)
    assert accepted
    for result in (fast, data):
        assert (result["sessionId"], result["workflowName"]) == (None, None)
        second = result["messages"][1]
        assert [second[key] for key in ("conversationId", "senderUserId", "linkedRunId", "linkedRunStatus",
                                        "linkedRunStartedAt")] == [None] * 5
