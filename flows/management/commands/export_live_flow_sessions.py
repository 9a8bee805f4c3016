"""export_live_flow_sessions: a live flow's sessions as GET /live_flows/{id}/sessions answers them."""

import uuid

from django.core.management.base import CommandError

from flowdesk.exporting.command import ExportCommand
from flows.exporting import LiveFlowSessionsExport
from flows.models import LiveFlow, LiveFlowSession


class Command(ExportCommand):
    help = (
        "Export a live flow's sessions as the body of GET /live_flows/{id}/sessions (newest first), "
        "which import_live_flow_sessions reads back."
    )
    organization_flag = True

    def add_scope_arguments(self, parser):
        parser.add_argument("--live-flow", required=True, dest="live_flow", help="Live flow UUID.")

    def make_export(self, options, updated_after, updated_before):
        organization = self.organization(options)
        value = options["live_flow"]
        try:
            live_flow_id = uuid.UUID(value)
        except ValueError:
            raise CommandError(f"--live-flow: {value!r} is not a UUID.") from None
        if not LiveFlow.objects.filter(pk=live_flow_id, organization=organization).exists():
            raise CommandError(f"--live-flow: no live flow {value!r} in organization {organization.pk!r}.")
        self.scope = (str(live_flow_id), organization)
        return LiveFlowSessionsExport(
            LiveFlowSession.objects.filter(live_flow_id=live_flow_id),
            updated_after=updated_after, updated_before=updated_before,
        )
