"""Live-flows family: the vendor's snake_case shapes.

Reads are rendered by SessionRenderer (sessions and flow versions, from the column lists beside
it): the session list renders thousands of nested objects a page and DRF's field machinery
costs several times the SQL. The Serializer classes declare the same shapes for validation and
the schema, and delegate to the renderer.
"""


import orjson
from django.db import connections
from rest_framework import serializers

from flowdesk.api.fields import IsoZDateTimeField, JSONObjectField, StrictCharField, timestamp_z, utc_text
from flowdesk.api.renderers import column_reader
from flowdesk.api.serializers import StrictModelSerializer
from flowdesk.db.pipeline import fetch_together
from flows import rules
from flows.models import (
    Flow,
    FlowVersion,
    LiveFlow,
    LiveFlowSessionStep,
    SessionStatus,
    Step,
    StepTransition,
    StepType,
)

# --- read shapes ---------------------------------------------------------------------------


# Columns the session renderer reads, in order: rows come from `.values_list()` (the list
# endpoint) or from model instances (one session, the admin) through the same getters.
SESSION_COLUMNS = ("id", "inputs", "error", "status", "current_step_id", "created_at", "updated_at", "flow_version_id")
VERSION_COLUMNS = ("id", "flow_id", "created_at", "updated_at")
STEP_COLUMNS = ("id", "name", "step_type", "prompt_template", "created_at", "updated_at")
TRANSITION_COLUMNS = ("source_step_id", "target_step_id", "label", "id")
RECORDED_COLUMNS = ("id", "status", "prompt", "result", "error", "user_input", "step_id", "created_at", "updated_at")

_session_row, _version_row, _step_row, _transition_row, _recorded_row = (
    column_reader(columns) for columns in (SESSION_COLUMNS, VERSION_COLUMNS, STEP_COLUMNS, TRANSITION_COLUMNS, RECORDED_COLUMNS)
)


def session_tree_rows(queryset):
    """What SessionRenderer.page reads, as plain rows rather than model instances, in four queries
    sent together (flowdesk/db/pipeline.py: one round trip on PostgreSQL) whatever the number of
    sessions: the sessions of ``queryset`` (filtered, ordered and sliced by the caller) with their
    versions' columns (a join), the versions' steps, their transitions and the sessions' recorded
    steps (each in its model's order), the children selected by the page's own query."""
    return session_tree(fetch_together(*session_tree_queries(queryset)))


def session_tree_queries(queryset):
    """The four statements of ``session_tree_rows``, none needing another's answer."""
    page = queryset.prefetch_related(None)
    # PostgreSQL formats the timestamps (a page has a thousand): cheaper than parsing them into
    # datetimes and formatting those in Python. SessionRenderer takes either.
    text = connections[page.db].vendor == "postgresql"

    def columns(names, prefix=""):
        return [utc_text(prefix + name) if text and name in ("created_at", "updated_at") else prefix + name
                for name in names]

    versions_of_page = page.values("flow_version_id")
    return (
        page.values_list(*columns(SESSION_COLUMNS), *columns(VERSION_COLUMNS, "flow_version__")),
        Step.objects.filter(flow_version_id__in=versions_of_page).values_list("flow_version_id", *columns(STEP_COLUMNS)),
        StepTransition.objects.filter(flow_version_id__in=versions_of_page)
        .values_list("flow_version_id", *TRANSITION_COLUMNS),
        LiveFlowSessionStep.objects.filter(session_id__in=page.values("pk"))
        .values_list("session_id", *columns(RECORDED_COLUMNS)),
    )


def session_tree(fetched):
    """``session_tree_rows``' answer from the rows of its four statements."""
    rows, steps, transitions, recorded = fetched
    width = len(SESSION_COLUMNS)
    return (
        [row[:width] for row in rows],
        list({row[width]: row[width:] for row in rows}.values()),
        _grouped(steps), _grouped(transitions), _grouped(recorded),
    )


def _grouped(rows):
    groups = {}
    for row in rows:
        groups.setdefault(row[0], []).append(row[1:])
    return groups


class SessionRenderer:
    """Renders sessions as LiveFlowSessionRead.

    A page of sessions usually shares one or two flow versions: each version (and each of its
    steps) is rendered once and the same dict is reused for every session that ran it.
    """

    def __init__(self):
        self._versions = {}
        self._steps = {}

    def add_version(self, row, step_rows, transition_rows):
        """A version from VERSION_COLUMNS, its steps (STEP_COLUMNS, in order) and transitions."""
        version_id, flow_id, created_at, updated_at = row
        steps = []
        for step_id, name, step_type, prompt_template, step_created, step_updated in step_rows:
            step = self._steps[step_id] = {
                "id": str(step_id),
                "name": name,
                "step_type": step_type,
                "prompt_template": prompt_template,
                "created_at": timestamp_z(step_created),
                "updated_at": timestamp_z(step_updated),
            }
            steps.append(step)
        self._versions[version_id] = {
            "id": str(version_id),
            "flow_id": str(flow_id),
            "steps": steps,
            "step_transitions": [
                {"source_step_id": str(source), "target_step_id": str(target), "label": label, "id": str(pk)}
                for source, target, label, pk in transition_rows
            ],
            "created_at": timestamp_z(created_at),
            "updated_at": timestamp_z(updated_at),
        }

    def has_version(self, version_id):
        return version_id in self._versions

    def version(self, version_id):
        """A version added before, as FlowVersionRead (a live flow's ``current_version``)."""
        return self._versions[version_id]

    def session_row(self, row, recorded_rows):
        """A session from SESSION_COLUMNS (its version added) and its recorded steps (RECORDED_COLUMNS)."""
        session_id, inputs, error, status, current_step_id, created_at, updated_at, version_id = row
        steps = self._steps
        recorded = []
        current = None
        for pk, r_status, prompt, result, r_error, user_input, step_id, r_created, r_updated in recorded_rows:
            item = {
                "id": str(pk),
                "status": r_status,
                "prompt": prompt,
                "result": result,
                "error": r_error,
                "user_input": user_input,
                "step": steps[step_id],
                "created_at": timestamp_z(r_created),
                "updated_at": timestamp_z(r_updated),
            }
            if pk == current_step_id:
                current = item
            recorded.append(item)
        return {
            "id": str(session_id),
            "steps_count": len(recorded),
            "inputs": inputs,
            "error": error,
            "status": status,
            "flow_version": self._versions[version_id],
            "created_at": timestamp_z(created_at),
            "updated_at": timestamp_z(updated_at),
            "current_step": current,
            "steps": recorded,
        }

    def flow_version(self, version):
        """FlowVersionRead of a version loaded with its steps and transitions (prefetched)."""
        if version.id not in self._versions:
            self.add_version(
                _version_row(version), map(_step_row, version.steps.all()), map(_transition_row, version.transitions.all())
            )
        return self._versions[version.id]

    def session(self, session):
        """A session loaded by ``LiveFlowSession.objects.with_tree()``."""
        self.flow_version(session.flow_version)
        return self.session_row(_session_row(session), map(_recorded_row, session.steps.all()))

    def page(self, rows):
        """Sessions from ``session_tree_rows()``."""
        sessions, versions, steps, transitions, recorded = rows
        for row in versions:
            self.add_version(row, steps.get(row[0], ()), transitions.get(row[0], ()))
        return [self.session_row(row, recorded.get(row[0], ())) for row in sessions]


# --- declared shapes (validation, schema) ---------------------------------------------------


class StepSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    name = StrictCharField(max_length=200)
    step_type = serializers.ChoiceField(choices=StepType.choices)
    prompt_template = serializers.JSONField(required=False, allow_null=True, default=None)
    created_at = IsoZDateTimeField(read_only=True)
    updated_at = IsoZDateTimeField(read_only=True)


class StepTransitionSerializer(serializers.Serializer):
    """A transition names its steps by id, or by name within the same request."""

    id = serializers.UUIDField(required=False)
    source_step_id = serializers.UUIDField(required=False)
    target_step_id = serializers.UUIDField(required=False)
    source_step = StrictCharField(required=False, write_only=True, max_length=200)
    target_step = StrictCharField(required=False, write_only=True, max_length=200)
    label = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=200, default=None)

    def validate(self, attrs):
        errors = {}
        for end in ("source", "target"):
            if f"{end}_step_id" not in attrs and f"{end}_step" not in attrs:
                errors[f"{end}_step_id"] = [f"Give {end}_step_id or {end}_step (a step name)."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class FlowVersionSerializer(serializers.Serializer):
    """A version with its whole graph, validated as a whole and written in one transaction."""

    id = serializers.UUIDField(required=False)
    flow_id = serializers.UUIDField(read_only=True)
    steps = StepSerializer(many=True, allow_empty=False, max_length=500)
    step_transitions = StepTransitionSerializer(many=True, required=False, default=list, max_length=2000)
    created_at = IsoZDateTimeField(read_only=True)
    updated_at = IsoZDateTimeField(read_only=True)

    def validate(self, attrs):
        steps, transitions = attrs["steps"], attrs["step_transitions"]
        errors = {}
        starts = rules.start_steps(step["step_type"] for step in steps)
        if len(starts) != 1:
            errors["steps"] = [f"A version needs exactly one START step; this one has {len(starts)}."]
        step_errors = [{} for _ in steps]
        for index in rules.repeated(enumerate(step["name"] for step in steps)):
            step_errors[index]["name"] = ["Step names must be unique within a version."]
        for index in rules.repeated((index, step["id"]) for index, step in enumerate(steps) if "id" in step):
            step_errors[index]["id"] = ["Step ids must be unique within a version."]
        if any(step_errors):
            errors["steps"] = step_errors
        # A transition names each end by id, or else by name (the last step of that id or name).
        by_id = {step["id"]: step for step in steps if "id" in step}
        by_name = {step["name"]: step for step in steps}
        ends = []
        for index, transition in enumerate(transitions):
            for end in ("source", "target"):
                key, steps_by = (f"{end}_step_id", by_id) if f"{end}_step_id" in transition else (f"{end}_step", by_name)
                ends.append(((index, end, key), transition[key], steps_by))
        stray = set(rules.outside(ends))
        transition_errors = [{} for _ in transitions]
        for (index, end, key), reference, steps_by in ends:
            if (index, end, key) not in stray:
                transitions[index][f"_{end}"] = steps_by[reference]  # the step write_graph joins
            elif steps_by is by_id:
                transition_errors[index][key] = ["Not a step of this version."]
            else:
                transition_errors[index][key] = ["No step of this version has this name."]
        if any(transition_errors):
            errors["step_transitions"] = transition_errors
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def to_representation(self, instance):
        return SessionRenderer().flow_version(instance)


class LiveFlowSessionStepSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    status = serializers.ChoiceField(choices=SessionStatus.choices, read_only=True)
    prompt = serializers.JSONField(read_only=True, allow_null=True)
    result = serializers.CharField(read_only=True, allow_null=True)
    error = serializers.CharField(read_only=True, allow_null=True)
    user_input = serializers.CharField(read_only=True, allow_null=True)
    step = StepSerializer(read_only=True)
    created_at = IsoZDateTimeField(read_only=True)
    updated_at = IsoZDateTimeField(read_only=True)


class LiveFlowSessionSerializer(serializers.Serializer):
    """LiveFlowSessionRead; on POST only ``inputs`` is read."""

    id = serializers.UUIDField(read_only=True)
    steps_count = serializers.IntegerField(read_only=True)
    inputs = JSONObjectField(required=False, default=dict)
    error = serializers.CharField(read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=SessionStatus.choices, read_only=True)
    flow_version = FlowVersionSerializer(read_only=True)
    created_at = IsoZDateTimeField(read_only=True)
    updated_at = IsoZDateTimeField(read_only=True)
    current_step = LiveFlowSessionStepSerializer(read_only=True, allow_null=True)
    steps = LiveFlowSessionStepSerializer(many=True, read_only=True)

    def to_representation(self, instance):
        renderer = self.context.get("renderer") or SessionRenderer()
        return renderer.session(instance)


class UserInputSerializer(serializers.Serializer):
    """The body of POST .../sessions/{id}/user_input/."""

    user_input = StrictCharField(allow_blank=True, max_length=100_000)


# An ``id`` the client may choose when creating, and never change afterwards. (No docstring: the
# schema would take it for the serializers' description.)
class ChosenIdMixin:
    id_of = None  # how the messages name the object: "flow", "live flow"

    def validate_id(self, value):
        if self.instance is not None and value != self.instance.id:
            raise serializers.ValidationError(f"The id of an existing {self.id_of} cannot change.")
        if self.instance is None and self.Meta.model.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"A {self.id_of} with this id already exists.")
        return value


class FlowSerializer(ChosenIdMixin, StrictModelSerializer):
    id_of = "flow"

    id = serializers.UUIDField(required=False)
    organisation_id = serializers.CharField(source="organization_id", read_only=True)
    versions_count = serializers.IntegerField(read_only=True, default=0)  # a new flow has none
    created_at = IsoZDateTimeField(read_only=True)
    updated_at = IsoZDateTimeField(read_only=True)

    class Meta:
        model = Flow
        fields = ["id", "organisation_id", "name", "description", "versions_count", "created_at", "updated_at"]
        extra_kwargs = {"name": {"required": True, "allow_blank": False}}


class LiveFlowSerializer(ChosenIdMixin, StrictModelSerializer):
    """The vendor's live flow as written: ``current_version`` named by id. Answers are LiveFlowRead
    (``current_version`` nested, ``sessions`` every session), written by flows.api.streaming."""

    id_of = "live flow"

    id = serializers.UUIDField(required=False)
    current_version = serializers.PrimaryKeyRelatedField(
        queryset=FlowVersion.objects.none(), allow_null=True, required=False
    )

    class Meta:
        model = LiveFlow
        fields = ["name", "description", "id", "current_version"]
        extra_kwargs = {"name": {"required": True, "allow_blank": False}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        organization = self.context.get("organization")
        if organization is not None:
            # Only versions of this organization's flows can be named; others read as "does not exist".
            self.fields["current_version"].queryset = FlowVersion.objects.filter(flow__organization=organization)

    def to_representation(self, instance):
        from flows.api.streaming import LiveFlowBody

        body = LiveFlowBody(LiveFlow.objects.filter(pk=instance.pk), SessionRenderer())
        return orjson.loads(b"".join(body.one()))


class LiveFlowReadSerializer(serializers.Serializer):
    """The shape a live flow is answered in (the schema's response; requests name a version by id)."""

    name = serializers.CharField()
    description = serializers.CharField()
    id = serializers.UUIDField()
    organisation_id = serializers.CharField()
    current_version = FlowVersionSerializer(allow_null=True)
    sessions = LiveFlowSessionSerializer(
        many=True, help_text="Every session of the live flow, newest first, as GET .../sessions lists them."
    )
    created_at = IsoZDateTimeField()
    updated_at = IsoZDateTimeField()
