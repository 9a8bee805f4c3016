"""The live-flows import's fast path agrees with its serializer (flowdesk.importing.testing).

SessionValidator may decline a record (the import then asks ImportSessionSerializer), but what
it accepts the serializer must accept too, with the same validated data. Besides the harness's
odd values at every path of a record, the family's own variants: repeated ids (recorded steps,
steps, with ids that differ only in case), transitions and recorded steps pointing outside the
version, a current step the session did not record, START steps, and the version changed
behind a remembered id.
"""

import copy
import json
import uuid
from pathlib import Path

import pytest
from rest_framework import serializers

from flowdesk.importing.testing import FastPathHarness
from flows.importing.fastpath import SessionValidator
from flows.importing.serializers import ImportSessionSerializer

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "live_flow_sessions.json"


def ids(n):
    return [str(uuid.UUID(int=0x5EED_0000 + i, version=4)) for i in range(n)]


def step(step_id, name, step_type, template=None):
    stamp = "2025-03-01T10:00:00.250Z"
    return {"id": step_id, "name": name, "step_type": step_type, "prompt_template": template,
            "created_at": stamp, "updated_at": stamp}


def running_session():
    """A session as the list endpoint renders one: three steps, two of them recorded, waiting."""
    session_id, version_id, flow_id, start, classify, ask, t1, t2, r1, r2 = ids(10)
    steps = [
        step(start, "start", "START"),
        step(classify, "classify", "LLM", {"type": "text", "text": "${INPUTS.q}"}),
        step(ask, "ask", "USER_INPUT", {"type": "text", "text": "Which one?"}),
    ]
    recorded = [
        {"id": r1, "status": "FINISHED", "prompt": {}, "result": "", "error": None, "user_input": None,
         "step": copy.deepcopy(steps[0]), "created_at": "2025-03-01T10:01:00Z", "updated_at": "2025-03-01T10:01:00Z"},
        {"id": r2, "status": "WAITING_FOR_USER_INPUT", "prompt": {"text": "Which one?"}, "result": None,
         "error": None, "user_input": None, "step": copy.deepcopy(steps[2]), "created_at": "2025-03-01T10:01:02.5Z",
         "updated_at": "2025-03-01T10:01:02.5Z"},
    ]
    return {
        "id": session_id,
        "steps_count": 2,
        "inputs": {"q": "hi", "n": [1, 2.5, None, True]},
        "error": None,
        "status": "WAITING_FOR_USER_INPUT",
        "flow_version": {
            "id": version_id,
            "flow_id": flow_id,
            "steps": steps,
            "step_transitions": [
                {"source_step_id": start, "target_step_id": classify, "label": None, "id": t1},
                {"source_step_id": classify, "target_step_id": ask, "label": "unclear", "id": t2},
            ],
            "created_at": "2025-03-01T09:00:00Z",
            "updated_at": "2025-03-01T09:00:00Z",
        },
        "created_at": "2025-03-01T10:01:00Z",
        "updated_at": "2025-03-01T10:01:02.5Z",
        "current_step": copy.deepcopy(recorded[1]),
        "steps": recorded,
    }


def records():
    """The vendor's documented example; a running session; a new one that has recorded nothing
    (no current step: its `steps` alone decide)."""
    new = running_session()
    new.update(status="NEW", steps=[], current_step=None, steps_count=0)
    return [json.loads(FIXTURE.read_text())[0], running_session(), new]


def changed(record, edit):
    record = copy.deepcopy(record)
    edit(record)
    return record


def version_steps(record):
    return record["flow_version"]["steps"]


def repeat_recorded_id(record, spelled):
    """The second recorded step has the first one's id (and is still the current step)."""
    first = record["steps"][0]["id"]
    record["steps"][1]["id"] = spelled(first)
    record["current_step"]["id"] = first


# The refusals the family's rules add to the fields' own: (what, edit, the path the error names).
# Each edit applies to running_session(); the fast path must decline every one of them.
REFUSED = [
    ("a repeated recorded step id",
     lambda r: repeat_recorded_id(r, str), "steps.1.id"),
    ("a recorded step id repeated in another case",
     lambda r: repeat_recorded_id(r, str.upper), "steps.1.id"),
    ("a repeated step id",
     lambda r: version_steps(r)[1].update(id=version_steps(r)[0]["id"]), "flow_version.steps.1.id"),
    ("a step id repeated in another case",
     lambda r: version_steps(r)[2].update(id=version_steps(r)[0]["id"].upper()), "flow_version.steps.2.id"),
    ("two START steps",
     lambda r: version_steps(r)[1].update(step_type="START"), "flow_version.steps"),
    ("a transition from outside the version",
     lambda r: r["flow_version"]["step_transitions"][1].update(source_step_id=ids(11)[-1]),
     "flow_version.step_transitions.1.source_step_id"),
    ("a transition into outside the version",
     lambda r: r["flow_version"]["step_transitions"][0].update(target_step_id=ids(12)[-1]),
     "flow_version.step_transitions.0.target_step_id"),
    ("a recorded step of a step outside the version",
     lambda r: r["steps"][0]["step"].update(id=ids(13)[-1]), "steps.0.step.id"),
    ("a current step the session did not record",
     lambda r: r["current_step"].update(id=ids(14)[-1]), "current_step.id"),
]


def no_start(record):
    for item in version_steps(record):
        item["step_type"] = "LLM"


def nothing_recorded(record):
    record.update(steps=[], current_step=None, steps_count=0)


def no_steps_at_all(record):
    nothing_recorded(record)
    record["flow_version"].update(steps=[], step_transitions=[])


def recorded_ids_in_capitals(record):
    for item in [*record["steps"], record["current_step"]]:
        item["id"] = item["id"].upper()


ACCEPTED = [
    no_start,  # a version sessions ran may lack a START step (flows/rules.py)
    nothing_recorded,
    no_steps_at_all,
    recorded_ids_in_capitals,
    lambda r: r.update(current_step=None),
    lambda r: r["steps"][0]["step"].update(name="renamed in the recording"),  # not the version's copy
    lambda r: version_steps(r)[0].update(name="changed behind the id"),  # the remembered version is not used
]


def family_variants(record):
    for edit in [edit for _, edit, _ in REFUSED] + ACCEPTED:
        try:
            yield changed(record, edit)
        except (IndexError, TypeError, AttributeError):
            pass  # not for this sample: the fixture has one step and one recorded, the new session none


def harness():
    validator = SessionValidator()  # one for every variant, as for a file: versions are remembered
    return FastPathHarness(
        fast=validator.try_fast,
        serializer=ImportSessionSerializer().run_validation,
        records=records(),
        extra_variants=family_variants,
        top_level_keys=("steps_count",),
    )


def test_the_fast_path_gives_what_the_serializer_gives():
    # Not vacuous: of some 10,400 variants, about 3,100 take the fast path and 7,300 are refused.
    harness().check(min_fast=2500, min_refused=5000)


@pytest.mark.parametrize("what, edit, path", REFUSED, ids=[what for what, _, _ in REFUSED])
def test_the_familys_rules_are_refused_by_both(what, edit, path):
    record = changed(running_session(), edit)
    assert SessionValidator().try_fast(record) is None
    with pytest.raises(serializers.ValidationError) as excinfo:
        ImportSessionSerializer().run_validation(record)
    detail = excinfo.value.detail
    for key in path.split("."):
        detail = detail[int(key) if key.isdigit() else key]
    assert detail and isinstance(detail[0], str)


def test_the_samples_take_the_fast_path_with_their_versions_remembered():
    validator = SessionValidator()
    for record in records():
        expected = ImportSessionSerializer().run_validation(copy.deepcopy(record))
        assert validator.fast(copy.deepcopy(record)) == expected
        assert validator.fast(copy.deepcopy(record)) == expected  # the version remembered this time
