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



@dataclass(frozen=True)
class Family:
    """An API family: how it answers errors, registered by the app that serves it
    (``<app>/api/errors.py``, imported by the framework at start-up)."""

    name: str  # the views' ``family``, and the key of settings.FLOWDESK_RATE_LIMITS
    prefixes: tuple  # URL path prefixes answered in this form where no view ran (404, crash)
    body: object  # (ApiError, request id) -> the JSON body
    error_schema: object  # a serializer describing ``body``, for the OpenAPI document
    validation_status: int = 400  # what a validation error answers (FastAPI answers 422)
    validation_schema: object = None  # the OpenAPI body of validation errors, where it differs
    statuses: object = None  # status -> status, for a family that answers fewer than Django produces
    documented_statuses: frozenset | None = None  # the statuses the OpenAPI document lists, if not all


FAMILIES = {}


def register_family(family):
    """Make a family known to the error handler, the middleware and the schema; returns its name."""
    FAMILIES[family.name] = family
    return family.name


def family_for_path(path):
    for family in FAMILIES.values():
        for prefix in family.prefixes:
            if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?"):
                return family.name
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


def error_response(family, error, request):
    from flowdesk.api.renderers import json_response

    family = FAMILIES[family]
    if error.status == 400 and error.details:
        error.status = family.validation_status
    if family.statuses is not None:
        error.status = family.statuses(error.status)
    response = json_response(family.body(error, getattr(request, "request_id", None)), status=error.status)
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
