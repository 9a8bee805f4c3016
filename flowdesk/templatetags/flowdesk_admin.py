"""Changelist parts for big tables: a date hierarchy from one MIN/MAX query, and counts that say
when they are estimates."""

import datetime

from django import template
from django.contrib.admin.templatetags.admin_list import pagination
from django.db import connections, models
from django.utils import formats, timezone
from django.utils.text import capfirst

register = template.Library()


def date_bounds(queryset, field_name):
    """(first, last) value of the column in the queryset, in one query.

    On PostgreSQL, the first row each way of an ordered scan (a UNION ALL of two LIMIT 1s): the
    planner reads them off the column's index even when the list is filtered through a join,
    where it would scan every row for MIN() and MAX().
    """
    queryset = queryset.filter(**{f"{field_name}__isnull": False}).order_by()
    if not connections[queryset.db].features.supports_slicing_ordering_in_compound:
        bounds = queryset.aggregate(first=models.Min(field_name), last=models.Max(field_name))
        return bounds["first"], bounds["last"]
    values = queryset.values_list(field_name, flat=True)
    ends = list(values.order_by(field_name)[:1].union(values.order_by(f"-{field_name}")[:1], all=True).order_by())
    return (min(ends), max(ends)) if ends else (None, None)


@register.inclusion_tag("admin/date_hierarchy.html")
def fast_date_hierarchy(cl):
    """Django's date drill-down, without listing distinct dates (a scan of the whole table).

    One indexed query for the first and last values bounds the choices: every year, month or day between the first and
    the last row is offered, whether or not it holds rows.
    """
    field_name = cl.date_hierarchy
    if not field_name:
        return {"show": False}
    field = cl.model._meta.get_field(field_name)
    year_field, month_field, day_field = f"{field_name}__year", f"{field_name}__month", f"{field_name}__day"
    year, month, day = (cl.params.get(name) for name in (year_field, month_field, day_field))

    def link(filters):
        return cl.get_query_string(filters, [f"{field_name}__"])

    def local(value):
        if isinstance(value, datetime.datetime) and timezone.is_aware(value):
            return timezone.localtime(value)
        return value

    first, last = (local(value) for value in date_bounds(cl.queryset, field_name))
    if first is None:
        return {"show": False}
    year = int(year) if year else None
    month = int(month) if month else None
    if year is None and month is None and day is None and first.year == last.year:
        year = first.year
        if first.month == last.month:
            month = first.month
    context = {"show": True, "field_name": field.verbose_name}
    if year and month and day:
        date = datetime.date(year, month, int(day))
        context["back"] = {"link": link({year_field: year, month_field: month}),
                           "title": capfirst(formats.date_format(date, "YEAR_MONTH_FORMAT"))}
        context["choices"] = [{"title": capfirst(formats.date_format(date, "MONTH_DAY_FORMAT"))}]
    elif year and month:
        context["back"] = {"link": link({year_field: year}), "title": str(year)}
        context["choices"] = [
            {"link": link({year_field: year, month_field: month, day_field: d}),
             "title": capfirst(formats.date_format(datetime.date(year, month, d), "MONTH_DAY_FORMAT"))}
            for d in range(first.day, last.day + 1)
        ]
    elif year:
        context["back"] = {"link": link({}), "title": "All dates"}
        context["choices"] = [
            {"link": link({year_field: year, month_field: m}),
             "title": capfirst(formats.date_format(datetime.date(year, m, 1), "YEAR_MONTH_FORMAT"))}
            for m in range(first.month, last.month + 1)
        ]
    else:
        context["choices"] = [
            {"link": link({year_field: y}), "title": str(y)} for y in range(first.year, last.year + 1)
        ]
    return context


@register.inclusion_tag("admin/flowdesk_pagination.html")
def fast_pagination(cl):
    context = pagination(cl)
    context["approximate"] = getattr(cl.paginator, "approximate", None)
    return context
