"""The export commands: each writes exactly what its list endpoint answers for the scope, and the
import reads it back into the same list."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Workspace
from chat.models import ChatSession, Role
from flowdesk.exporting.export import Export
from flows.models import LiveFlowSession
from messaging.models import MessageFlow
from sessions_app.models import UserSession
from tests.chat.factories import HISTORY_URL, LIST_URL, chat
from tests.flows.factories import make_live_flow, make_session
from tests.messaging.conftest import URL as FLOWS_URL
from tests.messaging.conftest import make_flow, workspace_client
from tests.sessions_app.conftest import make_session as make_user_session

pytestmark = pytest.mark.django_db

AT = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
WORKFLOW_ID = "7d5f8b8e-3c7a-4f7e-9a59-2a1f0f0c9b11"


def run(command, *args, progress=False):
    """call_command with captured streams: (stdout, stderr lines)."""
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, *([] if progress else ["--no-progress"]), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue().splitlines()


def export_body(command, *args):
    out, err = run(command, *args)
    return json.loads(out), err


def jsonl(text):
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def same_body(a, b):
    """Two exports' texts are the same body: byte for byte, but the chat envelope's requestId."""
    if a.startswith('{"code"'):
        a, b = (json.loads(text) | {"requestId": None} for text in (a, b))
    return a == b


def run_import(tmp_path, command, text, *args, name="export.json"):
    path = tmp_path / name
    path.write_text(text)
    out = io.StringIO()
    call_command(command, str(path), "--no-progress", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()[-1]


# --- the four families: the data, the list, the export's flags ---------------------------------


class Family:
    """One family's data of the tenant: ``make`` it, the export's ``flags``, the list as ``listed``, the
    export's ``records``, ``delete`` them."""

    def __init__(self, tenant):
        self.tenant = tenant

    def records(self, body):
        """The records of an export's body: the body itself (the chat envelope's are inside it)."""
        return body


class LiveFlows(Family):
    command, importer, noun = "export_live_flow_sessions", "import_live_flow_sessions", "live flow sessions"

    def __init__(self, tenant):
        super().__init__(tenant)
        self.live_flow = make_live_flow(tenant.organization)

    def make(self, n):
        for i in range(n):
            make_session(self.live_flow, n_recorded=i % 4, created_at=AT + timedelta(hours=i))

    def flags(self):
        return ["--org", self.tenant.organization.pk, "--live-flow", str(self.live_flow.pk)]

    def listed(self):
        return self.tenant.client.get(f"/live_flows/{self.live_flow.pk}/sessions").json()

    def delete(self):
        LiveFlowSession.objects.filter(live_flow=self.live_flow).delete()


class UserSessions(Family):
    command, importer, noun = "export_user_sessions", "import_user_sessions", "user sessions"

    def make(self, n):
        for i in range(n):
            make_user_session(
                self.tenant.user, f"s{i:03d}", dialogue=i % 3, audios=i % 2, updated_at=AT + timedelta(hours=i),
                organization=self.tenant.organization if i % 2 else None,
            )

    def flags(self):
        return ["--user", self.tenant.user.username]

    def listed(self):
        return self.tenant.client.get("/session").json()

    def delete(self):
        UserSession.objects.filter(user=self.tenant.user).delete()


class ChatSessions(Family):
    command, importer, noun = "export_chat_sessions", "import_chat_sessions", "chat sessions"

    def make(self, n):
        org = self.tenant.organization
        for i in range(n):
            if i == 0:
                chat(org, workflow_id=WORKFLOW_ID, workflow_name="Onboarding", at=AT)
            else:
                chat(org, at=AT + timedelta(days=i), conversation_id=f"conv_{i % 3}" if i % 2 else None,
                     messages=[(Role.USER, f"Question {i}"), (Role.ASSISTANT, "Answer")][: 1 + i % 2])

    def flags(self):
        return ["--org", self.tenant.organization.pk]

    def listed(self):
        """The list's envelope, and each item's history (what the export's `messages` must be)."""
        body = self.tenant.client.get(LIST_URL, {"limit": 50}).json()
        body["requestId"] = None  # each request's own
        histories = []
        for item in body["data"]["items"]:
            key = {"workflowId": item["workflowId"]} if item["workflowId"] else {"sessionId": item["sessionId"]}
            histories.append(self.tenant.client.get(HISTORY_URL, {**key, "limit": 100}).json()["data"])
        return body, histories

    def records(self, body):
        return body["data"]["items"]

    def delete(self):
        ChatSession.objects.filter(organization=self.tenant.organization).delete()


class MessageFlows(Family):
    command, importer, noun = "export_message_flows", "import_message_flows", "message flows"

    def __init__(self, tenant):
        super().__init__(tenant)
        self.api = workspace_client(tenant.raw_key, tenant.workspace.pk)

    def make(self, n):
        for i in range(n):
            make_flow(self.tenant.workspace, i + 1, agent_id=f"agent_{i % 2}", version=i)

    def flags(self):
        return ["--org", self.tenant.organization.pk, "--workspace", self.tenant.workspace.pk]

    def listed(self):
        """The list, and each of its flows as GET one answers it."""
        body = self.api.get(FLOWS_URL).json()
        return body, [self.api.get(f"{FLOWS_URL}/{flow['_id']}").json() for flow in body]

    def delete(self):
        MessageFlow.objects.filter(workspace=self.tenant.workspace).delete()


FAMILIES = [LiveFlows, UserSessions, ChatSessions, MessageFlows]


@pytest.fixture(params=FAMILIES, ids=lambda family: family.command)
def family(request, tenant):
    return request.param(tenant)


# --- the body is the list's ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family_class", "count", "not_exported"),
    [
        (LiveFlows, 5, lambda tenant, other_tenant: make_session(make_live_flow(tenant.organization))),  # another live flow's
        (UserSessions, 4, lambda tenant, other_tenant: make_user_session(other_tenant.user, "theirs")),
    ],
    ids=["live_flow_sessions", "user_sessions"],
)
def test_the_export_is_the_list_body(tenant, other_tenant, family_class, count, not_exported):
    family = family_class(tenant)
    family.make(count)
    not_exported(tenant, other_tenant)
    body, err = export_body(family.command, *family.flags())
    assert len(body) == count
    assert body == family.listed()
    assert err[-1] == f"exported {count} {family.noun}"


def test_chat_sessions_export_is_the_list_envelope_with_each_history(tenant, other_tenant):
    family = ChatSessions(tenant)
    family.make(4)
    chat(other_tenant.organization, session_id="theirs")
    body, err = export_body(family.command, *family.flags())
    listed, histories = family.listed()
    assert list(body) == list(listed) == ["code", "data", "message", "requestId"]
    assert (body["code"], body["message"]) == (200, "success")
    assert body["requestId"].startswith("req_")
    items = body["data"]["items"]
    assert [{k: v for k, v in item.items() if k != "messages"} for item in items] == listed["data"]["items"]
    assert [item["messages"] for item in items] == histories
    assert [len(h) for h in histories] == [item["messageCount"] for item in items] == [2, 1, 2, 2]
    # The whole scope in one page: limit is its size.
    assert {k: v for k, v in body["data"].items() if k != "items"} == {"hasMore": False, "limit": 4, "offset": 0}
    assert err[-1] == "exported 4 chat sessions"


def test_a_chat_batch_ends_before_its_messages_pass_the_batch_weight(tenant, monkeypatch):
    """Every message of a batch's sessions is held while the batch renders: a batch stops short of
    Export.batch_weight messages (a session of more comes alone), none written twice or lost."""
    monkeypatch.setattr(Export, "batch_weight", 4)
    family = ChatSessions(tenant)
    # Newest activity first: 3, 1, 5, 1, 2 messages -> batches [3, 1], [5], [1, 2].
    for day, count in enumerate((2, 1, 5, 1, 3)):
        chat(tenant.organization, at=AT + timedelta(days=day),
             messages=[(Role.USER, f"Message {n} of day {day}") for n in range(count)])
    with CaptureQueriesContext(connection) as queries:
        body, err = export_body(family.command, *family.flags())
    # The organization; per batch the keys, the items, their sessions, their messages; the audit event.
    assert len(queries) == 1 + 3 * 4 + 1
    listed, histories = family.listed()
    assert [item["messageCount"] for item in body["data"]["items"]] == [3, 1, 5, 1, 2]
    assert [item["messages"] for item in body["data"]["items"]] == histories
    assert err[-1] == "exported 5 chat sessions"


def test_message_flows_export_is_the_list_with_initiation_message_and_version(tenant):
    family = MessageFlows(tenant)
    family.make(3)
    body, err = export_body(family.command, *family.flags())
    listed, detailed = family.listed()
    assert len(body) == 3
    assert body == detailed  # GET one's body, in the list's order
    assert [{key: flow[key] for key in listed[0]} for flow in body] == listed
    assert [(flow["initiationMessage"], flow["__v"]) for flow in body] == [("Hello!", 0), ("Hello!", 1), ("Hello!", 2)]
    assert err[-1] == "exported 3 message flows"


def test_message_flows_of_the_whole_organization_come_a_workspace_after_another(tenant, other_tenant):
    second = Workspace.objects.create(pk="ws_0second", organization=tenant.organization)
    # Older than the first workspace's flows, yet after them: each workspace's list in turn.
    for n in (1, 2):
        make_flow(second, n, created_at=AT - timedelta(days=n))
        make_flow(tenant.workspace, n)
    make_flow(other_tenant.workspace, 9)
    body, _ = export_body("export_message_flows", "--org", tenant.organization.pk)
    expected = []
    for workspace in sorted([second.pk, tenant.workspace.pk]):
        api = workspace_client(tenant.raw_key, workspace)
        expected += [api.get(f"{FLOWS_URL}/{flow['_id']}").json() for flow in api.get(FLOWS_URL).json()]
    assert [flow["workspaceId"] for flow in body] == ["ws_0second", "ws_0second", tenant.workspace.pk, tenant.workspace.pk]
    assert body == expected


def test_an_empty_scope_is_the_empty_list(tenant):
    assert export_body("export_live_flow_sessions", *LiveFlows(tenant).flags()) == ([], ["exported 0 live flow sessions"])
    body, err = export_body("export_chat_sessions", "--org", tenant.organization.pk)
    assert body["data"] == {"hasMore": False, "items": [], "limit": 0, "offset": 0}
    assert err == ["exported 0 chat sessions"]


def test_jsonl_is_one_record_a_line(family):
    family.make(3)
    body, _ = export_body(family.command, *family.flags())
    out, err = run(family.command, *family.flags(), "--format", "jsonl")
    assert jsonl(out) == family.records(body)
    assert err[-1] == f"exported 3 {family.noun}"


def test_output_file_and_format_from_its_name(family, tmp_path):
    family.make(2)
    body, _ = run(family.command, *family.flags())
    out, err = run(family.command, *family.flags(), "-o", str(tmp_path / "export.json"))
    assert out == ""
    assert same_body((tmp_path / "export.json").read_text(), body)
    run(family.command, *family.flags(), "--output", str(tmp_path / "export.jsonl"))
    assert jsonl((tmp_path / "export.jsonl").read_text()) == family.records(json.loads(body))
    assert err == [f"exported 2 {family.noun}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.json", "export.jsonl"]  # no temporary left


def test_the_summary_is_the_last_line_after_the_progress_bar(tenant):
    UserSessions(tenant).make(1)
    _, err = run("export_user_sessions", "--user", tenant.user.username, progress=True)
    assert err[-1] == "exported 1 user session"


def test_a_failed_export_leaves_no_file(tenant, tmp_path, monkeypatch):
    UserSessions(tenant).make(2)
    target = tmp_path / "sessions.json"
    target.write_text("the previous export")

    def broken(self, pks):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("sessions_app.exporting.UserSessionsExport.render", broken)
    with pytest.raises(RuntimeError):
        run("export_user_sessions", "--user", tenant.user.username, "-o", str(target))
    assert [p.name for p in tmp_path.iterdir()] == ["sessions.json"]
    assert target.read_text() == "the previous export"


# --- dates -----------------------------------------------------------------------------------


def test_updated_after_and_before_are_the_lists_half_open_window(tenant):
    UserSessions(tenant).make(6)  # updated at AT + 0h .. 5h
    after, before = "2024-05-01T10:00:00Z", "2024-05-01T13:00:00+00:00"
    body, err = export_body("export_user_sessions", "--user", "alice", "--updated-after", after, "--updated-before", before)
    assert [s["sessionId"] for s in body] == ["s003", "s002", "s001"]  # 10:00 <= updatedAt < 13:00
    assert body == tenant.client.get("/session", {"updatedAfter": after, "updatedBefore": before}).json()
    assert err[-1] == "exported 3 user sessions"
    # An offset is read as the instant it names; a naive time as UTC.
    body, _ = export_body("export_user_sessions", "--user", "alice", "--updated-after", "2024-05-01T15:00:00+02:00")
    assert [s["sessionId"] for s in body] == ["s005", "s004"]  # from 13:00Z
    body, _ = export_body("export_user_sessions", "--user", "alice", "--updated-before", "2024-05-01T10:00:00")
    assert [s["sessionId"] for s in body] == ["s000"]


def test_dates_filter_every_family(family):
    family.make(4)
    everything = family.records(export_body(family.command, *family.flags())[0])
    stamp = {
        LiveFlows: "updated_at", UserSessions: "updatedAt", MessageFlows: "updatedAt", ChatSessions: "lastMessageAt"
    }[type(family)]
    times = sorted({record[stamp] for record in everything})
    middle = times[len(times) // 2]
    newer = family.records(export_body(family.command, *family.flags(), "--updated-after", middle)[0])
    older = family.records(export_body(family.command, *family.flags(), "--updated-before", middle)[0])
    assert newer and older
    assert all(record[stamp] >= middle for record in newer)
    assert all(record[stamp] < middle for record in older)
    # Together, exactly everything once, in the list's order.
    assert sorted(map(json.dumps, newer + older)) == sorted(map(json.dumps, everything))


@pytest.mark.parametrize("flag", ["--updated-after", "--updated-before"])
@pytest.mark.parametrize("value", ["yesterday", "2024-13-01T00:00:00Z", "2024-05-01T25:00:00Z", "١٢٣", "", "10000-01-01"])
def test_a_bad_date_is_refused_naming_the_flag(tenant, flag, value):
    with pytest.raises(CommandError) as error:
        run("export_user_sessions", "--user", "alice", flag, value)
    assert str(error.value).startswith(f"{flag}: {value!r} is not an ISO 8601 timestamp")


def test_an_empty_window_is_refused(tenant):
    with pytest.raises(CommandError, match="--updated-after must be earlier than --updated-before"):
        run("export_user_sessions", "--user", "alice", "--updated-after", "2024-05-02T00:00:00Z",
            "--updated-before", "2024-05-01T00:00:00Z")


# --- scopes that do not exist ----------------------------------------------------------------------


def test_unknown_scopes_are_refused_naming_the_flag_and_value(tenant, other_tenant):
    org = tenant.organization.pk
    theirs = make_live_flow(other_tenant.organization)
    cases = [
        (("export_chat_sessions", "--org", "org_nope"), "--org: no organization 'org_nope'."),
        (("export_message_flows", "--org", "org_nope"), "--org: no organization 'org_nope'."),
        (("export_live_flow_sessions", "--org", "org_nope", "--live-flow", str(theirs.pk)),
         "--org: no organization 'org_nope'."),
        (("export_user_sessions", "--user", "nobody"), "--user: no user 'nobody'."),
        (("export_live_flow_sessions", "--org", org, "--live-flow", "42"), "--live-flow: '42' is not a UUID."),
        (("export_live_flow_sessions", "--org", org, "--live-flow", str(theirs.pk)),
         f"--live-flow: no live flow '{theirs.pk}' in organization '{org}'."),
        (("export_message_flows", "--org", org, "--workspace", other_tenant.workspace.pk),
         f"--workspace: no workspace '{other_tenant.workspace.pk}' in organization '{org}'."),
        (("export_message_flows", "--org", org, "--workspace", "ws_nope"),
         f"--workspace: no workspace 'ws_nope' in organization '{org}'."),
    ]
    for args, message in cases:
        with pytest.raises(CommandError) as error:
            run(*args)
        assert str(error.value) == message, args


def test_an_unwritable_output_is_refused_naming_the_flag(tenant, tmp_path):
    with pytest.raises(CommandError, match=r"^-o: cannot write .*/missing/x\.json"):
        run("export_user_sessions", "--user", "alice", "-o", str(tmp_path / "missing" / "x.json"))


# --- export, delete, import: the same list -------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_the_round_trip_brings_back_the_same_list(family, tmp_path, fmt):
    family.make(6)
    before = family.listed()
    out, _ = run(family.command, *family.flags(), "--format", fmt)
    family.delete()
    assert family.listed() != before
    import_flags = [flag for flag in family.flags() if flag not in ("--workspace", family.tenant.workspace.pk)]
    summary = run_import(tmp_path, family.importer, out, *import_flags, name=f"export.{fmt}")
    assert summary == "created 6, updated 0, unchanged 0"
    assert family.listed() == before  # chat: and every history; message flows: and GET one
    # And the export of what came back is the same file.
    again, _ = run(family.command, *family.flags(), "--format", fmt)
    assert same_body(again, out)


# --- no N+1 --------------------------------------------------------------------------------------


# The scope's lookups, then one batch: its keys and the renderer's queries; last, the audit event.
QUERIES = {
    LiveFlows: 2 + 1 + 4 + 1,  # organization, live flow; keys; sessions, steps, transitions, recorded steps
    # user and their one organization; keys; sessions, dialogue items, audio clips; the event and the
    # organization's name it copies
    UserSessions: 2 + 1 + 3 + 2,
    ChatSessions: 1 + 1 + 3 + 1,  # organization; keys; items, their sessions, messages
    MessageFlows: 2 + 1 + 1 + 1,  # organization, workspace; keys; flows (agents joined)
}


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_an_export_makes_the_same_queries_for_2_and_20_records(family, fmt):
    def count(n):
        family.delete()
        family.make(n)
        with CaptureQueriesContext(connection) as queries:
            out, _ = run(family.command, *family.flags(), "--format", fmt)
        assert len(family.records(json.loads(out)) if fmt == "json" else jsonl(out)) == n
        return len(queries)

    assert count(2) == count(20) == QUERIES[type(family)]


def test_batches_are_keyset_pages_of_the_list_order(tenant, monkeypatch):
    # Three records a batch: ties on the timestamp are split by id, none written twice or lost.
    monkeypatch.setattr(Export, "batch_size", 3)
    family = UserSessions(tenant)
    for i in range(8):
        make_user_session(tenant.user, f"t{i}", updated_at=AT + timedelta(hours=i // 3))
    with CaptureQueriesContext(connection) as queries:
        body, err = export_body(family.command, *family.flags())
    # The user and their organization, then per batch the keys and the three of sessions_data: 3
    # batches, the last short; then the audit event (and the organization's name it copies).
    assert len(queries) == 2 + 3 * 4 + 2
    assert body == family.listed()
    assert err[-1] == "exported 8 user sessions"
