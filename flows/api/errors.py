"""The live-flows family's error body: FastAPI's, as the vendor's service answers."""

from rest_framework import serializers

from flowdesk.api.errors import Family, register_family


def error_body(error, request_id):
    if error.details:
        # Validation errors list each offending field.
        return {
            "detail": [
                {"loc": list(item.loc), "msg": item.message, "type": item.code} for item in error.details
            ]
        }
    return {"detail": error.message}


class LiveFlowsErrorItem(serializers.Serializer):
    loc = serializers.ListField(child=serializers.JSONField())
    msg = serializers.CharField()
    type = serializers.CharField()


class LiveFlowsError(serializers.Serializer):
    detail = serializers.CharField()


class LiveFlowsValidationError(serializers.Serializer):
    detail = LiveFlowsErrorItem(many=True)


LIVE_FLOWS = register_family(Family(
    name="live_flows",
    prefixes=("/live_flows", "/flows"),
    body=error_body,
    error_schema=LiveFlowsError,
    validation_status=422,
    validation_schema=LiveFlowsValidationError,
))
