"""OpenAPI: the credential headers, the tenant headers and each family's error bodies.

Every family view inherits them through ``FlowdeskAutoSchema``; a view only describes its own
success bodies.
"""

import inspect

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from flowdesk.api.errors import FAMILIES


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "flowdesk.api.authentication.ApiKeyAuthentication"
    name = ["BearerAuth", "ApiKeyHeader", "XApiKeyHeader"]

    def get_security_requirement(self, auto_schema):
        # Any one of the three headers will do: alternatives, not all three at once.
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
            {"type": "apiKey", "in": "header", "name": "Api-key"},
            {"type": "apiKey", "in": "header", "name": "x-api-key"},
        ]


# One offending field: a building block of the families' error bodies (no docstring: it would
# become the component's description).
class FieldProblem(serializers.Serializer):
    field = serializers.CharField()
    message = serializers.CharField()


ERROR_DESCRIPTIONS = {
    "400": "Bad request: malformed JSON, wrong types, bad query parameters.",
    "401": "No API key, or an unknown or revoked one.",
    "403": "The key has no access to the organization or workspace asked for.",
    "404": "No such object in this tenant.",
    "405": "Method not allowed.",
    "409": "Conflicts with the current state.",
    "413": "Request body too large.",
    "415": "Unsupported media type.",
    "422": "Validation error: one item per offending field.",
    "429": "Rate limit exceeded; see Retry-After.",
    "500": "Server error.",
}


class FlowdeskAutoSchema(AutoSchema):
    def _is_list_view(self, serializer=None):
        # A family whose list answers an envelope object (workflow chat) is not a bare array.
        if getattr(self.view, "list_is_enveloped", False):
            return False
        return super()._is_list_view(serializer)

    def get_description(self):
        # Only the concrete view's or action's own docstring: not the shared base classes' notes.
        action = getattr(self.view, getattr(self.view, "action", None) or self.method.lower(), None)
        doc = getattr(action, "__doc__", None) if action is not None else None
        own = type(self.view).__dict__.get("__doc__")
        return get_doc_text(doc) or get_doc_text(own) or ""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        family = FAMILIES.get(getattr(self.view, "family", None))
        if family is None:
            return responses
        codes = ["400", "401", "403", "404", "405", "429", "500"]
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes.append("409")
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["413", "415"]
        if family.documented_statuses is not None:
            codes = [code for code in codes if int(code) in family.documented_statuses]
        for code in codes:
            responses.setdefault(code, self._error_response(family.error_schema, code, direction))
        if family.validation_schema is not None:
            code = str(family.validation_status)
            responses.setdefault(code, self._error_response(family.validation_schema, code, direction))
        return responses

    def _error_response(self, serializer, code, direction):
        response = self._get_response_for_code(serializer, code, direction=direction)
        response["description"] = ERROR_DESCRIPTIONS[code]
        return response

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if getattr(self.view, "family", None) is None:
            return parameters
        parameters.append(
            OpenApiParameter(
                "Current-Org-Id", OpenApiTypes.STR, OpenApiParameter.HEADER,
                description="The organization to act in (default: the key's own), e.g. org_u13TesTDumMyEe5P.",
            )
        )
        parameters.append(
            OpenApiParameter(
                "x-workspace-id", OpenApiTypes.STR, OpenApiParameter.HEADER,
                required=bool(getattr(self.view, "workspace_required", False)),
                description="The workspace to act in; must belong to the organization.",
            )
        )
        return parameters


def get_doc_text(doc):
    return inspect.cleandoc(doc) if doc else ""
