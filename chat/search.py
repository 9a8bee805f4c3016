"""What was said in a chat: its messages' content (flowdesk/search)."""

from flowdesk.search.sources import TextSource, change_url, register

PARTS = (("text", "content"),)  # as migration flowdesk 0001 indexes it


def describe(message):
    session = message.session
    return {
        "source": "chat", "family": "Chat session", "label": str(session), "url": change_url(session),
        "item_label": f"{message.role} message", "item_url": change_url(message),
        "organization": session.organization, "time": message.created_at, "text": message.searched_text,
    }


register(TextSource(
    name="chat", model="chat.ChatMessage", parts=PARTS, family="Chat sessions", conversation="session",
    time="created_at", select_related=("session__organization", "session__workflow"), describe=describe,
    order=("-created_at", "-id"), heavy=("content", "image_urls"),
))
