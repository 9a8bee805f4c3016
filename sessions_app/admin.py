from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.db.models.functions import Length
from django.forms.models import BaseInlineFormSet
from django.template.defaultfilters import truncatechars
from django.utils import timezone

from accounts.models import Membership, home_organization
from flowdesk.admin import (
    CountColumn,
    LargeTableAdminMixin,
    OrganizationScopedAdmin,
    ScopedInlineMixin,
    ScopedRelatedFilter,
    api_rules,
    export_download,
    member_organizations,
    single_scope,
)
from retention.holds import RetentionHoldAdminMixin
from sessions_app import services
from sessions_app.api.serializers import (
    DialogueContentField,
    StatsSerializer,
    TutorialSerializer,
    UserSessionSerializer,
)
from sessions_app.exporting import UserSessionsExport
from sessions_app.models import AudioClip, DialogueItem, UserSession
from sessions_app.transcript import TranscriptAdminMixin

# How many dialogue items a session's page lists (the latest, in order); all are in the
# "Dialogue items" list, filtered by session.
DIALOGUE_SHOWN = 200

_session_fields = UserSessionSerializer().fields
_tutorial_fields = TutorialSerializer().fields
_stats_fields = StatsSerializer().fields
# The API's rules for each JSON column, so the admin stores nothing the API would refuse.
SESSION_JSON_RULES = {
    "quick_replies": [api_rules(_session_fields["quickReplies"])],
    "workspace": [api_rules(_session_fields["workspace"])],
    "clients": [api_rules(_session_fields["clients"])],
    "clicks": [api_rules(_session_fields["clicks"])],
    "user_info": [api_rules(_session_fields["userInfo"])],
    "tutorial_id": [api_rules(_tutorial_fields["tutorialId"])],
    "tutorial_progress": [api_rules(_tutorial_fields["progress"])],
    "stats_total_connecting_time": [api_rules(_stats_fields["totalConnectingTime"])],
}


class UserSessionScope:
    # Sessions are their user's: a staff member sees the sessions stored in their organizations
    # and those of their organizations' members (imports may leave the organization empty).
    def organization_q(self, request, prefix=""):
        organizations = member_organizations(request)
        members = Membership.objects.filter(organization__in=organizations).values("user_id")
        return Q(**{f"{prefix}organization__in": organizations}) | Q(**{f"{prefix}user__in": members})


class LatestDialogueFormSet(BaseInlineFormSet):
    def get_queryset(self):
        if not hasattr(self, "_shown"):
            latest = list(super().get_queryset().order_by("-position")[:DIALOGUE_SHOWN])
            latest.reverse()
            self._shown = latest
        return self._shown


class BlankUiIsAbsentMixin:
    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "ui":
            field.empty_value = None  # an empty box is no `ui`, not the string ""
        return field


class DialogueItemInline(BlankUiIsAbsentMixin, ScopedInlineMixin, admin.TabularInline):
    model = DialogueItem
    formset = LatestDialogueFormSet
    fields = ["position", "item_id", "content_type", "is_user", "content", "ui"]
    json_validators = {"content": [api_rules(DialogueContentField())]}
    extra = 0
    show_change_link = True
    verbose_name_plural = f"dialogue (the latest {DIALOGUE_SHOWN} items)"

    def organization_q(self, request):
        return UserSessionScope.organization_q(self, request, prefix="session__")


class AudioClipInline(ScopedInlineMixin, admin.TabularInline):
    model = AudioClip
    fields = ["position", "clip_id", "base64"]
    extra = 0

    def organization_q(self, request):
        return UserSessionScope.organization_q(self, request, prefix="session__")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "base64":
            field.widget.attrs.update(rows=2, style="font-family: monospace")
        return field


@admin.register(UserSession)
class UserSessionAdmin(TranscriptAdminMixin, RetentionHoldAdminMixin, UserSessionScope, LargeTableAdminMixin, OrganizationScopedAdmin):
    audit_views = True  # who looked at this conversation: each view of its page is an audit event
    list_display = [
        "session_id", "name", "user", "organization", "language", "response_mode", "dialogue_count",
        "created_at", "updated_at",
    ]
    list_select_related = ["user", "organization"]  # the user and organization columns
    list_filter = [
        "response_mode", "is_vm_running", "tutorial_is_tutorial", ("organization", ScopedRelatedFilter), "retention_hold",
    ]
    search_fields = ["=session_id", "=uuid", "=user__username"]
    search_help_text = "A sessionId, a uuid or a username (exact)."
    date_hierarchy = "updated_at"
    # The list endpoint's order, served by usersession_updated_idx.
    ordering = ["-updated_at", "-id"]
    autocomplete_fields = ["user", "organization"]
    json_validators = SESSION_JSON_RULES
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["session_id", "uuid", "user", "organization", "name", "language", "response_mode", "easy_mode"]}),
        ("State", {"fields": [
            "is_replying", "is_vm_running", "dialogue_null", "quick_replies", "workspace", "clients", "llm_context",
        ]}),
        ("Tutorial", {"fields": ["tutorial_is_tutorial", "tutorial_id", "tutorial_progress"]}),
        ("Stats", {"fields": [
            "stats_total_connecting_time", "stats_current_num_of_blocks", "stats_total_invoked_llm",
            "stats_total_user_messages", "stats_total_code_executions",
        ]}),
        ("Media and user", {"fields": ["audios_null", "user_audio", "screenshot", "clicks", "user_info"]}),
        ("Record", {"fields": ["created_at", "updated_at", "retention_hold"]}),
    ]
    inlines = [DialogueItemInline, AudioClipInline]
    actions = ["export_sessions", "hold_from_retention", "release_retention_hold"]
    dialogue_count = CountColumn(DialogueItem, "session", "dialogue items")

    def save_model(self, request, obj, form, change):
        if change:
            obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        services.deleted(obj)  # its sockets are let go
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for session in queryset.select_related(None).only("pk", "session_id", "organization_id"):
            services.deleted(session)
        super().delete_queryset(request, queryset)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change and any(formset.has_changed() for formset in formsets):
            UserSession.objects.filter(pk=form.instance.pk).update(updated_at=timezone.now())
        if change:
            services.published(form.instance)  # its socket clients see the edit

    @admin.action(description="Download selected user sessions as JSON (the list endpoint's body)", permissions=["view"])
    def export_sessions(self, request, queryset):
        username = single_scope(self, request, queryset, "user__username", "users")
        if username is None:
            return None
        user = get_user_model().objects.get(username=username)
        return export_download(
            request, f"user-sessions-{username}.json", UserSessionsExport(queryset), username, home_organization(user)
        )


@admin.register(DialogueItem)
class DialogueItemAdmin(BlankUiIsAbsentMixin, LargeTableAdminMixin, OrganizationScopedAdmin):
    list_display = ["__str__", "session", "position", "item_id", "content_type", "is_user", "short_content"]
    list_select_related = ["session"]  # the session column
    list_filter = ["content_type", "is_user"]
    search_fields = ["=session__session_id"]
    search_help_text = "A sessionId (exact)."
    # The newest sessions first, each in dialogue order: the (session, position) index read backwards.
    ordering = ["-session", "position"]
    autocomplete_fields = ["session"]
    json_validators = {"content": [api_rules(DialogueContentField())]}

    def organization_q(self, request):
        return UserSessionScope.organization_q(self, request, prefix="session__")

    @admin.display(description="content")
    def short_content(self, obj):
        return truncatechars(obj.content if isinstance(obj.content, str) else f"[{len(obj.content)} nested items]", 80)


@admin.register(AudioClip)
class AudioClipAdmin(OrganizationScopedAdmin):
    list_display = ["__str__", "session", "position", "clip_id", "size"]
    list_select_related = ["session"]  # the session column
    search_fields = ["=session__session_id", "=clip_id"]
    ordering = ["-session", "position"]
    autocomplete_fields = ["session"]

    def organization_q(self, request):
        return UserSessionScope.organization_q(self, request, prefix="session__")

    def get_queryset(self, request):
        queryset = super().get_queryset(request).annotate(base64_length=Length("base64"))
        # The list shows the clip's size, not the clip: base64 is loaded on its change page only.
        return queryset.defer("base64") if request.resolver_match.url_name.endswith("changelist") else queryset

    @admin.display(description="base64 characters", ordering="base64_length")
    def size(self, obj):
        return obj.base64_length
