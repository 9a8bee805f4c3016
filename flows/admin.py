from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from flowdesk.admin import (
    CountColumn,
    LargeTableAdminMixin,
    OrganizationScopedAdmin,
    ReadOnlyInlineMixin,
    ScopedInlineMixin,
    ScopedRelatedFilter,
    export_download,
    json_object,
    pretty_json,
    single_scope,
    subquery_count,
)
from flows import rules
from flows.exporting import LiveFlowSessionsExport
from flows.graph import flow_version_svg
from flows.models import (
    Flow,
    FlowVersion,
    LiveFlow,
    LiveFlowSession,
    LiveFlowSessionStep,
    Step,
    StepTransition,
)
from flows.timeline import TimelineAdminMixin
from retention.holds import RetentionHoldAdminMixin

# How many of a session's recorded steps its page lists (the oldest first); all are in the
# "Live flow session steps" list, filtered by session.
RECORDED_STEPS_SHOWN = 200


def version_locked(version):
    """A version sessions have run stays as they ran it (the API refuses changes too)."""
    return version is not None and version.pk is not None and version.sessions.exists()


class VersionLockedInlineMixin:
    """A version's steps or transitions, read-only once sessions have run the version."""

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and not version_locked(obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not version_locked(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not version_locked(obj)


class UpdatedOnChangeMixin:
    """A change saved here moves ``updated_at`` (not auto_now: imports keep the vendor's timestamps)."""

    def save_model(self, request, obj, form, change):
        if change:
            obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)


# --- flows and versions ---------------------------------------------------------------------


class FlowVersionInline(ScopedInlineMixin, admin.TabularInline):
    model = FlowVersion
    organization_path = "flow__organization"
    fields = ["id", "created_at", "updated_at", "steps_count"]
    readonly_fields = ["id", "created_at", "updated_at", "steps_count"]
    extra = 0
    show_change_link = True
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(steps_total=subquery_count(Step, "flow_version"))

    @admin.display(description="steps")
    def steps_count(self, obj):
        return getattr(obj, "steps_total", 0)


@admin.register(Flow)
class FlowAdmin(UpdatedOnChangeMixin, OrganizationScopedAdmin):
    organization_path = "organization"
    list_display = ["name", "id", "organization", "versions_count", "created_at", "updated_at"]
    list_select_related = ["organization"]  # the organization column
    list_filter = [("organization", ScopedRelatedFilter)]
    search_fields = ["name", "=id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "id"]
    autocomplete_fields = ["organization"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [FlowVersionInline]

    versions_count = CountColumn(FlowVersion, "flow", "versions")


class StepFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if "step_type" not in self.form.base_fields:
            return  # read-only: sessions have run this version
        kept = [f for f in self.forms if f.has_changed() or f.instance.pk]
        kept = [f for f in kept if not self._should_delete_form(f) and getattr(f, "cleaned_data", None)]
        for form in rules.repeated((form, form.cleaned_data.get("name")) for form in kept):
            form.add_error("name", "Step names must be unique within a version.")
        starts = rules.start_steps(form.cleaned_data.get("step_type") for form in kept)
        if len(starts) != 1:
            raise ValidationError(f"A version needs exactly one START step; this one would have {len(starts)}.")


class StepInline(VersionLockedInlineMixin, ScopedInlineMixin, admin.TabularInline):
    model = Step
    formset = StepFormSet
    organization_path = "flow_version__flow__organization"
    fields = ["name", "step_type", "prompt_template", "id"]
    readonly_fields = ["id"]
    extra = 0
    json_validators = {}


OTHER_VERSION = "Not a step of this flow version: a transition joins two steps of its own version."


class StepTransitionFormSet(BaseInlineFormSet):
    """Source and target offered from this version's steps only (one query for every row)."""

    steps_formset = None  # set by FlowVersionAdmin: the steps being saved with these transitions

    @property
    def step_choices(self):
        if not hasattr(self, "_step_choices"):
            steps = list(self.version_steps().only("id", "name", "step_type"))
            self._step_choices = [("", "---------")] + [(s.pk, f"{s.name} ({s.step_type})") for s in steps]
        return self._step_choices

    def version_steps(self):
        return Step.objects.filter(flow_version_id=self.instance.pk) if self.instance.pk else Step.objects.none()

    def add_fields(self, form, index):
        super().add_fields(form, index)
        for name in ("source_step", "target_step"):
            if name not in form.fields:
                continue  # read-only: sessions have run this version
            field = form.fields[name]
            field.queryset = self.version_steps()
            field.widget.choices = self.step_choices
            field.error_messages["invalid_choice"] = OTHER_VERSION
            field.help_text = "" if self.instance.pk else "Save the version's steps first, then join them."

    def clean(self):
        super().clean()
        if self.steps_formset is None:
            return
        going = {form.instance.pk for form in self.steps_formset.deleted_forms}
        for form in self.forms:
            if self._should_delete_form(form) or not getattr(form, "cleaned_data", None):
                continue
            for name in ("source_step", "target_step"):
                step = form.cleaned_data.get(name)
                if step is not None and step.pk in going:
                    form.add_error(name, "This step is being deleted; remove the transition too.")


class StepTransitionInline(VersionLockedInlineMixin, ScopedInlineMixin, admin.TabularInline):
    model = StepTransition
    fk_name = "flow_version"
    formset = StepTransitionFormSet
    organization_path = "flow_version__flow__organization"
    fields = ["source_step", "target_step", "label"]
    extra = 0

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in ("source_step", "target_step"):
            # A plain select of this version's steps (set per formset): no "add" pop-ups, no other rows.
            return db_field.formfield(queryset=Step.objects.none())
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_queryset(self, request):
        # source_step, target_step: each row's selects show the chosen steps
        return super().get_queryset(request).select_related("source_step", "target_step")


@admin.register(FlowVersion)
class FlowVersionAdmin(OrganizationScopedAdmin):
    organization_path = "flow__organization"
    list_display = ["__str__", "id", "flow", "steps_count", "transitions_count", "sessions_count", "created_at"]
    list_select_related = ["flow"]  # the flow column and each row's name
    list_filter = [("flow__organization", ScopedRelatedFilter)]
    search_fields = ["=id", "flow__name", "=flow__id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "id"]
    autocomplete_fields = ["flow"]
    inlines = [StepInline, StepTransitionInline]

    steps_count = CountColumn(Step, "flow_version", "steps")
    transitions_count = CountColumn(StepTransition, "flow_version", "transitions")
    sessions_count = CountColumn(LiveFlowSession, "flow_version", "sessions")  # graph() reads it too

    def get_fields(self, request, obj=None):
        return ["flow", "graph", "id", "created_at", "updated_at"] if obj else ["flow"]

    def get_readonly_fields(self, request, obj=None):
        return ["flow", "graph", "id", "created_at", "updated_at"] if obj else []

    @admin.display(description="graph")
    def graph(self, obj):
        steps = list(obj.steps.all())
        transitions = list(obj.transitions.all())
        note = ""
        if getattr(obj, "sessions_count_total", 0):
            note = mark_safe(
                '<p class="help">Sessions have run this version, so its graph is read-only: '
                "create a new version to change it.</p>"
            )
        return format_html(
            '<div class="flow-graph-wrap" style="overflow:auto;max-width:100%">{}</div>{}',
            mark_safe(flow_version_svg(steps, transitions)),  # every name and label in it is escaped
            note,
        )

    def _create_formsets(self, request, obj, change):
        formsets, inline_instances = super()._create_formsets(request, obj, change)
        steps = next((f for f in formsets if f.model is Step), None)
        for formset in formsets:
            if formset.model is StepTransition:
                formset.steps_formset = steps
        return formsets, inline_instances

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change and any(formset.has_changed() for formset in formsets):
            FlowVersion.objects.filter(pk=form.instance.pk).update(updated_at=timezone.now())


@admin.register(Step)
class StepAdmin(UpdatedOnChangeMixin, OrganizationScopedAdmin):
    organization_path = "flow_version__flow__organization"
    list_display = ["name", "step_type", "flow_version", "id", "created_at"]
    list_select_related = ["flow_version__flow"]  # the flow version column (named after its flow)
    list_filter = ["step_type", ("flow_version__flow__organization", ScopedRelatedFilter)]
    search_fields = ["name", "=id", "=flow_version__id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "id"]
    autocomplete_fields = ["flow_version"]

    def get_readonly_fields(self, request, obj=None):
        readonly = ["id", "created_at", "updated_at"]
        if obj:
            readonly.append("flow_version")  # transitions and recorded runs hold it to its version
            if version_locked(obj.flow_version):
                readonly += ["name", "step_type", "prompt_template"]
        return readonly


class StepTransitionForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        version = cleaned.get("flow_version") or getattr(self.instance, "flow_version", None)
        if version is not None:
            ends = [(name, cleaned[name].flow_version_id, {version.pk})
                    for name in ("source_step", "target_step") if cleaned.get(name) is not None]
            for name in rules.outside(ends):
                self.add_error(name, OTHER_VERSION)
        return cleaned


@admin.register(StepTransition)
class StepTransitionAdmin(OrganizationScopedAdmin):
    organization_path = "flow_version__flow__organization"
    form = StepTransitionForm
    list_display = ["__str__", "source_step", "target_step", "label", "flow_version"]
    # source_step, target_step, flow_version__flow: the columns named after them
    list_select_related = ["source_step", "target_step", "flow_version__flow"]
    list_filter = [("flow_version__flow__organization", ScopedRelatedFilter)]
    search_fields = ["label", "=id", "=flow_version__id", "source_step__name", "target_step__name"]
    ordering = ["flow_version", "id"]
    autocomplete_fields = ["flow_version", "source_step", "target_step"]


class LiveFlowForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        version, organization = cleaned.get("current_version"), cleaned.get("organization")
        if version is not None and organization is not None and version.flow.organization_id != organization.pk:
            self.add_error("current_version", "This version belongs to a flow of another organization.")
        return cleaned


@admin.register(LiveFlow)
class LiveFlowAdmin(UpdatedOnChangeMixin, OrganizationScopedAdmin):
    organization_path = "organization"
    form = LiveFlowForm
    list_display = ["name", "id", "organization", "current_version", "sessions_count", "created_at", "updated_at"]
    list_select_related = ["organization", "current_version__flow"]  # the organization and current version columns
    list_filter = [("organization", ScopedRelatedFilter)]
    search_fields = ["name", "=id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "id"]
    autocomplete_fields = ["organization", "current_version"]
    readonly_fields = ["created_at", "updated_at"]

    sessions_count = CountColumn(LiveFlowSession, "live_flow", "sessions")


# --- live flow sessions (big tables) --------------------------------------------------------


class RecordedStepFormSet(BaseInlineFormSet):
    def get_queryset(self):
        if not hasattr(self, "_shown"):
            self._shown = list(super().get_queryset()[:RECORDED_STEPS_SHOWN])
        return self._shown


class LiveFlowSessionStepInline(ReadOnlyInlineMixin, admin.TabularInline):
    """The steps a session recorded, as it recorded them: read-only."""

    model = LiveFlowSessionStep
    fk_name = "session"
    formset = RecordedStepFormSet
    organization_path = "session__live_flow__organization"
    fields = ["step", "status", "prompt_json", "result", "user_input", "error", "created_at"]
    show_change_link = True
    verbose_name_plural = f"recorded steps (the first {RECORDED_STEPS_SHOWN})"

    def get_queryset(self, request):
        # step: each row's step name
        return super().get_queryset(request).select_related("step").order_by("created_at", "id")

    @admin.display(description="prompt")
    def prompt_json(self, obj):
        return pretty_json(obj.prompt)


@admin.register(LiveFlowSession)
class LiveFlowSessionAdmin(TimelineAdminMixin, RetentionHoldAdminMixin, UpdatedOnChangeMixin, LargeTableAdminMixin, OrganizationScopedAdmin):
    audit_views = True  # who looked at this conversation: each view of its page is an audit event
    organization_path = "live_flow__organization"
    list_display = ["id", "live_flow", "status", "steps_count", "created_at", "updated_at"]
    list_select_related = ["live_flow"]  # the live flow column
    list_filter = ["status", ("live_flow", ScopedRelatedFilter), "retention_hold"]
    search_fields = ["=id"]
    search_help_text = "A session id (exact)."
    date_hierarchy = "created_at"
    # Served by the created_at index (ties by id sorted incrementally); the API's order too.
    ordering = ["-created_at", "-id"]
    fields = [
        "id", "live_flow", "flow_version", "status", "inputs", "error", "current_step", "created_at", "updated_at",
        "retention_hold",
    ]
    readonly_fields = ["id", "live_flow", "flow_version", "current_step", "created_at", "updated_at"]
    json_validators = {"inputs": [json_object]}
    inlines = [LiveFlowSessionStepInline]
    actions = ["export_sessions", "hold_from_retention", "release_retention_hold"]

    steps_count = CountColumn(LiveFlowSessionStep, "session", "steps")

    def has_add_permission(self, request):
        # Sessions start through the API (POST /live_flows/{id}/sessions), which runs them: every
        # save here is a change.
        return False

    @admin.action(description="Download selected sessions as JSON (the list endpoint's body)", permissions=["view"])
    def export_sessions(self, request, queryset):
        live_flow_id = single_scope(self, request, queryset, "live_flow_id", "live flows")
        if live_flow_id is None:
            return None
        organization_id = LiveFlow.objects.filter(pk=live_flow_id).values_list("organization_id", flat=True).first()
        return export_download(
            request, f"live-flow-{live_flow_id}-sessions.json", LiveFlowSessionsExport(queryset), live_flow_id,
            organization_id,
        )


@admin.register(LiveFlowSessionStep)
class LiveFlowSessionStepAdmin(UpdatedOnChangeMixin, LargeTableAdminMixin, OrganizationScopedAdmin):
    organization_path = "session__live_flow__organization"
    list_display = ["id", "session_id", "step", "status", "attempts", "created_at"]
    list_select_related = ["step"]  # the step column
    list_filter = ["status"]
    search_fields = ["=id", "=session__id"]
    search_help_text = "A recorded step's id or its session's id (exact)."
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    fields = [
        "id", "session", "step", "flow_version", "status", "prompt", "result", "user_input", "error",
        "attempts", "lease_expires_at", "created_at", "updated_at",
    ]
    readonly_fields = ["id", "session", "step", "flow_version", "attempts", "lease_expires_at", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False  # recorded by the engine as a session runs: every save here is a change
