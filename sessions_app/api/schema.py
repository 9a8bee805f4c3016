"""OpenAPI for the user-sessions fields that DRF's field types cannot describe."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_array_type, build_basic_type
from drf_spectacular.types import OpenApiTypes


def _nullable(schema, field):
    return {**schema, "nullable": True} if field.allow_null else schema


class ItemsFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "sessions_app.api.serializers.ItemsField"

    def map_serializer_field(self, auto_schema, direction):
        component = auto_schema.resolve_serializer(self.target.serializer_class, direction)
        return _nullable(build_array_type(component.ref), self.target)


class ObjectFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "sessions_app.api.serializers.ObjectField"

    def map_serializer_field(self, auto_schema, direction):
        return auto_schema.resolve_serializer(self.target.serializer_class, direction).ref


class NumberFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "sessions_app.api.serializers.NumberField"

    def map_serializer_field(self, auto_schema, direction):
        return _nullable(build_basic_type(OpenApiTypes.NUMBER), self.target)


class DialogueContentFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "sessions_app.api.serializers.DialogueContentField"

    def map_serializer_field(self, auto_schema, direction):
        from sessions_app.api.serializers import DialogueItemSerializer

        item = auto_schema.resolve_serializer(DialogueItemSerializer, direction)
        return {"oneOf": [build_basic_type(OpenApiTypes.STR), build_array_type(item.ref)]}


class UserInfoFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "sessions_app.api.serializers.UserInfoField"

    def map_serializer_field(self, auto_schema, direction):
        from sessions_app.api.serializers import UserInfoSerializer

        info = auto_schema.resolve_serializer(UserInfoSerializer, direction)
        return _nullable({"oneOf": [build_basic_type(OpenApiTypes.STR), info.ref]}, self.target)


class UiFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "sessions_app.api.serializers.UiField"

    def map_serializer_field(self, auto_schema, direction):
        schema = build_basic_type(OpenApiTypes.STR)
        if direction == "request":
            return {**schema, "nullable": True, "description": "null is read as no `ui`."}
        return {**schema, "description": "Absent when the item has none."}
