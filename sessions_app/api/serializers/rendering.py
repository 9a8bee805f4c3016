"""The user session body, as GET /session lists it: one renderer, with the columns it reads.

DRF's field machinery would cost several times the SQL (the list renders every dialogue item of
every session), so a session is rendered by ``session_body`` from a row of SESSION_COLUMNS and
its rendered items. The rows come from ``.values_list()`` (``sessions_data``: the list) or from
a model instance through the same column lists (``session_data``: GET one, the admin export, the
socket push), so both give the same bytes.
"""

from collections import defaultdict

from django.db.models import JSONField, TextField
from django.db.models.functions import Cast

from flowdesk.api.fields import iso_z, jsonb_text_value
from flowdesk.api.renderers import column_reader
from flowdesk.db.pipeline import fetch_together
from sessions_app.models import AudioClip, DialogueItem, UserSession

__all__ = [
    "AUDIO_COLUMNS", "DIALOGUE_COLUMNS", "SESSION_COLUMNS", "audio_data", "audio_row", "dialogue_item_data",
    "dialogue_row", "item_data", "session_body", "session_data", "session_row", "sessions_data",
    "vendor_content",
]

# Columns the renderer reads, in order.
SESSION_COLUMNS = (
    "uuid", "session_id", "name", "dialogue_null", "quick_replies", "is_replying", "workspace", "is_vm_running",
    "clients", "language", "easy_mode", "response_mode", "llm_context", "tutorial_is_tutorial", "tutorial_id",
    "tutorial_progress", "stats_total_connecting_time", "stats_current_num_of_blocks", "stats_total_invoked_llm",
    "stats_total_user_messages", "stats_total_code_executions", "audios_null", "user_audio", "screenshot", "clicks",
    "user_info", "created_at", "updated_at",
)
DIALOGUE_COLUMNS = ("item_id", "content_type", "is_user", "content", "ui")
AUDIO_COLUMNS = ("clip_id", "base64")

session_row, dialogue_row, audio_row = (column_reader(columns) for columns in (SESSION_COLUMNS, DIALOGUE_COLUMNS, AUDIO_COLUMNS))


# --- one dialogue item ---------------------------------------------------------------------------


def _has_null_ui(items):
    stack = [items]
    while stack:
        for item in stack.pop():
            if type(item) is dict:
                if "ui" in item and item["ui"] is None:
                    return True
                if type(item.get("content")) is list:
                    stack.append(item["content"])
    return False


def _without_null_ui(items):
    return [
        {key: _without_null_ui(value) if key == "content" and type(value) is list else value
         for key, value in item.items() if not (key == "ui" and value is None)}
        if type(item) is dict else item
        for item in items
    ]


def vendor_content(content):
    """Nested items as the vendor's schema has them: a `ui` of null is no `ui` (rows written
    outside the API, e.g. in the admin or before migration 0003, may still hold one)."""
    if type(content) is list and _has_null_ui(content):
        return _without_null_ui(content)
    return content


def item_data(item_id, content_type, is_user, content, ui):
    """One dialogue item from DIALOGUE_COLUMNS; `ui` only when there is one (the vendor's optional string)."""
    data = {"id": item_id, "contentType": content_type, "isUser": is_user, "content": vendor_content(content)}
    if ui is not None:
        data["ui"] = ui
    return data


def audio_data(clip_id, base64):
    """One audio clip from AUDIO_COLUMNS."""
    return {"id": clip_id, "base64": base64}


def dialogue_item_data(item):
    return item_data(*dialogue_row(item))


# --- one session ---------------------------------------------------------------------------------


def session_body(row, dialogue, audios):
    """A session from a row of SESSION_COLUMNS (JSON columns parsed), with its rendered dialogue
    items and audio clips (left out where the session's list is null)."""
    (
        uuid, session_id, name, dialogue_null, quick_replies, is_replying, workspace, is_vm_running, clients,
        language, easy_mode, response_mode, llm_context, is_tutorial, tutorial_id, progress, connecting_time,
        blocks, invoked_llm, user_messages, code_executions, audios_null, user_audio, screenshot, clicks,
        user_info, created_at, updated_at,
    ) = row
    return {
        "uuid": uuid,
        "sessionId": session_id,
        "name": name,
        "dialogue": None if dialogue_null else dialogue,
        "quickReplies": quick_replies,
        "isReplying": is_replying,
        "workspace": workspace,
        "isVMRunning": is_vm_running,
        "clients": clients,
        "language": language,
        "easyMode": easy_mode,
        "responseMode": response_mode,
        "llmContext": llm_context,
        "tutorial": {"isTutorial": is_tutorial, "tutorialId": tutorial_id, "progress": progress},
        "stats": {
            "totalConnectingTime": connecting_time,
            "currentNumOfBlocks": blocks,
            "totalInvokedLLM": invoked_llm,
            "totalUserMessages": user_messages,
            "totalCodeExecutions": code_executions,
        },
        "audios": None if audios_null else audios,
        "userAudio": user_audio,
        "screenshot": screenshot,
        "clicks": clicks,
        "userInfo": user_info,
        "createdAt": iso_z(created_at),
        "updatedAt": iso_z(updated_at),
    }


def session_data(session):
    """One session from its model instance; reads ``UserSession.objects.with_children()``."""
    return session_body(
        session_row(session),
        [item_data(*dialogue_row(item)) for item in session.dialogue_items.all()],
        [audio_data(*audio_row(clip)) for clip in session.audio_clips.all()],
    )


# --- a list of sessions, from rows ---------------------------------------------------------------


def _json_at(model, columns):
    """Where ``columns`` of ``model`` are JSON: read as text, to be parsed by orjson (Django's
    json.loads per value was a third of the list's time)."""
    return [i for i, name in enumerate(columns) if isinstance(model._meta.get_field(name), JSONField)]


def _selected(columns, json_at):
    return [Cast(name, output_field=TextField()) if i in json_at else name for i, name in enumerate(columns)]


_SESSION_JSON_AT = _json_at(UserSession, SESSION_COLUMNS)
_SESSION_SELECTED = _selected(SESSION_COLUMNS, _SESSION_JSON_AT)
_DIALOGUE_SELECTED = _selected(DIALOGUE_COLUMNS, _json_at(DialogueItem, DIALOGUE_COLUMNS))  # `content` only


def sessions_data(sessions):
    """GET /session's items for a queryset of sessions (filtered, ordered, sliced), in three
    queries sent together (flowdesk/db/pipeline.py: one round trip on PostgreSQL): the sessions,
    their dialogue items, their audio clips, the children selected by the page's own query.
    Rows, not model instances: the same body as ``session_data``, several times faster for 50
    sessions of 20 items."""
    page = sessions.values("pk")
    rows, items, clips = fetch_together(
        sessions.values_list("pk", *_SESSION_SELECTED),
        DialogueItem.objects.filter(session_id__in=page).order_by("session_id", "position")
        .values_list("session_id", *_DIALOGUE_SELECTED),
        AudioClip.objects.filter(session_id__in=page).order_by("session_id", "position")
        .values_list("session_id", *AUDIO_COLUMNS),
    )
    dialogue_of, audios_of = defaultdict(list), defaultdict(list)
    for session_pk, item_id, content_type, is_user, content, ui in items:
        dialogue_of[session_pk].append(item_data(item_id, content_type, is_user, jsonb_text_value(content), ui))
    for session_pk, clip_id, base64 in clips:
        audios_of[session_pk].append(audio_data(clip_id, base64))
    bodies = []
    for pk, *row in rows:
        for i in _SESSION_JSON_AT:
            row[i] = jsonb_text_value(row[i])
        bodies.append(session_body(row, dialogue_of[pk], audios_of[pk]))
    return bodies
