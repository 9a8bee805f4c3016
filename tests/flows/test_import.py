import copy
import io
import json
import sys
import uuid
from pathlib import Path

import orjson
import pytest
from django.core.management import CommandError, call_command

from accounts.models import Organization
from flows import models
from tests.flows.factories import make_live_flow

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "live_flow_sessions.json"
LIVE_FLOW_ID = "11111111-1111-4111-8111-111111111111"
ORG = "org_u13TesTDumMyEe5P"


def run_import(path, org=ORG, live_flow=LIVE_FLOW_ID, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_live_flow_sessions", str(path), org=org, live_flow=live_flow, stdout=out, stderr=err,
                 **options)
    return out.getvalue().strip().splitlines()[-1], err.getvalue()


def example():
    return json.loads(FIXTURE.read_text())


def second_session(base):
    """Another session of the same version, with fresh ids for the session and its step."""
    record = copy.deepcopy(base)
    record["id"] = str(uuid.uuid4())
    step_id = str(uuid.uuid4())
    for recorded in (record["steps"][0], record["current_step"]):
        recorded["id"] = step_id
    return record


def write(tmp_path, records, name="sessions.json"):
    path = tmp_path / name
    path.write_bytes(orjson.dumps(records))
    return path


def test_import_creates_everything_and_says_so(db):
    summary, err = run_import(FIXTURE)
    assert summary == "created 1, updated 0, unchanged 0"
    assert "Created organization org_u13TesTDumMyEe5P." in err
    assert f"Created live flow {LIVE_FLOW_ID}." in err
    session = models.LiveFlowSession.objects.get()
    assert str(session.pk) == "3c90c3cc-0d44-4b50-8888-8dd25736052a"
    assert session.live_flow.organization_id == ORG
    assert session.current_step_id == session.steps.get().pk
    assert (models.Flow.objects.count(), models.FlowVersion.objects.count(), models.Step.objects.count(), models.StepTransition.objects.count()) == (
        1, 1, 1, 1,
    )
    assert models.LiveFlow.objects.get().current_version_id == session.flow_version_id


def test_reimport_changes_nothing(db):
    run_import(FIXTURE)
    before = list(models.LiveFlowSession.objects.values())
    summary, _ = run_import(FIXTURE)
    assert summary == "created 0, updated 0, unchanged 1"
    assert list(models.LiveFlowSession.objects.values()) == before


def test_changed_record_is_updated(tmp_path, db):
    run_import(FIXTURE)
    records = example()
    records[0]["status"] = "FINISHED"
    records[0]["steps"][0]["result"] = "done"
    records[0]["current_step"]["result"] = "done"
    summary, _ = run_import(write(tmp_path, records))
    assert summary == "created 0, updated 1, unchanged 0"
    assert models.LiveFlowSession.objects.get().status == "FINISHED"
    assert models.LiveFlowSessionStep.objects.get().result == "done"


def test_bad_record_writes_nothing_and_names_record_and_field(tmp_path, db):
    good = example()[0]
    bad = second_session(good)
    bad["flow_version"] = copy.deepcopy(bad["flow_version"])
    bad["flow_version"]["steps"][0]["step_type"] = "DANCE"
    path = write(tmp_path, [good, second_session(good), bad])
    with pytest.raises(CommandError) as excinfo:
        run_import(path)
    message = str(excinfo.value)
    assert message.startswith(f"session #3 (id {bad['id']}): flow_version.steps.0.step_type:")
    assert "DANCE" in message
    assert not models.LiveFlowSession.objects.exists()
    assert not models.Flow.objects.exists() and not Organization.objects.exists()


@pytest.mark.parametrize(
    "mutate, path",
    [
        (lambda r: r.update(status="SLEEPING"), "status"),
        (lambda r: r.update(id="not-a-uuid"), "id"),
        (lambda r: r.update(inputs=[1]), "inputs"),
        (lambda r: r.pop("created_at"), "created_at"),
        (lambda r: r["steps"][0].update(result=5), "steps.0.result"),
        (lambda r: r["flow_version"]["step_transitions"][0].update(target_step_id=str(uuid.uuid4())),
         "flow_version.step_transitions.0.target_step_id"),
        (lambda r: r["steps"][0]["step"].update(id=str(uuid.uuid4())), "steps.0.step.id"),
        (lambda r: r["current_step"].update(id=str(uuid.uuid4())), "current_step.id"),
        (lambda r: r["steps"].append(copy.deepcopy(r["steps"][0])), "steps.1.id"),
        (lambda r: r["flow_version"]["steps"].append(copy.deepcopy(r["flow_version"]["steps"][0])),
         "flow_version.steps.1.id"),
        (lambda r: r["flow_version"]["steps"].append(dict(r["flow_version"]["steps"][0], id=str(uuid.uuid4()))),
         "flow_version.steps"),
    ],
)
def test_invalid_fields_are_named(tmp_path, db, mutate, path):
    records = example()
    mutate(records[0])
    with pytest.raises(CommandError) as excinfo:
        run_import(write(tmp_path, records))
    assert f": {path}: " in str(excinfo.value)
    assert not models.LiveFlowSession.objects.exists()


def test_session_of_another_organization_is_refused(tmp_path, db):
    run_import(FIXTURE, org="org_first")
    with pytest.raises(CommandError) as excinfo:
        run_import(FIXTURE, org="org_second", live_flow=str(uuid.uuid4()))
    assert "belongs to another organization" in str(excinfo.value)
    assert models.LiveFlowSession.objects.get().live_flow.organization_id == "org_first"


def test_live_flow_of_another_organization_is_refused(db):
    run_import(FIXTURE, org="org_first")
    with pytest.raises(CommandError, match="belongs to another organization"):
        run_import(FIXTURE, org="org_second")


def test_dry_run_writes_nothing(db):
    summary, err = run_import(FIXTURE, dry_run=True)
    assert summary == "created 1, updated 0, unchanged 0"
    assert "Dry run" in err
    assert not models.LiveFlowSession.objects.exists() and not Organization.objects.exists()


def test_jsonl_and_stdin(tmp_path, db, monkeypatch):
    records = [example()[0], second_session(example()[0])]
    path = tmp_path / "sessions.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    assert run_import(path)[0] == "created 2, updated 0, unchanged 0"

    third = second_session(example()[0])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(orjson.dumps([third]))))
    assert run_import("-")[0] == "created 1, updated 0, unchanged 0"
    assert models.LiveFlowSession.objects.count() == 3


def test_malformed_file(tmp_path, db):
    path = tmp_path / "broken.json"
    path.write_text('[{"id": ')
    with pytest.raises(CommandError, match="malformed JSON"):
        run_import(path)
    path.write_text('{"not": "an array"}')
    with pytest.raises(CommandError, match="expected a JSON array"):
        run_import(path)
    with pytest.raises(CommandError, match="--live-flow must be a UUID"):
        run_import(FIXTURE, live_flow="abc")
    with pytest.raises(CommandError, match="Cannot read"):
        run_import(tmp_path / "missing.json")


def test_many_records_cross_batches(tmp_path, db):
    base = example()[0]
    records = [second_session(base) for _ in range(1200)]
    path = write(tmp_path, records)
    assert run_import(path)[0] == "created 1200, updated 0, unchanged 0"
    assert run_import(path)[0] == "created 0, updated 0, unchanged 1200"
    assert models.LiveFlowSessionStep.objects.count() == 1200


def fast_path_variants():
    """Records the fast path validates, each as the serializer would (same validated data)."""
    base = example()[0]
    variants = [base, second_session(base)]
    no_count = copy.deepcopy(base)
    no_count.pop("steps_count", None)
    null_count = dict(copy.deepcopy(base), steps_count=None)
    renamed = copy.deepcopy(base)  # a recorded step whose nested step differs from the version's copy
    renamed["steps"][0]["step"]["name"] = "renamed in the recording"
    offset = copy.deepcopy(base)  # not the usual `...Z` timestamps
    offset["created_at"] = "2023-11-07T07:31:56+02:00"
    offset["steps"][0]["updated_at"] = "2023-11-07"
    upper = copy.deepcopy(base)
    upper["id"] = upper["id"].upper()
    texts = copy.deepcopy(base)
    texts["steps"][0].update(result="", error=None, user_input="héllo ✓", prompt={"n": [1, 2.5, None, True]})
    return variants + [no_count, null_count, renamed, offset, upper, texts]


@pytest.mark.parametrize("index", range(8))
def test_fast_validation_gives_what_the_serializer_gives(index):
    from flowdesk.importing.command import serializer_errors
    from flows.importing.fastpath import SessionValidator
    from flows.importing.serializers import ImportSessionSerializer

    record = fast_path_variants()[index]
    validator = SessionValidator()
    expected = serializer_errors(ImportSessionSerializer, record)
    assert validator.fast(record) == expected  # the fast path itself, not the fallback
    assert validator(record) == expected  # and again with the version remembered


@pytest.mark.parametrize(
    "mutate, path",
    [
        (lambda r: r["steps"][0].update(result="a\x00b"), "steps.0.result"),
        (lambda r: r["steps"][0]["step"].update(step_type="DANCE"), "steps.0.step.step_type"),
        (lambda r: r.update(steps_count="1"), "steps_count"),
        (lambda r: r.update(created_at="0001-01-01T00:00:00Z"), "created_at"),
        (lambda r: r["current_step"].update(status="SLEEPING"), "current_step.status"),
    ],
)
def test_remembered_version_does_not_hide_errors(tmp_path, db, mutate, path):
    """The second record repeats the first one's version (remembered) and carries the error."""
    good = example()[0]
    bad = second_session(good)
    mutate(bad)
    with pytest.raises(CommandError) as excinfo:
        run_import(write(tmp_path, [good, bad]))
    assert str(excinfo.value).startswith(f"session #2 (id {bad['id']}): {path}: ")
    assert not models.LiveFlowSession.objects.exists()


def test_new_and_existing_sessions_in_one_batch(tmp_path, db):
    run_import(FIXTURE)
    changed = example()[0]
    old_step_id = changed["steps"][0]["id"]
    new_step_id = str(uuid.uuid4())
    for recorded in (changed["steps"][0], changed["current_step"]):
        recorded["id"] = new_step_id  # the file now records another step: the old one goes
    new = second_session(example()[0])
    summary, _ = run_import(write(tmp_path, [changed, new]))
    assert summary == "created 1, updated 1, unchanged 0"
    assert not models.LiveFlowSessionStep.objects.filter(pk=old_step_id).exists()
    currents = dict(models.LiveFlowSession.objects.values_list("id", "current_step_id"))
    assert {str(k): str(v) for k, v in currents.items()} == {
        changed["id"]: new_step_id, new["id"]: new["current_step"]["id"],
    }


def test_two_recorded_steps_with_one_id_are_refused(tmp_path, db):
    """The write would keep the last of them only: the file is refused, naming the second."""
    good = example()[0]
    bad = second_session(good)
    bad["steps"].append(dict(copy.deepcopy(bad["steps"][0]), result="the second"))
    with pytest.raises(CommandError) as excinfo:
        run_import(write(tmp_path, [good, bad]))  # the second record: its version remembered
    assert str(excinfo.value) == (
        f"session #2 (id {bad['id']}): steps.1.id: Duplicate recorded step id. Nothing was imported."
    )
    assert not models.LiveFlowSessionStep.objects.exists()


def test_a_version_without_start_comes_back_as_the_list_endpoint_gave_it(tmp_path, tenant):
    """At most one START, not exactly one: a session may have run a version left without START
    (it then failed), and the list endpoint's body must import back."""
    live_flow = make_live_flow(tenant.organization, n_steps=2)
    version = live_flow.current_version
    models.Step.objects.filter(flow_version=version, step_type=models.StepType.START).delete()
    models.LiveFlowSession.objects.create(live_flow=live_flow, flow_version=version, status=models.SessionStatus.FAILED,
                                   error="The session's flow version has no START step to run.")
    url = f"/live_flows/{live_flow.pk}/sessions"
    body = tenant.client.get(url).json()
    assert [step["step_type"] for step in body[0]["flow_version"]["steps"]] == ["LLM"]
    models.LiveFlowSession.objects.all().delete()
    summary, _ = run_import(write(tmp_path, body), org=tenant.organization.pk, live_flow=str(live_flow.pk))
    assert summary == "created 1, updated 0, unchanged 0"
    assert tenant.client.get(url).json() == body


@pytest.mark.postgres  # elsewhere the import writes through the ORM only: it would compare it with itself
def test_rows_copied_from_their_values_are_the_rows_the_orm_path_writes(tmp_path, db, monkeypatch):
    """New sessions and recorded steps go in with COPY from their values (insert_values): the same
    rows, defaults of the columns a record does not carry included, as model instances give."""
    from flowdesk.importing import rows
    from flows.management.commands import import_live_flow_sessions as command

    records = [example()[0], second_session(example()[0])]
    records[1]["steps"][0].update(prompt=None, result=None, user_input="héllo ✓")
    records[1]["inputs"] = {"nested": {"n": [1, 2.5, None, True]}, "big": 2**62}
    path = write(tmp_path, records)

    def stored():
        return (
            list(models.LiveFlowSession.objects.order_by("id").values()),
            list(models.LiveFlowSessionStep.objects.order_by("id").values()),
        )

    assert run_import(path)[0] == "created 2, updated 0, unchanged 0"
    copied = stored()
    models.LiveFlowSession.objects.all().delete()
    monkeypatch.setattr(command, "sync_new_rows", rows.sync_rows)  # model instances, every field prepared by Django
    assert run_import(path)[0] == "created 2, updated 0, unchanged 0"
    assert stored() == copied
    assert copied[1][0]["attempts"] == 0 and copied[1][0]["lease_expires_at"] is None and copied[0][0]["revision"] == 0
