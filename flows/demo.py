"""Demo data for the live-flows family: a support-triage flow, its live flow and some sessions."""

import uuid
from datetime import timedelta

from flows.models import (
    Flow,
    FlowVersion,
    LiveFlow,
    LiveFlowSession,
    LiveFlowSessionStep,
    SessionStatus,
    Step,
    StepTransition,
    StepType,
)

DEMO_LIVE_FLOW_ID = uuid.UUID("5f0c1a2e-8d4b-4c1e-9a77-0d1e2f3a4b5c")


def load(ctx):
    now = ctx.now
    flow = Flow.objects.create(
        organization=ctx.organization,
        name="Support triage",
        description="Classifies a customer message and drafts a reply.",
        created_at=now - timedelta(days=30),
        updated_at=now - timedelta(days=30),
    )
    version = FlowVersion.objects.create(flow=flow, created_at=now - timedelta(days=29), updated_at=now - timedelta(days=29))
    at = version.created_at

    def step(name, step_type, template):
        return Step.objects.create(
            flow_version=version, name=name, step_type=step_type, prompt_template=template, created_at=at, updated_at=at
        )

    start = step("start", StepType.START, None)
    classify = step(
        "classify",
        StepType.LLM,
        {"type": "chat", "messages": [
            {"role": "system", "content": "Answer with one word: billing or technical."},
            {"role": "user", "content": "${INPUTS.message}"},
        ]},
    )
    billing = step(
        "billing_reply",
        StepType.LLM,
        {"type": "chat", "messages": [{"role": "user", "content": "Draft a billing answer to: ${INPUTS.message}"}]},
    )
    ask = step(
        "ask_details",
        StepType.USER_INPUT,
        {"type": "text", "text": "Which version of the app are you running?"},
    )
    technical = step(
        "technical_reply",
        StepType.LLM,
        {"type": "chat", "messages": [
            {"role": "user", "content": "Problem: ${INPUTS.message}. Version: ${ask_details.result}. Suggest a fix."},
        ]},
    )
    for source, target, label in [
        (start, classify, None),
        (classify, billing, "billing"),
        (classify, ask, "technical"),
        (ask, technical, None),
    ]:
        StepTransition.objects.create(flow_version=version, source_step=source, target_step=target, label=label)

    live_flow = LiveFlow.objects.create(
        id=DEMO_LIVE_FLOW_ID,
        organization=ctx.organization,
        name="Support inbox",
        description="Runs support triage on every new inbound message.",
        current_version=version,
        created_at=now - timedelta(days=28),
        updated_at=now - timedelta(days=28),
    )

    runs = [
        ("My invoice shows the wrong amount.", SessionStatus.FINISHED, [
            (start, {}, "", None), (classify, {"text": "billing?"}, "billing", None),
            (billing, {"text": "Draft a billing answer"}, "Sorry about that: a corrected invoice is on its way.", None),
        ], None),
        ("The app crashes when I open settings.", SessionStatus.WAITING_FOR_USER_INPUT, [
            (start, {}, "", None), (classify, {"text": "technical?"}, "technical", None),
            (ask, {"text": "Which version of the app are you running?"}, None, None),
        ], None),
        ("Refund please", SessionStatus.FAILED, [
            (start, {}, "", None), (classify, {"text": "billing?"}, None, "The model did not answer in time."),
        ], "Step classify failed: the model did not answer in time."),
        ("Hello?", SessionStatus.NEW, [(start, None, None, None)], None),
    ]
    for index, (message, status, recorded, error) in enumerate(runs):
        created = now - timedelta(days=len(runs) - index, minutes=7)
        session = LiveFlowSession.objects.create(
            live_flow=live_flow, flow_version=version, status=status, inputs={"message": message},
            error=error, created_at=created, updated_at=created + timedelta(seconds=len(recorded) * 3),
        )
        last = None
        for offset, (definition, prompt, result, step_error) in enumerate(recorded):
            step_status = SessionStatus.FINISHED
            if step_error:
                step_status = SessionStatus.FAILED
            elif definition.step_type == StepType.USER_INPUT or status == SessionStatus.NEW:
                step_status = status
            stamp = created + timedelta(seconds=offset * 3)
            last = LiveFlowSessionStep.objects.create(
                session=session, flow_version=version, step=definition, status=step_status, prompt=prompt,
                result=result, error=step_error, created_at=stamp, updated_at=stamp,
            )
        session.current_step = last
        session.save(update_fields=["current_step"])
