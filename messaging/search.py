"""What a message flow says: its prompt, initiation message and description (flowdesk/search)."""

from flowdesk.search.sources import TextSource, change_url, register

PARTS = (("text", "prompt"), ("text", "initiation_message"), ("text", "description"))  # as migration flowdesk 0001


def describe(flow):
    return {
        "source": "message_flows", "family": "Message flow", "label": flow.name or flow.pk, "url": change_url(flow),
        "item_label": "", "item_url": "", "organization": flow.workspace.organization, "time": flow.updated_at,
        "text": flow.searched_text,
    }


register(TextSource(
    name="message_flows", model="messaging.MessageFlow", parts=PARTS, family="Message flows", conversation="",
    time="updated_at", select_related=("workspace__organization",), describe=describe,
    order=("-updated_at", "-id"), heavy=("prompt", "initiation_message", "description", "settings"),
))
