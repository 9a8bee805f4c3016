"""The field types of the user-sessions shapes: strings kept as sent, JSON numbers kept as given,
and nothing PostgreSQL cannot store or a JavaScript client cannot read back."""

from rest_framework import serializers

from flowdesk.api.fields import JSONObjectField, StrictCharField, StrictIntegerField, has_nul, json_scalars

__all__ = [
    "MAX_DIALOGUE_DEPTH", "MAX_SAFE_INTEGER", "AnyJSONField", "ItemsField", "JSONObjectOrNullField",
    "NestedField", "NumberField", "ObjectField", "Text", "UiField", "counter", "json_problem",
    "nesting_depth", "text", "text_list", "text_problem", "validated_with",
]

# JavaScript clients read numbers as doubles: integers beyond this lose precision (and beyond
# 64 bits cannot be rendered at all), so they are refused on the way in.
MAX_SAFE_INTEGER = 2**53 - 1
# Nested dialogue content deeper than this is refused (an import file has no parser depth limit).
MAX_DIALOGUE_DEPTH = 16


def text_problem(value):
    """Why a string cannot be stored, or None: PostgreSQL stores neither NUL characters nor lone
    surrogates (text or jsonb)."""
    if has_nul(value):
        return "Null characters are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Text must be valid Unicode (no lone surrogates)."
    return None


def json_problem(value):
    """Why an arbitrary JSON value cannot be stored and rendered back, or None."""
    for item in json_scalars(value):
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return problem
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_SAFE_INTEGER:
            return f"Integers must lie within ±{MAX_SAFE_INTEGER}."
    return None


def nesting_depth(value):
    """How many JSON levels deep ``value`` goes (a scalar is 1)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def validated_with(field, serializer_class, data, many=False):
    """Validate ``data`` with a serializer bound once per field and reused (a new serializer per
    value costs more than the validation: imports validate tens of nested items per record)."""
    key = "_many_validator" if many else "_validator"
    serializer = field.__dict__.get(key)
    if serializer is None:
        serializer = field.__dict__[key] = serializer_class(many=many)
    try:
        return serializer.run_validation(data)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError(exc.detail) from None


class Text(StrictCharField):
    """A string kept exactly as sent, and storable."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = text_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


def text(**kwargs):
    kwargs.setdefault("allow_blank", True)
    return Text(**kwargs)


class UiField(Text):
    """A dialogue item's `ui`: a string; null is read as no `ui`, so it is never answered (the
    field is not ``allow_null``, which would make the answer's schema nullable)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data is None:
            return True, None
        return super().validate_empty_values(data)


class AnyJSONField(serializers.JSONField):
    """Any JSON value, kept as given."""

    def to_internal_value(self, data):
        problem = json_problem(data)
        if problem:
            raise serializers.ValidationError(problem)
        return super().to_internal_value(data)


class JSONObjectOrNullField(JSONObjectField, AnyJSONField):
    """The framework's JSON object (checked first), storable as AnyJSONField; null where allowed."""

    default_error_messages = {"not_object": "Must be a JSON object or null."}


class NumberField(serializers.Field):
    """A JSON number kept as given: 3 stays 3, 2.5 stays 2.5."""

    default_error_messages = {"invalid": "A number is required.", "range": "Out of range."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, int) and abs(data) > MAX_SAFE_INTEGER:
            self.fail("range")
        return data

    def to_representation(self, value):
        return value


def counter():
    return StrictIntegerField(min_value=0, max_value=MAX_SAFE_INTEGER)


def text_list(**kwargs):
    return serializers.ListField(child=text(), allow_null=True, **kwargs)


class NestedField(serializers.Field):
    """A field validated by ``serializer_class`` (bound once, see ``validated_with``); kept as given."""

    def __init__(self, serializer_class, **kwargs):
        self.serializer_class = serializer_class
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value


class ItemsField(NestedField):
    """A JSON array of objects, each validated by ``serializer_class``; null stays null."""

    default_error_messages = {"not_a_list": "Expected a list of objects."}

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        return [dict(item) for item in validated_with(self, self.serializer_class, data, many=True)]


class ObjectField(NestedField):
    """A JSON object validated as a whole by ``serializer_class`` (never partially)."""

    def to_internal_value(self, data):
        return dict(validated_with(self, self.serializer_class, data))
