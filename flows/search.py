"""What was said in a live flow session: its recorded steps' prompt, result, user input and error (flowdesk/search)."""

from flowdesk.search.sources import TextSource, change_url, register

PARTS = (("json", "prompt"), ("text", "result"), ("text", "user_input"), ("text", "error"))  # as migration flowdesk 0001


def describe(step):
    session = step.session
    return {
        "source": "steps", "family": "Live flow session", "label": f"{session.live_flow} · {session.pk}",
        "url": change_url(session), "item_label": f"step {step.step.name} ({step.status})", "item_url": change_url(step),
        "organization": session.live_flow.organization, "time": step.created_at, "text": step.searched_text,
    }


register(TextSource(
    name="steps", model="flows.LiveFlowSessionStep", parts=PARTS, family="Live flow sessions", conversation="session",
    time="created_at", select_related=("session__live_flow__organization", "step"), describe=describe,
    order=("-created_at", "-id"), heavy=("prompt", "result", "user_input", "error"),
))
