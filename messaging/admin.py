from django import forms
from django.contrib import admin

from accounts.admin import WorkspaceAdmin
from accounts.models import Workspace
from flowdesk.admin import (
    CountColumn,
    OrganizationScopedAdmin,
    ScopedInlineMixin,
    ScopedRelatedFilter,
    api_rules,
    export_download,
    single_scope,
)
from messaging import services
from messaging.api.serializers import MessageFlowSettingsField
from messaging.api.views import agent_in, vendor_now
from messaging.exporting import MessageFlowsExport
from messaging.models import Agent, MessageFlow


class MessageFlowForm(forms.ModelForm):
    """The agent is named by its id, as in the API; the workspace's agent row is created when new."""

    agent_name = forms.CharField(label="Agent", max_length=200, help_text="The agent's id; created in the workspace when new.")

    class Meta:
        model = MessageFlow
        fields = [
            "id", "workspace", "name", "direction", "message_channel", "description", "prompt",
            "initiation_message", "settings", "is_active", "autopilot",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.agent_id:
            self.fields["agent_name"].initial = self.instance.agent.agent_id

    def save(self, commit=True):
        flow = super().save(commit=False)
        flow.agent = agent_in(flow.workspace_id, self.cleaned_data["agent_name"])
        if self.has_changed() and not self.instance._state.adding:
            # As the API does on every change: a new updatedAt and __v.
            flow.updated_at = vendor_now()
            flow.version += 1
        if commit:
            flow.save()
        return flow


class MessageFlowInline(ScopedInlineMixin, admin.TabularInline):
    model = MessageFlow
    form = MessageFlowForm
    organization_path = "workspace__organization"
    fields = ["name", "agent_name", "direction", "message_channel", "is_active", "autopilot", "updated_at"]
    readonly_fields = ["updated_at"]
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        # agent: each row's agent id
        return super().get_queryset(request).select_related("agent")


# The workspace page lists and edits its message flows.
admin.site.unregister(Workspace)


@admin.register(Workspace)
class WorkspaceWithFlowsAdmin(WorkspaceAdmin):
    inlines = [*WorkspaceAdmin.inlines, MessageFlowInline]


@admin.register(Agent)
class AgentAdmin(OrganizationScopedAdmin):
    organization_path = "workspace__organization"
    list_display = ["agent_id", "workspace", "flows_count", "created_at"]
    list_select_related = ["workspace"]  # the workspace column
    list_filter = [("workspace__organization", ScopedRelatedFilter)]
    search_fields = ["agent_id", "=workspace__id"]
    date_hierarchy = "created_at"
    ordering = ["workspace", "agent_id"]
    autocomplete_fields = ["workspace"]

    flows_count = CountColumn(MessageFlow, "agent", "message flows")

    def get_readonly_fields(self, request, obj=None):
        return ["workspace", "created_at"] if obj else ["created_at"]


@admin.register(MessageFlow)
class MessageFlowAdmin(OrganizationScopedAdmin):
    organization_path = "workspace__organization"
    form = MessageFlowForm
    list_display = [
        "name", "id", "workspace", "agent", "direction", "message_channel", "is_active", "autopilot",
        "version", "created_at", "updated_at",
    ]
    list_select_related = ["workspace", "agent"]  # the workspace and agent columns
    list_filter = [
        "direction", "message_channel", "is_active", "autopilot", ("workspace__organization", ScopedRelatedFilter),
    ]
    search_fields = ["name", "=id", "=agent__agent_id", "=workspace__id"]
    date_hierarchy = "created_at"
    ordering = ["workspace", "created_at", "id"]  # the list endpoint's order within a workspace (its index)
    autocomplete_fields = ["workspace"]
    # The API's rules for `settings`: an object whose documented sections are objects.
    json_validators = {"settings": [api_rules(MessageFlowSettingsField())]}
    actions = ["export_flows"]
    fieldsets = [
        (None, {"fields": ["id", "workspace", "name", "agent_name", "direction", "message_channel", "is_active", "autopilot"]}),
        ("Conversation", {"fields": ["description", "prompt", "initiation_message", "settings"]}),
        ("Record", {"fields": ["version", "created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        readonly = ["version", "created_at", "updated_at"]
        return ["id", *readonly] if obj else readonly

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.published(obj.pk, obj.workspace.organization_id)  # webhooks hear staff edits too

    @admin.action(description="Download selected message flows as JSON (the list endpoint's body)", permissions=["view"])
    def export_flows(self, request, queryset):
        organization_id = single_scope(self, request, queryset, "workspace__organization_id", "organizations")
        if organization_id is None:
            return None
        return export_download(
            request, f"message-flows-{organization_id}.json", MessageFlowsExport(queryset), organization_id, organization_id
        )
