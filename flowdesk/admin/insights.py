"""/admin/insights/: one organization's trends over a date range, drawn as SVG on the server.

The charts are the families': each app's ``insights.py`` registers its own (``register``), each
one aggregate query (``figures``) and a drawing of its result (``draw``). The page refers to no
family by name."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib import admin
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.models import Organization
from flowdesk.admin.scoping import member_organizations

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    # (organization id, start, end: aware datetimes, end excluded) -> the chart's figures, one query
    figures: Any
    # (figures, days: the range's dates) -> SVG markup and a legend, as a dict
    draw: Any
    help: str = ""
    order: int = 100


_charts = {}


def register(chart):
    _charts[chart.name] = chart
    return chart


def all_charts():
    return sorted(_charts.values(), key=lambda chart: (chart.order, chart.name))


def day_range(start, end):
    """Aware datetimes of [start 00:00, end + 1 day 00:00) in UTC, the days' own time zone."""
    return datetime.combine(start, time(), UTC), datetime.combine(end + timedelta(days=1), time(), UTC)


def days_of(start, end):
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def parse_range(params):
    """(start, end, errors): inclusive dates from ?from=&to= (YYYY-MM-DD), the last 30 days by default."""
    today = timezone.now().astimezone(UTC).date()
    errors = []

    def read(name, default):
        raw = params.get(name)
        if not raw:
            return default
        try:
            return date.fromisoformat(raw)
        except ValueError:
            errors.append(f"{name}: {raw!r} is not a date (YYYY-MM-DD); showing the default range.")
            return None

    end = read("to", today)
    start = read("from", (end or today) - timedelta(days=DEFAULT_DAYS - 1))
    if errors or start is None or end is None:
        end, start = today, today - timedelta(days=DEFAULT_DAYS - 1)
    elif start > end:
        errors.append("from is after to; showing the default range.")
        end, start = today, today - timedelta(days=DEFAULT_DAYS - 1)
    elif (end - start).days + 1 > MAX_DAYS:
        errors.append(f"At most {MAX_DAYS} days at a time; showing the last {MAX_DAYS} days of the range.")
        start = end - timedelta(days=MAX_DAYS - 1)
    return start, end, errors


def organizations_for(request):
    organizations = Organization.objects.order_by("name", "id")
    if not request.user.is_superuser:
        organizations = organizations.filter(pk__in=member_organizations(request))
    return list(organizations.values_list("pk", "name")[:500])


def insights_view(request):
    organizations = organizations_for(request)
    chosen = request.GET.get("org") or (organizations[0][0] if organizations else None)
    if chosen is not None and chosen not in {pk for pk, _ in organizations}:
        # Another organization's (or none at all): the same answer, so neither is revealed.
        if request.user.is_superuser and Organization.objects.filter(pk=chosen).exists():
            organizations.append((chosen, Organization.objects.get(pk=chosen).name))
        else:
            raise Http404("No such organization.")
    start, end, errors = parse_range(request.GET)
    days = days_of(start, end)
    charts = []
    if chosen is not None:
        since, until = day_range(start, end)
        for chart in all_charts():
            figures = chart.figures(chosen, since, until)
            charts.append({"chart": chart, "figures": figures, **chart.draw(figures, days)})
    context = {
        **admin.site.each_context(request),
        "title": "Insights",
        "organizations": organizations,
        "organization": chosen,
        "start": start, "end": end, "errors": errors,
        "charts": charts,
    }
    return TemplateResponse(request, "admin/flowdesk/insights.html", context)
