"""Error bodies, once for all four API families.

Every failure (DRF exceptions, Django's 404/405/500 outside DRF, oversized bodies) becomes an
``ApiError`` and is rendered in the family's documented form. A family is known from the view's
``family`` attribute, or from the request path where no view ran (unknown path, crash).
"""

import logging
import math
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions, status

logger = logging.getLogger("flowdesk.api")

LIVE_FLOWS = "live_flows"
USER_SESSIONS = "user_sessions"
WORKFLOW_CHAT = "workflow_chat"
MESSAGE_FLOWS = "message_flows"

# Path prefixes that belong to each family, for responses produced where no API view ran.
FAMILY_PREFIXES = (
    ("/live_flows", LIVE_FLOWS),
    ("/flows", LIVE_FLOWS),
    ("/session", USER_SESSIONS),
    ("/v1/ai/workflow/chat", WORKFLOW_CHAT),
    ("/v1/api/message-flows", MESSAGE_FLOWS),
)


def family_for_path(path):
    for prefix, family in FAMILY_PREFIXES:
        if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?"):
            return family
    return None


@dataclass
class ErrorItem:
    loc: tuple  # ("body", "steps", 0, "step_type"), ("query", "limit"), ("header", "x-workspace-id")
    message: str
    code: str = "invalid"

    @property
    def field(self):
        return ".".join(str(part) for part in self.loc[1:]) or self.loc[0]


@dataclass
class ApiError(Exception):
    status: int
    message: str
    details: list = field(default_factory=list)
    headers: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # family-specific additions, e.g. reset_at

    def __str__(self):
        return self.message


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "payload_too_large"


class BadRequest(exceptions.APIException):
    """A 400 with field details, where a ValidationError would read as 'invalid input'."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"

    def __init__(self, message, details=()):
        super().__init__(message)
        self.items = list(details)


def flatten_validation(detail, loc=("body",)):
    """DRF's nested error structure as a flat list of ErrorItems with full field paths."""
    items = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            sub = loc if key in ("non_field_errors", "__all__") else loc + (key,)
            items.extend(flatten_validation(value, sub))
    elif isinstance(detail, list):
        if all(not isinstance(value, dict | list) for value in detail):
            for value in detail:
                items.append(ErrorItem(loc, str(value), getattr(value, "code", "invalid") or "invalid"))
        else:
            for index, value in enumerate(detail):
                if value:
                    items.extend(flatten_validation(value, loc + (index,)))
    else:
        items.append(ErrorItem(loc, str(detail), getattr(detail, "code", "invalid") or "invalid"))
    return items


def _summary(items):
    parts = [f"{item.field}: {item.message}" for item in items[:5]]
    more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
    return "Invalid input: " + "; ".join(parts) + more


def to_api_error(exc):
    """Any exception an API view may raise, as an ApiError; None for unexpected ones (a 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, Http404):
        return ApiError(404, "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return ApiError(403, "You do not have permission to perform this action.")
    if isinstance(exc, ProtectedError | RestrictedError):
        return ApiError(409, "This object is still in use and cannot be deleted.")
    if isinstance(exc, IntegrityError):
        # Validation should have caught it; a race (two writers, one id) lands here instead of a 500.
        logger.warning("Integrity error answered 409: %s", exc)
        return ApiError(409, "The request conflicts with existing data.")
    if isinstance(exc, RequestDataTooBig):
        return ApiError(413, "Request body is too large.")
    if isinstance(exc, exceptions.ValidationError):
        loc = getattr(exc, "loc", ("body",))
        items = flatten_validation(exc.detail, loc)
        return ApiError(400, _summary(items), items)
    if isinstance(exc, BadRequest):
        return ApiError(400, str(exc.detail), exc.items)
    if isinstance(exc, exceptions.APIException):
        headers, extra = {}, {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
            if getattr(exc, "reset_at", None):
                extra["reset_at"] = exc.reset_at
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            headers["WWW-Authenticate"] = "Bearer"
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return ApiError(exc.status_code, detail, headers=headers, extra=extra)
    return None


# --- family bodies -------------------------------------------------------------------------

def _live_flows_body(error, request_id):
    if error.details:
        # The vendor is FastAPI-shaped: validation errors list each offending field.
        return {
            "detail": [
                {"loc": list(item.loc), "msg": item.message, "type": item.code} for item in error.details
            ]
        }
    return {"detail": error.message}


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


def _user_sessions_status(status):
    status = USER_SESSION_STATUS_REMAP.get(status, status)
    if status not in USER_SESSION_TYPES:
        status = 500 if status >= 500 else 400
    return status


def _user_sessions_body(error, request_id):
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


def _workflow_chat_body(error, request_id):
    return {
        "code": error.status,
        "message": error.message,
        "details": [{"field": item.field, "message": item.message} for item in error.details],
        "requestId": request_id,
    }


MESSAGE_FLOW_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limit_exceeded",
    431: "header_too_large",
    500: "internal_error",
    503: "service_unavailable",
}


def _message_flows_body(error, request_id):
    code = MESSAGE_FLOW_CODES.get(error.status, "internal_error" if error.status >= 500 else "bad_request")
    if error.details and error.status == 400:
        code = "validation_error"
    body = {"code": code, "message": error.message}
    if error.details:
        body["details"] = [{"field": item.field, "message": item.message} for item in error.details]
    body.update(error.extra)
    return {"error": body}


FAMILY_BODIES = {
    LIVE_FLOWS: _live_flows_body,
    USER_SESSIONS: _user_sessions_body,
    WORKFLOW_CHAT: _workflow_chat_body,
    MESSAGE_FLOWS: _message_flows_body,
}

# Live flows answer validation errors with FastAPI's 422, the other families with 400.
VALIDATION_STATUS = {LIVE_FLOWS: 422}
# A family that answers fewer statuses than Django and DRF produce maps the others onto its own.
FAMILY_STATUSES = {USER_SESSIONS: _user_sessions_status}


def error_response(family, error, request):
    from flowdesk.api.renderers import json_response

    status_code = error.status
    if status_code == 400 and error.details:
        status_code = VALIDATION_STATUS.get(family, 400)
        error.status = status_code
    if family in FAMILY_STATUSES:
        status_code = error.status = FAMILY_STATUSES[family](status_code)
    request_id = getattr(request, "request_id", None)
    response = json_response(FAMILY_BODIES[family](error, request_id), status=status_code)
    for name, value in error.headers.items():
        response[name] = value
    return response


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every API view's errors in its family's form."""
    view = context.get("view")
    request = context.get("request")
    family = getattr(view, "family", None) or family_for_path(request.path if request else "")
    error = to_api_error(exc)
    if error is None:
        return None  # a real crash: ApiErrorMiddleware logs it and answers 500 in the family form
    if family is None:
        from rest_framework.views import exception_handler as drf_handler

        return drf_handler(exc, context)
    return error_response(family, error, request)


DEFAULT_MESSAGES = {
    400: "Bad request.",
    403: "Forbidden.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "Request body is too large.",
    415: "Unsupported media type.",
    500: "Internal server error.",
}
