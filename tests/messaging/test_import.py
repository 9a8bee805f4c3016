import io
import json
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import Organization, Workspace
from messaging.management.commands import import_message_flows
from messaging.models import Agent, MessageFlow
from tests.conftest import make_tenant
from tests.messaging.conftest import NEW_FLOW, workspace_client

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "message_flows.json"
DOCUMENTED = json.loads(FIXTURE.read_text())
URL = "/v1/api/message-flows"


def run(path, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_message_flows", str(path), *args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue().strip().splitlines()[-1], err.getvalue()


def write(tmp_path, records, name="flows.json"):
    path = tmp_path / name
    if name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        path.write_text(json.dumps(records))
    return path


def snapshot():
    return sorted(MessageFlow.objects.values_list(), key=str), sorted(Workspace.objects.values_list("pk", flat=True))


def test_documented_example_imports_and_lists_back_equal(tenant):
    summary, err = run(FIXTURE, "--org", tenant.organization.pk)
    assert summary == "created 2, updated 0, unchanged 0"
    assert "Created workspace exampleWorkspaceId1 in organization org_u13TesTDumMyEe5P." in err
    assert "Created workspace exampleWorkspaceId2 in organization org_u13TesTDumMyEe5P." in err
    assert set(Workspace.objects.filter(organization=tenant.organization).values_list("pk", flat=True)) == {
        tenant.workspace.pk, "exampleWorkspaceId1", "exampleWorkspaceId2"
    }
    # Each flow under its own workspace only.
    first = workspace_client(tenant.raw_key, "exampleWorkspaceId1")
    second = workspace_client(tenant.raw_key, "exampleWorkspaceId2")
    assert first.get(URL).json() == [DOCUMENTED[0]]
    assert second.get(URL).json() == [DOCUMENTED[1]]
    assert workspace_client(tenant.raw_key, tenant.workspace.pk).get(URL).json() == []
    assert first.get(f"{URL}/exampleId2").status_code == 404
    assert second.get(f"{URL}/exampleId1").status_code == 404
    # GET one: the list's keys, with no initiationMessage known and version 0.
    assert first.get(f"{URL}/exampleId1").json() == {**DOCUMENTED[0], "initiationMessage": None, "__v": 0}
    assert sorted(Agent.objects.values_list("workspace_id", "agent_id")) == [
        ("exampleWorkspaceId1", "exampleAgentId1"), ("exampleWorkspaceId2", "exampleAgentId2")
    ]


def test_reimport_changes_nothing_and_changed_records_update(tenant, tmp_path):
    run(FIXTURE, "--org", tenant.organization.pk)
    before = snapshot()
    assert run(FIXTURE, "--org", tenant.organization.pk)[0] == "created 0, updated 0, unchanged 2"
    assert snapshot() == before
    changed = [dict(DOCUMENTED[0], autopilot=True, agent="newAgent"), DOCUMENTED[1]]
    assert run(write(tmp_path, changed), "--org", tenant.organization.pk)[0] == "created 0, updated 1, unchanged 1"
    client = workspace_client(tenant.raw_key, "exampleWorkspaceId1")
    assert client.get(URL).json() == [changed[0]]


def test_get_one_body_imports_with_initiation_message_and_version(tenant, tmp_path):
    record = {**DOCUMENTED[0], "workspaceId": tenant.workspace.pk, "initiationMessage": "Hi!", "__v": 4}
    run(write(tmp_path, [record]), "--org", tenant.organization.pk)
    client = workspace_client(tenant.raw_key, tenant.workspace.pk)
    assert client.get(f"{URL}/exampleId1").json() == record
    # A later list export (no initiationMessage, no __v) leaves both as they were.
    listed = {k: v for k, v in record.items() if k not in ("initiationMessage", "__v")}
    assert run(write(tmp_path, [listed]), "--org", tenant.organization.pk)[0] == "created 0, updated 0, unchanged 1"
    assert client.get(f"{URL}/exampleId1").json() == record


def test_missing_organization_is_created(db):
    summary, err = run(FIXTURE, "--org", "org_new")
    assert summary == "created 2, updated 0, unchanged 0"
    assert "Created organization org_new." in err
    assert set(Workspace.objects.values_list("organization_id", flat=True)) == {"org_new"}


def test_workspace_of_another_organization_is_an_error_and_nothing_is_written(tenant, other_tenant, tmp_path):
    records = [DOCUMENTED[0], {**DOCUMENTED[1], "workspaceId": other_tenant.workspace.pk}]
    before = snapshot()
    with pytest.raises(CommandError) as error:
        run(write(tmp_path, records), "--org", tenant.organization.pk)
    assert str(error.value) == (
        "message flow #2 (_id exampleId2): workspaceId: workspace ws_org_0therTenant00001 belongs to another "
        "organization, not org_u13TesTDumMyEe5P. Nothing was imported."
    )
    assert snapshot() == before and not Agent.objects.exists()


def test_flow_id_of_another_workspace_is_an_error(tenant, other_tenant, tmp_path):
    run(write(tmp_path, [{**DOCUMENTED[0], "workspaceId": other_tenant.workspace.pk}]), "--org", other_tenant.organization.pk)
    before = snapshot()
    for workspace_id in (tenant.workspace.pk, "exampleWorkspaceId1"):
        with pytest.raises(CommandError) as error:
            run(write(tmp_path, [{**DOCUMENTED[0], "workspaceId": workspace_id}]), "--org", tenant.organization.pk)
        assert str(error.value) == (
            "message flow #1 (_id exampleId1): _id: a message flow with this _id already exists in another "
            "workspace. Nothing was imported."
        )
    assert snapshot() == before
    other = workspace_client(other_tenant.raw_key, other_tenant.workspace.pk)
    assert [f["_id"] for f in other.get(URL).json()] == ["exampleId1"]


@pytest.mark.parametrize(
    "change, path, message",
    [
        ({"direction": "sideways"}, "direction",
         '"sideways" is not a valid choice. Allowed values: inbound, outbound, bidirectional.'),
        ({"messageChannel": "sms"}, "messageChannel", '"sms" is not a valid choice. Allowed values: SMS, Email.'),
        ({"settings": {"security": "on"}}, "settings.security", "Must be a JSON object."),
        # The documented keys hold their documented types, as the API keeps them.
        ({"settings": {"responseSettings": {"delay": "soon"}}}, "settings.responseSettings.delay",
         "Must be a number of seconds, 0 or more."),
        ({"settings": {"responseSettings": {"workingHours": {"enabled": "yes"}}}},
         "settings.responseSettings.workingHours.enabled", "Must be true or false."),
        ({"settings": {"security": {"hipaaCompliance": 1}}}, "settings.security.hipaaCompliance", "Must be true or false."),
        ({"isActive": "yes"}, "isActive", "Must be true or false."),
        ({"createdAt": "yesterday"}, "createdAt", "Datetime has wrong format. Use one of these formats instead: ISO 8601."),
        ({"workspaceId": ""}, "workspaceId", "This field may not be blank."),
        ({"agent": None}, "agent", "This field may not be null."),
        ({"__v": -1}, "__v", "Ensure this value is greater than or equal to 0."),
        # PostgreSQL stores no NUL: refused as the record's error, not the database's.
        ({"settings": {"note": "a\u0000b"}}, "settings", "Null characters are not allowed."),
        ({"prompt": "a\u0000b"}, "prompt", "Null characters are not allowed."),
    ],
)
def test_invalid_record_names_position_and_field(tenant, tmp_path, change, path, message):
    records = [DOCUMENTED[0], {**DOCUMENTED[1], **change}]
    with pytest.raises(CommandError) as error:
        run(write(tmp_path, records), "--org", tenant.organization.pk)
    assert str(error.value) == f"message flow #2 (_id exampleId2): {path}: {message.rstrip('.')}. Nothing was imported."
    assert not MessageFlow.objects.exists() and not Agent.objects.exists()
    assert not Workspace.objects.filter(pk__startswith="example").exists()


def test_missing_required_key(tenant, tmp_path):
    record = {k: v for k, v in DOCUMENTED[0].items() if k != "name"}
    with pytest.raises(CommandError, match=r"message flow #1 \(_id exampleId1\): name: This field is required"):
        run(write(tmp_path, [record]), "--org", tenant.organization.pk)


def test_dry_run_writes_nothing(tenant):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_message_flows", str(FIXTURE), "--org", "org_dry", "--dry-run", "--no-progress",
                 stdout=out, stderr=err)
    assert out.getvalue().strip().splitlines()[-1] == "created 2, updated 0, unchanged 0"
    assert "nothing written" in err.getvalue()
    assert not MessageFlow.objects.exists() and not Organization.objects.filter(pk="org_dry").exists()


def test_json_lines_and_stdin(tenant, tmp_path, monkeypatch):
    path = write(tmp_path, DOCUMENTED, name="flows.jsonl")
    assert run(path, "--org", tenant.organization.pk)[0] == "created 2, updated 0, unchanged 0"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(FIXTURE.read_bytes())))
    assert run("-", "--org", tenant.organization.pk)[0] == "created 0, updated 0, unchanged 2"


def test_many_records_across_batches(tenant, tmp_path):
    records = [
        {**DOCUMENTED[i % 2], "_id": f"{i:024x}", "agent": f"agent{i % 3}", "createdAt": f"2025-01-02T10:{i % 60:02d}:00Z"}
        for i in range(1200)
    ]
    assert run(write(tmp_path, records), "--org", tenant.organization.pk)[0] == "created 1200, updated 0, unchanged 0"
    assert Agent.objects.count() == 6
    listed = workspace_client(tenant.raw_key, "exampleWorkspaceId1").get(URL).json()
    assert len(listed) == 600
    assert [f["createdAt"] for f in listed] == sorted(f["createdAt"] for f in listed)


def test_imported_workspace_in_another_tenant_stays_hidden(tenant, other_tenant):
    run(FIXTURE, "--org", tenant.organization.pk)
    # The other organization cannot reach the imported workspace, nor its flows.
    client = workspace_client(other_tenant.raw_key, "exampleWorkspaceId1")
    assert client.get(URL).status_code == 403
    own = workspace_client(other_tenant.raw_key, other_tenant.workspace.pk)
    assert own.get(f"{URL}/exampleId1").status_code == 404
    third = make_tenant("org_third", "carol")
    assert workspace_client(third.raw_key, third.workspace.pk).get(URL).json() == []


# Settings exactly as given: no defaults filled in, flat responseSettings not nested (an export
# is what the vendor stored), on every write path of the import.
AS_GIVEN = [
    {},
    {"security": {}},
    {"responseSettings": {"delay": 3}},
    {"responseSettings": {"enabled": True, "start": "08:00"}, "custom": [1, {"a": None}]},
    {"responseSettings": None, "security": None, "emailSettings": {"subjectLine": "Hi"}},
]


def as_given_records(workspace_id):
    return [
        {**DOCUMENTED[0], "_id": f"asGiven{n}", "workspaceId": workspace_id, "settings": settings}
        for n, settings in enumerate(AS_GIVEN)
    ]


@pytest.fixture(params=["fast path", "serializer"])
def validation_path(request, monkeypatch):
    if request.param == "serializer":
        # Every record through ImportMessageFlowSerializer, as one the fast path is unsure of goes.
        monkeypatch.setattr(import_message_flows, "well_formed_flow", lambda record: None)
    return request.param


def test_import_keeps_settings_exactly_as_given(tenant, tmp_path, validation_path):
    records = as_given_records(tenant.workspace.pk)
    assert run(write(tmp_path, records), "--org", tenant.organization.pk)[0] == "created 5, updated 0, unchanged 0"
    stored = dict(MessageFlow.objects.values_list("pk", "settings"))
    assert [stored[record["_id"]] for record in records] == AS_GIVEN
    client = workspace_client(tenant.raw_key, tenant.workspace.pk)
    assert client.get(URL).json() == records
    assert client.get(f"{URL}/asGiven0").json()["settings"] == {}
    # Re-imported unchanged: nothing to do. Changed: updated (sync_rows, not COPY), still as given.
    assert run(write(tmp_path, records), "--org", tenant.organization.pk)[0] == "created 0, updated 0, unchanged 5"
    changed = [{**record, "settings": AS_GIVEN[(n + 1) % len(AS_GIVEN)]} for n, record in enumerate(records)]
    assert run(write(tmp_path, changed), "--org", tenant.organization.pk)[0] == "created 0, updated 5, unchanged 0"
    assert client.get(URL).json() == changed


def test_import_of_a_batch_repeating_an_id_keeps_settings_as_given(tenant, tmp_path, validation_path):
    # A batch repeating an id takes the general path (no COPY): the later record wins, as given.
    first, second = as_given_records(tenant.workspace.pk)[:2]
    records = [first, {**second, "_id": first["_id"]}]
    run(write(tmp_path, records), "--org", tenant.organization.pk)
    assert MessageFlow.objects.get().settings == {"security": {}}


def test_a_record_without_settings_gets_the_defaults_of_a_new_flow(tenant, tmp_path, validation_path):
    # Like every optional key of POST left out of a record.
    record = {k: v for k, v in DOCUMENTED[0].items() if k != "settings"}
    run(write(tmp_path, [record]), "--org", tenant.organization.pk)
    assert MessageFlow.objects.get().settings == {
        "responseSettings": {
            "delay": 0,
            "workingHours": {"enabled": False, "start": "09:00", "end": "17:00", "timezone": "UTC", "outOfHoursMessage": ""},
        },
        "security": {"hipaaCompliance": False},
    }


def stored_columns(pk):
    """Every column of a stored flow but its id, as PostgreSQL holds it (jsonb as its text, NULL as None)."""
    table = MessageFlow._meta.db_table
    columns = [f.column for f in MessageFlow._meta.concrete_fields if not f.primary_key]
    selected = ", ".join(f"{name}::text" for name in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {selected} FROM {table} WHERE id = %s", [pk])  # noqa: S608 - names from the model
        return dict(zip(columns, cursor.fetchone(), strict=True))


@pytest.mark.postgres  # on SQLite there is no COPY: both sides would be the ORM
def test_new_flows_written_with_copy_hold_what_the_orm_writes(tenant, tmp_path):
    ws = tenant.workspace.pk
    records = [
        {**DOCUMENTED[0], "_id": "full", "workspaceId": ws, "initiationMessage": "Hi!", "__v": 3,
         "settings": {"responseSettings": {"delay": 1.5, "workingHours": None}, "x": [1, None, "été", {"b": 2, "a": 1}]}},
        # NULLs: no description, no initiationMessage (as given, and as left out).
        {**DOCUMENTED[1], "_id": "nulls", "workspaceId": ws, "description": None, "initiationMessage": None},
        # Left out: POST's defaults for description, isActive, autopilot and settings; the model's for the rest.
        {k: v for k, v in {**DOCUMENTED[0], "_id": "bare", "workspaceId": ws}.items()
         if k not in ("description", "isActive", "autopilot", "settings")},
    ]
    assert run(write(tmp_path, records), "--org", tenant.organization.pk)[0] == "created 3, updated 0, unchanged 0"
    for record in records:
        # The same flow saved through the ORM, under another id.
        flow = MessageFlow.objects.get(pk=record["_id"])
        flow.pk = f"orm_{record['_id']}"
        flow._state.adding = True
        flow.save()
        assert stored_columns(record["_id"]) == stored_columns(flow.pk), record["_id"]
    assert stored_columns("nulls")["description"] is None and stored_columns("bare")["initiation_message"] is None
    # And read back as given (settings neither dumped twice nor lost).
    client = workspace_client(tenant.raw_key, ws)
    assert client.get(f"{URL}/full").json() == records[0]
    assert client.get(f"{URL}/nulls").json() == {**records[1], "__v": 0}


def test_list_and_get_one_bodies_import_back_unchanged(tenant, tmp_path):
    # The import round trip: what the list (and the admin export, the same body) and GET one
    # answer is a record the import takes as it is.
    client = workspace_client(tenant.raw_key, tenant.workspace.pk)
    flow_id = client.post(URL, {**NEW_FLOW, "description": None, "settings": {"x": [1, None]}}, format="json").json()["_id"]
    client.put(f"{URL}/{flow_id}/toggle-autopilot")
    listed, one = client.get(URL).json(), client.get(f"{URL}/{flow_id}").json()
    before = snapshot()
    assert run(write(tmp_path, listed), "--org", tenant.organization.pk)[0] == "created 0, updated 0, unchanged 1"
    assert run(write(tmp_path, [one]), "--org", tenant.organization.pk)[0] == "created 0, updated 0, unchanged 1"
    assert snapshot() == before
