"""A live flow session's recorded steps read as a timeline on its admin page, under the flow
version's graph with the path the session took drawn on it (flows/graph.py)."""

from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from flowdesk.admin import pretty_json
from flowdesk.admin.reading import ReadingPaneMixin
from flows.graph import flow_version_svg
from flows.models import LiveFlowSessionStep, SessionStatus, Step, StepTransition

# As many as the inline below it lists.
TIMELINE_SHOWN = 200
# A step's duration is known once it has ended: from its creation to its last change.
ENDED = {SessionStatus.FINISHED, SessionStatus.FAILED, SessionStatus.CANCELLED}


def duration_text(seconds):
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def prompt_view(prompt):
    """("text", str) for a text prompt, ("chat", [(role, content)]) for a chat one, else ("json", str)."""
    if isinstance(prompt, dict):
        if prompt.get("type") == "text" and isinstance(prompt.get("text"), str):
            return "text", prompt["text"]
        messages = prompt.get("messages")
        if isinstance(messages, list) and all(isinstance(m, dict) for m in messages):
            return "chat", [(str(m.get("role", "")), m.get("content") if isinstance(m.get("content"), str)
                             else pretty_json(m.get("content"))) for m in messages]
    if prompt in (None, {}, ""):
        return None, None
    return "json", pretty_json(prompt)


class TimelineAdminMixin(ReadingPaneMixin):
    reading_title = "Timeline"
    reading_template = "admin/flows/liveflowsession/timeline.html"

    def reading_context(self, obj):
        # Three queries whatever the number of steps: the recorded steps, the version's steps and
        # its transitions (a recorded step's step is always one of its version's: migration 0002).
        recorded = list(
            LiveFlowSessionStep.objects.filter(session=obj).order_by("created_at", "id").only(
                "step_id", "status", "prompt", "result", "user_input", "error", "attempts", "created_at", "updated_at",
            )[:TIMELINE_SHOWN]
        )
        steps = list(Step.objects.filter(flow_version_id=obj.flow_version_id).order_by("created_at", "id"))
        transitions = list(StepTransition.objects.filter(flow_version_id=obj.flow_version_id).order_by("id"))
        step_of = {step.pk: step for step in steps}
        rows = []
        for place, run in enumerate(recorded, start=1):
            seconds = (run.updated_at - run.created_at).total_seconds() if run.status in ENDED else None
            kind, prompt = prompt_view(run.prompt)
            rows.append({
                "place": place, "run": run, "step": step_of.get(run.step_id), "prompt_kind": kind, "prompt": prompt,
                "duration": duration_text(max(seconds, 0)) if seconds is not None else None,
            })
        graph = flow_version_svg(steps, transitions, path=[(run.step_id, run.status) for run in recorded])
        steps_url = reverse(f"{self.admin_site.name}:flows_liveflowsessionstep_changelist")
        return {
            "session": obj, "rows": rows, "truncated": len(recorded) == TIMELINE_SHOWN, "shown": TIMELINE_SHOWN,
            "graph": mark_safe(graph),  # every name and label in it is escaped (flows/graph.py)
            "steps_url": f"{steps_url}?{urlencode({'q': str(obj.pk)})}",
        }
