"""Count columns of changelists: a correlated subquery computed for the rows shown only."""

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce


def subquery_count(model, fk_field, **filters):
    """Number of ``model`` rows pointing at the outer row (and matching ``filters``): computed only
    for the rows shown."""
    rows = model._default_manager.filter(**{fk_field: OuterRef("pk")}, **filters).order_by().values(fk_field)
    return Coalesce(Subquery(rows.annotate(n=Count("*")).values("n")[:1]), 0)


class CountColumn:
    """A changelist column counting the rows of ``model`` whose ``fk_field`` is the row, sortable:

        class LiveFlowSessionAdmin(OrganizationScopedAdmin):
            list_display = ["id", "steps_count"]
            steps_count = CountColumn(LiveFlowSessionStep, "session", "steps")

    The admin's queryset is annotated with ``<name>_total`` (see CountColumnsMixin).
    """

    def __init__(self, model, fk_field, description, **filters):
        self.model, self.fk_field, self.description, self.filters = model, fk_field, description, filters

    def __set_name__(self, owner, name):
        alias = f"{name}_total"

        def column(modeladmin, obj):
            return getattr(obj, alias)

        column.short_description, column.admin_order_field = self.description, alias
        column.__name__ = name
        setattr(owner, name, column)  # a plain method from here on, as the admin's checks expect
        annotations = {}
        for klass in reversed(owner.__mro__):  # every base's columns, several bases included
            annotations.update(vars(klass).get("count_annotations", {}))
        annotations[alias] = (self.model, self.fk_field, self.filters)
        owner.count_annotations = annotations


class CountColumnsMixin:
    count_annotations = {}  # alias -> (model, fk_field, filters), filled by CountColumn

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.count_annotations:
            queryset = queryset.annotate(
                **{alias: subquery_count(model, fk, **filters) for alias, (model, fk, filters) in self.count_annotations.items()}
            )
        return queryset
