from django.db import connection

from accounts.models import Workspace
from flowdesk.importing.command import (
    CREATED,
    UNCHANGED,
    UPDATED,
    ImportCommand,
    RecordError,
    serializer_errors,
)
from flowdesk.importing.rows import sync_rows
from messaging import services
from messaging.api.serializers import ImportMessageFlowSerializer, well_formed_flow
from messaging.models import Agent, MessageFlow, default_settings

# Written from every record; initiationMessage and __v only where the record carries them
# (the list body has neither), so a list export does not wipe what GET one had shown.
ALWAYS = [
    "workspace_id", "agent_id", "name", "direction", "description", "settings", "prompt",
    "is_active", "autopilot", "message_channel", "created_at", "updated_at",
]
OPTIONAL = ("initiation_message", "version")
# A new row's columns for COPY, in this order (initiation_message and version: the model's defaults
# when the record leaves them out, as for a new instance).
COPY_COLUMNS = [
    "id", "workspace_id", "agent_id", "name", "direction", "description", "settings", "prompt",
    "initiation_message", "is_active", "autopilot", "message_channel", "created_at", "updated_at", "version",
]


def settings_of(flow):
    """A record's settings exactly as given ({} stays {}); POST's defaults when it has none."""
    return flow["settings"] if "settings" in flow else default_settings()


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
        # Known across batches (inside the import's transaction): workspaces checked to be the
        # organization's, and agent pks by (workspace id, agent id). Two queries a batch fewer.
        self.known_workspaces = set()
        self.known_agents = {}
        return self.get_or_create_organization(options["org"])

    def parse_record(self, record, scope):
        # A well-formed record is accepted in plain Python (the same validated data); anything
        # else goes to the serializer, which words the error.
        data = well_formed_flow(record)
        if data is None:
            data = serializer_errors(ImportMessageFlowSerializer, record)
        return data

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

        created = set()
        ids = [flow["id"] for _, flow in batch]
        if connection.vendor == "postgresql" and len(set(ids)) == len(ids):
            # New flows go in with COPY straight from their values; only the ids already stored
            # go through sync_rows (compared, updated or refused). A batch repeating an id keeps
            # the general path, where a later record updates the earlier one.
            stored = set(MessageFlow.objects.filter(pk__in=ids).values_list("pk", flat=True))
            created = self._copy_new([flow for _, flow in batch if flow["id"] not in stored], agents)
            batch_left = [(position, flow) for position, flow in batch if flow["id"] in stored]
        else:
            batch_left = batch

        groups, origin = {}, {}
        for position, flow in batch_left:
            # The optional keys of POST take POST's defaults when a record leaves them out.
            values = {
                "description": None, "is_active": True, "autopilot": False,
                **{name: flow[name] for name in ALWAYS if name in flow},
                "agent_id": agents[(flow["workspace_id"], flow["agent"])],
            }
            values["settings"] = settings_of(flow)
            present = tuple(name for name in OPTIONAL if name in flow)
            values.update({name: flow[name] for name in present})
            groups.setdefault(present, {})[flow["id"]] = values
            origin[flow["id"]] = (position, "_id")

        def same_workspace(existing, values):
            if existing.workspace_id != values["workspace_id"]:
                return "a message flow with this _id already exists in another workspace"
            return None

        changed = set()
        for present, rows in groups.items():
            new, updated = sync_rows(MessageFlow, rows, ALWAYS + list(present), check=same_workspace, origin=origin)
            created |= new
            changed |= updated
        # Listeners hear the flows that changed; a history load of new ones is not news.
        for pk in changed:
            services.published(pk, organization.pk)
        return [
            CREATED if flow["id"] in created else UPDATED if flow["id"] in changed else UNCHANGED
            for _, flow in batch
        ]

    def _copy_new(self, flows, agents):
        """COPY new flows (ids not stored); returns their ids."""
        if not flows:
            return set()
        settings_field = MessageFlow._meta.get_field("settings")
        quote = connection.ops.quote_name
        columns = ", ".join(quote(MessageFlow._meta.get_field(name).column) for name in COPY_COLUMNS)
        with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {quote(MessageFlow._meta.db_table)} ({columns}) FROM STDIN"
        ) as copy:
            for flow in flows:
                get = flow.get
                copy.write_row((
                    flow["id"], flow["workspace_id"], agents[(flow["workspace_id"], flow["agent"])], flow["name"],
                    flow["direction"], get("description"),
                    # What Django writes for a JSONField (json.dumps, as a model instance would).
                    settings_field.get_db_prep_save(settings_of(flow), connection),
                    flow["prompt"], get("initiation_message"), get("is_active", True), get("autopilot", False),
                    flow["message_channel"], flow["created_at"], flow["updated_at"], get("version", 0),
                ))
        return {flow["id"] for flow in flows}

    def _workspaces(self, batch, organization):
        """Each record's workspace: created in the organization when missing, refused in another."""
        wanted = {flow["workspace_id"] for _, flow in batch} - self.known_workspaces
        if not wanted:
            return
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
        self.known_workspaces |= wanted

    def _agents(self, batch):
        """(workspace id, agent id) -> Agent pk, creating the agents not yet known."""
        wanted = {(flow["workspace_id"], flow["agent"]) for _, flow in batch} - set(self.known_agents)
        if not wanted:
            return self.known_agents

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
        self.known_agents.update(found)
        return self.known_agents
