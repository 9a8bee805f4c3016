from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts import userdata
from accounts.models import ApiKey, Membership, Organization, Workspace
from audit.models import Action
from audit.trail import event, record_many
from flowdesk.admin import (
    CountColumn,
    OrganizationScopedAdmin,
    ScopedInlineMixin,
    ScopedRelatedFilter,
    member_organizations,
)
from sessions_app.models import UserSession

User = get_user_model()


class MembershipInline(ScopedInlineMixin, admin.TabularInline):
    model = Membership
    organization_path = "organization"
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    extra = 0
    list_select_related = True

    def get_queryset(self, request):
        # user: each row's user shown in the autocomplete
        return super().get_queryset(request).select_related("user")


class WorkspaceInline(ScopedInlineMixin, admin.TabularInline):
    model = Workspace
    organization_path = "organization"
    fields = ["id", "name", "created_at"]
    # The admin's time widget drops microseconds: an editable created_at changed on every save.
    readonly_fields = ["created_at"]
    extra = 0
    show_change_link = True


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    organization_path = "pk"
    list_display = ["id", "name", "workspaces_count", "members_count", "created_at"]
    search_fields = ["id", "name"]
    date_hierarchy = "created_at"
    ordering = ["id"]
    inlines = [WorkspaceInline, MembershipInline]

    workspaces_count = CountColumn(Workspace, "organization", "workspaces")
    members_count = CountColumn(Membership, "organization", "members")

    def get_readonly_fields(self, request, obj=None):
        # The id is what API clients send in Current-Org-Id: set once.
        return ["id", "created_at"] if obj else ["created_at"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and not request.user.is_superuser:
            # A staff member keeps sight of the organization they create.
            Membership.objects.get_or_create(user=request.user, organization=obj, defaults={"role": "owner"})


@admin.register(Workspace)
class WorkspaceAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    list_display = ["id", "name", "organization", "created_at"]
    list_select_related = ["organization"]  # the organization column
    list_filter = [("organization", ScopedRelatedFilter)]
    search_fields = ["id", "name", "organization__id", "organization__name"]
    date_hierarchy = "created_at"
    ordering = ["id"]
    autocomplete_fields = ["organization"]

    def get_readonly_fields(self, request, obj=None):
        return ["id", "created_at"] if obj else ["created_at"]


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    list_display = ["user", "organization", "role", "created_at"]
    list_select_related = ["user", "organization"]  # the user and organization columns
    list_filter = ["role", ("organization", ScopedRelatedFilter)]
    search_fields = ["user__username", "user__email", "organization__id", "organization__name"]
    date_hierarchy = "created_at"
    ordering = ["organization", "user__username"]
    autocomplete_fields = ["user", "organization"]


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "user", "organization", "workspace"]


@admin.register(ApiKey)
class ApiKeyAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    form = ApiKeyForm
    list_display = ["prefix", "name", "user", "organization", "workspace", "created_at", "last_used_at", "revoked"]
    list_select_related = ["user", "organization", "workspace"]  # the user, organization and workspace columns
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), ("organization", ScopedRelatedFilter)]
    search_fields = ["prefix", "name", "user__username", "organization__id", "workspace__id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    autocomplete_fields = ["user", "organization", "workspace"]
    actions = ["revoke_keys"]
    # A key made here is audited as one made by create_api_key is.
    audit_actions = {**OrganizationScopedAdmin.audit_actions, "add": Action.API_KEY_CREATE}

    @admin.display(description="revoked", boolean=False, ordering="revoked_at")
    def revoked(self, obj):
        return obj.revoked_at or "—"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "user", "organization", "workspace"]
        return ["prefix", "name", "user", "organization", "workspace", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # A key belongs to its user and organization for life; revoke it and create another.
        return ["prefix", "user", "organization", "workspace", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        created, raw = ApiKey.generate(
            user=obj.user, organization=obj.organization, workspace=obj.workspace, name=obj.name
        )
        _, joined = Membership.objects.get_or_create(user=obj.user, organization=obj.organization)
        obj.pk, obj.prefix, obj.key_hash, obj.created_at = created.pk, created.prefix, created.key_hash, created.created_at
        obj._state.adding = False
        if joined:
            self.message_user(request, f"{obj.user} was made a member of {obj.organization.pk}.", messages.INFO)
        self.message_user(
            request,
            f"The new API key is {raw} — copy it now: it is stored hashed and will not be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_keys(self, request, queryset):
        active = queryset.filter(revoked_at__isnull=True)
        keys = list(active.values_list("pk", "prefix", "organization_id", "organization__name"))
        revoked = active.filter(pk__in=[pk for pk, *_ in keys]).update(revoked_at=timezone.now())
        record_many([
            event(Action.API_KEY_REVOKE, actor=request.user, object_type="API key", object_id=prefix,
                  organization=(org_id, org_name), request=request)
            for _, prefix, org_id, org_name in keys
        ])
        self.message_user(request, f"Revoked {revoked} API key{'s' if revoked != 1 else ''}.", messages.SUCCESS)


# Django's user admin, scoped: staff see the members of their organizations, and only superusers
# hand out staff status, superuser status, groups or permissions.
admin.site.unregister(User)


@admin.register(User)
class FlowdeskUserAdmin(OrganizationScopedAdmin, UserAdmin):
    list_display = ["username", "email", "first_name", "last_name", "is_staff", "is_superuser", "date_joined"]
    date_hierarchy = "date_joined"
    list_filter = ["is_staff", "is_superuser", "is_active"]
    inlines = [MembershipInline]
    actions = ["erase_users"]

    def organization_q(self, request):
        return Q(pk__in=Membership.objects.filter(organization__in=member_organizations(request)).values("user_id"))

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_staff", "is_superuser", "groups", "user_permissions"]
        return fields

    @admin.action(description="Erase selected users and all their data", permissions=["delete"])
    def erase_users(self, request, queryset):
        """A confirmation page of what goes, then ``accounts.userdata.erase`` per user (erase_user's)."""
        users = list(queryset.order_by("username"))
        if any(user.is_superuser for user in users) and not request.user.is_superuser:
            self.message_user(request, "Only a superuser can erase a superuser.", messages.ERROR)
            return None
        if request.user in users:
            self.message_user(request, "You cannot erase yourself.", messages.ERROR)
            return None
        if not request.user.is_superuser:
            # An erasure deletes the user's data everywhere: only whole within the staff's organizations.
            mine = member_organizations(request)
            elsewhere = Membership.objects.filter(user__in=users).exclude(organization__in=mine).exists() or (
                UserSession.objects.filter(user__in=users, organization__isnull=False).exclude(organization__in=mine).exists()
            )
            if elsewhere:
                self.message_user(
                    request, "A selected user has memberships or sessions outside your organizations: "
                    "only a superuser can erase them.", messages.ERROR,
                )
                return None
        if request.POST.get("post") != "yes":
            counted = [(user.get_username(), userdata.holdings(user)) for user in users]
            return TemplateResponse(request, "admin/accounts/erase_users.html", {
                **self.admin_site.each_context(request),
                "opts": self.model._meta, "queryset": users, "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "kinds": list(counted[0][1]) if counted else [],
                "users": [(username, list(counts.values())) for username, counts in counted],
            })
        for user in users:
            username = user.get_username()
            try:
                counts = userdata.erase(user, actor=request.user, request=request)
            except userdata.Held as held:
                self.message_user(request, str(held), messages.ERROR)
                continue
            self.message_user(request, userdata.describe(username, counts), messages.SUCCESS)
        return None
