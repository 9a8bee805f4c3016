"""Small builders for live-flows test data."""

import uuid
from datetime import timedelta

from django.utils import timezone

from flowdesk.api.fields import iso_z
from flows import models


def make_version(organization, n_steps=3):
    """A linear version: START then n_steps-1 LLM steps."""
    flow = models.Flow.objects.create(organization=organization, name="Triage")
    version = models.FlowVersion.objects.create(flow=flow)
    steps = [models.Step.objects.create(flow_version=version, name="start", step_type=models.StepType.START)]
    for i in range(1, n_steps):
        steps.append(
            models.Step.objects.create(
                flow_version=version, name=f"llm_{i}", step_type=models.StepType.LLM, prompt_template={"type": "text", "n": i}
            )
        )
    for a, b in zip(steps, steps[1:], strict=False):
        models.StepTransition.objects.create(flow_version=version, source_step=a, target_step=b)
    return version, steps


def make_live_flow(organization, version=None, n_steps=3):
    if version is None:
        version, _ = make_version(organization, n_steps)
    return models.LiveFlow.objects.create(organization=organization, name="Inbox", current_version=version)


def make_session(live_flow, n_recorded=2, status=models.SessionStatus.RUNNING, created_at=None):
    version = live_flow.current_version
    steps = list(version.steps.order_by("created_at", "id"))
    created_at = created_at or timezone.now()
    session = models.LiveFlowSession.objects.create(
        id=uuid.uuid4(), live_flow=live_flow, flow_version=version, status=status, inputs={"q": "hi"},
        created_at=created_at, updated_at=created_at,
    )
    recorded = [
        models.LiveFlowSessionStep(
            session=session, flow_version=version, step=steps[i % len(steps)], status=models.SessionStatus.FINISHED,
            prompt={"text": f"p{i}"}, result=f"r{i}", created_at=created_at + timedelta(seconds=i),
            updated_at=created_at + timedelta(seconds=i),
        )
        for i in range(n_recorded)
    ]
    models.LiveFlowSessionStep.objects.bulk_create(recorded)
    if recorded:
        session.current_step = recorded[-1]
        session.save(update_fields=["current_step"])
    return session


def new_live_flow_body(live_flow, current_version):
    """LiveFlowRead of a live flow that has run no session yet (``current_version`` as read)."""
    return {
        "name": live_flow.name,
        "description": live_flow.description,
        "id": str(live_flow.pk),
        "organisation_id": live_flow.organization_id,
        "current_version": current_version,
        "sessions": [],
        "created_at": iso_z(live_flow.created_at),
        "updated_at": iso_z(live_flow.updated_at),
    }
