"""Writing a batch of imported message flows: their workspaces, their agents, then the flows."""

from accounts.models import Workspace
from flowdesk.importing.command import CREATED, UNCHANGED, UPDATED, RecordError
from flowdesk.importing.rows import sync_new_rows
from messaging import services
from messaging.models import Agent, MessageFlow, default_settings

# Written from every record; initiationMessage and __v only where the record carries them
# (the list body has neither), so a list export does not wipe what GET one had shown. A new
# row that leaves them out gets the model's defaults, as a new instance would.
ALWAYS = [
    "workspace_id", "agent_id", "name", "direction", "description", "settings", "prompt",
    "is_active", "autopilot", "message_channel", "created_at", "updated_at",
]
OPTIONAL = ("initiation_message", "version")


def same_workspace(existing, values):
    if existing.workspace_id != values["workspace_id"]:
        return "a message flow with this _id already exists in another workspace"
    return None


class FlowWriter:
    """Writes the batches of one import into one organization.

    Known across batches (inside the import's transaction): workspaces checked to be the
    organization's, and agent pks by (workspace id, agent id). Two queries a batch fewer.
    """

    def __init__(self, organization, note):
        self.organization = organization
        self.note = note  # tells the user what was created on the way
        self.known_workspaces = set()
        self.known_agents = {}

    def write(self, batch):
        """(position, validated flow) pairs in; CREATED / UPDATED / UNCHANGED for each out."""
        self._workspaces(batch)
        agents = self._agents(batch)
        groups, origin = {}, {}
        for position, flow in batch:
            # The optional keys of POST take POST's defaults when a record leaves them out;
            # settings are kept exactly as given ({} stays {}).
            values = {
                "description": None, "is_active": True, "autopilot": False,
                **{name: flow[name] for name in ALWAYS if name in flow},
                "agent_id": agents[(flow["workspace_id"], flow["agent"])],
                "settings": flow["settings"] if "settings" in flow else default_settings(),
            }
            present = tuple(name for name in OPTIONAL if name in flow)
            values.update({name: flow[name] for name in present})
            # A batch repeating an id: the later record wins (or updates the earlier one's row).
            groups.setdefault(present, {})[flow["id"]] = values
            origin[flow["id"]] = (position, "_id")

        created, changed = set(), set()
        for present, rows in groups.items():
            # New flows go in with COPY straight from their values (PostgreSQL); the ids already
            # stored are compared, updated or refused.
            new, updated = sync_new_rows(
                MessageFlow, rows, ALWAYS + list(present), check=same_workspace, origin=origin
            )
            created |= new
            changed |= updated
        # Listeners hear the flows that changed; a history load of new ones is not news.
        for pk in changed:
            services.published(pk, self.organization.pk)
        return [
            CREATED if flow["id"] in created else UPDATED if flow["id"] in changed else UNCHANGED
            for _, flow in batch
        ]

    def _workspaces(self, batch):
        """Each record's workspace: created in the organization when missing, refused in another."""
        organization = self.organization
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
