"""The message-flows family's error body: Trillet's, with a code in words."""

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from flowdesk.api.errors import Family, register_family
from flowdesk.api.schema import FieldProblem

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


def error_body(error, request_id):
    code = MESSAGE_FLOW_CODES.get(error.status, "internal_error" if error.status >= 500 else "bad_request")
    if error.details and error.status == 400:
        code = "validation_error"
    body = {"code": code, "message": error.message}
    if error.details:
        body["details"] = [{"field": item.field, "message": item.message} for item in error.details]
    body.update(error.extra)
    return {"error": body}


class MessageFlowsError(serializers.Serializer):
    error = inline_serializer(
        "MessageFlowsErrorBody",
        {
            "code": serializers.CharField(),
            "message": serializers.CharField(),
            "details": FieldProblem(many=True, required=False),
            "reset_at": serializers.CharField(required=False, help_text="With rate_limit_exceeded."),
        },
    )


MESSAGE_FLOWS = register_family(Family(
    name="message_flows",
    prefixes=("/v1/api/message-flows",),
    body=error_body,
    error_schema=MessageFlowsError,
))
