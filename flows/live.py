"""Live flow sessions as events: every change published once after commit; the SSE stream's frames.

Sessions change in many places (the API, the engine on a worker, the admin, an import): saves of a
session or of one of its recorded steps publish through model signals, so none is missed; the
import, which writes with COPY and bulk updates, publishes its updated sessions itself.
"""

from django.db.models import F
from django.db.models.signals import post_save

from flowdesk import events
from flowdesk.db.once import once_per_transaction
from flows.models import LiveFlowSession, LiveFlowSessionStep, SessionStatus

UPDATED = "live_flow_session.updated"  # any change: what the event stream follows
STATUS_CHANGED = "live_flow_session.status_changed"  # what webhooks are told
TERMINAL = {SessionStatus.FINISHED, SessionStatus.FAILED, SessionStatus.CANCELLED}


def channel(pk):
    return f"live_flow_session:{pk}"


def state(pk):
    """(revision, body) of the session as GET one answers it, or None when it is gone.

    The revision grows with every change (a counter on the session, raised by each save of it or
    of its steps): the stream's event ids, and what `Last-Event-ID` is compared with.
    """
    from flows.api.serializers import LiveFlowSessionSerializer

    session = LiveFlowSession.objects.with_tree().filter(pk=pk).first()
    if session is None:
        return None
    return session.revision, LiveFlowSessionSerializer(session).data


def rendered(pk):
    found = state(pk)
    return None if found is None else found[1]


def organization_of(pk):
    return LiveFlowSession.objects.filter(pk=pk).values_list("live_flow__organization_id", flat=True).first()


def changed(pks):
    """The sessions changed: a new revision each (no signal: an update, not a save)."""
    LiveFlowSession.objects.filter(pk__in=pks).update(revision=F("revision") + 1)


def changed_in_transaction(pk):
    """The session changed: a new revision, once per transaction (the stream sends one event a
    transaction, however many saves it made: one UPDATE, not one a save)."""
    once_per_transaction(("live_flow_session.revision", pk), lambda: changed([pk]))


def published(pk, status_changed=False, organization_id=None):
    """Tell the session's listeners (and, for a new status, webhooks) once the transaction commits."""
    types = [UPDATED, STATUS_CHANGED] if status_changed else [UPDATED]
    if organization_id is None:
        found = []

        def organization_id():  # looked up once for both events, and only if someone hears one
            if not found:
                found.append(organization_of(pk))
            return found[0]

    for event_type in types:
        events.publish(event_type, channel=channel(pk), organization_id=organization_id, render=lambda: rendered(pk))


def _session_saved(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    loaded = getattr(instance, "_loaded_status", None)
    changed_in_transaction(instance.pk)
    # The live flow is loaded when the API starts a session: its organization costs no query then.
    organization = instance.live_flow.organization_id if LiveFlowSession.live_flow.is_cached(instance) else None
    published(instance.pk, status_changed=created or instance.status != loaded, organization_id=organization)
    instance._loaded_status = instance.status


def _step_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        changed_in_transaction(instance.session_id)
        published(instance.session_id)


def connect_signals():
    post_save.connect(_session_saved, sender=LiveFlowSession, dispatch_uid="flowdesk_live_flow_session_saved")
    post_save.connect(_step_saved, sender=LiveFlowSessionStep, dispatch_uid="flowdesk_live_flow_step_saved")
