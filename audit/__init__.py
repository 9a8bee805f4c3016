"""The audit trail: an append-only record of who looked at, changed, exported or deleted what.

Every writer calls ``audit.record(action, actor=..., object_type=..., object_id=..., ...)``.
"""


def record(action, *, actor, object_type, object_id, organization=None, request=None, changes=None):
    """Append one event; see audit.trail.record."""
    from audit.trail import record as _record  # the models load only once the apps are ready

    return _record(
        action, actor=actor, object_type=object_type, object_id=object_id,
        organization=organization, request=request, changes=changes,
    )
