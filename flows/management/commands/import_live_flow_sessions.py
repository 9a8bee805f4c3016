import uuid
from functools import partial

import orjson
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Field
from rest_framework import serializers

from flowdesk.api.fields import (
    IsoZDateTimeField,
    JSONObjectField,
    StrictCharField,
    StrictIntegerField,
)
from flowdesk.importing.command import (
    CREATED,
    UNCHANGED,
    UPDATED,
    ImportCommand,
    serializer_errors,
)
from flowdesk.importing.fastcheck import NotSure, text, when
from flowdesk.importing.rows import sync_rows
from flows import live
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



# --- the fast path ---------------------------------------------------------------------------
# Every session of a version repeats the whole version (steps, transitions) and nests the full
# step in each recorded step: through DRF that is 43 nested serializers and ~260 field
# validations a record, most of an import's time. SessionValidator validates each version once
# (remembered by id and exact bytes), takes a recorded step's `step` from it when identical, and
# checks the other fields in plain Python, accepting only what the serializer accepts and
# returning what it returns. Anything it cannot vouch for goes to ImportSessionSerializer, which
# stays the authority and words every error (field paths and messages as before).


_Unsure = NotSure
_nullable_text = partial(text, null=True)  # StrictCharField(allow_null=True, allow_blank=True)
_STATUSES = frozenset(SessionStatus.values)
_MISSING = object()


def _uuid(value):
    """UUIDField: a UUID string (ints and the rest go to the serializer)."""
    if type(value) is not str:
        raise _Unsure
    return uuid.UUID(value)


def _json(value):
    """JSONField: DRF runs json.dumps; whatever orjson writes (depth under 255, 64-bit ints), it does too."""
    orjson.dumps(value)
    return value


def _status(value):
    if type(value) is not str or value not in _STATUSES:
        raise _Unsure
    return value


class SessionValidator:
    """ImportSessionSerializer's validated data for a record, fast for the usual records."""

    MAX_VERSIONS = 1000  # remembered at once; a file naming more is validated all the same

    def __init__(self):
        self.serializer = ImportSessionSerializer()
        self.version_field = self.serializer.fields["flow_version"]
        self.step_field = self.serializer.fields["steps"].child.fields["step"]
        self.versions = {}  # version id as written -> (bytes, validated, raw steps by id, validated steps by id)

    def __call__(self, record):
        try:
            return self.fast(record)
        except Exception:  # noqa: BLE001 - any doubt: the serializer decides (and words the error)
            pass
        return serializer_errors(ImportSessionSerializer, record)

    def version(self, raw):
        if type(raw) is not dict:
            raise _Unsure
        data = orjson.dumps(raw)
        entry = self.versions.get(raw.get("id"))
        if entry is None or entry[0] != data:
            validated = self.version_field.run_validation(raw)
            raw_steps = {step["id"]: step for step in raw["steps"]}
            valid_steps = {step["id"]: valid for step, valid in zip(raw["steps"], validated["steps"], strict=True)}
            entry = (data, validated, raw_steps, valid_steps, {step["id"] for step in validated["steps"]})
            if len(self.versions) >= self.MAX_VERSIONS:
                self.versions.clear()
            self.versions[raw["id"]] = entry
        return entry

    def recorded(self, raw, raw_steps, valid_steps):
        if type(raw) is not dict:
            raise _Unsure
        raw_step = raw["step"]
        step = valid_steps.get(raw_step["id"]) if type(raw_step) is dict else None
        if step is None or raw_step != raw_steps[raw_step["id"]]:
            step = self.step_field.run_validation(raw_step)
        return {
            "id": _uuid(raw["id"]),
            "status": _status(raw["status"]),
            "prompt": _json(raw["prompt"]),
            "result": _nullable_text(raw["result"]),
            "error": _nullable_text(raw["error"]),
            "user_input": _nullable_text(raw["user_input"]),
            "step": step,
            "created_at": when(raw["created_at"]),
            "updated_at": when(raw["updated_at"]),
        }

    def fast(self, record):
        _, version, raw_steps, valid_steps, version_step_ids = self.version(record["flow_version"])
        data = {"id": _uuid(record["id"])}
        steps_count = record.get("steps_count", _MISSING)
        if steps_count is not _MISSING:
            if steps_count is not None and (type(steps_count) is not int or not -(2**63) < steps_count < 2**63):
                raise _Unsure
            data["steps_count"] = steps_count
        inputs = record["inputs"]
        if type(inputs) is not dict:
            raise _Unsure
        data["inputs"] = _json(inputs)
        data["error"] = _nullable_text(record["error"])
        data["status"] = _status(record["status"])
        data["flow_version"] = version
        data["created_at"] = when(record["created_at"])
        data["updated_at"] = when(record["updated_at"])
        current = record["current_step"]
        data["current_step"] = None if current is None else self.recorded(current, raw_steps, valid_steps)
        if type(record["steps"]) is not list:
            raise _Unsure
        data["steps"] = steps = [self.recorded(item, raw_steps, valid_steps) for item in record["steps"]]
        # ImportSessionSerializer.validate
        recorded_ids = {item["id"] for item in steps}
        if len(recorded_ids) != len(steps) or any(item["step"]["id"] not in version_step_ids for item in steps):
            raise _Unsure
        if current is not None and data["current_step"]["id"] not in recorded_ids:
            raise _Unsure
        return data


# --- writing ---------------------------------------------------------------------------------


def sync_new_rows(model, rows, fields, *, check, origin):
    """``sync_rows``, with the rows that are new (nearly all of a first import) found and written
    in bulk on PostgreSQL: one ``= ANY(%s)`` query says which ids exist (an IN list of thousands of
    placeholders costs more to build than to run), and the new rows go in with COPY from plain
    tuples, without a model instance each. Existing rows go through ``sync_rows`` as before."""
    if connection.vendor != "postgresql":
        return sync_rows(model, rows, fields, check=check, origin=origin)
    present = existing_ids(model, rows)
    created, updated = sync_rows(
        model, {pk: values for pk, values in rows.items() if pk in present}, fields, check=check, origin=origin
    )
    new = {pk: values for pk, values in rows.items() if pk not in present}
    copy_rows(model, new)
    return created | set(new), updated


def existing_ids(model, pks):
    quote = connection.ops.quote_name
    pk = quote(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk} FROM {quote(model._meta.db_table)} WHERE {pk} = ANY(%s)", [list(pks)])
        return {row[0] for row in cursor.fetchall()}


# Fields whose db value is the validated Python value itself (UUID, aware datetime, str, int):
# get_db_prep_save returns it unchanged on PostgreSQL, so COPY takes it as it is.
_AS_IS = {"UUIDField", "ForeignKey", "DateTimeField", "CharField", "TextField", "PositiveSmallIntegerField"}


def copy_rows(model, rows):
    """COPY new rows (pk -> {attname: value}); fields a row does not carry get their defaults."""
    if not rows:
        return
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the proxy costs a lookup per attribute
    carried = next(iter(rows.values()))
    columns = []  # (attname, None) | (attname, prep) | (None, constant) | (None, field): a callable default
    for field in model._meta.concrete_fields:
        if field.primary_key:
            columns.append(("pk", None))
        elif field.attname in carried:
            as_is = field.get_internal_type() in _AS_IS
            columns.append((field.attname, None if as_is else partial(field.get_db_prep_save, connection=db)))
        elif field.has_default() and callable(field.default):
            columns.append((None, field))
        else:
            columns.append((None, field.get_db_prep_save(field.get_default(), db)))
    names = ", ".join(db.ops.quote_name(field.column) for field in model._meta.concrete_fields)
    with db.cursor() as cursor, cursor.cursor.copy(f"COPY {db.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN") as copy:
        for pk, values in rows.items():
            row = []
            for attname, how in columns:
                if attname is None:
                    row.append(how.get_db_prep_save(how.get_default(), db) if isinstance(how, Field) else how)
                elif attname == "pk":
                    row.append(pk)
                else:
                    row.append(values[attname] if how is None else how(values[attname]))
            copy.write_row(row)

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
        self.validator = SessionValidator()  # one per run: what it remembers comes from this file
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
        return self.validator(record)

    @staticmethod
    def version_rows(version, organization):
        """(table, pk, values, field path) of a validated version: 0 flows, 1 versions, 2 steps, 3 transitions."""
        rows = [
            (0, version["flow_id"], {"organization_id": organization.pk}, "flow_version.flow_id"),
            (1, version["id"], {k: version[k] for k in ("flow_id", "created_at", "updated_at")}, "flow_version.id"),
        ]
        for index, step in enumerate(version["steps"]):
            values = {k: step[k] for k in ("name", "step_type", "prompt_template", "created_at", "updated_at")}
            rows.append((2, step["id"], {"flow_version_id": version["id"], **values}, f"flow_version.steps.{index}.id"))
        for index, transition in enumerate(version["step_transitions"]):
            values = {k: transition[k] for k in ("source_step_id", "target_step_id", "label")}
            rows.append((3, transition["id"], {"flow_version_id": version["id"], **values},
                         f"flow_version.step_transitions.{index}.id"))
        return rows

    def write_batch(self, batch, scope):
        organization, live_flow = scope
        flows, versions, steps, transitions, sessions, recorded = {}, {}, {}, {}, {}, {}
        origin = {}
        version_rows = {}  # id(validated version) -> its rows: the sessions of a version share one
        for position, session in batch:
            version = session["flow_version"]
            rows = version_rows.get(id(version))
            if rows is None:
                rows = version_rows[id(version)] = self.version_rows(version, organization)
            for table, pk, values, path in rows:
                table = (flows, versions, steps, transitions)[table]
                table[pk] = values
                origin[pk] = (position, path)
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

        wanted = {
            session["id"]: session["current_step"]["id"] if session["current_step"] else None for _, session in batch
        }
        # PostgreSQL checks keys at commit, so a new session can name its current step (recorded
        # below) as it goes in; SQLite's trigger checks at once, so it is set once the steps exist.
        current_at_insert = connection.vendor == "postgresql"
        if current_at_insert:
            for pk, values in sessions.items():
                values["current_step_id"] = wanted[pk]
        session_fields = ["flow_version_id", "status", "inputs", "error", "created_at", "updated_at"]
        created_sessions, updated_sessions = sync_new_rows(
            LiveFlowSession, sessions, session_fields,
            check=owned("live_flow_id", lambda v: v["live_flow_id"], "this session belongs to another live flow"),
            origin=origin,
        )
        recorded_fields = ["step_id", "status", "prompt", "result", "error", "user_input", "created_at", "updated_at"]
        changed_sessions = set(updated_sessions)
        for pk in set().union(*sync_new_rows(
            LiveFlowSessionStep, recorded, recorded_fields,
            check=owned("session_id", lambda v: v["session_id"], "this recorded step belongs to another session"),
            origin=origin,
        )):
            changed_sessions.add(recorded[pk]["session_id"])
        # Steps the file no longer lists for these sessions go, so the session reads as the file.
        # A session created just now has only the steps just recorded.
        earlier = [pk for pk in sessions if pk not in created_sessions]
        if earlier:
            kept = [pk for pk, values in recorded.items() if values["session_id"] not in created_sessions]
            stale = LiveFlowSessionStep.objects.filter(session_id__in=earlier).exclude(id__in=kept)
            changed_sessions.update(stale.values_list("session_id", flat=True).distinct())
            stale.delete()

        to_check = [pk for pk in wanted if not (current_at_insert and pk in created_sessions)]
        to_update = [
            LiveFlowSession(pk=pk, current_step_id=wanted[pk])
            for pk, current in LiveFlowSession.objects.filter(pk__in=to_check).values_list("pk", "current_step_id")
            if current != wanted[pk]
        ] if to_check else []
        LiveFlowSession.objects.bulk_update(to_update, ["current_step"], batch_size=500)
        changed_sessions.update(obj.pk for obj in to_update)

        if live_flow.current_version_id is None:
            live_flow.current_version_id = batch[-1][1]["flow_version"]["id"]
            live_flow.save(update_fields=["current_version"])

        outcomes, updated = [], []
        for _, session in batch:
            pk = session["id"]
            if pk in created_sessions:
                outcomes.append(CREATED)
            elif pk in changed_sessions or session["flow_version"]["id"] in changed_versions:
                outcomes.append(UPDATED)
                updated.append(pk)
            else:
                outcomes.append(UNCHANGED)
        if updated:
            # COPY and bulk updates send no signals: a watched session's stream hears it here.
            live.changed(updated)
            for pk in updated:
                live.published(pk)
        return outcomes
