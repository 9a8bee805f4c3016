from django.contrib import admin

from accounts.models import Organization
from audit.models import AuditEvent
from flowdesk.admin import LargeTableAdminMixin, OrganizationScopedAdmin


class OrganizationFilter(admin.SimpleListFilter):
    """The organizations this user may see (events keep a copied id, not a foreign key)."""

    title = "organization"
    parameter_name = "organization"

    def lookups(self, request, model_admin):
        organizations = model_admin.related_choices(Organization, request)
        return [(org.pk, str(org)) for org in organizations[:200]]

    def queryset(self, request, queryset):
        return queryset.filter(organization_id=self.value()) if self.value() else queryset


class ActorFilter(admin.SimpleListFilter):
    """Staff usernames, key prefixes and command names that appear in the trail."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        actors = model_admin.get_queryset(request).order_by("actor").values_list("actor", flat=True).distinct()
        return [(actor, actor) for actor in actors[:200]]

    def queryset(self, request, queryset):
        return queryset.filter(actor=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(LargeTableAdminMixin, OrganizationScopedAdmin):
    """Read-only: the trail is appended to by what it records, never edited."""

    organization_path = "organization_id"
    list_display = ["at", "actor", "action", "object_type", "object_id", "organization_id", "organization_name", "request_id"]
    list_filter = [OrganizationFilter, ActorFilter, "action"]
    search_fields = ["=object_id", "=actor", "=request_id"]
    search_help_text = "An object's id (a username, a sessionId, a session UUID), an actor or a request id (exact)."
    date_hierarchy = "at"
    ordering = ["-at", "-id"]
    fields = list_display + ["changes"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
