"""JSON columns edited as indented text; invalid JSON, or the wrong kind of value, is refused at
the field; and API field rules applied to admin forms."""

import json

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from flowdesk.api.fields import has_nul


class PrettyJSONWidget(forms.Textarea):
    def __init__(self, attrs=None):
        super().__init__({"class": "vLargeTextField flowdesk-json", "style": "font-family: monospace", **(attrs or {})})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        lines = str(value or "").count("\n") + 1
        context["widget"]["attrs"]["rows"] = min(max(lines, 2), 30)
        return context




class PrettyJSONField(forms.JSONField):
    """JSON shown indented; blank input means the column's default (e.g. {}), "null" means null."""

    widget = PrettyJSONWidget
    default_error_messages = {"invalid": "Enter valid JSON: %(error)s."}

    def __init__(self, *, blank_value=None, **kwargs):
        self.blank_value = blank_value
        super().__init__(**kwargs)

    def to_python(self, value):
        if isinstance(value, str) and not value.strip():
            return self.blank_value() if callable(self.blank_value) else self.blank_value
        if isinstance(value, str) and not self.disabled:
            try:
                json.loads(value, cls=self.decoder)
            except json.JSONDecodeError as exc:
                raise ValidationError(self.error_messages["invalid"], code="invalid", params={"error": exc}) from None
        value = super().to_python(value)
        if has_nul(value):
            raise ValidationError("Null characters (\\u0000) are not allowed.", code="null_characters")
        return value

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


def json_formfield(db_field, validators=(), **kwargs):
    kwargs.setdefault("form_class", PrettyJSONField)
    kwargs.setdefault("widget", PrettyJSONWidget)
    if not db_field.null and db_field.has_default():
        kwargs.setdefault("blank_value", db_field.default)
    field = db_field.formfield(**kwargs)
    field.validators = [*field.validators, *validators]
    return field


def json_object(value):
    if value is not None and not isinstance(value, dict):
        raise ValidationError("Enter a JSON object ({...}).", code="not_object")


def json_array_of_strings(value):
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        raise ValidationError('Enter a JSON array of strings (["...", ...]).', code="not_string_array")


def json_number(value):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("Enter a number.", code="not_number")


def pretty_json(value):
    """Read-only JSON, indented."""
    if value is None:
        return "null"
    return format_html('<pre class="flowdesk-json">{}</pre>', json.dumps(value, ensure_ascii=False, indent=2))


def api_rules(drf_field):
    """A form validator applying an API field's rules (a DRF field), so the admin accepts what the API does."""
    from rest_framework import serializers

    from flowdesk.api.errors import flatten_validation

    def messages(detail):
        for item in flatten_validation(detail, ("value",)):
            yield f"{item.field}: {item.message}" if len(item.loc) > 1 else item.message

    def validate(value):
        try:
            drf_field.run_validation(value)
        except serializers.ValidationError as exc:
            raise ValidationError(list(messages(exc.detail))) from None

    return validate
