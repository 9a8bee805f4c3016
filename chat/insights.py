"""The workflow chat's chart on /admin/insights/ (flowdesk/admin/insights.py): messages and
tokens per day, in one query."""

from datetime import UTC

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from chat.models import ChatMessage
from flowdesk.admin import charts
from flowdesk.admin.insights import Chart, register


def messages_by_day(organization_id, since, until):
    """{day: (messages, tokens used)}."""
    rows = (
        ChatMessage.objects.filter(session__organization_id=organization_id, created_at__gte=since, created_at__lt=until)
        .annotate(day=TruncDate("created_at", tzinfo=UTC)).values("day")
        .annotate(messages=Count("id"), tokens=Sum("tokens_used")).order_by()
    )
    return {row["day"]: (row["messages"], row["tokens"] or 0) for row in rows}


def draw_messages(figures, days):
    messages = [figures.get(day, (0, 0))[0] for day in days]
    tokens = [figures.get(day, (0, 0))[1] for day in days]
    return {
        "empty": not sum(messages),
        "svg": charts.stacked_bars(days, {"messages": messages}, "Chat messages per day")
        + charts.stacked_bars(days, {"tokens": tokens}, "Tokens per day", first_color=2),
        "legend": charts.legend(["messages (above)"]) + charts.legend(["tokens (below)"], first_color=2),
        "summary": f"{sum(messages):,} messages, {sum(tokens):,} tokens",
    }


register(Chart(
    name="chat-messages", title="Chat messages and tokens per day", figures=messages_by_day, draw=draw_messages,
    help="Every chat message of the organization by the day it was sent (top), and the tokens the model used (below).",
    order=50,
))
