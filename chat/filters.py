import django_filters
from django.db.models import F

from chat.models import ChatSession, ContextType
from flowdesk.api.filters import UTCIsoDateTimeFilter


class ChatSessionFilterSet(django_filters.FilterSet):
    """The session list's optional filters, named in the vendor's camelCase."""

    contextType = django_filters.ChoiceFilter(field_name="context_type", choices=ContextType.choices)
    workflowId = django_filters.UUIDFilter(method="filter_workflow_id")
    lastMessageAfter = UTCIsoDateTimeFilter(field_name="last_message_at", lookup_expr="gte")
    lastMessageBefore = UTCIsoDateTimeFilter(field_name="last_message_at", lookup_expr="lt")
    # Text search on the preview (the first user message).
    search = django_filters.CharFilter(field_name="preview", lookup_expr="icontains", max_length=200)

    class Meta:
        model = ChatSession
        fields = ["contextType", "workflowId", "lastMessageAfter", "lastMessageBefore", "search"]

    def filter_workflow_id(self, queryset, name, value):
        # The workflow is the session's organization's (always so): the planner reads the workflow
        # from the (organization, uuid) index instead of scanning every workflow for that id.
        return queryset.filter(workflow__uuid=value, workflow__organization=F("organization"))
