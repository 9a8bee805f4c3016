"""The events an organization's webhook endpoints can ask for: the one list of their names.

Each is published by its family's write paths through ``flowdesk.events.publish``; ``data`` is the
object as that family's GET one answers it.
"""

EVENT_TYPES = {
    "live_flow_session.status_changed": (
        "A live flow session's status changed; data: the LiveFlowSessionRead "
        "(GET /live_flows/{id}/sessions/{session_id})."
    ),
    "chat.message_created": "A workflow-chat message was stored; data: the message as the chat history lists it.",
    "user_session.updated": "A tutor session changed; data: the session as GET /session/{sessionId} answers it.",
    "message_flow.updated": "A message flow changed; data: the flow as GET /v1/api/message-flows/{id} answers it.",
}


def unknown_event_types(names):
    return [name for name in names if name not in EVENT_TYPES]
