import json

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from flowdesk.admin import (
    CountColumn,
    LargeTableAdminMixin,
    OrganizationScopedAdmin,
    ReadOnlyInlineMixin,
    ScopedRelatedFilter,
    pretty_json,
)
from webhooks.delivery import redeliver
from webhooks.event_types import EVENT_TYPES
from webhooks.models import Delivery, DeliveryAttempt, DeliveryState, WebhookEndpoint
from webhooks.targets import check_at_creation


class EventTypeFilter(admin.SimpleListFilter):
    """The known event types (not a DISTINCT over every delivery)."""

    title = "event"
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        return [(name, name) for name in EVENT_TYPES]

    def queryset(self, request, queryset):
        return queryset.filter(event_type=self.value()) if self.value() else queryset


class AnswerFilter(admin.SimpleListFilter):
    title = "answer"
    parameter_name = "answer"

    def lookups(self, request, model_admin):
        return [("2xx", "2xx (delivered)"), ("error", "another status"), ("none", "no answer (network error, refused)")]

    def queryset(self, request, queryset):
        if self.value() == "2xx":
            return queryset.filter(status_code__gte=200, status_code__lt=300)
        if self.value() == "error":
            return queryset.filter(status_code__isnull=False).exclude(status_code__gte=200, status_code__lt=300)
        if self.value() == "none":
            return queryset.filter(status_code__isnull=True)
        return queryset


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {description}") for name, description in EVENT_TYPES.items()],
        widget=forms.CheckboxSelectMultiple,
        help_text="The events this endpoint receives.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "organization", "url", "events", "is_active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        check_at_creation(url)
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    form = WebhookEndpointForm
    list_display = ["__str__", "id", "organization", "url", "event_list", "is_active", "failed_count", "created_at"]
    list_select_related = ["organization"]  # the organization column
    list_filter = ["is_active", ("organization", ScopedRelatedFilter)]
    search_fields = ["=id", "name", "url"]
    ordering = ["-created_at", "id"]
    show_full_result_count = False
    autocomplete_fields = ["organization"]
    actions = ["roll_secrets"]

    failed_count = CountColumn(Delivery, "endpoint", "failed deliveries", state=DeliveryState.FAILED)

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.events)

    @admin.display(description="signing secret")
    def secret_hint(self, obj):
        return format_html(
            "<code>{}</code><p class='help'>Shown in full once, when it was made; "
            "“Roll signing secrets” in the list makes a new one.</p>",
            obj.secret_hint,
        )

    def get_fields(self, request, obj=None):
        fields = ["name", "organization", "url", "events", "is_active"]
        return fields if obj is None else ["id", *fields, "secret_hint", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        # An endpoint stays in its organization; its deliveries are that organization's.
        return [] if obj is None else ["id", "organization", "secret_hint", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(
                request,
                f"The signing secret of {obj} is {obj.secret} — copy it now: it will not be shown again.",
                messages.WARNING,
            )

    def get_deleted_objects(self, objs, request):
        # Counted, not listed: an endpoint's delivery log may hold millions of rows.
        objs = list(objs)
        deliveries = Delivery.objects.filter(endpoint__in=objs)
        counts = {
            WebhookEndpoint._meta.verbose_name_plural: len(objs),
            Delivery._meta.verbose_name_plural: deliveries.count(),
            DeliveryAttempt._meta.verbose_name_plural: DeliveryAttempt.objects.filter(delivery__in=deliveries).count(),
        }
        perms_needed = set() if all(self.has_delete_permission(request, obj) for obj in objs) else {"webhook endpoint"}
        return [format_html("{}: {}", obj._meta.verbose_name, obj) for obj in objs], counts, perms_needed, []

    @admin.action(description="Roll signing secrets (the new ones are shown once)", permissions=["change"])
    def roll_secrets(self, request, queryset):
        for endpoint in queryset:
            secret = endpoint.roll_secret()
            self.message_user(request, f"The new signing secret of {endpoint} is {secret} — copy it now.",
                              messages.WARNING)


class DeliveryAttemptInline(ReadOnlyInlineMixin, admin.TabularInline):
    """The delivery log: every attempt as it was made."""

    model = DeliveryAttempt
    organization_path = "delivery__organization"
    fields = ["number", "started_at", "status_code", "error", "duration_ms", "address", "response_body"]
    verbose_name_plural = "attempts"


@admin.register(Delivery)
class DeliveryAdmin(LargeTableAdminMixin, OrganizationScopedAdmin):
    organization_path = "organization"
    list_display = [
        "id", "event_type", "endpoint", "organization", "state", "attempts_count", "last_status_code",
        "next_attempt_at", "created_at",
    ]
    list_select_related = ["endpoint", "organization"]  # the endpoint and organization columns
    list_filter = ["state", EventTypeFilter, ("organization", ScopedRelatedFilter)]
    search_fields = ["=id", "=event_id", "=endpoint__id"]
    search_help_text = "A delivery id, event id or endpoint id (exact)."
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    fields = [
        "id", "endpoint", "organization", "event_type", "event_id", "state", "attempts_count", "attempts_left",
        "next_attempt_at", "last_status_code", "last_error", "created_at", "updated_at", "delivered_at", "body_json",
    ]
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver_selected"]

    def get_queryset(self, request):
        # endpoint, organization: shown on the delivery's page (the list joins them too)
        return super().get_queryset(request).select_related("endpoint", "organization")

    @admin.display(description="body")
    def body_json(self, obj):
        try:
            return pretty_json(json.loads(obj.body))
        except ValueError:
            return obj.body

    def has_add_permission(self, request):
        return False  # made by events

    @admin.action(description="Redeliver selected deliveries", permissions=["change"])
    def redeliver_selected(self, request, queryset):
        selected = queryset.count()
        ids = redeliver(queryset)
        note = f" ({selected - len(ids)} still pending, left on their way)" if selected > len(ids) else ""
        self.message_user(request, f"Queued {len(ids)} deliver{'ies' if len(ids) != 1 else 'y'} again{note}.",
                          messages.SUCCESS)


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(LargeTableAdminMixin, OrganizationScopedAdmin):
    organization_path = "delivery__organization"
    list_display = ["__str__", "delivery_event", "status_code", "short_error", "duration_ms", "started_at"]
    list_select_related = ["delivery"]  # each row's delivery event type
    list_filter = [AnswerFilter]
    search_fields = ["=delivery__id"]
    search_help_text = "A delivery id (exact)."
    date_hierarchy = "started_at"
    ordering = ["-started_at", "-id"]
    fields = ["delivery", "number", "started_at", "duration_ms", "url", "address", "status_code", "error",
              "response_body"]
    readonly_fields = fields

    @admin.display(description="event", ordering="delivery__event_type")
    def delivery_event(self, obj):
        return obj.delivery.event_type

    @admin.display(description="error")
    def short_error(self, obj):
        return (obj.error[:80] + "…") if len(obj.error) > 80 else obj.error

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the log stays whole: delete its delivery instead
