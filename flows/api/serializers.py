"""Live-flows family: the vendor's snake_case shapes.

Reads are rendered by plain functions (``*_data``): the session list renders thousands of
nested objects a page and DRF's field machinery costs several times the SQL. The Serializer
classes declare the same shapes for validation and the schema, and delegate to those functions.
"""

from datetime import UTC
from operator import attrgetter

import orjson
from rest_framework import serializers

from flowdesk.api.fields import IsoZDateTimeField, JSONObjectField, StrictCharField, iso_z
from flowdesk.api.serializers import StrictModelSerializer
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


def step_data(step):
    return {
        "id": str(step.id),
        "name": step.name,
        "step_type": step.step_type,
        "prompt_template": step.prompt_template,
        "created_at": iso_z(step.created_at),
        "updated_at": iso_z(step.updated_at),
    }


def transition_data(transition):
    return {
        "source_step_id": str(transition.source_step_id),
        "target_step_id": str(transition.target_step_id),
        "label": transition.label,
        "id": str(transition.id),
    }


def flow_version_data(version, steps, transitions):
    return {
        "id": str(version.id),
        "flow_id": str(version.flow_id),
        "steps": [step_data(step) for step in steps],
        "step_transitions": [transition_data(t) for t in transitions],
        "created_at": iso_z(version.created_at),
        "updated_at": iso_z(version.updated_at),
    }


# Columns the session renderer reads, in order: rows come from `.values_list()` (the list
# endpoint) or from model instances (one session, the admin) through the same getters.
SESSION_COLUMNS = ("id", "inputs", "error", "status", "current_step_id", "created_at", "updated_at", "flow_version_id")
VERSION_COLUMNS = ("id", "flow_id", "created_at", "updated_at")
STEP_COLUMNS = ("id", "name", "step_type", "prompt_template", "created_at", "updated_at")
TRANSITION_COLUMNS = ("source_step_id", "target_step_id", "label", "id")
RECORDED_COLUMNS = ("id", "status", "prompt", "result", "error", "user_input", "step_id", "created_at", "updated_at")

_session_row, _version_row, _step_row, _transition_row, _recorded_row = (
    attrgetter(*columns) for columns in (SESSION_COLUMNS, VERSION_COLUMNS, STEP_COLUMNS, TRANSITION_COLUMNS, RECORDED_COLUMNS)
)


def _iso_z(value):
    """iso_z, three times faster for what the database gives (UTC, year 1000 on): a page renders
    over a thousand timestamps. Anything else goes to iso_z itself."""
    if value is None or value.tzinfo is not UTC or value.year < 1000:
        return iso_z(value)
    text = value.isoformat()[:-6]  # without "+00:00"; the fraction only where there is one
    return (text.rstrip("0") if value.microsecond else text) + "Z"


def session_tree_rows(queryset):
    """What SessionRenderer.page reads, as plain rows rather than model instances, in four queries
    whatever the number of sessions: the sessions of ``queryset`` (filtered, ordered and sliced by
    the caller) with their versions' columns (a join), the versions' steps, their transitions and
    the sessions' recorded steps (each in its model's order)."""
    version_columns = [f"flow_version__{name}" for name in VERSION_COLUMNS]
    rows = list(queryset.prefetch_related(None).values_list(*SESSION_COLUMNS, *version_columns))
    if not rows:
        return [], [], {}, {}, {}
    width = len(SESSION_COLUMNS)
    sessions = [row[:width] for row in rows]
    versions = list({row[width]: row[width:] for row in rows}.values())
    version_ids = [row[0] for row in versions]
    return (
        sessions,
        versions,
        _grouped(Step.objects.filter(flow_version_id__in=version_ids), "flow_version_id", STEP_COLUMNS),
        _grouped(StepTransition.objects.filter(flow_version_id__in=version_ids), "flow_version_id", TRANSITION_COLUMNS),
        _grouped(LiveFlowSessionStep.objects.filter(session_id__in=[row[0] for row in sessions]), "session_id",
                 RECORDED_COLUMNS),
    )


def _grouped(queryset, key, columns):
    groups = {}
    for row in queryset.values_list(key, *columns):
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
                "created_at": _iso_z(step_created),
                "updated_at": _iso_z(step_updated),
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
            "created_at": _iso_z(created_at),
            "updated_at": _iso_z(updated_at),
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
                "created_at": _iso_z(r_created),
                "updated_at": _iso_z(r_updated),
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
            "created_at": _iso_z(created_at),
            "updated_at": _iso_z(updated_at),
            "current_step": current,
            "steps": recorded,
        }

    def session(self, session):
        """A session loaded by ``LiveFlowSession.objects.with_tree()``."""
        version = session.flow_version
        if version.id not in self._versions:
            self.add_version(
                _version_row(version), map(_step_row, version.steps.all()), map(_transition_row, version.transitions.all())
            )
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
        steps = attrs["steps"]
        errors = {}
        starts = [i for i, s in enumerate(steps) if s["step_type"] == StepType.START]
        if len(starts) != 1:
            errors["steps"] = [f"A version needs exactly one START step; this one has {len(starts)}."]
        by_name, by_id = {}, {}
        step_errors = [{} for _ in steps]
        for index, step in enumerate(steps):
            if step["name"] in by_name:
                step_errors[index]["name"] = ["Step names must be unique within a version."]
            by_name[step["name"]] = step
            if "id" in step:
                if step["id"] in by_id:
                    step_errors[index]["id"] = ["Step ids must be unique within a version."]
                by_id[step["id"]] = step
        if any(step_errors):
            errors["steps"] = step_errors
        transition_errors = [{} for _ in attrs["step_transitions"]]
        for index, transition in enumerate(attrs["step_transitions"]):
            for end in ("source", "target"):
                if f"{end}_step_id" in transition:
                    if transition[f"{end}_step_id"] not in by_id:
                        transition_errors[index][f"{end}_step_id"] = ["Not a step of this version."]
                    else:
                        transition[f"_{end}"] = by_id[transition[f"{end}_step_id"]]
                elif transition[f"{end}_step"] not in by_name:
                    transition_errors[index][f"{end}_step"] = ["No step of this version has this name."]
                else:
                    transition[f"_{end}"] = by_name[transition[f"{end}_step"]]
        if any(transition_errors):
            errors["step_transitions"] = transition_errors
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def to_representation(self, instance):
        return flow_version_data(instance, instance.steps.all(), instance.transitions.all())


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


class FlowSerializer(StrictModelSerializer):
    id = serializers.UUIDField(required=False)
    organisation_id = serializers.CharField(source="organization_id", read_only=True)
    versions_count = serializers.IntegerField(read_only=True, default=0)  # a new flow has none
    created_at = IsoZDateTimeField(read_only=True)
    updated_at = IsoZDateTimeField(read_only=True)

    class Meta:
        model = Flow
        fields = ["id", "organisation_id", "name", "description", "versions_count", "created_at", "updated_at"]
        extra_kwargs = {"name": {"required": True, "allow_blank": False}}

    def validate_id(self, value):
        if self.instance is not None and value != self.instance.id:
            raise serializers.ValidationError("The id of an existing flow cannot change.")
        if self.instance is None and Flow.objects.filter(pk=value).exists():
            raise serializers.ValidationError("A flow with this id already exists.")
        return value


class LiveFlowSerializer(StrictModelSerializer):
    """The vendor's live flow as written: ``current_version`` named by id. Answers are LiveFlowRead
    (``current_version`` nested, ``sessions`` every session), written by flows.api.streaming."""

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

    def validate_id(self, value):
        if self.instance is not None and value != self.instance.id:
            raise serializers.ValidationError("The id of an existing live flow cannot change.")
        if self.instance is None and LiveFlow.objects.filter(pk=value).exists():
            raise serializers.ValidationError("A live flow with this id already exists.")
        return value

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
