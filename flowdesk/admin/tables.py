"""Changelists of tables that grow to millions of rows never run a full COUNT(*) (estimated or
capped counts) nor a full scan for the date hierarchy."""

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


class LargeTablePaginator(Paginator):
    """A paginator that never counts a whole big table.

    Rows are counted up to ``cap`` (a bounded index scan). Past it, an unfiltered list on
    PostgreSQL shows the planner's row estimate (pg_class.reltuples, kept by autovacuum), and a
    filtered one says "more than" the cap. ``approximate`` tells the template which case it was.
    """

    cap = 10_000

    approximate = None  # None (exact), "about" (estimate) or "more than" (capped)

    @cached_property
    def count(self):
        queryset = self.object_list
        # values("pk"): the count's subquery selects no annotation (a per-row count would run 10,001 times).
        counted = queryset.values("pk").order_by()[: self.cap + 1].count()
        if counted <= self.cap:
            return counted
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [queryset.model._meta.db_table]
                )
                row = cursor.fetchone()
            if row and row[0] > self.cap:
                self.approximate = "about"
                return row[0]
        self.approximate = "more than"
        return self.cap


class LargeTableChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # "Show all" would load every row of a huge table.
        if self.paginator.approximate:
            self.can_show_all = False


class LargeTableAdminMixin:
    """For changelists over tables that grow to millions of rows."""

    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    change_list_template = "admin/flowdesk_large_change_list.html"

    def get_changelist(self, request, **kwargs):
        return LargeTableChangeList
