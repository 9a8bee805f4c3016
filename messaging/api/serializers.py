"""Message-flows family: the vendor's camelCase shapes with `_id` and `__v`.

Reads are rendered by ``message_flow_data``; the serializers here validate what clients send
(``MessageFlowSerializer``) and what imports read (``ImportMessageFlowSerializer``). Their
fields are keyed by the wire names, which are not all Python identifiers (`__v`).
"""


import orjson
from rest_framework import serializers

from accounts.api.fields import (
    IsoZDateTimeField,
    JSONObjectField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    has_nul,
    iso_z,
)
from accounts.api.views import StrictSerializerMixin
from accounts.fastcheck import NotSure, choice, text, when
from messaging.models import Direction, MessageChannel

# The settings sub-keys the vendor documents; each, where present, is an object.
SETTINGS_SECTIONS = ("responseSettings", "security", "emailSettings")

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




class MessageFlowSettingsField(JSONObjectField):
    """An object; its documented sections (responseSettings, security, emailSettings) objects or null."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        errors = {
            name: ["Must be a JSON object."]
            for name in SETTINGS_SECTIONS
            if name in value and value[name] is not None and not isinstance(value[name], dict)
        }
        if errors:
            raise serializers.ValidationError(errors)
        if has_nul(value):
            raise serializers.ValidationError("Null characters are not allowed.")
        return value


def _writable_fields():
    """The writable fields, by wire name; ``source`` is the model attribute."""
    return {
        "name": StrictCharField(max_length=200),
        "direction": EnumField(Direction.choices),
        "agent": StrictCharField(max_length=200),
        "initiationMessage": StrictCharField(source="initiation_message", allow_blank=True),
        "prompt": StrictCharField(),
        "messageChannel": EnumField(MessageChannel.choices, source="message_channel"),
        "description": StrictCharField(required=False, allow_blank=True, allow_null=True),
        "settings": MessageFlowSettingsField(required=False),
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
            "settings": serializers.DictField(),
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
        fields = _writable_fields()
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
    """MessageFlowSettingsField: an object, its sections objects or null, JSON-dumpable, no NUL."""
    if type(value) is not dict:
        raise _NotSure
    for name in SETTINGS_SECTIONS:
        section = value.get(name)
        if section is not None and type(section) is not dict:
            raise _NotSure
    # What orjson writes json.dumps writes too (orjson refuses lone surrogates, ints past 64 bits
    # and depth past 255). A NUL anywhere is written as \u0000 (a text holding a backslash and
    # "u0000" matches too: the serializer then decides).
    if b"\\u0000" in orjson.dumps(value):
        raise _NotSure
    return value


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
