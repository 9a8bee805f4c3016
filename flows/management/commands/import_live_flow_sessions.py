"""import_live_flow_sessions: the body of GET /live_flows/{id}/sessions into the database.

The flags and the writing are here; a record is validated by flows.importing (its fast path,
falling back to its serializers, which word every error)."""

import uuid

from django.core.management.base import CommandError
from django.db import connection

from flowdesk.importing.command import CREATED, UNCHANGED, UPDATED, ImportCommand
from flowdesk.importing.rows import sync_new_rows, sync_rows
from flows import live
from flows.api.serializers import (
    RECORDED_COLUMNS,
    SESSION_COLUMNS,
    STEP_COLUMNS,
    TRANSITION_COLUMNS,
    VERSION_COLUMNS,
)
from flows.importing.fastpath import SessionValidator
from flows.models import (
    Flow,
    FlowVersion,
    LiveFlow,
    LiveFlowSession,
    LiveFlowSessionStep,
    Step,
    StepTransition,
)

# A record is written to the columns SessionRenderer reads back (the import takes the list
# endpoint's body): the renderer's column lists, less the ids and links set here.
VERSION_VALUES = [name for name in VERSION_COLUMNS if name != "id"]
STEP_VALUES = [name for name in STEP_COLUMNS if name != "id"]
TRANSITION_VALUES = [name for name in TRANSITION_COLUMNS if name != "id"]
SESSION_VALUES = [name for name in SESSION_COLUMNS if name not in ("id", "current_step_id", "flow_version_id")]
RECORDED_VALUES = [name for name in RECORDED_COLUMNS if name not in ("id", "step_id")]


class Command(ImportCommand):
    help = (
        "Import live flow sessions from the body of GET /live_flows/{id}/sessions (a JSON array of "
        "LiveFlowSessionRead, or JSON Lines). Flows, versions, steps and transitions named by the "
        "sessions are created or updated with them."
    )
    record_name = "session"
    organization_flag = True

    def add_scope_arguments(self, parser):
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
            (1, version["id"], {k: version[k] for k in VERSION_VALUES}, "flow_version.id"),
        ]
        for index, step in enumerate(version["steps"]):
            values = {k: step[k] for k in STEP_VALUES}
            rows.append((2, step["id"], {"flow_version_id": version["id"], **values}, f"flow_version.steps.{index}.id"))
        for index, transition in enumerate(version["step_transitions"]):
            values = {k: transition[k] for k in TRANSITION_VALUES}
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
                **{k: session[k] for k in SESSION_VALUES},
            }
            origin[session["id"]] = (position, "id")
            for index, item in enumerate(session["steps"]):
                recorded[item["id"]] = {
                    "session_id": session["id"],
                    "flow_version_id": version["id"],
                    "step_id": item["step"]["id"],
                    **{k: item[k] for k in RECORDED_VALUES},
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
            FlowVersion, versions, [name for name in VERSION_VALUES if name != "flow_id"],
            check=owned("flow_id", lambda v: v["flow_id"], "this flow version belongs to another flow"),
            origin=origin,
        ))
        for result in (
            sync_rows(
                Step, steps, STEP_VALUES,
                check=owned("flow_version_id", lambda v: v["flow_version_id"], "this step belongs to another flow version"),
                origin=origin,
            ),
            sync_rows(
                StepTransition, transitions, TRANSITION_VALUES,
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
        # The stored statuses: a session whose status the file changes is a status change for webhooks.
        stored_status = dict(LiveFlowSession.objects.filter(pk__in=list(sessions)).values_list("pk", "status"))
        created_sessions, updated_sessions = sync_new_rows(
            LiveFlowSession, sessions, ["flow_version_id", *SESSION_VALUES],
            check=owned("live_flow_id", lambda v: v["live_flow_id"], "this session belongs to another live flow"),
            origin=origin,
        )
        changed_sessions = set(updated_sessions)
        for pk in set().union(*sync_new_rows(
            LiveFlowSessionStep, recorded, ["step_id", *RECORDED_VALUES],
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
                live.published(pk, status_changed=stored_status.get(pk, sessions[pk]["status"]) != sessions[pk]["status"])
        return outcomes
