"""export_message_flows: an organization's (or one workspace's) message flows as the list answers
them, each with its initiationMessage and __v."""

from django.core.management.base import CommandError

from accounts.models import Workspace
from flowdesk.exporting.command import ExportCommand
from messaging.exporting import MessageFlowsExport
from messaging.models import MessageFlow


class Command(ExportCommand):
    help = (
        "Export message flows as the body of GET /v1/api/message-flows (oldest first), each with GET "
        "one's initiationMessage and __v: one workspace's (--workspace), or every workspace's of the "
        "organization, a workspace after another. import_message_flows reads it back."
    )
    organization_flag = True

    def add_scope_arguments(self, parser):
        parser.add_argument("--workspace", help="Workspace id (of --org); default: every workspace of --org.")

    def make_export(self, options, updated_after, updated_before):
        organization = self.organization(options)
        flows = MessageFlow.objects.filter(workspace__organization=organization)
        if options["workspace"] is not None:
            if not Workspace.objects.filter(pk=options["workspace"], organization=organization).exists():
                raise CommandError(
                    f"--workspace: no workspace {options['workspace']!r} in organization {organization.pk!r}."
                )
            flows = MessageFlow.objects.filter(workspace_id=options["workspace"])
            self.scope = (options["workspace"], organization)
        return MessageFlowsExport(flows, updated_after=updated_after, updated_before=updated_before)
