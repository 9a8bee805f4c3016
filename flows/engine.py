"""The engine that runs live flow sessions, one step at a time along the flow version's transitions.

`advance(session_id)` moves a session by one step and says what should happen next. Whoever
calls it (a Celery task, a thread of the web process, or inline in tests: flows/runner.py)
decides how the next step is scheduled. The rules:

- START records an empty prompt ({}) and result (""). LLM renders its `prompt_template` into
  `prompt`, asks the model (flows/llm.py) and records the answer as `result`. USER_INPUT renders
  its prompt and leaves the session WAITING_FOR_USER_INPUT until `submit_user_input`.
- The next step is the outgoing transition whose label equals the result (or the user's input),
  else the unlabelled one; none at all: FINISHED; none that fits: FAILED, naming the labels.
- A step that fails records its error on the step and on the session: FAILED.

Concurrency: every change happens in a short transaction that first locks the session row, so
two workers, an answer and a cancel never interleave. The model is called outside any
transaction: the step is RUNNING with a lease (`lease_expires_at`) and a fencing number
(`attempts`), and the answer is recorded only if the step is still the same attempt. A RUNNING
step whose lease has passed was left by a worker that died: it is retried once, and a second
loss fails the session. A CANCELLED session stops at the next step boundary.
"""

import json
import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from flows.llm import ModelError, get_model, prompt_messages
from flows.models import LiveFlowSession, LiveFlowSessionStep, SessionStatus, StepTransition, StepType

logger = logging.getLogger("flowdesk.flows.engine")

# A step is started at most this many times: the first try and one retry after a lost worker.
MAX_ATTEMPTS = 2
ACTIVE = (SessionStatus.NEW, SessionStatus.RUNNING)
NOT_ENDED = (SessionStatus.NEW, SessionStatus.RUNNING, SessionStatus.WAITING_FOR_USER_INPUT)


@dataclass(frozen=True)
class Outcome:
    """What the caller of `advance` should do next."""

    kind: str  # "continue": run the next step; "stop": nothing to do (ended, waiting, or held)
    reason: str = ""
    # "held": another worker runs the step; look again when its lease ends, in case it died.
    watch: tuple = None  # (recorded step id, attempt)
    retry_in: float = 0.0

    @property
    def more(self):
        return self.kind == "continue"


CONTINUE = Outcome("continue")


def stop(reason):
    return Outcome("stop", reason)


class SessionStateError(Exception):
    """The session is not in a state that allows the request (the API answers 409)."""


class TemplateError(Exception):
    pass


# --- locking --------------------------------------------------------------------------------


def lock_session(session_id):
    """The session row, locked until the end of the current transaction (None if it is gone).

    PostgreSQL: SELECT ... FOR UPDATE. SQLite has no row locks, so a write comes first: it takes
    the database's write lock for the transaction, and a reader that writes later cannot deadlock.
    """
    if connection.vendor == "sqlite":
        LiveFlowSession.objects.filter(pk=session_id).update(status=F("status"))
    return LiveFlowSession.objects.select_for_update(of=("self",)).filter(pk=session_id).first()


# --- templates ------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\$\{([^{}]+)\}")
STEP_ATTRIBUTES = ("result", "user_input")


def render(template, inputs, results):
    """`template` with `${INPUTS.name}` and `${step_name.result}` replaced inside every string.

    A string that is one placeholder alone takes the value itself (an input that is a number or an
    object stays one); inside longer text a value is written as text (JSON for non-strings).
    `results` maps a step name to {"result": ..., "user_input": ...} of its latest finished run.
    """

    def value_of(reference):
        reference = reference.strip()
        head, dot, rest = reference.partition(".")
        if head == "INPUTS" and dot:
            if not isinstance(inputs, dict) or rest not in inputs:
                raise TemplateError(f"${{{reference}}}: the session's inputs have no {rest!r}.")
            return inputs[rest]
        name, dot, attribute = reference.rpartition(".")
        if not dot or attribute not in STEP_ATTRIBUTES:
            raise TemplateError(
                f"${{{reference}}} is not a reference; use ${{INPUTS.name}} or ${{step_name.result}}."
            )
        if name not in results:
            raise TemplateError(f"${{{reference}}}: step {name!r} has not finished in this session.")
        return results[name][attribute]

    def as_text(value):
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    def walk(node):
        if isinstance(node, str):
            whole = PLACEHOLDER.fullmatch(node)
            if whole:
                return value_of(whole.group(1))
            return PLACEHOLDER.sub(lambda match: as_text(value_of(match.group(1))), node)
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        return node

    return walk(template)


def finished_results(session):
    """Step name -> result and user input of its latest finished run in this session."""
    rows = (
        session.steps.filter(status=SessionStatus.FINISHED)
        .order_by("created_at", "id")
        .values_list("step__name", "result", "user_input")
    )
    return {name: {"result": result, "user_input": user_input} for name, result, user_input in rows}


# --- branching ------------------------------------------------------------------------------


def _normalised(text):
    return (text or "").strip().strip("\"'`.!?:;,").strip().casefold()


def choose_transition(transitions, value):
    """The transition whose label is `value` (exactly, else ignoring case, spaces and end
    punctuation, as models answer "Billing."), else the unlabelled one, else None."""
    labelled = [t for t in transitions if t.label]
    for transition in labelled:
        if transition.label == value:
            return transition
    wanted = _normalised(value)
    for transition in labelled:
        if _normalised(transition.label) == wanted:
            return transition
    return next((t for t in transitions if not t.label), None)


def outgoing(step):
    """The step's transitions, labels in alphabetical order (what the model and errors are shown)."""
    transitions = StepTransition.objects.filter(source_step_id=step.pk).order_by("id")
    return sorted(transitions, key=lambda t: t.label or "")


def _labels_text(transitions):
    return ", ".join(f'"{t.label}"' for t in transitions if t.label)


# --- state changes (each called with the session row locked) --------------------------------


def _save(session, recorded, now):
    if recorded is not None:
        recorded.updated_at = now
        recorded.save()
    session.updated_at = now
    session.save(update_fields=["status", "error", "current_step", "updated_at"])


def _fail(session, recorded, message, now):
    if recorded is not None:
        recorded.status = SessionStatus.FAILED
        recorded.error = message
        recorded.lease_expires_at = None
        session.error = f"Step {recorded.step.name} failed: {message}"
    else:
        session.error = message
    session.status = SessionStatus.FAILED
    _save(session, recorded, now)
    logger.info("Live flow session %s failed: %s", session.pk, session.error)
    return stop("failed")


def _follow(session, recorded, value, what, now):
    """`recorded` has finished with `value`: record the next step, or end the session."""
    recorded.status = SessionStatus.FINISHED
    recorded.lease_expires_at = None
    transitions = outgoing(recorded.step)
    if not transitions:
        session.status = SessionStatus.FINISHED
        session.current_step = recorded
        _save(session, recorded, now)
        return stop("finished")
    chosen = choose_transition(transitions, value)
    if chosen is None:
        shown = value if len(value or "") <= 200 else value[:200] + "…"
        return _fail(
            session, recorded,
            f"{what} {shown!r} matches no outgoing transition; the possible labels are "
            f"{_labels_text(transitions)}.",
            now,
        )
    if session.steps.count() >= settings.LIVE_FLOW_MAX_STEPS:
        return _fail(
            session, recorded,
            f"The session has recorded {settings.LIVE_FLOW_MAX_STEPS} steps, the most a session may run "
            "(FLOWDESK_SESSION_MAX_STEPS); do the flow's transitions loop?",
            now,
        )
    recorded.updated_at = now
    recorded.save()
    later = timezone.now()  # after `recorded`, which the steps' created_at order shows
    upcoming = LiveFlowSessionStep.objects.create(
        session=session, flow_version_id=session.flow_version_id, step_id=chosen.target_step_id,
        status=SessionStatus.NEW, created_at=later, updated_at=later,
    )
    session.status = SessionStatus.RUNNING
    session.current_step = upcoming
    _save(session, None, later)
    return CONTINUE


# --- the engine -----------------------------------------------------------------------------


@dataclass
class _Call:
    recorded_id: object
    attempt: int
    messages: list
    options: dict
    labels: list


def advance(session_id, watch=None):
    """Run the session's current step. Returns CONTINUE when another step is ready to run.

    `watch` (a held Outcome's) limits this to taking over that step and attempt: if the session
    has moved on meanwhile, its worker is alive and nothing is done.
    """
    outcome_or_call = _claim(session_id, watch)
    if isinstance(outcome_or_call, Outcome):
        return outcome_or_call
    call = outcome_or_call
    error = None
    try:
        answer = get_model().complete(call.messages, labels=call.labels, options=call.options)
        if not isinstance(answer, str):
            raise ModelError("The model answered without text.")
    except ModelError as exc:
        error = str(exc)
    except Exception as exc:  # a broken model plug-in fails its step, never the worker
        logger.exception("The model raised while running session %s", session_id)
        error = f"The model failed: {exc.__class__.__name__}: {exc}"
    return _record(session_id, call, None if error else answer, error)


def _claim(session_id, watch=None):
    """Start the current step: START, USER_INPUT and failures end here; an LLM step is leased."""
    with transaction.atomic():
        now = timezone.now()
        session = lock_session(session_id)
        if session is None:
            return stop("gone")
        if session.status not in ACTIVE:
            return stop(session.status.lower())
        recorded = (
            LiveFlowSessionStep.objects.select_related("step").filter(pk=session.current_step_id).first()
            if session.current_step_id else None
        )
        if watch is not None and (
            recorded is None or str(recorded.pk) != str(watch[0]) or recorded.attempts != watch[1]
            or recorded.status != SessionStatus.RUNNING
        ):
            return stop("moved on")
        if recorded is None:
            return _fail(session, None, "The session's flow version has no START step to run.", now)
        if recorded.status == SessionStatus.RUNNING:
            if recorded.lease_expires_at is None:
                # Imported as RUNNING: not this engine's to take over.
                return stop("running elsewhere")
            if recorded.lease_expires_at > now:
                # A live worker runs it, or one that died and whose lease has yet to pass.
                return Outcome("stop", "held", (str(recorded.pk), recorded.attempts),
                               (recorded.lease_expires_at - now).total_seconds())
            if recorded.attempts >= MAX_ATTEMPTS:
                return _fail(
                    session, recorded,
                    f"The worker running this step stopped before it finished, {recorded.attempts} times; "
                    "giving up.",
                    now,
                )
            logger.warning("Retrying step %s of session %s: its worker stopped", recorded.step.name, session.pk)
        elif recorded.status != SessionStatus.NEW:
            return _fail(session, recorded, f"The current step is {recorded.status}, not ready to run.", now)

        step = recorded.step
        recorded.attempts += 1
        session.status = SessionStatus.RUNNING
        if step.step_type == StepType.START:
            recorded.prompt = {}
            recorded.result = ""
            return _follow(session, recorded, "", "The START step's result", now)
        try:
            prompt = render(step.prompt_template, session.inputs, finished_results(session))
        except TemplateError as exc:
            return _fail(session, recorded, str(exc), now)
        recorded.prompt = prompt
        if step.step_type == StepType.USER_INPUT:
            recorded.status = SessionStatus.WAITING_FOR_USER_INPUT
            session.status = SessionStatus.WAITING_FOR_USER_INPUT
            _save(session, recorded, now)
            return stop("waiting")
        if step.step_type != StepType.LLM:
            return _fail(session, recorded, f"Steps of type {step.step_type} cannot run.", now)
        if prompt is None:
            return _fail(session, recorded, "The step has no prompt_template.", now)
        recorded.status = SessionStatus.RUNNING
        recorded.lease_expires_at = now + timedelta(seconds=settings.LIVE_FLOW_STEP_LEASE)
        recorded.error = None
        _save(session, recorded, now)
        messages, options = prompt_messages(prompt)
        labels = [t.label for t in outgoing(step) if t.label]
        return _Call(recorded.pk, recorded.attempts, messages, options, labels)


def _record(session_id, call, answer, error):
    with transaction.atomic():
        now = timezone.now()
        session = lock_session(session_id)
        recorded = LiveFlowSessionStep.objects.select_related("step").filter(pk=call.recorded_id).first()
        if (
            session is None or recorded is None
            or session.status != SessionStatus.RUNNING
            or session.current_step_id != recorded.pk
            or recorded.status != SessionStatus.RUNNING
            or recorded.attempts != call.attempt
        ):
            # Cancelled meanwhile, or our lease ran out and another worker took the step over.
            return stop("superseded")
        if error is not None:
            return _fail(session, recorded, error, now)
        recorded.result = answer
        return _follow(session, recorded, answer, "The answer", now)


def run_until_blocked(session_id, max_steps=None):
    """Advance until the session waits, ends or is held elsewhere; returns the last Outcome."""
    steps = 0
    while True:
        outcome = advance(session_id)
        steps += 1
        if not outcome.more or (max_steps is not None and steps >= max_steps):
            return outcome


# --- what the API does ----------------------------------------------------------------------


def submit_user_input(session_id, value):
    """Answer the step the session waits on; returns True when the session should run on.

    Two answers at once: the row lock lets one in; the other finds the session RUNNING (409).
    """
    with transaction.atomic():
        now = timezone.now()
        session = lock_session(session_id)
        if session is None:
            raise SessionStateError("The session no longer exists.")
        if session.status != SessionStatus.WAITING_FOR_USER_INPUT:
            raise SessionStateError(
                f"This session is not waiting for user input; its status is {session.status}."
            )
        recorded = LiveFlowSessionStep.objects.select_related("step").get(pk=session.current_step_id)
        recorded.user_input = value
        recorded.result = value  # so later steps can use ${step_name.result}
        session.status = SessionStatus.RUNNING
        outcome = _follow(session, recorded, value, "The user input", now)
        return outcome.more


def cancel(session_id):
    with transaction.atomic():
        now = timezone.now()
        session = lock_session(session_id)
        if session is None:
            raise SessionStateError("The session no longer exists.")
        if session.status not in NOT_ENDED:
            raise SessionStateError(f"This session has already ended ({session.status}); it cannot be cancelled.")
        session.status = SessionStatus.CANCELLED
        LiveFlowSessionStep.objects.filter(session_id=session.pk, status__in=NOT_ENDED).update(
            status=SessionStatus.CANCELLED, lease_expires_at=None, updated_at=now
        )
        session.updated_at = now
        session.save(update_fields=["status", "updated_at"])


# --- recovery -------------------------------------------------------------------------------


def stalled_sessions(now=None, stale_after=300, max_age=86400):
    """Ids of sessions that no worker is moving any more.

    - a RUNNING step whose lease has passed (its worker died): retried once, then failed;
    - a NEW/RUNNING session whose next step has not started for `stale_after` seconds (its task
      was lost: broker down, web process restarted), if it moved within `max_age` seconds:
      imported sessions keep their old timestamps and are never run by surprise.
    """
    now = now or timezone.now()
    lost_worker = Q(current_step__status=SessionStatus.RUNNING, current_step__lease_expires_at__lte=now)
    lost_task = Q(
        current_step__status=SessionStatus.NEW,
        updated_at__lte=now - timedelta(seconds=stale_after),
        updated_at__gte=now - timedelta(seconds=max_age),
    )
    return list(
        LiveFlowSession.objects.filter(status__in=ACTIVE).filter(lost_worker | lost_task)
        .order_by("updated_at").values_list("id", flat=True)
    )
