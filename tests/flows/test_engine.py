"""The engine behind status and current_step, run inline (FLOWDESK_LIVE_FLOW_RUNNER=eager) on both
databases: branching, templates, user input, cancel, failures, lost workers, recovery."""

import io
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import ApiKey
from flows import engine
from flows.demo import DEMO_LIVE_FLOW_ID
from flows.llm import ModelError
from flows.models import LiveFlowSession, LiveFlowSessionStep, SessionStatus, Step, StepTransition, StepType
from tests.conftest import key_client
from tests.flows.engine_helpers import ScriptedModel, make_triage_flow
from tests.flows.factories import make_live_flow, make_session

SCRIPTED = "tests.flows.engine_helpers.ScriptedModel"


def url(live_flow, session_id=None, action=None, slash=True):
    path = f"/live_flows/{live_flow.pk}/sessions"
    if session_id:
        path += f"/{session_id}"
    if action:
        path += f"/{action}"
    return path + ("/" if slash else "")


@pytest.fixture
def eager(settings):
    settings.LIVE_FLOW_RUNNER = "eager"
    settings.LIVE_FLOW_LLM_BACKEND = "offline"
    return settings


@pytest.fixture
def scripted(eager):
    eager.LIVE_FLOW_LLM_BACKEND = SCRIPTED
    ScriptedModel.answers = {}
    ScriptedModel.calls = []
    return ScriptedModel


@pytest.fixture
def triage(tenant):
    return make_triage_flow(tenant.organization)


def start(tenant, live_flow, inputs, capture):
    """POST a session; the response is sent before the engine runs (the callbacks run after)."""
    with capture(execute=True):
        response = tenant.client.post(url(live_flow), {"inputs": inputs}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "NEW"
    return response.json()["id"]


def read(tenant, live_flow, session_id):
    response = tenant.client.get(url(live_flow, session_id))
    assert response.status_code == 200
    return response.json()


def summary(body):
    return [(s["step"]["name"], s["status"], s["result"]) for s in body["steps"]]


def test_technical_message_waits_for_input_then_finishes(tenant, triage, eager, django_capture_on_commit_callbacks):
    live_flow, _ = triage
    message = "The app shows a technical error when I open settings."
    session_id = start(tenant, live_flow, {"message": message}, django_capture_on_commit_callbacks)

    body = read(tenant, live_flow, session_id)
    assert body["status"] == "WAITING_FOR_USER_INPUT"
    assert body["error"] is None
    assert summary(body) == [
        ("start", "FINISHED", ""),
        ("classify", "FINISHED", "technical"),  # the offline model picks the label the message names
        ("ask_details", "WAITING_FOR_USER_INPUT", None),
    ]
    assert body["steps_count"] == 3
    assert body["steps"][0]["prompt"] == {}
    assert body["steps"][1]["prompt"] == {"type": "chat", "temperature": 0, "messages": [
        {"role": "system", "content": "Answer with one word: billing or technical."},
        {"role": "user", "content": message},
    ]}
    assert body["steps"][2]["prompt"] == {"type": "text", "text": "Which version of the app are you running?"}
    assert body["current_step"] == body["steps"][2]

    with django_capture_on_commit_callbacks(execute=True):
        response = tenant.client.post(url(live_flow, session_id, "user_input"), {"user_input": "2.4.1"}, format="json")
    assert response.status_code == 200
    answered = response.json()
    assert answered["status"] == "RUNNING"  # answered before the next step runs
    assert answered["steps"][2]["user_input"] == "2.4.1"
    assert answered["current_step"]["step"]["name"] == "technical_reply"
    assert answered["current_step"]["status"] == "NEW"

    body = read(tenant, live_flow, session_id)
    assert body["status"] == "FINISHED"
    expected_prompt = f"Problem: {message}. Version: 2.4.1. Category: technical. Suggest a fix."
    assert summary(body) == [
        ("start", "FINISHED", ""),
        ("classify", "FINISHED", "technical"),
        ("ask_details", "FINISHED", "2.4.1"),
        ("technical_reply", "FINISHED", f"(offline model) Answer to: {expected_prompt}"),
    ]
    assert body["steps"][3]["prompt"]["messages"][0]["content"] == expected_prompt
    assert body["current_step"] == body["steps"][3]
    assert body["steps_count"] == 4
    assert body["updated_at"] >= body["steps"][3]["created_at"]


def test_billing_message_finishes_without_input(tenant, triage, eager, django_capture_on_commit_callbacks):
    live_flow, _ = triage
    session_id = start(tenant, live_flow, {"message": "My invoice is wrong"}, django_capture_on_commit_callbacks)
    body = read(tenant, live_flow, session_id)
    assert body["status"] == "FINISHED"
    # Neither label is in the message: the offline model answers the first one the prompt names.
    assert [name for name, *_ in summary(body)] == ["start", "classify", "billing_reply"]
    assert body["steps"][1]["result"] == "billing"
    assert body["current_step"]["step"]["name"] == "billing_reply"
    assert LiveFlowSession.objects.get(pk=session_id).status == SessionStatus.FINISHED


@pytest.mark.django_db(transaction=True)
def test_the_engine_publishes_each_status_change_as_committed(tenant, triage, eager, heard):
    # What a webhook of live_flow_session.status_changed gets: NEW (the start), RUNNING, FINISHED.
    live_flow, _ = triage
    response = tenant.client.post(url(live_flow), {"inputs": {"message": "My invoice is wrong"}}, format="json")
    session_id = response.json()["id"]
    changes = [event for event in heard if event.type == "live_flow_session.status_changed"]
    assert [event.data["status"] for event in changes] == ["NEW", "RUNNING", "FINISHED"]
    assert {(event.channel, event.organization_id) for event in changes} == {
        (f"live_flow_session:{session_id}", tenant.organization.pk)}
    assert changes[-1].data == read(tenant, live_flow, session_id)


@pytest.mark.parametrize("answer, branch", [
    ("technical", "ask_details"),
    ("  Technical.\n", "ask_details"),  # how models answer: case, spaces, a full stop
    ("BILLING", "billing_reply"),
])
def test_labels_match_the_answer(tenant, triage, scripted, django_capture_on_commit_callbacks, answer, branch):
    live_flow, _ = triage
    scripted.answers = {"one word": answer, "Draft": "ok"}
    session_id = start(tenant, live_flow, {"message": "hi"}, django_capture_on_commit_callbacks)
    body = read(tenant, live_flow, session_id)
    assert body["steps"][2]["step"]["name"] == branch
    assert body["steps"][1]["result"] == answer  # recorded as the model said it
    assert scripted.calls[0]["labels"] == ["billing", "technical"]
    assert scripted.calls[0]["options"] == {"temperature": 0}


def test_no_matching_label_fails_naming_the_labels(tenant, triage, scripted, django_capture_on_commit_callbacks):
    live_flow, _ = triage
    scripted.answers = {"one word": "refund"}
    session_id = start(tenant, live_flow, {"message": "hi"}, django_capture_on_commit_callbacks)
    body = read(tenant, live_flow, session_id)
    message = "The answer 'refund' matches no outgoing transition; the possible labels are \"billing\", \"technical\"."
    assert body["status"] == "FAILED"
    assert body["error"] == f"Step classify failed: {message}"
    assert summary(body)[-1] == ("classify", "FAILED", "refund")
    assert body["steps"][-1]["error"] == message
    assert body["current_step"]["step"]["name"] == "classify"


def test_unlabelled_transition_is_the_fallback(tenant, triage, scripted, django_capture_on_commit_callbacks):
    live_flow, steps = triage
    StepTransition.objects.create(flow_version=live_flow.current_version, source_step=steps["classify"],
                                  target_step=steps["billing_reply"], label=None)
    scripted.answers = {"one word": "something else", "Draft": "drafted"}
    session_id = start(tenant, live_flow, {"message": "hi"}, django_capture_on_commit_callbacks)
    body = read(tenant, live_flow, session_id)
    assert body["status"] == "FINISHED"
    assert summary(body)[1:] == [("classify", "FINISHED", "something else"), ("billing_reply", "FINISHED", "drafted")]


def test_user_input_chooses_the_branch(tenant, scripted, django_capture_on_commit_callbacks):
    live_flow, steps = make_triage_flow(tenant.organization)
    version = live_flow.current_version
    confirm = Step.objects.create(flow_version=version, name="confirm", step_type=StepType.LLM,
                                  prompt_template={"text": "Confirm ${ask_details.user_input}"})
    StepTransition.objects.filter(source_step=steps["ask_details"]).update(label="other")
    StepTransition.objects.create(flow_version=version, source_step=steps["ask_details"], target_step=confirm,
                                  label="yes")
    scripted.answers = {"one word": "technical", "Confirm": "confirmed"}
    session_id = start(tenant, live_flow, {"message": "hi"}, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = tenant.client.post(url(live_flow, session_id, "user_input", slash=False), {"user_input": "Yes"},
                                      format="json")
    assert response.status_code == 200
    body = read(tenant, live_flow, session_id)
    assert body["status"] == "FINISHED"
    assert summary(body)[-1] == ("confirm", "FINISHED", "confirmed")
    assert body["steps"][-1]["prompt"] == {"text": "Confirm Yes"}

    second = start(tenant, live_flow, {"message": "hi"}, django_capture_on_commit_callbacks)
    response = tenant.client.post(url(live_flow, second, "user_input"), {"user_input": "maybe"}, format="json")
    assert response.status_code == 200
    body = read(tenant, live_flow, second)
    assert body["status"] == "FAILED"
    assert body["error"] == ("Step ask_details failed: The user input 'maybe' matches no outgoing transition; "
                             "the possible labels are \"other\", \"yes\".")


@pytest.mark.parametrize("error, message", [
    (ModelError("The model did not answer within 60 seconds."), "The model did not answer within 60 seconds."),
    (RuntimeError("boom"), "The model failed: RuntimeError: boom"),
])
def test_failing_model_fails_step_and_session(tenant, triage, scripted, django_capture_on_commit_callbacks,
                                              error, message):
    live_flow, _ = triage
    scripted.answers = {"one word": error}
    session_id = start(tenant, live_flow, {"message": "hi"}, django_capture_on_commit_callbacks)
    body = read(tenant, live_flow, session_id)
    assert body["status"] == "FAILED"
    assert body["error"] == f"Step classify failed: {message}"
    assert summary(body) == [("start", "FINISHED", ""), ("classify", "FAILED", None)]
    assert body["current_step"]["error"] == message
    assert LiveFlowSessionStep.objects.get(pk=body["current_step"]["id"]).lease_expires_at is None


def test_missing_input_fails_with_the_reference(tenant, triage, eager, django_capture_on_commit_callbacks):
    live_flow, _ = triage
    session_id = start(tenant, live_flow, {"text": "no message key"}, django_capture_on_commit_callbacks)
    body = read(tenant, live_flow, session_id)
    assert body["status"] == "FAILED"
    assert body["error"] == "Step classify failed: ${INPUTS.message}: the session's inputs have no 'message'."


def test_render():
    results = {"classify": {"result": "billing", "user_input": None}, "ask": {"result": "2.4", "user_input": "2.4"}}
    inputs = {"message": "hello", "count": 3, "meta": {"a": [1]}}
    template = {
        "messages": [{"role": "user", "content": "${INPUTS.message} (${classify.result}, v${ask.user_input})"}],
        "count": "${INPUTS.count}",
        "meta": "${ INPUTS.meta }",
        "inline": "n=${INPUTS.count} m=${INPUTS.meta}",
        "untouched": ["$INPUTS.message", "${", 7, None, True],
        "${INPUTS.message}": "keys are not templates",
    }
    assert engine.render(template, inputs, results) == {
        "messages": [{"role": "user", "content": "hello (billing, v2.4)"}],
        "count": 3,
        "meta": {"a": [1]},
        "inline": 'n=3 m={"a": [1]}',
        "untouched": ["$INPUTS.message", "${", 7, None, True],
        "${INPUTS.message}": "keys are not templates",
    }
    assert engine.render(None, inputs, results) is None
    for bad, message in [
        ("${INPUTS.nope}", "${INPUTS.nope}: the session's inputs have no 'nope'."),
        ("${later.result}", "${later.result}: step 'later' has not finished in this session."),
        ("${classify.prompt}", "${classify.prompt} is not a reference; use ${INPUTS.name} or ${step_name.result}."),
        ("${message}", "${message} is not a reference; use ${INPUTS.name} or ${step_name.result}."),
    ]:
        with pytest.raises(engine.TemplateError) as info:
            engine.render({"x": [bad]}, inputs, results)
        assert str(info.value) == message


def test_user_input_when_not_waiting_is_409(tenant, triage, eager, django_capture_on_commit_callbacks):
    live_flow, _ = triage
    new = make_session(live_flow, status=SessionStatus.NEW)
    for slash in (True, False):
        response = tenant.client.post(url(live_flow, new.pk, "user_input", slash=slash), {"user_input": "x"},
                                      format="json")
        assert (response.status_code, response.json()) == (
            409, {"detail": "This session is not waiting for user input; its status is NEW."})
    finished = start(tenant, live_flow, {"message": "invoice"}, django_capture_on_commit_callbacks)
    response = tenant.client.post(url(live_flow, finished, "user_input"), {"user_input": "x"}, format="json")
    assert (response.status_code, response.json()) == (
        409, {"detail": "This session is not waiting for user input; its status is FINISHED."})
    assert LiveFlowSessionStep.objects.filter(user_input__isnull=False).count() == 0


@pytest.mark.parametrize("body, detail", [
    ({}, [{"loc": ["body", "user_input"], "msg": "This field is required.", "type": "required"}]),
    ({"user_input": 5}, [{"loc": ["body", "user_input"], "msg": "Not a valid string.", "type": "invalid"}]),
    ({"user_input": None}, [{"loc": ["body", "user_input"], "msg": "This field may not be null.", "type": "null"}]),
])
def test_bad_user_input_body_is_422_and_writes_nothing(tenant, triage, eager, django_capture_on_commit_callbacks,
                                                        body, detail):
    live_flow, _ = triage
    session_id = start(tenant, live_flow, {"message": "technical"}, django_capture_on_commit_callbacks)
    response = tenant.client.post(url(live_flow, session_id, "user_input"), body, format="json")
    assert (response.status_code, response.json()) == (422, {"detail": detail})
    assert read(tenant, live_flow, session_id)["status"] == "WAITING_FOR_USER_INPUT"


def test_another_tenant_cannot_answer_or_cancel(tenant, other_tenant, triage, eager, django_capture_on_commit_callbacks):
    live_flow, _ = triage
    session_id = start(tenant, live_flow, {"message": "technical"}, django_capture_on_commit_callbacks)
    for action, body in (("user_input", {"user_input": "x"}), ("cancel", {})):
        response = other_tenant.client.post(url(live_flow, session_id, action), body, format="json")
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
    response = tenant.client.post(url(live_flow, uuid.uuid4(), "cancel"), {}, format="json")
    assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
    assert read(tenant, live_flow, session_id)["status"] == "WAITING_FOR_USER_INPUT"


def test_cancel(tenant, triage, eager, django_capture_on_commit_callbacks):
    live_flow, _ = triage
    session_id = start(tenant, live_flow, {"message": "technical"}, django_capture_on_commit_callbacks)
    response = tenant.client.post(url(live_flow, session_id, "cancel", slash=False))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "CANCELLED"
    assert summary(body) == [("start", "FINISHED", ""), ("classify", "FINISHED", "technical"),
                             ("ask_details", "CANCELLED", None)]
    assert body["current_step"]["status"] == "CANCELLED"
    again = tenant.client.post(url(live_flow, session_id, "cancel"))
    assert (again.status_code, again.json()) == (
        409, {"detail": "This session has already ended (CANCELLED); it cannot be cancelled."})
    answer = tenant.client.post(url(live_flow, session_id, "user_input"), {"user_input": "x"}, format="json")
    assert (answer.status_code, answer.json()) == (
        409, {"detail": "This session is not waiting for user input; its status is CANCELLED."})

    finished = start(tenant, live_flow, {"message": "invoice"}, django_capture_on_commit_callbacks)
    response = tenant.client.post(url(live_flow, finished, "cancel"))
    assert (response.status_code, response.json()) == (
        409, {"detail": "This session has already ended (FINISHED); it cannot be cancelled."})


def test_cancel_before_the_worker_starts(tenant, triage, eager):
    live_flow, _ = triage
    response = tenant.client.post(url(live_flow), {"inputs": {"message": "x"}}, format="json")  # not run yet
    session_id = response.json()["id"]
    assert tenant.client.post(url(live_flow, session_id, "cancel")).json()["status"] == "CANCELLED"
    assert engine.run_until_blocked(session_id) == engine.stop("cancelled")
    body = read(tenant, live_flow, session_id)
    assert summary(body) == [("start", "CANCELLED", None)]


def test_cancel_while_the_model_answers_drops_the_answer(tenant, triage, scripted, django_capture_on_commit_callbacks):
    live_flow, _ = triage

    def cancel_meanwhile(messages):
        engine.cancel(session_id)  # the user's cancel arrives during the model call
        return "billing"

    scripted.answers = {"one word": cancel_meanwhile}
    response = tenant.client.post(url(live_flow), {"inputs": {"message": "x"}}, format="json")
    session_id = response.json()["id"]
    assert engine.run_until_blocked(session_id) == engine.stop("superseded")
    body = read(tenant, live_flow, session_id)
    assert body["status"] == "CANCELLED"
    assert summary(body) == [("start", "FINISHED", ""), ("classify", "CANCELLED", None)]


def lose_worker(session, attempts, lease_passed=True):
    """The state a worker leaves when it dies while the model answers the current step."""
    recorded = session.current_step
    recorded.status = SessionStatus.RUNNING
    recorded.attempts = attempts
    recorded.lease_expires_at = timezone.now() + timedelta(seconds=-1 if lease_passed else 60)
    recorded.save()
    LiveFlowSession.objects.filter(pk=session.pk).update(status=SessionStatus.RUNNING)


def classify_running(tenant, live_flow, scripted):
    """A session whose classify step a worker has started."""
    scripted.answers = {"one word": "billing", "Draft": "drafted"}
    session_id = tenant.client.post(url(live_flow), {"inputs": {"message": "x"}}, format="json").json()["id"]
    engine.advance(session_id)  # START
    return LiveFlowSession.objects.select_related("current_step").get(pk=session_id)


def test_step_left_by_a_dead_worker_is_retried_once(tenant, triage, scripted):
    live_flow, _ = triage
    session = classify_running(tenant, live_flow, scripted)
    lose_worker(session, attempts=1)
    assert engine.stalled_sessions() == [session.pk]
    assert engine.run_until_blocked(session.pk) == engine.stop("finished")
    classify = LiveFlowSessionStep.objects.get(session=session, step__name="classify")
    assert (classify.status, classify.result, classify.attempts, classify.lease_expires_at) == (
        SessionStatus.FINISHED, "billing", 2, None)
    assert LiveFlowSession.objects.get(pk=session.pk).status == SessionStatus.FINISHED


def test_a_second_dead_worker_fails_the_session(tenant, triage, scripted):
    live_flow, _ = triage
    session = classify_running(tenant, live_flow, scripted)
    lose_worker(session, attempts=2)
    assert engine.advance(session.pk) == engine.stop("failed")
    body = read(tenant, live_flow, session.pk)
    message = "The worker running this step stopped before it finished, 2 times; giving up."
    assert body["status"] == "FAILED"
    assert body["error"] == f"Step classify failed: {message}"
    assert body["current_step"]["status"] == "FAILED"
    assert scripted.calls == []  # never asked again


def test_a_step_held_by_a_live_worker_is_left_alone(tenant, triage, scripted):
    live_flow, _ = triage
    session = classify_running(tenant, live_flow, scripted)
    lose_worker(session, attempts=1, lease_passed=False)
    before = read(tenant, live_flow, session.pk)
    outcome = engine.advance(session.pk)
    assert (outcome.kind, outcome.reason, outcome.watch) == ("stop", "held", (str(session.current_step_id), 1))
    assert 58 < outcome.retry_in <= 60  # look again when the lease ends
    assert read(tenant, live_flow, session.pk) == before
    assert engine.stalled_sessions() == []


def test_a_watch_takes_over_only_the_step_it_watched(tenant, triage, scripted):
    live_flow, _ = triage
    session = classify_running(tenant, live_flow, scripted)
    lose_worker(session, attempts=1)
    watched = str(session.current_step_id)
    # The holder finished meanwhile and a later attempt runs: the watch does nothing.
    assert engine.advance(session.pk, watch=(watched, 2)) == engine.stop("moved on")
    assert engine.advance(session.pk, watch=(str(uuid.uuid4()), 1)) == engine.stop("moved on")
    assert scripted.calls == []
    # Still the same attempt, its lease passed: the holder died; the watch retries the step.
    assert engine.advance(session.pk, watch=(watched, 1)) == engine.CONTINUE
    classify = LiveFlowSessionStep.objects.get(pk=watched)
    assert (classify.status, classify.attempts) == (SessionStatus.FINISHED, 2)


def test_a_late_answer_from_a_superseded_worker_is_dropped(tenant, triage, scripted):
    live_flow, _ = triage
    session = classify_running(tenant, live_flow, scripted)

    def taken_over(messages):
        # Our lease ran out while we waited; another worker started the step again.
        LiveFlowSessionStep.objects.filter(pk=session.current_step_id).update(attempts=2)
        return "technical"

    scripted.answers = {"one word": taken_over}
    assert engine.advance(session.pk) == engine.stop("superseded")
    classify = LiveFlowSessionStep.objects.get(pk=session.current_step_id)
    assert (classify.status, classify.result) == (SessionStatus.RUNNING, None)
    assert LiveFlowSessionStep.objects.filter(session=session).count() == 2


def test_recover_command(tenant, triage, scripted, django_capture_on_commit_callbacks):
    live_flow, _ = triage
    dead = classify_running(tenant, live_flow, scripted)
    lose_worker(dead, attempts=1)
    lost = tenant.client.post(url(live_flow), {"inputs": {"message": "x"}}, format="json").json()["id"]
    LiveFlowSession.objects.filter(pk=lost).update(updated_at=timezone.now() - timedelta(minutes=10))
    # Imported long ago: never run by surprise.
    old = make_session(live_flow, n_recorded=1, status=SessionStatus.NEW,
                       created_at=timezone.now() - timedelta(days=3))
    LiveFlowSessionStep.objects.filter(session=old).update(status=SessionStatus.NEW)
    fresh = tenant.client.post(url(live_flow), {"inputs": {"message": "x"}}, format="json").json()["id"]

    out, err = io.StringIO(), io.StringIO()
    call_command("recover_live_flow_sessions", "--dry-run", stdout=out, stderr=err)
    assert out.getvalue().splitlines()[-1] == "2 stalled session(s) found; none run (dry run)"
    assert set(err.getvalue().split()) == {"session", str(dead.pk), lost}

    out = io.StringIO()
    call_command("recover_live_flow_sessions", stdout=out, stderr=io.StringIO())
    assert out.getvalue().splitlines()[-1] == "2 stalled session(s) run"
    statuses = dict(LiveFlowSession.objects.values_list("id", "status"))
    assert statuses[dead.pk] == statuses[uuid.UUID(lost)] == SessionStatus.FINISHED
    assert statuses[old.pk] == statuses[uuid.UUID(fresh)] == SessionStatus.NEW


def test_a_looping_flow_stops_at_the_step_limit(tenant, scripted, settings):
    settings.LIVE_FLOW_MAX_STEPS = 5
    live_flow = make_live_flow(tenant.organization, n_steps=2)
    steps = list(live_flow.current_version.steps.order_by("created_at"))
    StepTransition.objects.create(flow_version=live_flow.current_version, source_step=steps[1],
                                  target_step=steps[1])
    scripted.answers = {'"n": 1': "again"}
    session_id = tenant.client.post(url(live_flow), {"inputs": {}}, format="json").json()["id"]
    assert engine.run_until_blocked(session_id) == engine.stop("failed")
    session = LiveFlowSession.objects.get(pk=session_id)
    assert session.steps.count() == 5
    assert session.error == ("Step llm_1 failed: The session has recorded 5 steps, the most a session may run "
                             "(FLOWDESK_SESSION_MAX_STEPS); do the flow's transitions loop?")


def test_a_version_without_start_fails(tenant, triage, eager):
    live_flow, _ = triage
    session = LiveFlowSession.objects.create(live_flow=live_flow, flow_version=live_flow.current_version)
    assert engine.run_until_blocked(session.pk) == engine.stop("failed")
    session.refresh_from_db()
    assert (session.status, session.error) == (SessionStatus.FAILED, "The session's flow version has no START step to run.")


def test_demo_live_flow_runs_in_the_embedded_default(transactional_db, settings, monkeypatch):
    """The demo data, the thread runner (the default without a broker) and the offline model.

    On SQLite the test database is in memory, where a second thread's write fails at once instead
    of waiting as it does in a file database: there the runner works inline."""
    settings.LIVE_FLOW_RUNNER = "thread" if connection.vendor == "postgresql" else "eager"
    settings.LIVE_FLOW_LLM_BACKEND = "offline"
    with tempfile.TemporaryDirectory(dir=settings.VAR_DIR) as scratch:  # not the developer's demo key
        monkeypatch.setattr("accounts.management.commands.demo.DEMO_KEY_FILE", Path(scratch) / "demo_api_key")
        call_command("demo", stdout=io.StringIO(), stderr=io.StringIO())
    demo_key = ApiKey.objects.get(name="demo")
    _, raw = ApiKey.generate(user=demo_key.user, organization=demo_key.organization, name="test")
    client = key_client(raw)
    base = f"/live_flows/{DEMO_LIVE_FLOW_ID}/sessions/"

    def wait_for(session_id, status):
        # Join the runner's threads rather than poll: SQLite's in-memory test database locks whole
        # tables, so reading while the thread writes would fail there (a file database waits).
        # A step may hand the session to a new thread: join until none is left.
        deadline = time.monotonic() + 30
        while running := [t for t in threading.enumerate() if t.name.startswith("live-flow-")]:
            assert time.monotonic() < deadline, "the runner's threads did not finish"
            for thread in running:
                thread.join(max(deadline - time.monotonic(), 0.1))
        body = client.get(f"{base}{session_id}/").json()
        assert body["status"] == status
        return body

    response = client.post(base, {"inputs": {"message": "Technical problem: the app crashes on start."}},
                           format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "NEW"  # the session as started, before the runner moved it
    session_id = response.json()["id"]
    body = wait_for(session_id, "WAITING_FOR_USER_INPUT")
    assert [s["step"]["name"] for s in body["steps"]] == ["start", "classify", "ask_details"]
    response = client.post(f"{base}{session_id}/user_input/", {"user_input": "2.4.1"}, format="json")
    assert response.status_code == 200
    body = wait_for(session_id, "FINISHED")
    assert [s["step"]["name"] for s in body["steps"]] == ["start", "classify", "ask_details", "technical_reply"]
    assert "Version: 2.4.1" in body["steps"][-1]["result"]
    # The demo's own sessions (imported history) were not run by the runner's first-use recovery.
    assert LiveFlowSession.objects.filter(status=SessionStatus.NEW).count() == 1


@pytest.mark.postgres
def test_two_answers_at_once_one_wins(transactional_db, tenant, settings, monkeypatch):
    settings.LIVE_FLOW_RUNNER = "eager"
    settings.LIVE_FLOW_LLM_BACKEND = "offline"
    live_flow, _ = make_triage_flow(tenant.organization)
    session_id = tenant.client.post(url(live_flow), {"inputs": {"message": "technical"}}, format="json").json()["id"]
    assert LiveFlowSession.objects.get(pk=session_id).status == SessionStatus.WAITING_FOR_USER_INPUT

    follow = engine._follow

    def slow_follow(*args, **kwargs):
        time.sleep(0.3)  # the winner holds the session's lock a while: the other must wait for it
        return follow(*args, **kwargs)

    monkeypatch.setattr(engine, "_follow", slow_follow)
    barrier = threading.Barrier(2)
    responses = {}

    def answer(value):
        client = key_client(tenant.raw_key)
        barrier.wait(5)
        responses[value] = client.post(url(live_flow, session_id, "user_input"), {"user_input": value},
                                       format="json")
        connection.close()

    threads = [threading.Thread(target=answer, args=(value,)) for value in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(r.status_code for r in responses.values()) == [200, 409]
    loser = next(r for r in responses.values() if r.status_code == 409)
    assert loser.json()["detail"].startswith("This session is not waiting for user input; its status is ")
    winner = next(value for value, r in responses.items() if r.status_code == 200)
    ask = LiveFlowSessionStep.objects.get(session_id=session_id, step__name="ask_details")
    assert (ask.user_input, ask.status) == (winner, SessionStatus.FINISHED)
    assert LiveFlowSessionStep.objects.filter(session_id=session_id, step__name="technical_reply").count() == 1
    assert LiveFlowSession.objects.get(pk=session_id).status == SessionStatus.FINISHED
