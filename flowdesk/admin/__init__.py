"""What every Flowdesk admin shares.

- ``OrganizationScopedAdmin`` / ``ScopedInlineMixin``: staff who are not superusers see and edit
  only the organizations they are members of, in lists, change pages, autocompletes, inlines,
  foreign-key choices and actions. Each admin names its path to the organization.
- ``PrettyJSONField``: JSON columns edited as indented text; invalid JSON (or the wrong kind of
  value) is refused with a message at the field.
- ``LargeTableAdminMixin``: changelists of tables that grow to millions of rows never run a full
  COUNT(*) (estimated or capped counts) nor a full scan for the date hierarchy.
- ``json_download``: the export actions stream the list endpoints' bodies in keyset batches.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections, models
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import StreamingHttpResponse
from django.utils.functional import cached_property
from django.utils.html import format_html

from accounts.models import Membership
from flowdesk.api.fields import has_nul
from flowdesk.api.renderers import dumps

# --- organization scoping ----------------------------------------------------------------


def member_organizations(request):
    """The ids of the user's organizations, as a subquery: scoping adds no query of its own."""
    return Membership.objects.filter(user_id=request.user.pk).values("organization_id")


class ScopedAdminBase:
    """Shared by model admins and inlines: the scoped queryset and the scoped foreign-key choices."""

    # The lookup path from this model to its Organization, e.g. "live_flow__organization";
    # "pk" for Organization itself. Admins with another rule override ``organization_q``.
    organization_path = None

    def organization_q(self, request):
        return Q(**{f"{self.organization_path}__in": member_organizations(request)})

    def scope_queryset(self, request, queryset):
        if request.user.is_superuser:
            return queryset
        return queryset.filter(self.organization_q(request))

    def get_queryset(self, request):
        return self.scope_queryset(request, super().get_queryset(request))

    def related_choices(self, model, request):
        """The rows of ``model`` this user may pick: its admin's scope, in its admin's order."""
        related_admin = self.admin_site._registry.get(model)
        if not isinstance(related_admin, ScopedAdminBase):
            return None
        queryset = related_admin.scope_queryset(request, model._default_manager.all())
        ordering = related_admin.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            queryset = self.related_choices(db_field.remote_field.model, request)
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            queryset = self.related_choices(db_field.remote_field.model, request)
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.JSONField):
            return json_formfield(db_field, self.json_validators.get(db_field.name, ()), **kwargs)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    # Per JSON field: validators beyond "is JSON", e.g. {"inputs": [json_object]}.
    json_validators = {}


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A related-object filter listing only the objects this user may see (not every row)."""

    def field_choices(self, field, request, model_admin):
        queryset = model_admin.related_choices(field.remote_field.model, request)
        if queryset is None:
            return super().field_choices(field, request, model_admin)
        return [(obj.pk, str(obj)) for obj in queryset[:200]]


class OrganizationScopedAdmin(ScopedAdminBase, admin.ModelAdmin):
    """The base of every Flowdesk model admin."""

    list_per_page = 50


class ScopedInlineMixin(ScopedAdminBase):
    pass


def subquery_count(model, fk_field):
    """Number of ``model`` rows pointing at the outer row: computed only for the rows shown."""
    rows = model._default_manager.filter(**{fk_field: OuterRef("pk")}).order_by().values(fk_field)
    return Coalesce(Subquery(rows.annotate(n=Count("*")).values("n")[:1]), 0)


# --- JSON fields -------------------------------------------------------------------------


class PrettyJSONWidget(forms.Textarea):
    def __init__(self, attrs=None):
        super().__init__({"class": "vLargeTextField flowdesk-json", "style": "font-family: monospace", **(attrs or {})})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        lines = str(value or "").count("\n") + 1
        context["widget"]["attrs"]["rows"] = min(max(lines, 2), 30)
        return context




class PrettyJSONField(forms.JSONField):
    """JSON shown indented; blank input means the column's default (e.g. {}), "null" means null."""

    widget = PrettyJSONWidget
    default_error_messages = {"invalid": "Enter valid JSON: %(error)s."}

    def __init__(self, *, blank_value=None, **kwargs):
        self.blank_value = blank_value
        super().__init__(**kwargs)

    def to_python(self, value):
        if isinstance(value, str) and not value.strip():
            return self.blank_value() if callable(self.blank_value) else self.blank_value
        if isinstance(value, str) and not self.disabled:
            try:
                json.loads(value, cls=self.decoder)
            except json.JSONDecodeError as exc:
                raise ValidationError(self.error_messages["invalid"], code="invalid", params={"error": exc}) from None
        value = super().to_python(value)
        if has_nul(value):
            raise ValidationError("Null characters (\\u0000) are not allowed.", code="null_characters")
        return value

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


def json_formfield(db_field, validators=(), **kwargs):
    kwargs.setdefault("form_class", PrettyJSONField)
    kwargs.setdefault("widget", PrettyJSONWidget)
    if not db_field.null and db_field.has_default():
        kwargs.setdefault("blank_value", db_field.default)
    field = db_field.formfield(**kwargs)
    field.validators = [*field.validators, *validators]
    return field


def json_object(value):
    if value is not None and not isinstance(value, dict):
        raise ValidationError("Enter a JSON object ({...}).", code="not_object")


def json_array_of_strings(value):
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        raise ValidationError('Enter a JSON array of strings (["...", ...]).', code="not_string_array")


def json_number(value):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("Enter a number.", code="not_number")


def pretty_json(value):
    """Read-only JSON, indented."""
    if value is None:
        return "null"
    return format_html('<pre class="flowdesk-json">{}</pre>', json.dumps(value, ensure_ascii=False, indent=2))


# --- big tables ----------------------------------------------------------------------------


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


# --- export actions -------------------------------------------------------------------------


def keyset_batches(queryset, ordering, size=200):
    """The queryset in ``ordering`` (two fields, e.g. ("-created_at", "-id")), ``size`` rows a query.

    Keyset pages rather than offsets: each batch is an index range scan whatever the depth.
    """
    (first, second) = ordering
    names = [name.lstrip("-") for name in ordering]
    queryset = queryset.order_by(*ordering)
    last = None
    while True:
        batch = queryset
        if last is not None:
            a, b = getattr(last, names[0]), getattr(last, names[1])
            op_a = "lt" if first.startswith("-") else "gt"
            op_b = "lt" if second.startswith("-") else "gt"
            batch = batch.filter(Q(**{f"{names[0]}__{op_a}": a}) | Q(**{names[0]: a, f"{names[1]}__{op_b}": b}))
        rows = list(batch[:size])
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        last = rows[-1]


def json_array_chunks(items):
    """A JSON array, written as the items come."""
    yield b"["
    first = True
    for item in items:
        yield (b"" if first else b",") + dumps(item)
        first = False
    yield b"]"


def json_download(filename, chunks):
    response = StreamingHttpResponse(chunks, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def single_scope(modeladmin, request, queryset, field, what):
    """The one value of ``field`` in the selection, or None after telling the user why not."""
    values = list(queryset.order_by().values_list(field, flat=True).distinct()[:2])
    if not values:
        modeladmin.message_user(request, "Nothing selected to export.", messages.WARNING)
        return None
    if len(values) > 1:
        modeladmin.message_user(
            request,
            f"The selection spans several {what}; the list endpoint and its import command take one "
            f"at a time. Filter the list by {what[:-1] if what.endswith('s') else what} first.",
            messages.ERROR,
        )
        return None
    return values[0]


def api_rules(drf_field):
    """A form validator applying an API field's rules (a DRF field), so the admin accepts what the API does."""
    from rest_framework import serializers

    from flowdesk.api.errors import flatten_validation

    def messages(detail):
        for item in flatten_validation(detail, ("value",)):
            yield f"{item.field}: {item.message}" if len(item.loc) > 1 else item.message

    def validate(value):
        try:
            drf_field.run_validation(value)
        except serializers.ValidationError as exc:
            raise ValidationError(list(messages(exc.detail))) from None

    return validate
