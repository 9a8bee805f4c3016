from django import forms
from django.contrib import admin
from django.db import transaction
from django.forms.models import BaseInlineFormSet
from django.template.defaultfilters import truncatechars

from chat import services
from chat.api.serializers import (
    CONVERSATION_ID_MESSAGE,
    CONVERSATION_ID_PATTERN,
    SESSION_ID_MESSAGE,
    SESSION_ID_PATTERN,
)
from chat.conversation import ConversationAdminMixin
from chat.exporting import ChatSessionsExport
from chat.models import ChatMessage, ChatSession, ContextType, Conversation, Workflow
from flowdesk.admin import (
    CountColumn,
    LargeTableAdminMixin,
    OrganizationScopedAdmin,
    ScopedInlineMixin,
    ScopedRelatedFilter,
    export_download,
    json_array_of_strings,
    single_scope,
)
from retention.holds import RetentionHoldAdminMixin

# How many messages a chat session's page lists (the latest, oldest first); all are in the
# "Chat messages" list, filtered by session.
MESSAGES_SHOWN = 200


def refresh_summaries(session_ids):
    """Recount the sessions' stored summary fields after the admin changed their messages."""
    with transaction.atomic():
        sessions = ChatSession.objects.filter(pk__in=sorted(set(session_ids)))
        # Locked in pk order, as every other writer does, so a concurrent post is not lost.
        list(sessions.select_for_update().order_by("pk").values_list("pk", flat=True))
        sessions.refresh_summaries()


@admin.register(Workflow)
class WorkflowAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    list_display = ["name", "uuid", "organization", "chat_sessions_count", "created_at"]
    list_select_related = ["organization"]  # the organization column
    list_filter = [("organization", ScopedRelatedFilter)]
    search_fields = ["name", "=uuid"]
    search_help_text = "A name, or a workflow id (exact)."
    date_hierarchy = "created_at"
    ordering = ["name", "id"]
    autocomplete_fields = ["organization"]
    chat_sessions_count = CountColumn(ChatSession, "workflow", "chat sessions")


class ConversationForm(forms.ModelForm):
    class Meta:
        model = Conversation
        fields = ["organization", "conversation_id"]

    def clean_conversation_id(self):
        value = self.cleaned_data["conversation_id"]
        if value and not CONVERSATION_ID_PATTERN.match(value):
            raise forms.ValidationError(CONVERSATION_ID_MESSAGE)
        return value


@admin.register(Conversation)
class ConversationAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    form = ConversationForm
    list_display = ["conversation_id", "organization", "chat_sessions_count", "created_at"]
    list_select_related = ["organization"]  # the organization column
    list_filter = [("organization", ScopedRelatedFilter)]
    search_fields = ["=conversation_id"]
    search_help_text = "A conversation id (exact)."
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    autocomplete_fields = ["organization"]
    chat_sessions_count = CountColumn(ChatSession, "conversation", "chat sessions")

    def get_readonly_fields(self, request, obj=None):
        # Its chats and messages name it; moving it to another organization is not a thing.
        return ["organization"] if obj else []


class LatestMessagesFormSet(BaseInlineFormSet):
    def get_queryset(self):
        if not hasattr(self, "_shown"):
            latest = list(super().get_queryset().order_by("-created_at", "-id")[:MESSAGES_SHOWN])
            latest.reverse()
            self._shown = latest
        return self._shown


class ChatMessageInline(ScopedInlineMixin, admin.TabularInline):
    model = ChatMessage
    formset = LatestMessagesFormSet
    organization_path = "session__organization"
    fields = ["role", "content", "tokens_used", "image_urls", "created_at"]
    json_validators = {"image_urls": [json_array_of_strings]}
    extra = 0
    show_change_link = True
    verbose_name_plural = f"messages (the latest {MESSAGES_SHOWN})"


class ChatSessionForm(forms.ModelForm):
    class Meta:
        model = ChatSession
        fields = ["organization", "context_type", "session_id", "workflow", "conversation"]

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        context_type, session_id, workflow = cleaned.get("context_type"), cleaned.get("session_id"), cleaned.get("workflow")
        conversation = cleaned.get("conversation")
        if conversation is not None and organization is not None and conversation.organization_id != organization.pk:
            self.add_error("conversation", "This conversation belongs to another organization.")
        if session_id and not SESSION_ID_PATTERN.match(session_id):
            self.add_error("session_id", SESSION_ID_MESSAGE)
        if context_type == ContextType.SESSION and not session_id:
            self.add_error("session_id", "A create-page chat (context type 'session') needs a session id.")
        if context_type == ContextType.WORKFLOW and workflow is None:
            self.add_error("workflow", "A workflow chat needs its workflow.")
        if workflow is not None and organization is not None and workflow.organization_id != organization.pk:
            self.add_error("workflow", "This workflow belongs to another organization.")
        return cleaned


@admin.register(ChatSession)
class ChatSessionAdmin(ConversationAdminMixin, RetentionHoldAdminMixin, LargeTableAdminMixin, OrganizationScopedAdmin):
    audit_views = True  # who looked at this conversation: each view of its page is an audit event
    organization_path = "organization"
    form = ChatSessionForm
    list_display = [
        "__str__", "context_type", "organization", "workflow", "message_count", "first_message_at",
        "last_message_at", "short_preview",
    ]
    list_select_related = ["organization", "workflow"]  # the organization and workflow columns
    list_filter = ["context_type", ("organization", ScopedRelatedFilter), "retention_hold"]
    search_fields = ["=session_id", "=workflow__uuid", "=conversation__conversation_id"]
    search_help_text = "A session id, a workflow id or a conversation id (exact)."
    date_hierarchy = "activity_at"
    # The list endpoint's order, served by chatsession_activity_idx.
    ordering = ["-activity_at", "-id"]
    autocomplete_fields = ["organization", "workflow", "conversation"]
    summary_fields = ["message_count", "first_message_at", "last_message_at", "preview", "activity_at", "created_at"]
    inlines = [ChatMessageInline]
    actions = ["export_sessions", "hold_from_retention", "release_retention_hold"]

    def get_queryset(self, request):
        # A workflow chat is named by its workflow's id (autocompletes show the name). The changelist
        # adds list_select_related only to a queryset without select_related: both are here.
        return super().get_queryset(request).select_related(*self.list_select_related)

    @admin.display(description="preview")
    def short_preview(self, obj):
        return truncatechars(obj.preview or "", 60)

    def get_fields(self, request, obj=None):
        return ["organization", "context_type", "session_id", "workflow", "conversation", *self.summary_fields, "retention_hold"]

    def get_readonly_fields(self, request, obj=None):
        # Kept exact from the stored messages; moving a chat to another organization is not a thing.
        readonly = [*super().get_readonly_fields(request, obj), *self.summary_fields]  # super: the conversation pane
        return [*readonly, "organization"] if obj else readonly

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "conversation" in form.changed_data:
            # Its stored messages follow it (history by conversationId reads theirs).
            ChatMessage.objects.filter(session=obj).update(conversation=obj.conversation)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if any(formset.model is ChatMessage and formset.has_changed() for formset in formsets):
            refresh_summaries([form.instance.pk])
        for formset in formsets:
            if formset.model is ChatMessage:
                for message in formset.new_objects:
                    services.published(message.pk, form.instance.organization_id)

    @admin.action(description="Download selected chat sessions as JSON (the list endpoint's envelope)", permissions=["view"])
    def export_sessions(self, request, queryset):
        organization_id = single_scope(self, request, queryset, "organization_id", "organizations")
        if organization_id is None:
            return None
        export = ChatSessionsExport(queryset, request_id=getattr(request, "request_id", ""))
        return export_download(request, f"chat-sessions-{organization_id}.json", export, organization_id, organization_id)


class ChatMessageForm(forms.ModelForm):
    class Meta:
        model = ChatMessage
        fields = [
            "session", "role", "content", "tokens_used", "image_urls", "created_at", "sender_user_id",
            "linked_run_id", "linked_run_status", "linked_run_started_at", "linked_run_finished_at",
        ]


@admin.register(ChatMessage)
class ChatMessageAdmin(LargeTableAdminMixin, OrganizationScopedAdmin):
    organization_path = "session__organization"
    form = ChatMessageForm
    list_display = ["id", "session", "role", "short_content", "tokens_used", "created_at"]
    list_select_related = ["session__workflow"]  # the session column (its session id or workflow id)
    list_filter = ["role"]
    search_fields = ["=id", "=session__session_id", "=session__workflow__uuid", "=conversation__conversation_id"]
    search_help_text = "A message id, or its chat's session id, workflow id or conversation id (exact)."
    date_hierarchy = "created_at"
    # Served by chatmessage_created_idx.
    ordering = ["-created_at", "-id"]
    autocomplete_fields = ["session"]
    json_validators = {"image_urls": [json_array_of_strings]}
    # Always its session's (ChatMessage.save copies it).
    readonly_fields = ["conversation"]

    @admin.display(description="content")
    def short_content(self, obj):
        return truncatechars(obj.content, 80)

    def save_model(self, request, obj, form, change):
        before = form.initial.get("session") if change else None
        super().save_model(request, obj, form, change)
        refresh_summaries([pk for pk in (before, obj.session_id) if pk is not None])
        if not change:
            services.published(obj.pk, obj.session.organization_id)
