import django_filters

from flowdesk.api.filters import UTCIsoDateTimeFilter
from flows.models import LiveFlowSession, SessionStatus


class LiveFlowSessionFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SessionStatus.choices)
    created_after = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = LiveFlowSession
        fields = ["status", "created_after", "created_before"]
