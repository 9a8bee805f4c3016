import uuid

from django.core.management.base import CommandError
from rest_framework import serializers

from accounts.api.fields import IsoZDateTimeField, JSONObjectField, StrictCharField, StrictIntegerField
from accounts.importing import CREATED, UNCHANGED, UPDATED, ImportCommand, serializer_errors, sync_rows
from flows.models import (
    Flow,
    FlowVersion,
    LiveFlow,
    LiveFlowSession,
    LiveFlowSessionStep,
    SessionStatus,
    Step,
    StepTransition,
    StepType,
)


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
        step_ids = set()
        for index, step in enumerate(attrs["steps"]):
            if step["id"] in step_ids:
                raise serializers.ValidationError({"steps": {index: {"id": ["Duplicate step id."]}}})
            step_ids.add(step["id"])
        starts = [s for s in attrs["steps"] if s["step_type"] == StepType.START]
        if len(starts) > 1:
            raise serializers.ValidationError({"steps": ["A version has at most one START step."]})
        for index, transition in enumerate(attrs["step_transitions"]):
            for end in ("source_step_id", "target_step_id"):
                if transition[end] not in step_ids:
                    raise serializers.ValidationError(
                        {"step_transitions": {index: {end: ["Not a step of this flow version."]}}}
                    )
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


class Command(ImportCommand):
    help = (
        "Import live flow sessions from the body of GET /live_flows/{id}/sessions (a JSON array of "
        "LiveFlowSessionRead, or JSON Lines). Flows, versions, steps and transitions named by the "
        "sessions are created or updated with them."
    )
    record_name = "session"

    def add_scope_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization id; created when missing.")
        parser.add_argument("--live-flow", required=True, dest="live_flow", help="Live flow UUID; created when missing.")

    def resolve_scope(self, options):
        try:
            live_flow_id = uuid.UUID(options["live_flow"])
        except ValueError:
            raise CommandError(f"--live-flow must be a UUID; got {options['live_flow']!r}.") from None
        organization = self.get_or_create_organization(options["org"])
        live_flow = LiveFlow.objects.filter(pk=live_flow_id).first()
        if live_flow is None:
            live_flow = LiveFlow.objects.create(
                pk=live_flow_id, organization=organization, name=f"Imported live flow {str(live_flow_id)[:8]}"
            )
            self.note(f"Created live flow {live_flow_id}.")
        elif live_flow.organization_id != organization.pk:
            raise CommandError(f"Live flow {live_flow_id} belongs to another organization.")
        return organization, live_flow

    def parse_record(self, record, scope):
        return serializer_errors(ImportSessionSerializer, record)

    def write_batch(self, batch, scope):
        organization, live_flow = scope
        flows, versions, steps, transitions, sessions, recorded = {}, {}, {}, {}, {}, {}
        origin = {}
        for position, session in batch:
            version = session["flow_version"]
            flows[version["flow_id"]] = {"organization_id": organization.pk}
            origin[version["flow_id"]] = (position, "flow_version.flow_id")
            versions[version["id"]] = {
                "flow_id": version["flow_id"],
                "created_at": version["created_at"],
                "updated_at": version["updated_at"],
            }
            origin[version["id"]] = (position, "flow_version.id")
            for index, step in enumerate(version["steps"]):
                steps[step["id"]] = {
                    "flow_version_id": version["id"],
                    **{k: step[k] for k in ("name", "step_type", "prompt_template", "created_at", "updated_at")},
                }
                origin[step["id"]] = (position, f"flow_version.steps.{index}.id")
            for index, transition in enumerate(version["step_transitions"]):
                transitions[transition["id"]] = {
                    "flow_version_id": version["id"],
                    "source_step_id": transition["source_step_id"],
                    "target_step_id": transition["target_step_id"],
                    "label": transition["label"],
                }
                origin[transition["id"]] = (position, f"flow_version.step_transitions.{index}.id")
            sessions[session["id"]] = {
                "live_flow_id": live_flow.pk,
                "flow_version_id": version["id"],
                **{k: session[k] for k in ("status", "inputs", "error", "created_at", "updated_at")},
            }
            origin[session["id"]] = (position, "id")
            for index, item in enumerate(session["steps"]):
                recorded[item["id"]] = {
                    "session_id": session["id"],
                    "flow_version_id": version["id"],
                    "step_id": item["step"]["id"],
                    **{
                        k: item[k]
                        for k in ("status", "prompt", "result", "error", "user_input", "created_at", "updated_at")
                    },
                }
                origin[item["id"]] = (position, f"steps.{index}.id")

        def owned(attr, expected_of, message):
            return lambda obj, values: message if getattr(obj, attr) != expected_of(values) else None

        sync_rows(
            Flow, flows, [],
            check=owned("organization_id", lambda v: v["organization_id"], "this flow belongs to another organization"),
            origin=origin,
        )
        changed_versions = set().union(*sync_rows(
            FlowVersion, versions, ["created_at", "updated_at"],
            check=owned("flow_id", lambda v: v["flow_id"], "this flow version belongs to another flow"),
            origin=origin,
        ))
        for result in (
            sync_rows(
                Step, steps, ["name", "step_type", "prompt_template", "created_at", "updated_at"],
                check=owned("flow_version_id", lambda v: v["flow_version_id"], "this step belongs to another flow version"),
                origin=origin,
            ),
            sync_rows(
                StepTransition, transitions, ["source_step_id", "target_step_id", "label"],
                check=owned("flow_version_id", lambda v: v["flow_version_id"],
                            "this transition belongs to another flow version"),
                origin=origin,
            ),
        ):
            for pk in set().union(*result):
                changed_versions.add((steps.get(pk) or transitions[pk])["flow_version_id"])

        session_fields = ["flow_version_id", "status", "inputs", "error", "created_at", "updated_at"]
        created_sessions, updated_sessions = sync_rows(
            LiveFlowSession, sessions, session_fields,
            check=owned("live_flow_id", lambda v: v["live_flow_id"], "this session belongs to another live flow"),
            origin=origin,
        )
        recorded_fields = ["step_id", "status", "prompt", "result", "error", "user_input", "created_at", "updated_at"]
        changed_sessions = set(updated_sessions)
        for pk in set().union(*sync_rows(
            LiveFlowSessionStep, recorded, recorded_fields,
            check=owned("session_id", lambda v: v["session_id"], "this recorded step belongs to another session"),
            origin=origin,
        )):
            changed_sessions.add(recorded[pk]["session_id"])
        # Steps the file no longer lists for these sessions go, so the session reads as the file.
        stale = LiveFlowSessionStep.objects.filter(session_id__in=list(sessions)).exclude(id__in=list(recorded))
        changed_sessions.update(stale.values_list("session_id", flat=True).distinct())
        stale.delete()

        wanted = {
            session["id"]: session["current_step"]["id"] if session["current_step"] else None for _, session in batch
        }
        to_update = [
            LiveFlowSession(pk=pk, current_step_id=wanted[pk])
            for pk, current in LiveFlowSession.objects.filter(pk__in=list(wanted)).values_list("pk", "current_step_id")
            if current != wanted[pk]
        ]
        LiveFlowSession.objects.bulk_update(to_update, ["current_step"], batch_size=500)
        changed_sessions.update(obj.pk for obj in to_update)

        if live_flow.current_version_id is None:
            live_flow.current_version_id = batch[-1][1]["flow_version"]["id"]
            live_flow.save(update_fields=["current_version"])

        outcomes = []
        for _, session in batch:
            pk = session["id"]
            if pk in created_sessions:
                outcomes.append(CREATED)
            elif pk in changed_sessions or session["flow_version"]["id"] in changed_versions:
                outcomes.append(UPDATED)
            else:
                outcomes.append(UNCHANGED)
        return outcomes
