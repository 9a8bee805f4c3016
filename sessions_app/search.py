"""What was said in a user session: its dialogue items' content, nested items included (flowdesk/search)."""

from flowdesk.search.sources import TextSource, change_url, register

PARTS = (("dialogue", "content"),)  # as migration flowdesk 0001 indexes it


def describe(item):
    session = item.session
    return {
        "source": "dialogue", "family": "User session", "label": f"{session.session_id}" + (f" ({session.name})" if session.name else ""),
        "url": change_url(session), "item_label": f"#{item.item_id} {item.content_type}", "item_url": change_url(item),
        "organization": session.organization, "time": session.updated_at, "text": item.searched_text,
    }


register(TextSource(
    name="dialogue", model="sessions_app.DialogueItem", parts=PARTS, family="User sessions", conversation="session",
    time="session__updated_at", select_related=("session__organization",), describe=describe,
    # The sessions' list order (usersession_updated_idx), each dialogue in order.
    order=("-session__updated_at", "-session__id", "position"), heavy=("content",),
))
