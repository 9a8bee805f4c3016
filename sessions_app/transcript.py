"""A user session's dialogue read as a transcript on its admin page, and its audio clips served to
the staff who may see the session.

User and tutor turns are bubbles; logs, info, errors, requests and UI items are lines between
them; a group log (or any item whose content is a list) folds its nested items in a <details>,
to any depth, without recursion in the template: the tree is walked here into a flat list of
open / item / close rows.
"""

import base64
import binascii
import re

from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models.functions import Length
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.http import urlencode

from flowdesk.admin.reading import ReadingPaneMixin
from sessions_app.models import AudioClip, ContentType, DialogueItem

# The transcript shows a session's latest items (the inline below it shows as many).
TRANSCRIPT_SHOWN = 200
CLIPS_SHOWN = 200

USER_TYPES = {ContentType.USER, ContentType.USER_AUDIO}
TUTOR_TYPES = {ContentType.AI, ContentType.AI_AUDIO}
AUDIO_TYPES = {ContentType.USER_AUDIO, ContentType.AI_AUDIO}

# What a clip's bytes begin with, and the type a browser plays them as.
_SIGNATURES = [
    (b"RIFF", "audio/wav"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"\x1aE\xdf\xa3", "audio/webm"),
    (b"ID3", "audio/mpeg"),
    (b"\xff\xfb", "audio/mpeg"),
    (b"\xff\xf3", "audio/mpeg"),
    (b"\xff\xf2", "audio/mpeg"),
]
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[^,;]*)*?;base64,", re.IGNORECASE)
_AUDIO_MIME = re.compile(r"^audio/[\w.+-]+$", re.IGNORECASE)


def decode_clip(text):
    """(content type, bytes) of a stored clip: bare base64 or a data: URL; None if it is not base64."""
    declared = None
    match = _DATA_URL.match(text)
    if match:
        declared = match.group("mime")
        text = text[match.end():]
    text = "".join(text.split())
    text += "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        try:
            data = base64.urlsafe_b64decode(text)
        except (binascii.Error, ValueError):
            return None
    if not data:
        return None
    if declared and _AUDIO_MIME.match(declared):
        return declared.lower(), data
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime, data
    if data[4:8] == b"ftyp":
        return "audio/mp4", data
    return "application/octet-stream", data


def _kind(content_type, is_user):
    if content_type in USER_TYPES or (is_user and content_type not in TUTOR_TYPES):
        return "user"
    if content_type in TUTOR_TYPES:
        return "tutor"
    return "line"


def transcript_rows(items):
    """Flat rows for the template: {"row": "open"|"item"|"close", ...}, nested lists folded."""
    rows = []
    # A stack of iterators over (item id, content type, is user, content, ui) tuples, and closes.
    stack = [iter([(item.item_id, item.content_type, item.is_user, item.content, item.ui) for item in items])]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            if stack:
                rows.append({"row": "close"})
            continue
        item_id, content_type, is_user, content, ui = entry
        if isinstance(content, list):
            rows.append({
                "row": "open", "item_id": item_id, "content_type": content_type, "count": len(content), "ui": ui,
                # A group log is folded unless its item says "open"; other items' nested content shows.
                "open": ui == "open" or content_type != ContentType.GROUP_LOG, "is_error": content_type == ContentType.ERROR,
            })
            stack.append(iter([_nested(child) for child in content]))
            continue
        rows.append({
            "row": "item", "item_id": item_id, "content_type": content_type, "kind": _kind(content_type, is_user),
            "text": content if isinstance(content, str) else repr(content), "ui": ui,
            "is_audio": content_type in AUDIO_TYPES, "is_error": content_type == ContentType.ERROR,
        })
    return rows


def _nested(child):
    if not isinstance(child, dict):  # stored before the API's checks, or by hand: shown as it is
        return (None, "", False, str(child), None)
    return (child.get("id"), child.get("contentType", ""), bool(child.get("isUser")), child.get("content", ""),
            child.get("ui"))


class TranscriptAdminMixin(ReadingPaneMixin):
    """The user session admin's transcript pane and its audio URL (staff who may view the session)."""

    reading_title = "Transcript"
    reading_template = "admin/sessions_app/usersession/transcript.html"
    reading_position = 1  # under the session's names, above its state

    def reading_context(self, obj):
        # Two queries whatever the dialogue's length: the latest items, and the clips without their bytes.
        latest = list(
            DialogueItem.objects.filter(session=obj).order_by("-position")
            .only("item_id", "content_type", "is_user", "content", "ui")[:TRANSCRIPT_SHOWN]
        )
        latest.reverse()
        clips = list(
            AudioClip.objects.filter(session=obj).order_by("position")
            .annotate(size=Length("base64")).values("position", "clip_id", "size")[:CLIPS_SHOWN]
        )
        for clip in clips:
            clip["url"] = reverse(f"{self.admin_site.name}:sessions_app_usersession_audio", args=[quote(obj.pk), clip["position"]])
            clip["bytes"] = clip["size"] * 3 // 4  # base64 carries 3 bytes in 4 characters
        items_url = reverse(f"{self.admin_site.name}:sessions_app_dialogueitem_changelist")
        return {
            "session": obj, "rows": transcript_rows(latest), "clips": clips, "shown": TRANSCRIPT_SHOWN,
            "truncated": len(latest) == TRANSCRIPT_SHOWN, "items_url": f"{items_url}?{urlencode({'q': obj.session_id})}",
        }

    def get_urls(self):
        # Before the admin's own: its "<path:object_id>/" would take ".../audio/0/" for an object id.
        audio = path(
            "<path:object_id>/audio/<int:position>/", self.admin_site.admin_view(self.audio_view),
            name="sessions_app_usersession_audio",
        )
        return [audio, *super().get_urls()]

    def audio_view(self, request, object_id, position):
        """One clip's bytes, for an <audio> player: 404 for a session this user may not see."""
        session = self.get_object(request, unquote(object_id))  # this admin's queryset: scoped
        if session is None:
            raise Http404("No such session.")
        if not self.has_view_or_change_permission(request, session):
            raise PermissionDenied
        stored = AudioClip.objects.filter(session=session, position=position).values_list("clip_id", "base64").first()
        if stored is None:
            raise Http404("No such audio clip.")
        decoded = decode_clip(stored[1])
        if decoded is None:
            raise Http404("This clip holds no base64 audio.")
        content_type, data = decoded
        response = HttpResponse(data, content_type=content_type)
        response["Content-Length"] = str(len(data))
        response["Cache-Control"] = "private, no-store"  # a tenant's recording: kept out of shared caches
        response["Content-Disposition"] = "inline"
        return response
