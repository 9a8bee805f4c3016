import logging
import re
import secrets

from accounts.api.errors import DEFAULT_MESSAGES, ApiError, error_response, family_for_path

logger = logging.getLogger("flowdesk.api")

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
        response = self.get_response(request)
        family = family_for_path(request.path_info)
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

    def process_exception(self, request, exception):
        family = family_for_path(request.path_info)
        if family is None:
            return None
        logger.exception("Unhandled error on %s %s [%s]", request.method, request.path, request.request_id)
        return error_response(family, ApiError(500, "Internal server error."), request)

