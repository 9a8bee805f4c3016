"""The import's fast path: ImportChatSessionSerializer's work for a well-formed record, in plain Python.

DRF's field-by-field validation was most of import_chat_sessions' time. ``well_formed_chat_session``
accepts a record that ImportChatSessionSerializer would accept and returns exactly what it would
(same values, same types, same key order, defaults filled in). It accepts a subset: anything it
is not sure of returns None, and the caller validates with the serializer, which words the error
and its field path. tests/chat/test_fast_validation.py holds the two together.
"""

import uuid

from chat.api.serializers import ConversationIdField, SessionIdField
from chat.importing.serializers import MAX_COUNT, SESSION_KEYS_OF_A_MESSAGE
from chat.models import ContextType, Role, RunStatus
from flowdesk.importing.fastcheck import NotSure, choice, text, when

_CONTEXT_TYPES = frozenset(ContextType.values)
_ROLES = frozenset(Role.values)
_RUN_STATUSES = frozenset(RunStatus.values)


def _client_id(value, field):
    """An ImportSessionIdField / ImportConversationIdField value ("" is absent: an export's zero value)."""
    if value is None or value == "":
        return None
    value = text(value, field.id_max_length, blank=False)
    if not field.id_pattern.match(value):
        raise NotSure
    return value


def _uuid(value):
    if value is None:
        return None
    if type(value) is not str:
        raise NotSure
    try:
        return uuid.UUID(hex=value)
    except ValueError:
        raise NotSure from None


def _import_uuid(value):
    return None if value == "" else _uuid(value)


def _optional_text(value, max_length):
    return None if value is None or value == "" else text(value, max_length)


def _count(value):
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise NotSure
    return value


def _message(message):
    if type(message) is not dict:
        raise NotSure
    message_id = message.get("id")
    if message_id is None:
        raise NotSure
    data = {
        "id": _uuid(message_id),
        "content": text(message.get("content")),
        "role": choice(message.get("role"), _ROLES),
    }
    if "sessionId" in message:
        data["sessionId"] = _client_id(message["sessionId"], SessionIdField)
    if "workflowId" in message:
        data["workflowId"] = _import_uuid(message["workflowId"])
    if "organizationId" in message:
        data["organizationId"] = text(message["organizationId"], null=True)
    if "tokensUsed" in message:
        value = message["tokensUsed"]
        data["tokensUsed"] = None if value is None else _count(value)
    if "imageUrls" in message:
        value = message["imageUrls"]
        if value is not None:
            if type(value) is not list:
                raise NotSure
            value = [text(url, 2048, blank=False) for url in value]
        data["imageUrls"] = value
    data["createdAt"] = when(message.get("createdAt"))
    if "conversationId" in message:
        data["conversationId"] = _client_id(message["conversationId"], ConversationIdField)
    for key in ("senderUserId", "linkedRunId"):
        if key in message:
            data[key] = _optional_text(message[key], 255)
    if "linkedRunStatus" in message:
        value = message["linkedRunStatus"]
        data["linkedRunStatus"] = None if value is None or value == "" else choice(value, _RUN_STATUSES)
    for key in ("linkedRunStartedAt", "linkedRunFinishedAt"):
        if key in message:
            value = message[key]
            data[key] = None if value is None or value == "" else when(value)
    return data


def well_formed_chat_session(record):
    """ImportChatSessionSerializer().run_validation(record) for a well-formed record, else None."""
    try:
        context_type = choice(record.get("contextType"), _CONTEXT_TYPES)
        data = {"contextType": context_type}
        if "conversationId" in record:
            data["conversationId"] = _client_id(record["conversationId"], ConversationIdField)
        if "sessionId" in record:
            data["sessionId"] = _client_id(record["sessionId"], SessionIdField)
        if "workflowId" in record:
            data["workflowId"] = _import_uuid(record["workflowId"])
        if "workflowName" in record:
            data["workflowName"] = _optional_text(record["workflowName"], 200)
        data["messageCount"] = _count(record["messageCount"]) if "messageCount" in record else 0
        value = record.get("firstMessageAt")
        data["firstMessageAt"] = first = None if value is None else when(value)
        value = record.get("lastMessageAt")
        data["lastMessageAt"] = last = None if value is None else when(value)
        data["preview"] = text(record.get("preview"), null=True)
        if "messages" in record:
            messages = record["messages"]
            if type(messages) is not list:
                raise NotSure
            data["messages"] = messages = [_message(message) for message in messages]
        # ImportChatSessionSerializer.validate's rules.
        if context_type == ContextType.SESSION and data.get("sessionId") is None:
            raise NotSure
        if context_type == ContextType.WORKFLOW and data.get("workflowId") is None:
            raise NotSure
        if data.get("workflowName") is not None and data.get("workflowId") is None:
            raise NotSure
        if first is not None and last is not None and first > last:
            raise NotSure
        if "messages" in data:
            if len({message["id"] for message in messages}) != len(messages):
                raise NotSure  # a repeated message id
            session_keys = [(key, data.get(key)) for key in SESSION_KEYS_OF_A_MESSAGE]
            for message in messages:
                for key, session_value in session_keys:
                    if message.get(key) is not None and message[key] != session_value:
                        raise NotSure
    except NotSure:
        return None
    return data
