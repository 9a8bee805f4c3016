"""What the API, the import and the demo do to user sessions, in one place."""

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from flowdesk import events
from sessions_app.models import AudioClip, DialogueItem, UserSession, new_session_id

UPDATED = "user_session.updated"


def channel(pk):
    """Who listens to one session: its Socket.IO room, webhooks."""
    return f"user_session:{pk}"


def rendered(pk):
    """The session as GET /session/{sessionId} answers it, or None when it is gone."""
    from sessions_app.api.serializers import session_data

    session = UserSession.objects.with_children().filter(pk=pk).first()
    return None if session is None else session_data(session)


def published(session):
    """Tell the session's listeners, once the transaction commits, that it changed."""
    pk = session.pk
    events.publish(UPDATED, channel=channel(pk), organization_id=session.organization_id, render=lambda: rendered(pk))


DELETED = "user_session.deleted"  # for its sockets (they are let go), not a webhook event


def deleted(session):
    """Tell the session's sockets, once the transaction commits, that it is gone."""
    session_id = session.session_id
    events.publish(DELETED, channel=channel(session.pk), organization_id=session.organization_id,
                   render=lambda: {"sessionId": session_id})


def owner_user_info(user):
    """The `userInfo` a session created through the API gets: its owner's id, as the vendor stores it."""
    return str(user.pk)


# The vendor's first dialogue item and quick replies: i18n keys its client translates.
INTRODUCTION = (0, "log", False, "dialogue.Introduction", None)
QUICK_REPLIES = ("quickReply.WhatINeed", "quickReply.HowToUse", "quickReply.BeginTutorial")
TUTORIAL_PROGRESS = 10


def create_session(user, organization, language="en"):
    """A new session with the vendor's initial values and a fresh 12-character sessionId."""
    now = timezone.now()
    for _ in range(5):
        try:
            with transaction.atomic():
                session = UserSession.objects.create(
                    session_id=new_session_id(),
                    user=user,
                    organization=organization,
                    name=None,
                    dialogue_null=False,
                    quick_replies=list(QUICK_REPLIES),
                    is_replying=False,
                    workspace={},
                    is_vm_running=False,
                    clients=[],
                    language=language,
                    easy_mode=False,
                    response_mode="text",
                    llm_context="",
                    tutorial_is_tutorial=False,
                    tutorial_id=None,
                    tutorial_progress=TUTORIAL_PROGRESS,
                    audios_null=False,
                    user_audio="",
                    screenshot="",
                    clicks=[],
                    user_info=owner_user_info(user),
                    created_at=now,
                    updated_at=now,
                )
                replace_dialogue(session, [INTRODUCTION], existing=False)
                published(session)  # webhooks hear of new sessions too
                return session
        except IntegrityError:
            continue  # a sessionId collision (62**12 ids): draw again
    raise IntegrityError("Could not draw an unused sessionId.")


def replace_dialogue(session, rows, existing=True):
    """The session's dialogue items become ``rows`` ((item_id, content_type, is_user, content, ui), ...)."""
    if existing:
        DialogueItem.objects.filter(session=session).delete()
    DialogueItem.objects.bulk_create(
        [
            DialogueItem(
                session=session, position=position, item_id=item_id, content_type=content_type,
                is_user=is_user, content=content, ui=ui,
            )
            for position, (item_id, content_type, is_user, content, ui) in enumerate(rows)
        ],
        batch_size=500,
    )


def replace_audios(session, rows):
    AudioClip.objects.filter(session=session).delete()
    AudioClip.objects.bulk_create(
        [
            AudioClip(session=session, position=position, clip_id=clip_id, base64=base64)
            for position, (clip_id, base64) in enumerate(rows)
        ],
        batch_size=500,
    )


def locked(sessions, pk):
    """The session row, locked until the end of the transaction: writers to one session queue."""
    return sessions.select_for_update().get(pk=pk)


def update_session(sessions, pk, values, dialogue=None, audios=None):
    """Apply a validated PUT: columns in ``values``; child rows replaced where given (lists of rows).

    Timestamps given in ``values`` are stored as given; without one, ``updated_at`` becomes now.
    """
    with transaction.atomic():
        session = locked(sessions, pk)
        session.updated_at = timezone.now()
        for column, value in values.items():
            setattr(session, column, value)
        session.save()
        if dialogue is not None:
            replace_dialogue(session, dialogue)
        if audios is not None:
            replace_audios(session, audios)
        published(session)
    return session


def touch_session(sessions, pk):
    """POST /session/resume: the session becomes the most recently updated one."""
    with transaction.atomic():
        session = locked(sessions, pk)
        session.updated_at = timezone.now()
        session.save(update_fields=["updated_at"])
        published(session)


def append_dialogue_item(sessions, pk, item):
    """One item at the end of the dialogue, numbered after the highest id, in one transaction.

    The session row is locked first, so concurrent appends number and count one after another.
    """
    with transaction.atomic():
        session = locked(sessions, pk)
        last = DialogueItem.objects.filter(session=session).aggregate(position=Max("position"), id=Max("item_id"))
        created = DialogueItem.objects.create(
            session=session,
            position=0 if last["position"] is None else last["position"] + 1,
            item_id=1 if last["id"] is None else last["id"] + 1,
            content_type=item["contentType"],
            is_user=item["isUser"],
            content=item["content"],
            ui=item.get("ui"),
        )
        session.dialogue_null = False
        session.updated_at = timezone.now()
        fields = ["dialogue_null", "updated_at"]
        if created.is_user:
            session.stats_total_user_messages += 1
            fields.append("stats_total_user_messages")
        session.save(update_fields=fields)
        published(session)
    return created


# --- the live session (sessions_app/socket.py): connected clients and the tutor's answers ----------

def set_client(pk, sid, connected):
    """Add or remove a Socket.IO client id in the session's `clients`; None when the session is gone."""
    with transaction.atomic():
        session = UserSession.objects.select_for_update().filter(pk=pk).first()
        if session is None:
            return None
        clients = [client for client in (session.clients or []) if client != sid]
        if connected:
            clients.append(sid)
        if clients != (session.clients or []):
            session.clients = clients
            session.save(update_fields=["clients"])
            published(session)
        return session


def begin_reply(pk):
    """The tutor starts answering: isReplying, one more model call counted. False if it already is."""
    with transaction.atomic():
        session = UserSession.objects.select_for_update().filter(pk=pk).first()
        if session is None or session.is_replying:
            return False
        session.is_replying = True
        session.stats_total_invoked_llm += 1
        session.updated_at = timezone.now()
        session.save(update_fields=["is_replying", "stats_total_invoked_llm", "updated_at"])
        published(session)
        return True


def finish_reply(pk, content, content_type="ai"):
    """The tutor's answer appended with the next id (after the highest), and isReplying over."""
    with transaction.atomic():
        session = UserSession.objects.select_for_update().filter(pk=pk).first()
        if session is None:
            return None
        last = DialogueItem.objects.filter(session=session).aggregate(position=Max("position"), id=Max("item_id"))
        item = DialogueItem.objects.create(
            session=session,
            position=0 if last["position"] is None else last["position"] + 1,
            item_id=0 if last["id"] is None else last["id"] + 1,
            content_type=content_type, is_user=False, content=content, ui=None,
        )
        session.is_replying = False
        session.dialogue_null = False
        session.updated_at = timezone.now()
        session.save(update_fields=["is_replying", "dialogue_null", "updated_at"])
        published(session)
        return item
