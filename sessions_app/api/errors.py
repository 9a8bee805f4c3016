"""The user-sessions family's error body: TutoriaLLM's, with its six statuses only."""

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from flowdesk.api.errors import Family, register_family

USER_SESSION_TYPES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "TOO_MANY_REQUESTS",
    500: "SERVER_ERROR",
}

# The vendor answers only the six statuses above: a method a path does not have is a 404 like an
# unknown route; any other client error (409, 413, 415, 431...) a 400, any server error a 500.
USER_SESSION_STATUS_REMAP = {405: 404}


def vendor_status(status):
    status = USER_SESSION_STATUS_REMAP.get(status, status)
    if status not in USER_SESSION_TYPES:
        status = 500 if status >= 500 else 400
    return status


def error_body(error, request_id):
    body = {"message": error.message, "type": USER_SESSION_TYPES[error.status], "status": error.status}
    if error.details and error.status == 400:
        # The vendor's flattened validation error: the first whole-body message, and the first
        # message for each top-level key (the full paths are in `message`).
        body["type"] = "VALIDATION_ERROR"
        field_errors = {}
        form_error = None
        for item in error.details:
            if len(item.loc) > 1:
                field_errors.setdefault(str(item.loc[1]), item.message)
            elif form_error is None:
                form_error = item.message
        if form_error is not None:
            body["formErrors"] = form_error
        body["fieldErrors"] = field_errors
    return {"error": body}


@extend_schema_field({
    "type": "integer", "minimum": 400, "maximum": 500,
    "description": "One of " + ", ".join(map(str, sorted(USER_SESSION_TYPES))) + "; the HTTP status.",
})
class UserSessionsStatusField(serializers.IntegerField):
    """The vendor's six statuses, listed in words: an enum of a field named `status` would take the
    name StatusEnum from the live flows' session status."""


class UserSessionsError(serializers.Serializer):
    error = inline_serializer(
        "UserSessionsErrorBody",
        {
            "message": serializers.CharField(),
            "type": serializers.ChoiceField(choices=[*sorted(set(USER_SESSION_TYPES.values())), "VALIDATION_ERROR"]),
            "status": UserSessionsStatusField(),
            "formErrors": serializers.CharField(
                required=False, help_text="With VALIDATION_ERROR: the first error about the whole body, if any."
            ),
            "fieldErrors": serializers.DictField(
                child=serializers.CharField(), required=False,
                help_text="With VALIDATION_ERROR: the first message for each top-level key in error.",
            ),
        },
    )


USER_SESSIONS = register_family(Family(
    name="user_sessions",
    prefixes=("/session",),
    body=error_body,
    error_schema=UserSessionsError,
    statuses=vendor_status,
    documented_statuses=frozenset(USER_SESSION_TYPES),
))
