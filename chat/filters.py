import django_filters

from accounts.filters import UTCIsoDateTimeFilter
from chat.models import ChatSession, ContextType


class ChatSessionFilterSet(django_filters.FilterSet):
    """The session list's optional filters, named in the vendor's camelCase."""

    contextType = django_filters.ChoiceFilter(field_name="context_type", choices=ContextType.choices)
    workflowId = django_filters.UUIDFilter(field_name="workflow__uuid")
    lastMessageAfter = UTCIsoDateTimeFilter(field_name="last_message_at", lookup_expr="gte")
    lastMessageBefore = UTCIsoDateTimeFilter(field_name="last_message_at", lookup_expr="lt")
    # Text search on the preview (the first user message).
    search = django_filters.CharFilter(field_name="preview", lookup_expr="icontains", max_length=200)

    class Meta:
        model = ChatSession
        fields = ["contextType", "workflowId", "lastMessageAfter", "lastMessageBefore", "search"]
