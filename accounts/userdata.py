"""What Flowdesk holds about one user, handed over (``user_data``) and erased (``erase``).

The user sessions are rendered by their export (the `GET /session` body); the audit events are
kept by an erasure (the trail is append-only and records names, never what was said)."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

import audit
from accounts.models import ApiKey, Membership
from audit.models import Action, AuditEvent
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


def user_data(user):
    export = UserSessionsExport(UserSession.objects.filter(user=user))
    return {
        "user": account(user),
        "memberships": memberships(user),
        "api_keys": api_keys(user),
        "user_sessions": [record for batch in export.batches() for record in batch],
        "audit_events": [event.as_line() for event in events_about(user)],
    }


def holdings(user):
    """How many rows of each kind an erasure of ``user`` removes."""
    return {
        "user sessions": UserSession.objects.filter(user=user).count(),
        "dialogue items": DialogueItem.objects.filter(session__user=user).count(),
        "audio clips": AudioClip.objects.filter(session__user=user).count(),
        "API keys": ApiKey.objects.filter(user=user).count(),
        "memberships": Membership.objects.filter(user=user).count(),
    }


def describe(username, counts, dry_run=False):
    parts = ", ".join(f"{n} {what}" for what, n in counts.items())
    return f"{'would erase' if dry_run else 'erased'} user {username}: {parts}"


def erase(user, *, actor, request=None):
    """Delete the user's sessions (dialogue, audio), keys, memberships and account, in one
    transaction with its audit event; returns what was removed, by kind."""
    username = user.get_username()
    with transaction.atomic():
        counts = holdings(user)
        organizations = list(Membership.objects.filter(user=user).values_list("organization_id", flat=True))
        # Children first, then the account: the cascade would find the same rows one by one.
        AudioClip.objects.filter(session__user=user).delete()
        DialogueItem.objects.filter(session__user=user).delete()
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
