"""A change to a session's keys, as PUT /session/{sessionId} and the socket's patches make it."""

from rest_framework import serializers

from sessions_app import services
from sessions_app.api.serializers import (
    UserSessionSerializer,
    audio_rows,
    dialogue_rows,
    known_session_keys,
    session_values,
)

# A session's ids: a client may PUT back a body it got from GET, so they are accepted when unchanged.
FIXED_KEYS = {"uuid": "uuid", "sessionId": "session_id"}


def apply_update(sessions, session, body):
    """Validate ``body`` (any subset of the session's keys) and store it; raises ValidationError.

    Keys no session has are dropped, as the vendor drops them; each given key is replaced whole.
    """
    serializer = UserSessionSerializer(data=known_session_keys(body), partial=True)
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    errors = {
        key: ["Cannot be changed."]
        for key, column in FIXED_KEYS.items()
        if key in data and data[key] != getattr(session, column)
    }
    if errors:
        raise serializers.ValidationError(errors)
    for key in FIXED_KEYS:
        data.pop(key, None)
    return services.update_session(
        sessions,
        session.pk,
        session_values(data),
        dialogue=dialogue_rows(data["dialogue"]) if "dialogue" in data else None,
        audios=audio_rows(data["audios"]) if "audios" in data else None,
    )
