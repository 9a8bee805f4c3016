from django.db import models
from rest_framework import serializers

from flowdesk.api.fields import StrictBooleanField, StrictCharField, StrictFloatField, StrictIntegerField


class StrictModelSerializer(serializers.ModelSerializer):
    """ModelSerializer whose generated fields refuse wrong JSON types (5 for a name, "yes" for a flag)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.BooleanField: StrictBooleanField,
        models.IntegerField: StrictIntegerField,
        models.PositiveIntegerField: StrictIntegerField,
        models.BigIntegerField: StrictIntegerField,
        models.FloatField: StrictFloatField,
    }
