"""Filters every family's FilterSets share."""

from datetime import UTC, datetime

import django_filters
from django import forms
from django.utils.dateparse import parse_datetime
from django_filters.fields import IsoDateTimeField

# The widest instants every database stores (an offset can push 0001-01-01 or 9999-12-31 past them).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
OUT_OF_RANGE = "Enter a date/time between years 1 and 9999."


class UTCIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 with any offset, handed to the database in UTC (PostgreSQL refuses offsets past ±15:59).

    Naive values are taken as UTC; instants outside years 1-9999 are a validation error, not a crash.
    """

    def to_python(self, value):
        if value in self.empty_values:
            return None
        parsed = parse_datetime(str(value).strip()) if not isinstance(value, datetime) else value
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            parsed = parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(OUT_OF_RANGE, code="invalid") from None
        if not EARLIEST <= parsed <= LATEST:
            raise forms.ValidationError(OUT_OF_RANGE, code="invalid")
        return parsed


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField
