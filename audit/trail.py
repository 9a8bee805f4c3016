"""Writing events: ``record`` for one, ``admin_events`` for what the admin's base hooks record."""

from accounts.models import ApiKey, Organization
from audit.models import AuditEvent

# How a person names an object of these models (the first non-empty value); others: their pk.
RECOGNISED_BY = {
    "auth.user": ("username",),
    "sessions_app.usersession": ("session_id",),
    "chat.chatsession": ("session_id", "workflow__uuid"),
    "accounts.apikey": ("prefix",),
}


def actor_name(actor):
    """A staff user's username, an API key's prefix, or the string given (a command's name)."""
    if isinstance(actor, ApiKey):
        return actor.prefix
    if hasattr(actor, "get_username"):
        return actor.get_username()
    return str(actor)


def _organization(organization):
    if organization is None:
        return None, ""
    if isinstance(organization, Organization):
        return organization.pk, organization.name
    name = Organization.objects.filter(pk=organization).values_list("name", flat=True).first()
    return str(organization), name or ""


def event(action, *, actor, object_type, object_id, organization=None, request=None, changes=None):
    """An unsaved event (for bulk_create); ``organization`` is an Organization, an id, or an
    (id, name) pair."""
    if isinstance(organization, tuple):
        organization_id, organization_name = organization
    else:
        organization_id, organization_name = _organization(organization)
    return AuditEvent(
        actor=actor_name(actor),
        action=action,
        object_type=str(object_type),
        object_id="" if object_id is None else str(object_id),
        organization_id=organization_id,
        organization_name=organization_name or "",
        request_id=getattr(request, "request_id", "") or "",
        changes=changes,
    )


def record(action, *, actor, object_type, object_id, organization=None, request=None, changes=None):
    """Append one event, in the caller's transaction (it commits or rolls back with the change)."""
    instance = event(
        action, actor=actor, object_type=object_type, object_id=object_id,
        organization=organization, request=request, changes=changes,
    )
    instance.save()
    return instance


def recognised_fields(model):
    return RECOGNISED_BY.get(model._meta.label_lower, ("pk",))


def recognised(values):
    """The first non-empty of the values read by ``recognised_fields``, as text."""
    return next((str(value) for value in values if value not in (None, "")), "")


def record_many(events):
    return AuditEvent.objects.bulk_create(events)
