"""Message-flows family: the vendor's camelCase shapes with `_id` and `__v`.

Reads are rendered by messaging.api.renderers; the serializers here validate what clients send
(``MessageFlowSerializer``); what imports read is in messaging.importing. Their
fields are keyed by the wire names, which are not all Python identifiers (`__v`).
"""

import copy
import math

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from flowdesk.api.fields import (
    IsoZDateTimeField,
    JSONObjectField,
    StrictBooleanField,
    StrictCharField,
    has_nul,
)
from flowdesk.api.views import StrictSerializerMixin
from messaging.api.renderers import message_flow_data
from messaging.models import DEFAULT_SETTINGS, Direction, MessageChannel

# The settings sub-keys the vendor documents; each, where present, is an object (or null).
SETTINGS_SECTIONS = ("responseSettings", "security", "emailSettings")

# The documented keys of workingHours, which a create body may give flat in responseSettings.
WORKING_HOURS_KEYS = ("enabled", "start", "end", "timezone", "outOfHoursMessage")


def _seconds(value):
    # A JSON number (not a boolean), finite (jsonb stores no Infinity), not negative.
    return type(value) in (int, float) and math.isfinite(value) and value >= 0


# The documented keys' types, by section: key -> (test, message). Keys beyond these are kept as given.
_STRING = (lambda value: type(value) is str, "Must be a string.")
_BOOLEAN = (lambda value: type(value) is bool, "Must be true or false.")
SETTINGS_KEYS = {
    "responseSettings": {
        "delay": (_seconds, "Must be a number of seconds, 0 or more."),
    },
    "workingHours": {
        "enabled": _BOOLEAN, "start": _STRING, "end": _STRING, "timezone": _STRING,
        "outOfHoursMessage": _STRING,
    },
    "security": {"hipaaCompliance": _BOOLEAN},
    "emailSettings": {"subjectLine": _STRING, "signature": _STRING},
}
_OBJECT = "Must be a JSON object."


def _key_errors(section, values):
    return {
        key: [message]
        for key, (test, message) in SETTINGS_KEYS[section].items()
        if key in values and not test(values[key])
    }


def settings_errors(value):
    """What is wrong with a whole ``settings`` object, as nested DRF errors; None when nothing.

    Its documented sections (and responseSettings.workingHours) are objects or null, their
    documented keys of their documented types.
    """
    errors = {}
    for name in SETTINGS_SECTIONS:
        section = value.get(name)
        if section is None:
            continue
        if type(section) is not dict:
            errors[name] = [_OBJECT]
            continue
        found = _key_errors(name, section)
        if name == "responseSettings" and section.get("workingHours") is not None:
            hours = section["workingHours"]
            found.update({"workingHours": [_OBJECT]} if type(hours) is not dict else (
                {"workingHours": nested} if (nested := _key_errors("workingHours", hours)) else {}
            ))
        if found:
            errors[name] = found
    return errors or None


def nest_working_hours(value):
    """A settings body with responseSettings' flat working-hours keys moved under workingHours.

    The vendor's create page gives them flat, its answers nested; a key given both ways is an error.
    """
    response = value.get("responseSettings")
    if type(response) is not dict or not any(key in response for key in WORKING_HOURS_KEYS):
        return value
    hours = response.get("workingHours")
    if hours is None:
        hours = {}
    elif type(hours) is not dict:
        return value  # settings_errors refuses the workingHours that is not an object
    flat = {key: response[key] for key in WORKING_HOURS_KEYS if key in response}
    # Errors name the keys where the client put them.
    errors = _key_errors("workingHours", flat)
    errors.update({key: ["Give it flat or under workingHours, not both."] for key in flat if key in hours})
    if errors:
        raise serializers.ValidationError({"responseSettings": errors})
    nested = {key: item for key, item in response.items() if key not in flat}
    nested["workingHours"] = {**hours, **flat}
    return {**value, "responseSettings": nested}


def merge_settings(base, changes):
    """A copy of ``base`` with ``changes`` laid over it: objects merge key by key, any other value
    (null included) replaces. Neither argument is changed: ``base`` is the stored value, compared
    with the result afterwards, or DEFAULT_SETTINGS.
    """
    merged = copy.deepcopy(base)
    _merge_into(merged, changes)
    return merged


def _merge_into(target, changes):
    for key, value in changes.items():
        if type(value) is dict and type(target.get(key)) is dict:
            _merge_into(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


# Keys of the read shape a client may echo back in a write; they are never written.
READ_ONLY_KEYS = ("_id", "workspaceId", "createdAt", "updatedAt", "__v")

# What PUT changes, as the vendor documents it; PATCH takes any writable field.
PUT_KEYS = ("description", "settings", "toggleAutopilot")
WRITABLE_KEYS = (
    "name", "direction", "agent", "initiationMessage", "prompt", "messageChannel",
    "description", "settings", "isActive", "autopilot",
)


def allowed(choices):
    return ", ".join(value for value, _ in choices)


class EnumField(serializers.ChoiceField):
    """A string among the choices; the error lists the allowed values."""

    def __init__(self, choices, **kwargs):
        super().__init__(choices, **kwargs)
        self.error_messages["invalid_choice"] = f'"{{input}}" is not a valid choice. Allowed values: {allowed(choices)}.'

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


# --- settings as the schema shows them (documentation only: the fields below validate) ----------
# Only the documented keys are listed; a settings object may hold others, kept as given.


def _doc_text(help_text):
    return serializers.CharField(required=False, allow_blank=True, help_text=help_text)


# The working-hours keys with what each holds: nested under workingHours, or flat in a write.
WORKING_HOURS_HELP = {
    "enabled": "Whether working hours apply (default false).",
    "start": 'When working hours start (default "09:00").',
    "end": 'When working hours end (default "17:00").',
    "timezone": 'The timezone of the working hours (default "UTC").',
    "outOfHoursMessage": 'The reply outside working hours (default "").',
}


def _working_hours_fields(help_for):
    """The working-hours keys as schema fields, each worded by ``help_for(key)``."""
    fields = {key: _doc_text(help_for(key)) for key in WORKING_HOURS_KEYS}
    fields["enabled"] = serializers.BooleanField(required=False, help_text=help_for("enabled"))
    return fields


class MessageFlowWorkingHoursSerializer(serializers.Serializer):
    def get_fields(self):
        return _working_hours_fields(WORKING_HOURS_HELP.get)


class MessageFlowResponseSettingsSerializer(serializers.Serializer):
    delay = serializers.FloatField(required=False, min_value=0, help_text="Seconds before a reply (default 0).")
    workingHours = MessageFlowWorkingHoursSerializer(required=False, allow_null=True)


class MessageFlowResponseSettingsChangeSerializer(MessageFlowResponseSettingsSerializer):
    """As stored, or with the working-hours keys flat (as the vendor's create page gives them)."""

    def get_fields(self):
        return {**super().get_fields(), **_working_hours_fields("Flat form of workingHours.{}.".format)}


class MessageFlowSecuritySerializer(serializers.Serializer):
    hipaaCompliance = serializers.BooleanField(
        required=False, help_text="Whether HIPAA compliance is enforced (default false)."
    )


class MessageFlowEmailSettingsSerializer(serializers.Serializer):
    subjectLine = serializers.CharField(required=False, allow_blank=True)
    signature = serializers.CharField(required=False, allow_blank=True)


class MessageFlowSettingsSerializer(serializers.Serializer):
    """The flow's settings: the documented sections, and any other keys kept as given."""

    responseSettings = MessageFlowResponseSettingsSerializer(required=False, allow_null=True)
    security = MessageFlowSecuritySerializer(required=False, allow_null=True)
    emailSettings = MessageFlowEmailSettingsSerializer(required=False, allow_null=True)


class MessageFlowSettingsChangeSerializer(MessageFlowSettingsSerializer):
    """Settings in a write: laid over the defaults (create) or the flow's settings (updates), key by key."""

    responseSettings = MessageFlowResponseSettingsChangeSerializer(required=False, allow_null=True)


@extend_schema_field(MessageFlowSettingsSerializer)
class MessageFlowSettingsField(JSONObjectField):
    """A whole settings object, kept as given (imports, the admin): see ``settings_errors``."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        errors = settings_errors(value)
        if errors:
            raise serializers.ValidationError(errors)
        if has_nul(value):
            raise serializers.ValidationError("Null characters are not allowed.")
        return value


@extend_schema_field(MessageFlowSettingsChangeSerializer)
class MessageFlowSettingsChangeField(JSONObjectField):
    """Settings in a create or update body: laid over the defaults or the stored settings.

    Flat working-hours keys are nested here; the whole result is checked once merged
    (MessageFlowSerializer.validate), since a change alone cannot say what the flow ends with.
    """

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if has_nul(value):
            raise serializers.ValidationError("Null characters are not allowed.")
        return nest_working_hours(value)


def writable_fields(change=True):
    """The writable fields, by wire name; ``source`` is the model attribute.

    ``change``: settings are a change to lay over what the flow has (API writes), not a whole
    value kept as given (imports).
    """
    return {
        "name": StrictCharField(max_length=200),
        "direction": EnumField(Direction.choices),
        "agent": StrictCharField(max_length=200),
        "initiationMessage": StrictCharField(source="initiation_message", allow_blank=True),
        "prompt": StrictCharField(),
        "messageChannel": EnumField(MessageChannel.choices, source="message_channel"),
        "description": StrictCharField(required=False, allow_blank=True, allow_null=True),
        "settings": (MessageFlowSettingsChangeField if change else MessageFlowSettingsField)(required=False),
        "isActive": StrictBooleanField(source="is_active", required=False),
        "autopilot": StrictBooleanField(required=False),
    }


class MessageFlowSerializer(StrictSerializerMixin, serializers.Serializer):
    """POST (``mode="create"``), PUT (``"put"``) and PATCH (``"patch"``) bodies.

    Context: ``workspace`` (the header's), and for updates ``flow`` (the flow in the path).
    Read-only keys of the read shape may be echoed back; an `_id` or `workspaceId` that
    contradicts the path or the header is an error rather than silently ignored.
    """

    ignored_fields = READ_ONLY_KEYS

    def __init__(self, *args, mode="create", **kwargs):
        self.mode = mode
        super().__init__(*args, partial=mode != "create", **kwargs)

    def get_fields(self):
        fields = writable_fields()
        if self.mode != "create":
            fields["toggleAutopilot"] = StrictBooleanField(source="toggle_autopilot", required=False)
        if self.mode == "put":
            fields = {name: fields[name] for name in PUT_KEYS}
        return fields

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        errors = {}
        flow = self.context.get("flow")
        if "_id" in data:
            if flow is None:
                errors["_id"] = ["Set by the server; leave it out."]
            elif data["_id"] != flow.id:
                errors["_id"] = ["Does not match the message flow in the path."]
        workspace = self.context.get("workspace")
        if "workspaceId" in data and workspace is not None and data["workspaceId"] != workspace.pk:
            errors["workspaceId"] = ["Does not match the x-workspace-id header."]
        if self.mode == "put":
            for name in sorted(set(data) & set(WRITABLE_KEYS) - set(PUT_KEYS)):
                errors[name] = ["PUT changes only description, settings and toggleAutopilot; use PATCH."]
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    def validate(self, attrs):
        if attrs.get("toggle_autopilot") and "autopilot" in attrs:
            raise serializers.ValidationError({"toggleAutopilot": ["Give autopilot or toggleAutopilot, not both."]})
        # A new flow starts from the vendor's defaults, an update from what the flow has; either
        # way only the sections and keys given change, and the result must be valid as a whole.
        if self.mode == "create":
            attrs["settings"] = merge_settings(DEFAULT_SETTINGS, attrs.get("settings", {}))
        elif "settings" in attrs:
            attrs["settings"] = merge_settings(self.context["flow"].settings, attrs["settings"])
        else:
            return attrs
        errors = settings_errors(attrs["settings"])
        if errors:
            raise serializers.ValidationError({"settings": errors})
        return attrs


class MessageFlowPutSerializer(MessageFlowSerializer):
    """PUT: description, settings and toggleAutopilot (true flips autopilot)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("mode", "put")
        super().__init__(*args, **kwargs)


class MessageFlowPatchSerializer(MessageFlowSerializer):
    """PATCH: any subset of the writable fields, and toggleAutopilot."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("mode", "patch")
        super().__init__(*args, **kwargs)


class MessageFlowReadSerializer(serializers.Serializer):
    """The list's shape (declared for the schema; rendered by ``message_flow_data``)."""

    detail = False

    def get_fields(self):
        fields = {
            "_id": serializers.CharField(),
            "workspaceId": serializers.CharField(),
            "name": serializers.CharField(),
            "direction": serializers.ChoiceField(Direction.choices),
            "description": serializers.CharField(allow_null=True),
            "agent": serializers.CharField(),
            "settings": MessageFlowSettingsSerializer(),
            "prompt": serializers.CharField(),
            "isActive": serializers.BooleanField(),
            "autopilot": serializers.BooleanField(),
            "messageChannel": serializers.ChoiceField(MessageChannel.choices),
            "createdAt": IsoZDateTimeField(),
            "updatedAt": IsoZDateTimeField(),
        }
        if self.detail:
            fields["initiationMessage"] = serializers.CharField(allow_null=True)
            fields["__v"] = serializers.IntegerField()
        for field in fields.values():
            field.read_only = True
        return fields

    def to_representation(self, instance):
        return message_flow_data(instance, detail=self.detail)


class MessageFlowDetailSerializer(MessageFlowReadSerializer):
    """GET one, and the answer to POST, PUT and PATCH: the list's shape plus initiationMessage and __v."""

    detail = True
