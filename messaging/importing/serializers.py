"""What the import reads: a message flow as the list endpoint (or GET one) returns it."""

from rest_framework import serializers

from flowdesk.api.fields import IsoZDateTimeField, StrictCharField, StrictIntegerField
from messaging.api.serializers import writable_fields


class ImportMessageFlowSerializer(serializers.Serializer):
    """One message flow as the list endpoint returns it (GET one's initiationMessage and __v optional).

    Keys beyond these are ignored, so a vendor export with extra keys imports as it is.
    """

    def get_fields(self):
        fields = writable_fields(change=False)
        fields["name"] = StrictCharField(max_length=200, allow_blank=True)
        fields["prompt"] = StrictCharField(allow_blank=True)
        fields["initiationMessage"] = StrictCharField(
            source="initiation_message", required=False, allow_blank=True, allow_null=True
        )
        return {
            "_id": StrictCharField(source="id", max_length=64),
            "workspaceId": StrictCharField(source="workspace_id", max_length=64),
            **fields,
            "createdAt": IsoZDateTimeField(source="created_at"),
            "updatedAt": IsoZDateTimeField(source="updated_at"),
            "__v": StrictIntegerField(source="version", required=False, min_value=0, max_value=2**31 - 1),
        }
