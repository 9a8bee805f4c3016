"""What Flowdesk holds about one user, handed over (``user_data``) and erased (``erase``).

The user sessions are rendered by their export (the `GET /session` body); the audit events are
kept by an erasure (the trail is append-only and records names, never what was said)."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

import audit
from accounts.models import ApiKey, Membership
from audit.models import Action, AuditEvent
from chat.api.serializers import message_data
from chat.models import ChatMessage, ChatTurn
from flowdesk.api.fields import iso_z
from sessions_app.exporting import UserSessionsExport
from sessions_app.models import AudioClip, DialogueItem, UserSession

ACCOUNT_FIELDS = ["username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser"]


def _when(value):
    return None if value is None else iso_z(value)


def account(user):
    return {
        "id": user.pk,
        **{name: getattr(user, name) for name in ACCOUNT_FIELDS},
        "date_joined": _when(user.date_joined),
        "last_login": _when(user.last_login),
    }


def memberships(user):
    rows = Membership.objects.filter(user=user).select_related("organization").order_by("organization_id")
    # select_related: each row's organization name
    return [
        {"organization": m.organization_id, "organization_name": m.organization.name, "role": m.role,
         "created_at": _when(m.created_at)}
        for m in rows
    ]


def api_keys(user):
    """Prefix, name and dates: never the hash, and the raw key is not stored at all."""
    rows = ApiKey.objects.filter(user=user).order_by("created_at", "id").values(
        "prefix", "name", "organization_id", "workspace_id", "created_at", "last_used_at", "revoked_at"
    )
    return [
        {"prefix": row["prefix"], "name": row["name"], "organization": row["organization_id"],
         "workspace": row["workspace_id"], "created_at": _when(row["created_at"]),
         "last_used_at": _when(row["last_used_at"]), "revoked_at": _when(row["revoked_at"])}
        for row in rows
    ]


def events_about(user):
    """Events naming the user, one of their sessions or keys, or done by them or with their keys."""
    username = user.get_username()
    prefixes = list(ApiKey.objects.filter(user=user).values_list("prefix", flat=True))
    sessions = UserSession.objects.filter(user=user).values("session_id")
    return AuditEvent.objects.filter(
        Q(object_type="user", object_id=username)
        | Q(object_type="user session", object_id__in=sessions)
        | Q(object_type="API key", object_id__in=prefixes)
        | Q(object_type="user sessions", object_id=username)
        | Q(actor=username)
        | Q(actor__in=prefixes)
    ).order_by("at", "id")


def chat_messages_of(user):
    """The workflow-chat messages the user sent with their keys (the API stores their id as sender)."""
    return ChatMessage.objects.filter(sender_user_id=str(user.pk))


def user_data(user):
    export = UserSessionsExport(UserSession.objects.filter(user=user))
    # session, its workflow, conversation: what message_data reads
    messages = chat_messages_of(user).select_related("session__workflow", "conversation").order_by("created_at", "id")
    return {
        "user": account(user),
        "memberships": memberships(user),
        "api_keys": api_keys(user),
        "user_sessions": [record for batch in export.batches() for record in batch],
        "chat_messages": [message_data(message) for message in messages],
        "audit_events": [event.as_line() for event in events_about(user)],
    }


def holdings(user):
    """How many rows of each kind an erasure of ``user`` removes."""
    return {
        "user sessions": UserSession.objects.filter(user=user).count(),
        "dialogue items": DialogueItem.objects.filter(session__user=user).count(),
        "audio clips": AudioClip.objects.filter(session__user=user).count(),
        "chat messages": chat_messages_of(user).count(),
        "API keys": ApiKey.objects.filter(user=user).count(),
        "memberships": Membership.objects.filter(user=user).count(),
    }


def holds(user):
    """What stops an erasure: the user's sessions under a retention hold, their own or their
    organization's (the hold stops every deletion). Readable reasons, none when it may go ahead."""
    from chat.models import ChatSession
    from retention.models import RetentionPolicy

    held_orgs = RetentionPolicy.objects.filter(hold=True).values("organization_id")
    reasons = [
        f"user session {session_id} is held" for session_id in
        UserSession.objects.filter(user=user, retention_hold=True).values_list("session_id", flat=True)[:5]
    ]
    reasons += [
        f"organization {org} is on hold" for org in sorted(set(
            list(UserSession.objects.filter(user=user, organization__in=held_orgs).values_list("organization_id", flat=True))
            + list(chat_messages_of(user).filter(session__organization__in=held_orgs).values_list(
                "session__organization_id", flat=True))
        ))
    ]
    reasons += [
        f"chat session {session_id or pk} is held" for pk, session_id in ChatSession.objects.filter(
            retention_hold=True, messages__sender_user_id=str(user.pk)
        ).distinct().values_list("pk", "session_id")[:5]
    ]
    return reasons


SINGULAR = {"user sessions": "user session", "dialogue items": "dialogue item", "audio clips": "audio clip",
            "chat messages": "chat message", "API keys": "API key", "memberships": "membership",
            "audit events": "audit event"}


def describe(username, counts, verb="erased"):
    """``erased user U: 2 user sessions, 1 API key, ...`` (the commands' and the admin's summary)."""
    parts = ", ".join(f"{n} {SINGULAR.get(what, what) if n == 1 else what}" for what, n in counts.items())
    return f"{verb} user {username}: {parts}"


class Held(Exception):
    """The erasure would delete what a retention hold keeps."""


def erase(user, *, actor, request=None):
    """Delete the user's sessions (dialogue, audio), chat messages, keys, memberships and account,
    in one transaction with its audit event; returns what was removed, by kind. ``Held`` when a
    retention hold keeps some of it (nothing is deleted)."""
    username = user.get_username()
    with transaction.atomic():
        reasons = holds(user)
        if reasons:
            raise Held(f"user {username} is not erased: " + "; ".join(reasons) + ". Release the hold first.")
        counts = holdings(user)
        organizations = list(Membership.objects.filter(user=user).values_list("organization_id", flat=True))
        # Children first, then the account: the cascade would find the same rows one by one.
        AudioClip.objects.filter(session__user=user).delete()
        DialogueItem.objects.filter(session__user=user).delete()
        # The stream turns that began with one of their messages keep a copy of it for replay.
        sent = [str(pk) for pk in chat_messages_of(user).values_list("id", flat=True)]
        ChatTurn.objects.filter(events__index=0, events__event="turn", events__data__message__id__in=sent).delete()
        chat_messages_of(user).delete()  # the chats' summaries are recounted in the same transaction
        UserSession.objects.filter(user=user).delete()
        ApiKey.objects.filter(user=user).delete()
        Membership.objects.filter(user=user).delete()
        get_user_model().objects.filter(pk=user.pk).delete()
        audit.record(
            Action.USER_ERASE, actor=actor, object_type="user", object_id=username,
            organization=organizations[0] if len(organizations) == 1 else None, request=request,
            changes={**counts, "organizations": organizations},
        )
    return counts
