"""Live-flows family: the vendor's snake_case shapes.

Reads are rendered by plain functions (``*_data``): the session list renders thousands of
nested objects a page and DRF's field machinery costs several times the SQL. The Serializer
classes declare the same shapes for validation and the schema, and delegate to those functions.
"""

from rest_framework import serializers

from accounts.api.fields import IsoZDateTimeField, JSONObjectField, StrictCharField, iso_z
from accounts.api.serializers import StrictModelSerializer
from flows.models import Flow, FlowVersion, LiveFlow, SessionStatus, StepType

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


def session_step_data(recorded, step_json):
    return {
        "id": str(recorded.id),
        "status": recorded.status,
        "prompt": recorded.prompt,
        "result": recorded.result,
        "error": recorded.error,
        "user_input": recorded.user_input,
        "step": step_json,
        "created_at": iso_z(recorded.created_at),
        "updated_at": iso_z(recorded.updated_at),
    }


class SessionRenderer:
    """Renders sessions loaded by ``LiveFlowSession.objects.with_tree()``.

    A page of sessions usually shares one or two flow versions: each version (and each of its
    steps) is rendered once and the same dict is reused for every session that ran it.
    """

    def __init__(self):
        self._versions = {}
        self._steps = {}

    def version(self, version):
        data = self._versions.get(version.id)
        if data is None:
            steps = list(version.steps.all())
            for step in steps:
                self._steps[step.id] = step_data(step)
            data = flow_version_data(version, steps, version.transitions.all())
            data["steps"] = [self._steps[step.id] for step in steps]
            self._versions[version.id] = data
        return data

    def session(self, session):
        version_json = self.version(session.flow_version)
        recorded = [session_step_data(r, self._steps[r.step_id]) for r in session.steps.all()]
        current = None
        if session.current_step_id is not None:
            current = next((r for r in recorded if r["id"] == str(session.current_step_id)), None)
        return {
            "id": str(session.id),
            "steps_count": len(recorded),
            "inputs": session.inputs,
            "error": session.error,
            "status": session.status,
            "flow_version": version_json,
            "created_at": iso_z(session.created_at),
            "updated_at": iso_z(session.updated_at),
            "current_step": current,
            "steps": recorded,
        }


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
    """The vendor's live flow: ``current_version`` nested, ``sessions`` the number of sessions."""

    id = serializers.UUIDField(required=False)
    organisation_id = serializers.CharField(source="organization_id", read_only=True)
    current_version = serializers.PrimaryKeyRelatedField(
        queryset=FlowVersion.objects.none(), allow_null=True, required=False
    )
    sessions = serializers.IntegerField(source="sessions_total", read_only=True)

    class Meta:
        model = LiveFlow
        fields = ["name", "description", "id", "organisation_id", "current_version", "sessions"]
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
        version = instance.current_version
        return {
            "name": instance.name,
            "description": instance.description,
            "id": str(instance.id),
            "organisation_id": instance.organization_id,
            "current_version": (
                flow_version_data(version, version.steps.all(), version.transitions.all()) if version else None
            ),
            "sessions": getattr(instance, "sessions_total", 0),
            "created_at": iso_z(instance.created_at),
            "updated_at": iso_z(instance.updated_at),
        }


class LiveFlowReadSerializer(serializers.Serializer):
    """The shape LiveFlowSerializer renders (the schema's response; requests name a version by id)."""

    name = serializers.CharField()
    description = serializers.CharField()
    id = serializers.UUIDField()
    organisation_id = serializers.CharField()
    current_version = FlowVersionSerializer(allow_null=True)
    sessions = serializers.IntegerField(help_text="The number of the live flow's sessions.")
    created_at = IsoZDateTimeField()
    updated_at = IsoZDateTimeField()
