"""Staff who are not superusers see and edit only the organizations they are members of: in
lists, change pages, autocompletes, inlines, foreign-key choices and actions. Each admin names
its path to the organization."""

from django.contrib import admin
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import Q

from accounts.models import Membership
from flowdesk.admin.auditing import AuditedAdminMixin
from flowdesk.admin.counts import CountColumnsMixin
from flowdesk.admin.widgets import json_formfield
from flowdesk.search.admin import TextSearchAdminMixin


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

    def _scoped_choices(self, db_field, request, kwargs):
        if "queryset" not in kwargs:
            queryset = self.related_choices(db_field.remote_field.model, request)
            if queryset is not None:
                kwargs["queryset"] = queryset
        return kwargs

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return super().formfield_for_foreignkey(db_field, request, **self._scoped_choices(db_field, request, kwargs))

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return super().formfield_for_manytomany(db_field, request, **self._scoped_choices(db_field, request, kwargs))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.JSONField):
            return json_formfield(db_field, self.json_validators.get(db_field.name, ()), **kwargs)
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if isinstance(db_field, models.DateTimeField) and isinstance(formfield.widget, AdminSplitDateTime):
            # The time box shows microseconds: without them every save of a page moved its
            # timestamps (an inline message's created_at, and the chat's activity with it).
            formfield.widget.supports_microseconds = True
            formfield.widget.widgets[1].format = "%H:%M:%S.%f"
        return formfield

    # Per JSON field: validators beyond "is JSON", e.g. {"inputs": [json_object]}.
    json_validators = {}


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A related-object filter listing only the objects this user may see (not every row)."""

    def field_choices(self, field, request, model_admin):
        queryset = model_admin.related_choices(field.remote_field.model, request)
        if queryset is None:
            return super().field_choices(field, request, model_admin)
        return [(obj.pk, str(obj)) for obj in queryset[:200]]


class OrganizationScopedAdmin(TextSearchAdminMixin, AuditedAdminMixin, CountColumnsMixin, ScopedAdminBase, admin.ModelAdmin):
    """The base of every Flowdesk model admin (its adds, changes and deletes are audited; its search box
    also finds what was said, flowdesk/search/admin.py)."""

    list_per_page = 50


class ScopedInlineMixin(ScopedAdminBase):
    pass


class ReadOnlyInlineMixin(ScopedInlineMixin):
    """A log shown as it was written: every field read-only, no row added, changed or deleted."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        # self.fields, not get_fields(): that asks get_readonly_fields when fields is unset.
        if not self.fields:
            raise ImproperlyConfigured(f"{type(self).__name__} (a ReadOnlyInlineMixin) must declare its fields.")
        return list(self.fields)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
