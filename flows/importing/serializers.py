"""The live-flows import's serializers: one LiveFlowSessionRead, exactly as the list endpoint
returns it. They are the authority on a record: the fast path (fastpath.py) gives the same
validated data for the records it takes, and every error is worded here."""

from rest_framework import serializers

from flowdesk.api.fields import (
    IsoZDateTimeField,
    JSONObjectField,
    StrictCharField,
    StrictIntegerField,
)
from flows import rules
from flows.models import SessionStatus, StepType


def _text(**kwargs):
    return StrictCharField(allow_null=True, allow_blank=True, **kwargs)


class ImportStepSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = StrictCharField(max_length=200, allow_blank=True)
    step_type = serializers.ChoiceField(choices=StepType.choices)
    prompt_template = serializers.JSONField(allow_null=True)
    created_at = IsoZDateTimeField()
    updated_at = IsoZDateTimeField()


class ImportTransitionSerializer(serializers.Serializer):
    source_step_id = serializers.UUIDField()
    target_step_id = serializers.UUIDField()
    label = _text(max_length=200)
    id = serializers.UUIDField()


class ImportFlowVersionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    flow_id = serializers.UUIDField()
    steps = ImportStepSerializer(many=True)
    step_transitions = ImportTransitionSerializer(many=True)
    created_at = IsoZDateTimeField()
    updated_at = IsoZDateTimeField()

    def validate(self, attrs):
        steps = attrs["steps"]
        repeats = rules.repeated(enumerate(step["id"] for step in steps))
        if repeats:
            raise serializers.ValidationError({"steps": {repeats[0]: {"id": ["Duplicate step id."]}}})
        # At most one START (see flows/rules.py): a version sessions ran may have none.
        if len(rules.start_steps(step["step_type"] for step in steps)) > 1:
            raise serializers.ValidationError({"steps": ["A version has at most one START step."]})
        step_ids = {step["id"] for step in steps}
        ends = [
            ((index, end), transition[end], step_ids)
            for index, transition in enumerate(attrs["step_transitions"])
            for end in ("source_step_id", "target_step_id")
        ]
        stray = rules.outside(ends)
        if stray:
            index, end = stray[0]
            raise serializers.ValidationError({"step_transitions": {index: {end: ["Not a step of this flow version."]}}})
        return attrs


class ImportRecordedStepSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    prompt = serializers.JSONField(allow_null=True)
    result = _text()
    error = _text()
    user_input = _text()
    step = ImportStepSerializer()
    created_at = IsoZDateTimeField()
    updated_at = IsoZDateTimeField()


class ImportSessionSerializer(serializers.Serializer):
    """One LiveFlowSessionRead, exactly as the list endpoint returns it."""

    id = serializers.UUIDField()
    steps_count = StrictIntegerField(required=False, allow_null=True)  # derived; ignored
    inputs = JSONObjectField()
    error = _text()
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    flow_version = ImportFlowVersionSerializer()
    created_at = IsoZDateTimeField()
    updated_at = IsoZDateTimeField()
    current_step = ImportRecordedStepSerializer(allow_null=True)
    steps = ImportRecordedStepSerializer(many=True)

    def validate(self, attrs):
        version_steps = {s["id"] for s in attrs["flow_version"]["steps"]}
        recorded_ids = set()
        for index, recorded in enumerate(attrs["steps"]):
            if recorded["id"] in recorded_ids:
                raise serializers.ValidationError({"steps": {index: {"id": ["Duplicate recorded step id."]}}})
            recorded_ids.add(recorded["id"])
            if recorded["step"]["id"] not in version_steps:
                raise serializers.ValidationError(
                    {"steps": {index: {"step": {"id": ["Not a step of the session's flow_version."]}}}}
                )
        current = attrs["current_step"]
        if current is not None and current["id"] not in recorded_ids:
            raise serializers.ValidationError({"current_step": {"id": ["Not one of the session's steps."]}})
        return attrs
