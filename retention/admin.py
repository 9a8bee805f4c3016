from django.contrib import admin

from flowdesk.admin import OrganizationScopedAdmin
from retention.models import RetentionPolicy


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(OrganizationScopedAdmin):
    """One policy per organization; its adds and changes are audited by the base."""

    organization_path = "organization"
    list_display = ["organization", "live_flow_sessions_days", "user_sessions_days", "chat_sessions_days", "hold", "updated_at"]
    list_select_related = ["organization"]  # the organization column
    list_filter = ["hold"]
    search_fields = ["=organization__id", "organization__name"]
    search_help_text = "An organization's id (exact) or name."
    autocomplete_fields = ["organization"]
    fields = ["organization", "live_flow_sessions_days", "user_sessions_days", "chat_sessions_days", "hold", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        # The organization is the policy's primary key: another one would be another policy.
        return ["organization", "updated_at"] if obj else ["updated_at"]
