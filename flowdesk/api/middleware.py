import logging
import re
import secrets

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

from flowdesk.api.errors import DEFAULT_MESSAGES, ApiError, ErrorItem, error_response, family_for_path

logger = logging.getLogger("flowdesk.api")

MAX_PARAM_NAME = 100
# Seconds a client is told to wait while the database is away: a restart takes a few.
DATABASE_RETRY_AFTER = 5
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")


def new_request_id():
    return "req_" + secrets.token_hex(12)


class RequestIdMiddleware:
    """Gives every request an id (a well-formed incoming X-Request-Id is kept) and echoes it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-Id", "")
        request.request_id = incoming if _INCOMING_ID.match(incoming) else new_request_id()
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id
        return response


class ApiErrorMiddleware:
    """Family error bodies for what happens outside API views: unknown paths, crashes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        family = family_for_path(request.path_info)
        refusal = self._oversized_headers(request)
        if refusal is not None and family is None:
            return HttpResponse(refusal.message, status=refusal.status, content_type="text/plain; charset=utf-8")
        if family:
            refusal = refusal or self._oversized_query(request)
            if refusal is not None:
                return error_response(family, refusal, request)
        response = self.get_response(request)
        if (
            family
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            status = response.status_code
            error = ApiError(status, DEFAULT_MESSAGES.get(status, "Request failed."))
            if status == 405 and response.get("Allow"):
                error.headers["Allow"] = response["Allow"]
            return error_response(family, error, request)
        return response

    @staticmethod
    def _oversized_headers(request):
        limit = settings.FLOWDESK_MAX_HEADER_BYTES
        headers = [
            (name.removeprefix("HTTP_"), value)
            for name, value in request.META.items()
            if name.startswith("HTTP_") or name in ("CONTENT_TYPE", "CONTENT_LENGTH")
        ]
        if len(headers) > settings.FLOWDESK_MAX_HEADERS:
            return ApiError(431, f"The request has more than {settings.FLOWDESK_MAX_HEADERS} headers.")
        for name, value in headers:
            if len(name) + len(value) > limit:
                header = name.replace("_", "-").title()[:MAX_PARAM_NAME]
                return ApiError(431, f"Request header {header} is longer than {limit} bytes.")
        return None

    @staticmethod
    def _oversized_query(request):
        query_values = (text for name, values in request.GET.lists() for text in (name, *values))
        if "\x00" in request.path_info or any("\x00" in text for text in query_values):
            # No id or filter value can hold a NUL, and PostgreSQL refuses to compare with one.
            return ApiError(400, "The path or query contains a NUL character.")
        query = request.META.get("QUERY_STRING", "")
        if len(query) > settings.FLOWDESK_MAX_QUERY_BYTES:
            return ApiError(400, f"The query string is longer than {settings.FLOWDESK_MAX_QUERY_BYTES} bytes.")
        for name, values in request.GET.lists():
            if len(name) > MAX_PARAM_NAME or any(len(v) > settings.FLOWDESK_MAX_QUERY_VALUE for v in values):
                return ApiError(
                    400,
                    f"Query parameter {name[:MAX_PARAM_NAME]!r} is longer than {settings.FLOWDESK_MAX_QUERY_VALUE} characters.",
                    [ErrorItem(("query", name[:MAX_PARAM_NAME]), "Too long.", "max_length")],
                )
        return None

    def process_exception(self, request, exception):
        family = family_for_path(request.path_info)
        if isinstance(exception, OperationalError | InterfaceError):
            # The database is away (restarting, failing over): the client should come back soon,
            # and the connection is closed at the end of this request and made anew on the next.
            logger.warning("Database unavailable on %s %s [%s]: %s", request.method, request.path,
                           getattr(request, "request_id", "-"), exception)
            error = ApiError(503, "The database is unavailable; try again shortly.",
                             headers={"Retry-After": str(DATABASE_RETRY_AFTER)})
            if family is None:
                response = HttpResponse(error.message, status=503, content_type="text/plain; charset=utf-8")
                response["Retry-After"] = error.headers["Retry-After"]
                return response
            return error_response(family, error, request)
        if family is None:
            return None
        logger.exception("Unhandled error on %s %s [%s]", request.method, request.path, request.request_id)
        return error_response(family, ApiError(500, "Internal server error."), request)

