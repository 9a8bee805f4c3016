"""The workflow-chat family's error body: B3OS's, with the request id."""

from rest_framework import serializers

from flowdesk.api.errors import Family, register_family
from flowdesk.api.schema import FieldProblem


def error_body(error, request_id):
    return {
        "code": error.status,
        "message": error.message,
        "details": [{"field": item.field, "message": item.message} for item in error.details],
        "requestId": request_id,
    }


class WorkflowChatError(serializers.Serializer):
    code = serializers.IntegerField()
    message = serializers.CharField()
    details = FieldProblem(many=True)
    requestId = serializers.CharField()  # noqa: N815 - the vendor's spelling


WORKFLOW_CHAT = register_family(Family(
    name="workflow_chat",
    prefixes=("/v1/ai/workflow/chat",),
    body=error_body,
    error_schema=WorkflowChatError,
))
