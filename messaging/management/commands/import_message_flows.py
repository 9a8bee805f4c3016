from accounts.importing import (
    CREATED,
    UNCHANGED,
    UPDATED,
    ImportCommand,
    RecordError,
    serializer_errors,
    sync_rows,
)
from accounts.models import Workspace
from messaging.api.serializers import ImportMessageFlowSerializer
from messaging.models import Agent, MessageFlow

# Written from every record; initiationMessage and __v only where the record carries them
# (the list body has neither), so a list export does not wipe what GET one had shown.
ALWAYS = [
    "workspace_id", "agent_id", "name", "direction", "description", "settings", "prompt",
    "is_active", "autopilot", "message_channel", "created_at", "updated_at",
]
OPTIONAL = ("initiation_message", "version")


class Command(ImportCommand):
    help = (
        "Import message flows from the body of GET /v1/api/message-flows (a JSON array, or JSON "
        "Lines). Each record's workspaceId names its workspace, created in --org when missing; "
        "the agents the flows name are created in their workspace when missing."
    )
    record_name = "message flow"

    def add_scope_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization id; created when missing.")

    def resolve_scope(self, options):
        return self.get_or_create_organization(options["org"])

    def parse_record(self, record, scope):
        return serializer_errors(ImportMessageFlowSerializer, record)

    def write_batch(self, batch, organization):
        try:
            return self._write(batch, organization)
        except RecordError as exc:
            # Refusals found while writing name the record by its _id, as parse errors do.
            parsed = dict(batch).get(exc.position)
            if parsed is not None:
                exc.label = f"_id {parsed['id']}"
            raise

    def _write(self, batch, organization):
        self._workspaces(batch, organization)
        agents = self._agents(batch)

        groups, origin = {}, {}
        for position, flow in batch:
            # The optional keys of POST take POST's defaults when a record leaves them out.
            values = {
                "description": None, "settings": {}, "is_active": True, "autopilot": False,
                **{name: flow[name] for name in ALWAYS if name in flow},
                "agent_id": agents[(flow["workspace_id"], flow["agent"])],
            }
            present = tuple(name for name in OPTIONAL if name in flow)
            values.update({name: flow[name] for name in present})
            groups.setdefault(present, {})[flow["id"]] = values
            origin[flow["id"]] = (position, "_id")

        def same_workspace(existing, values):
            if existing.workspace_id != values["workspace_id"]:
                return "a message flow with this _id already exists in another workspace"
            return None

        created, changed = set(), set()
        for present, rows in groups.items():
            new, updated = sync_rows(MessageFlow, rows, ALWAYS + list(present), check=same_workspace, origin=origin)
            created |= new
            changed |= updated
        return [
            CREATED if flow["id"] in created else UPDATED if flow["id"] in changed else UNCHANGED
            for _, flow in batch
        ]

    def _workspaces(self, batch, organization):
        """Each record's workspace: created in the organization when missing, refused in another."""
        wanted = {flow["workspace_id"] for _, flow in batch}
        existing = Workspace.objects.in_bulk(list(wanted))
        for position, flow in batch:
            workspace = existing.get(flow["workspace_id"])
            if workspace is not None and workspace.organization_id != organization.pk:
                raise RecordError(
                    "workspaceId",
                    f"workspace {flow['workspace_id']} belongs to another organization, not {organization.pk}",
                    position=position,
                )
        missing = sorted(wanted - set(existing))
        Workspace.objects.bulk_create(Workspace(pk=pk, organization=organization) for pk in missing)
        for pk in missing:
            self.note(f"Created workspace {pk} in organization {organization.pk}.")

    def _agents(self, batch):
        """(workspace id, agent id) -> Agent pk, creating the agents not yet known."""
        wanted = {(flow["workspace_id"], flow["agent"]) for _, flow in batch}

        def known():
            rows = Agent.objects.filter(
                workspace_id__in={ws for ws, _ in wanted}, agent_id__in={agent for _, agent in wanted}
            ).values_list("workspace_id", "agent_id", "pk")
            return {(ws, agent): pk for ws, agent, pk in rows if (ws, agent) in wanted}

        found = known()
        missing = wanted - set(found)
        if missing:
            Agent.objects.bulk_create(Agent(workspace_id=ws, agent_id=agent) for ws, agent in sorted(missing))
            found = known()
        return found
