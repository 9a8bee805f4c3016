import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Organization
from chat.models import ChatMessage, ChatSession, Workflow
from tests.chat.factories import HISTORY_URL, LIST_URL
from tests.conftest import make_tenant

pytestmark = pytest.mark.django_db

FIXTURES = __import__("pathlib").Path(__file__).resolve().parent.parent / "fixtures"
ORG = "org_u13TesTDumMyEe5P"
WORKFLOW_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def run(path, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_chat_sessions", str(path), "--org", ORG, "--no-progress", *args, stdout=out, stderr=err)
    return out.getvalue().strip().splitlines()[-1], err.getvalue()


def write(tmp_path, data, name="chats.json"):
    path = tmp_path / name
    if name.endswith(".jsonl"):
        path.write_text("\n".join(json.dumps(item) for item in data) + "\n")
    else:
        path.write_text(json.dumps(data))
    return path


def message(mid, content, role="user", at="2024-05-01T09:00:00Z", **extra):
    return {
        "id": mid, "content": content, "role": role, "sessionId": extra.pop("sessionId", None),
        "workflowId": extra.pop("workflowId", None), "organizationId": "org_vendor", "tokensUsed": None,
        "imageUrls": [], "createdAt": at, **extra,
    }


def test_the_documented_example_imports_and_lists_back_equal():
    summary, err = run(FIXTURES / "chat_sessions_example.json")
    assert summary == "created 1, updated 0, unchanged 0"
    assert f"Created organization {ORG}." in err
    tenant = make_tenant_in_existing_org()
    expected = json.loads((FIXTURES / "chat_sessions_example.json").read_text())["data"]["items"]
    # The page's keys, and conversationId (null: the page's example names no conversation).
    assert tenant.client.get(LIST_URL).json()["data"]["items"] == [{**item, "conversationId": None} for item in expected]
    # Re-importing the same file (here its bare data.items array) changes nothing.
    assert run(FIXTURES / "chat_sessions_example.json")[0] == "created 0, updated 0, unchanged 1"


def make_tenant_in_existing_org():
    """A key for the organization the import created."""
    from django.contrib.auth import get_user_model

    from accounts.models import ApiKey, Membership
    from tests.conftest import key_client

    user = get_user_model().objects.create_user(username="importer")
    organization = Organization.objects.get(pk=ORG)
    Membership.objects.create(user=user, organization=organization)
    _, raw = ApiKey.generate(user=user, organization=organization)

    class T:
        client = key_client(raw)

    return T


def test_the_literal_vendor_placeholders_are_refused_with_the_field_path():
    with pytest.raises(CommandError) as exc:
        run(FIXTURES / "chat_sessions.json")
    assert str(exc.value).startswith('session #1 (sessionId <string>): contextType: "<string>" is not a valid choice.')
    assert ChatSession.objects.count() == 0


def test_items_with_messages_get_computed_summaries_and_their_history(tmp_path):
    items = [
        {
            "contextType": "session", "sessionId": "session_1718_x", "workflowId": None, "workflowName": None,
            "messageCount": 999, "firstMessageAt": None, "lastMessageAt": None, "preview": "ignored",
            "messages": [
                message("6f1c2b0e-0000-4000-8000-000000000002", "Sure!", role="assistant",
                        at="2024-05-01T09:01:00Z", sessionId="session_1718_x", tokensUsed=30),
                message("6f1c2b0e-0000-4000-8000-000000000001", "Build me " + "a" * 120,
                        sessionId="session_1718_x", imageUrls=["https://x.test/1.png"]),
                message("6f1c2b0e-0000-4000-8000-000000000003", "Thanks", at="2024-05-01T09:02:30.5Z"),
            ],
        },
        {
            "contextType": "workflow", "sessionId": None, "workflowId": WORKFLOW_ID, "workflowName": "Digest",
            "messageCount": 4, "firstMessageAt": "2024-04-01T08:00:00Z", "lastMessageAt": "2024-04-02T08:00:00Z",
            "preview": "Given preview",
        },
    ]
    path = write(tmp_path, items)
    assert run(path)[0] == "created 2, updated 0, unchanged 0"
    tenant = make_tenant_in_existing_org()
    listed = tenant.client.get(LIST_URL).json()["data"]["items"]
    assert listed == [
        {
            "contextType": "session", "conversationId": None, "firstMessageAt": "2024-05-01T09:00:00Z",
            "lastMessageAt": "2024-05-01T09:02:30.500000Z".replace("500000", "5"), "messageCount": 3,
            "preview": "Build me " + "a" * 91, "sessionId": "session_1718_x", "workflowId": None,
            "workflowName": None,
        },
        {
            "contextType": "workflow", "conversationId": None, "firstMessageAt": "2024-04-01T08:00:00Z",
            "lastMessageAt": "2024-04-02T08:00:00Z", "messageCount": 4, "preview": "Given preview",
            "sessionId": None, "workflowId": WORKFLOW_ID, "workflowName": "Digest",
        },
    ]
    history = tenant.client.get(HISTORY_URL + "?sessionId=session_1718_x").json()["data"]
    assert [(m["content"][:8], m["role"], m["tokensUsed"], m["imageUrls"]) for m in history] == [
        ("Build me", "user", None, ["https://x.test/1.png"]),
        ("Sure!", "assistant", 30, []),
        ("Thanks", "user", None, []),
    ]
    assert {m["organizationId"] for m in history} == {ORG}
    assert Workflow.objects.get().name == "Digest"

    # Same file: unchanged. Then one message dropped and the workflow renamed: both sessions updated,
    # the dropped message is gone and the summary follows.
    assert run(path)[0] == "created 0, updated 0, unchanged 2"
    items[0]["messages"].pop(1)
    items[1]["workflowName"] = "Digest v2"
    assert run(write(tmp_path, items, "chats.jsonl"))[0] == "created 0, updated 2, unchanged 0"
    session = ChatSession.objects.get(session_id="session_1718_x")
    assert (session.message_count, session.preview) == (2, "Thanks")
    assert ChatMessage.objects.count() == 2
    assert Workflow.objects.get().name == "Digest v2"


def test_dry_run_writes_nothing():
    run(FIXTURES / "chat_sessions_example.json", "--dry-run")
    assert ChatSession.objects.count() == Workflow.objects.count() == 0


def item(**overrides):
    base = {"contextType": "session", "sessionId": "session_1", "workflowId": None, "workflowName": None,
            "messageCount": 0, "firstMessageAt": None, "lastMessageAt": None, "preview": None}
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("records", "error"),
    [
        ([item(), item(contextType="chat")], 'session #2 (sessionId session_1): contextType: "chat" is not a valid choice.'),
        ([item(sessionId=None)], "session #1: sessionId: Required when contextType is 'session'."),
        ([item(contextType="workflow")], "session #1 (sessionId session_1): workflowId: Required when contextType is 'workflow'."),
        ([item(messageCount="3")], "session #1 (sessionId session_1): messageCount: A valid integer is required."),
        ([item(lastMessageAt="yesterday")], "session #1 (sessionId session_1): lastMessageAt: Datetime has wrong format. Use one of these formats instead: ISO 8601."),
        ([item(), item()], "session #2 (sessionId session_1): sessionId: this session appears earlier in the file."),
        ([item(messages=[message("6f1c2b0e-0000-4000-8000-000000000001", "x", role="robot")])],
         'session #1 (sessionId session_1): messages.0.role: "robot" is not a valid choice.'),
        ([item(messages=[message("6f1c2b0e-0000-4000-8000-000000000001", "x", sessionId="session_2")])],
         "session #1 (sessionId session_1): messages.0.sessionId: Differs from the session's sessionId."),
        ([item(messages=[message("bad", "x")])], "session #1 (sessionId session_1): messages.0.id: Must be a valid UUID."),
        (["a string"], "session #1: (record): must be a JSON object."),
    ],
)
def test_bad_records_stop_the_import_naming_record_and_field(tmp_path, records, error):
    with pytest.raises(CommandError) as exc:
        run(write(tmp_path, records))
    # The message is the validator's own sentence; the command adds ". Nothing was imported."
    assert str(exc.value).startswith(error.rstrip("."))
    assert str(exc.value).endswith(" Nothing was imported.")
    assert ChatSession.objects.count() == ChatMessage.objects.count() == Workflow.objects.count() == 0


def test_a_workflow_id_another_organization_uses_is_imported_as_this_ones(tmp_path, other_tenant):
    from chat.services import post_message

    post_message(other_tenant.organization, workflow_id=uuid.UUID(WORKFLOW_ID), workflow_name="Theirs", role="user",
                 content="their message")
    records = [item(contextType="workflow", sessionId=None, workflowId=WORKFLOW_ID, workflowName="Mine", messages=[
        message("6f1c2b0e-0000-4000-8000-000000000021", "my message", workflowId=WORKFLOW_ID)])]
    assert run(write(tmp_path, records))[0] == "created 1, updated 0, unchanged 0"
    assert run(write(tmp_path, records))[0] == "created 0, updated 0, unchanged 1"
    assert sorted(Workflow.objects.values_list("organization_id", "name")) == [
        (other_tenant.organization.pk, "Theirs"), (ORG, "Mine")]
    assert {str(w.uuid) for w in Workflow.objects.all()} == {WORKFLOW_ID}
    tenant = make_tenant_in_existing_org()
    mine = tenant.client.get(HISTORY_URL + f"?workflowId={WORKFLOW_ID}").json()["data"]
    theirs = other_tenant.client.get(HISTORY_URL + f"?workflowId={WORKFLOW_ID}").json()["data"]
    assert ([m["content"] for m in mine], [m["content"] for m in theirs]) == (["my message"], ["their message"])
    assert [i["workflowName"] for i in other_tenant.client.get(LIST_URL).json()["data"]["items"]] == ["Theirs"]


def test_another_organizations_message_is_refused(tmp_path, other_tenant):
    from chat.services import post_message

    other = post_message(other_tenant.organization, workflow_id=uuid.UUID(WORKFLOW_ID), role="user", content="x")
    with pytest.raises(CommandError) as exc:
        run(write(tmp_path, [item(messages=[message(str(other.id), "stolen")])]))
    assert "messages.0.id: this message belongs to another chat session" in str(exc.value)
    assert ChatSession.objects.filter(organization_id=ORG).count() == 0
    assert ChatMessage.objects.get().content == "x"


def test_reads_a_bare_items_array_from_stdin(monkeypatch):
    data = json.dumps([item(sessionId="session_stdin", messageCount=2, preview="hi",
                            firstMessageAt="2024-01-01T00:00:00Z", lastMessageAt="2024-01-01T00:05:00Z")])

    class Stdin:
        buffer = io.BytesIO(data.encode())

    monkeypatch.setattr("sys.stdin", Stdin)
    assert run("-")[0] == "created 1, updated 0, unchanged 0"
    session = ChatSession.objects.get()
    assert (session.session_id, session.message_count, session.preview) == ("session_stdin", 2, "hi")


def test_an_existing_organization_is_used(tmp_path):
    make_tenant(ORG, "owner")
    _, err = run(write(tmp_path, [item()]))
    assert "Created organization" not in err
    assert ChatSession.objects.get().organization_id == ORG


CONVERSATION_ID = "4a8b2c1d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"


def zero_values_items():
    """A vendor export that writes Go's zero value, "", for what is absent."""
    return [
        {"contextType": "session", "sessionId": "session_z", "workflowId": "", "workflowName": "",
         "conversationId": "", "messageCount": 1, "firstMessageAt": "2024-05-01T09:00:00Z",
         "lastMessageAt": "2024-05-01T09:00:00Z", "preview": "hi",
         "messages": [message("6f1c2b0e-0000-4000-8000-00000000000a", "hi", sessionId="", workflowId="",
                              conversationId="", senderUserId="", linkedRunId="", linkedRunStatus="",
                              linkedRunStartedAt="", linkedRunFinishedAt="")]},
        {"contextType": "workflow", "sessionId": "", "workflowId": WORKFLOW_ID, "workflowName": "",
         "messageCount": 0, "firstMessageAt": None, "lastMessageAt": None, "preview": None},
    ]


@pytest.mark.parametrize("path", ["fast", "serializer"])
def test_empty_strings_are_read_as_absent(tmp_path, monkeypatch, path):
    if path == "serializer":  # the path an unusual record takes: the serializer validates it
        monkeypatch.setattr("chat.management.commands.import_chat_sessions.well_formed_chat_session", lambda r: None)
    assert run(write(tmp_path, zero_values_items()))[0] == "created 2, updated 0, unchanged 0"
    session, workflow_chat = ChatSession.objects.order_by("context_type")
    assert (session.session_id, session.workflow_id, session.conversation_id) == ("session_z", None, None)
    assert (workflow_chat.session_id, str(workflow_chat.workflow.uuid)) == (None, WORKFLOW_ID)
    assert Workflow.objects.get().name is None
    stored = ChatMessage.objects.get()
    assert (stored.sender_user_id, stored.linked_run_id, stored.linked_run_status, stored.linked_run_started_at) == (
        None, None, None, None)
    tenant = make_tenant_in_existing_org()
    items = tenant.client.get(LIST_URL).json()["data"]["items"]
    assert [(i["sessionId"], i["workflowId"], i["workflowName"], i["conversationId"]) for i in items] == [
        (None, WORKFLOW_ID, None, None), ("session_z", None, None, None)]  # the one without messages: created now
    # "" is absent, not a value to compare: re-importing the file changes nothing.
    assert run(write(tmp_path, zero_values_items()))[0] == "created 0, updated 0, unchanged 2"


def test_an_empty_session_id_is_no_session_id():
    from chat.importing.fastpath import well_formed_chat_session
    from chat.importing.serializers import ImportChatSessionSerializer

    record = {"contextType": "session", "sessionId": ""}
    assert well_formed_chat_session(record) is None
    serializer = ImportChatSessionSerializer(data=record)
    assert not serializer.is_valid()
    assert serializer.errors == {"sessionId": ["Required when contextType is 'session'."]}


def test_conversation_and_run_links_import_and_read_back(tmp_path):
    linked = {"senderUserId": "user_2abc", "linkedRunId": "run_81f0", "linkedRunStatus": "success",
              "linkedRunStartedAt": "2024-05-01T09:03:00Z", "linkedRunFinishedAt": "2024-05-01T09:03:04.25Z"}
    items = [
        {"contextType": "session", "sessionId": "session_c", "conversationId": CONVERSATION_ID, "messages": [
            message("6f1c2b0e-0000-4000-8000-000000000011", "make it", sessionId="session_c",
                    conversationId=CONVERSATION_ID, senderUserId="user_2abc"),
        ]},
        {"contextType": "workflow", "workflowId": WORKFLOW_ID, "workflowName": "Made", "conversationId": CONVERSATION_ID,
         "messages": [
             message("6f1c2b0e-0000-4000-8000-000000000012", "ran it", role="assistant", at="2024-05-01T09:05:00Z",
                     workflowId=WORKFLOW_ID, conversationId=CONVERSATION_ID, **linked),
         ]},
    ]
    assert run(write(tmp_path, items))[0] == "created 2, updated 0, unchanged 0"
    tenant = make_tenant_in_existing_org()
    history = tenant.client.get(HISTORY_URL + f"?conversationId={CONVERSATION_ID}").json()["data"]
    assert [(m["content"], m["sessionId"], m["workflowId"], m["conversationId"]) for m in history] == [
        ("make it", "session_c", None, CONVERSATION_ID), ("ran it", None, WORKFLOW_ID, CONVERSATION_ID)]
    assert {key: history[1][key] for key in linked} == linked
    assert history[0]["senderUserId"] == "user_2abc" and history[0]["linkedRunStatus"] is None
    assert run(write(tmp_path, items))[0] == "created 0, updated 0, unchanged 2"

    # What the list answers imports back as it is (conversationId included).
    listed = tenant.client.get(LIST_URL).json()
    assert {i["conversationId"] for i in listed["data"]["items"]} == {CONVERSATION_ID}
    assert run(write(tmp_path, listed, "listed.json"))[0] == "created 0, updated 0, unchanged 2"

    # A chat moved to another conversation takes its stored messages along; an item without the key keeps it.
    moved = [{**items[0], "conversationId": "conv_2"}]
    del moved[0]["messages"]
    moved[0].update(messageCount=1, firstMessageAt="2024-05-01T09:00:00Z", lastMessageAt="2024-05-01T09:00:00Z",
                    preview="make it")
    assert run(write(tmp_path, moved))[0] == "created 0, updated 1, unchanged 0"
    assert [m["content"] for m in tenant.client.get(HISTORY_URL + "?conversationId=conv_2").json()["data"]] == [
        "make it"]
    without_key = [{k: v for k, v in moved[0].items() if k != "conversationId"}]
    assert run(write(tmp_path, without_key))[0] == "created 0, updated 0, unchanged 1"
    assert ChatSession.objects.get(session_id="session_c").conversation.conversation_id == "conv_2"


def test_a_message_of_another_conversation_is_refused(tmp_path):
    records = [item(conversationId=CONVERSATION_ID,
                    messages=[message("6f1c2b0e-0000-4000-8000-000000000001", "x", conversationId="conv_other")])]
    with pytest.raises(CommandError) as exc:
        run(write(tmp_path, records))
    assert "messages.0.conversationId: Differs from the session's conversationId." in str(exc.value)
