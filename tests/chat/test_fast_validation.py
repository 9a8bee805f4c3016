"""The import's plain-Python acceptance of well-formed records agrees with ImportChatSessionSerializer.

``well_formed_chat_session`` may decline a record (the import then asks the serializer), but
whatever it accepts the serializer must accept too, with exactly the same validated data. The
shared harness (flowdesk.importing.testing) varies every key of every record.
"""

from chat.importing.fastpath import well_formed_chat_session
from chat.importing.serializers import ImportChatSessionSerializer
from flowdesk.importing.testing import ODD_VALUES, FastPathHarness, replaced

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

# Besides the shared odd values: the family's bounds, choices and ids (in other spellings too),
# its client-id alphabet and lengths, and a long image URL in a list.
CHAT_ODD_VALUES = [
    *ODD_VALUES, 2_000_000_000, "session", "workflow", "user", "assistant", "_leading", SESSION_ID, WORKFLOW_ID,
    WORKFLOW_ID.upper(), WORKFLOW_ID.replace("-", ""), "{" + WORKFLOW_ID + "}", "0b5e3bb2-2b5f-4d5c-9c4b-0e6f5f4f3a11",
    "4a8b2c1d-9e0f-4a1b-8c2d-3e4f5a6b7c8d", "c" * 255, "c" * 256, "running", "cancelled", "2099-01-01T00:00:00Z",
    ["a" * 2049],
]
# Keys tried with every odd value even where a record lacks them.
TOP_LEVEL_KEYS = ("conversationId", "sessionId", "workflowId", "workflowName", "messages", "firstMessageAt",
                  "lastMessageAt")


def validated(record):
    return ImportChatSessionSerializer().run_validation(record)


def repeated_message_ids(record):
    """Messages repeating an id (in another spelling too), and a message that is not an object."""
    if record.get("messages"):
        first = record["messages"][0]
        yield replaced(record, ("messages", 0, "id"), record["messages"][-1]["id"])  # a repeated id
        yield replaced(record, ("messages",), [first, {**first, "id": first["id"].upper()}])  # the same uuid
        yield replaced(record, ("messages",), [first] * 2)
        yield replaced(record, ("messages",), ["not an object"])


def harness():
    return FastPathHarness(well_formed_chat_session, validated, RECORDS, odd_values=CHAT_ODD_VALUES,
                           extra_variants=repeated_message_ids, top_level_keys=TOP_LEVEL_KEYS)


def test_accepts_only_what_the_serializer_accepts_with_the_same_data():
    check = harness()
    check.check(min_fast=201, min_refused=201)
    # Beyond the key order and value types the harness compares: equal as values too.
    for record in check.variants():
        fast = check.run_fast(record)
        if fast is not None:
            assert fast == check.run_serializer(record)[1], record


def test_every_valid_variant_of_a_list_item_takes_the_fast_path():
    """The fast path only declines what the serializer refuses (for items without messages)."""
    check = harness()
    for record in check.variants():
        if "messages" in record:
            continue
        accepted, _ = check.run_serializer(record)
        assert (check.run_fast(record) is not None) == accepted, record


def test_every_record_takes_the_fast_path():
    for record in RECORDS:
        assert well_formed_chat_session(record) is not None


def test_empty_strings_are_absent_on_both_paths():
    check = harness()
    record = RECORDS[-1]
    fast, (accepted, data) = check.run_fast(record), check.run_serializer(record)
    assert accepted
    for result in (fast, data):
        assert (result["sessionId"], result["workflowName"]) == (None, None)
        second = result["messages"][1]
        assert [second[key] for key in ("conversationId", "senderUserId", "linkedRunId", "linkedRunStatus",
                                        "linkedRunStartedAt")] == [None] * 5
