import django_filters

from messaging.api.serializers import allowed
from messaging.models import Direction, MessageChannel, MessageFlow

BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """`true` or `false` only: django-filter's BooleanFilter would quietly ignore `maybe`."""

    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {"invalid_choice": "Must be true or false; got %(value)s."})
        super().__init__(choices=BOOLEAN_CHOICES, coerce=lambda value: value == "true", **kwargs)


class EnumFilter(django_filters.ChoiceFilter):
    """An enumeration; an unknown value is an error listing the allowed ones."""

    def __init__(self, choices, **kwargs):
        kwargs.setdefault(
            "error_messages", {"invalid_choice": f'"%(value)s" is not a valid choice. Allowed values: {allowed(choices)}.'}
        )
        super().__init__(choices=choices, **kwargs)


class MessageFlowFilterSet(django_filters.FilterSet):
    # Query parameters use the vendor's camelCase keys.
    isActive = StrictBooleanFilter(field_name="is_active")
    autopilot = StrictBooleanFilter()
    messageChannel = EnumFilter(MessageChannel.choices, field_name="message_channel")
    direction = EnumFilter(Direction.choices)
    agent = django_filters.CharFilter(field_name="agent__agent_id", max_length=200)

    class Meta:
        model = MessageFlow
        fields = ["isActive", "autopilot", "messageChannel", "direction", "agent"]
