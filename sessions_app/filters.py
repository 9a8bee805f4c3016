import django_filters

from flowdesk.api.filters import UTCIsoDateTimeFilter
from sessions_app.models import ResponseMode, UserSession


class UserSessionFilterSet(django_filters.FilterSet):
    language = django_filters.CharFilter()
    responseMode = django_filters.ChoiceFilter(field_name="response_mode", choices=ResponseMode.choices)
    updatedAfter = UTCIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    updatedBefore = UTCIsoDateTimeFilter(field_name="updated_at", lookup_expr="lt")

    class Meta:
        model = UserSession
        fields = ["language", "responseMode", "updatedAfter", "updatedBefore"]
