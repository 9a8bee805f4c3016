"""Message-flows family: the vendor's camelCase shapes with `_id` and `__v`.

Reads are rendered by ``message_flow_data``; the serializers here validate what clients send
(``MessageFlowSerializer``) and what imports read (``ImportMessageFlowSerializer``). Their
fields are keyed by the wire names, which are not all Python identifiers (`__v`).
"""

import copy
import math

import orjson
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from flowdesk.api.fields import (
    IsoZDateTimeField,
    JSONObjectField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    has_nul,
    iso_z,
)
from flowdesk.api.views import StrictSerializerMixin
from flowdesk.importing.fastcheck import NotSure, choice, text, when
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


def message_flow_data(flow, detail=False):
    """A flow in the vendor's shape; GET one (``detail``) adds initiationMessage and __v."""
    data = {
        "_id": flow.id,
        "workspaceId": flow.workspace_id,
        "name": flow.name,
        "direction": flow.direction,
        "description": flow.description,
        "agent": flow.agent.agent_id,
        "settings": flow.settings,
        "prompt": flow.prompt,
        "isActive": flow.is_active,
        "autopilot": flow.autopilot,
        "messageChannel": flow.message_channel,
        "createdAt": iso_z(flow.created_at),
        "updatedAt": iso_z(flow.updated_at),
    }
    if detail:
        data["initiationMessage"] = flow.initiation_message
        data["__v"] = flow.version
    return data


def message_flow_row(row):
    """message_flow_data for a row of the list's columns (messaging.api.views.LIST_COLUMNS)."""
    (flow_id, workspace_id, name, direction, description, agent_id, settings, prompt, is_active, autopilot,
     message_channel, created_at, updated_at) = row
    return {
        "_id": flow_id,
        "workspaceId": workspace_id,
        "name": name,
        "direction": direction,
        "description": description,
        "agent": agent_id,
        "settings": settings,
        "prompt": prompt,
        "isActive": is_active,
        "autopilot": autopilot,
        "messageChannel": message_channel,
        "createdAt": iso_z(created_at),
        "updatedAt": iso_z(updated_at),
    }


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


class MessageFlowWorkingHoursSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(required=False, help_text="Whether working hours apply (default false).")
    start = _doc_text('When working hours start (default "09:00").')
    end = _doc_text('When working hours end (default "17:00").')
    timezone = _doc_text('The timezone of the working hours (default "UTC").')
    outOfHoursMessage = _doc_text('The reply outside working hours (default "").')


class MessageFlowResponseSettingsSerializer(serializers.Serializer):
    delay = serializers.FloatField(required=False, min_value=0, help_text="Seconds before a reply (default 0).")
    workingHours = MessageFlowWorkingHoursSerializer(required=False, allow_null=True)


class MessageFlowResponseSettingsChangeSerializer(MessageFlowResponseSettingsSerializer):
    """As stored, or with the working-hours keys flat (as the vendor's create page gives them)."""

    enabled = serializers.BooleanField(required=False, help_text="Flat form of workingHours.enabled.")
    start = _doc_text("Flat form of workingHours.start.")
    end = _doc_text("Flat form of workingHours.end.")
    timezone = _doc_text("Flat form of workingHours.timezone.")
    outOfHoursMessage = _doc_text("Flat form of workingHours.outOfHoursMessage.")


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


def _writable_fields(change=True):
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
        fields = _writable_fields()
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


class ImportMessageFlowSerializer(serializers.Serializer):
    """One message flow as the list endpoint returns it (GET one's initiationMessage and __v optional).

    Keys beyond these are ignored, so a vendor export with extra keys imports as it is.
    """

    def get_fields(self):
        fields = _writable_fields(change=False)
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


# --- fast acceptance of well-formed imported records ---------------------------------------
#
# Through DRF a record costs 15 field validations (~150 µs), most of an import's time.
# ``well_formed_flow`` accepts a record that ImportMessageFlowSerializer would accept and returns
# exactly what it would (same values, same key order), in plain Python. It accepts a subset:
# anything it is not sure of returns None, and the caller validates with the serializer, which
# words the error and its path.

_DIRECTIONS = frozenset(Direction.values)
_CHANNELS = frozenset(MessageChannel.values)
_MISSING = object()
_NotSure = NotSure
_text, _choice, _when = text, choice, when


def _settings(value):
    """MessageFlowSettingsField: kept as given; settings_errors finds nothing, JSON-dumpable, no NUL."""
    if type(value) is not dict or settings_errors(value):
        raise _NotSure
    # What orjson writes json.dumps writes too (orjson refuses lone surrogates, ints past 64 bits
    # and depth past 255). A NUL anywhere is written as \u0000 (a text holding a backslash and
    # "u0000" matches too: the serializer then decides).
    dumped = orjson.dumps(value)
    if b"\\u0000" in dumped:
        raise _NotSure
    # orjson writes NaN and Infinity as null, where the serializer's json.dumps refuses them.
    if b"null" in dumped and not all(math.isfinite(number) for number in _floats(value)):
        raise _NotSure
    return value


def _floats(value):
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is float:
            yield item
        elif type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)


def well_formed_flow(record):
    """ImportMessageFlowSerializer's validated data for ``record``, or None when not sure."""
    try:
        get = record.get
        data = {
            "id": _text(record["_id"], 64, blank=False),
            "workspace_id": _text(record["workspaceId"], 64, blank=False),
            "name": _text(record["name"], 200),
            "direction": _choice(record["direction"], _DIRECTIONS),
            "agent": _text(record["agent"], 200, blank=False),
        }
        value = get("initiationMessage", _MISSING)
        if value is not _MISSING:
            data["initiation_message"] = None if value is None else _text(value)
        data["prompt"] = _text(record["prompt"])
        data["message_channel"] = _choice(record["messageChannel"], _CHANNELS)
        value = get("description", _MISSING)
        if value is not _MISSING:
            data["description"] = None if value is None else _text(value)
        value = get("settings", _MISSING)
        if value is not _MISSING:
            data["settings"] = _settings(value)
        for key, name in (("isActive", "is_active"), ("autopilot", "autopilot")):
            value = get(key, _MISSING)
            if value is not _MISSING:
                if type(value) is not bool:
                    raise _NotSure
                data[name] = value
        data["created_at"] = _when(record["createdAt"])
        data["updated_at"] = _when(record["updatedAt"])
        value = get("__v", _MISSING)
        if value is not _MISSING:
            if type(value) is not int or not 0 <= value <= 2**31 - 1:
                raise _NotSure
            data["version"] = value
    except Exception:  # noqa: BLE001 - any doubt: the serializer decides (and words the error)
        return None
    return data
