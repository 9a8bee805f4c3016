from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

import audit
from accounts.models import ApiKey, Workspace
from audit.models import Action
from flowdesk.importing.command import ImportCommand


class Command(BaseCommand):
    help = (
        "Create an API key for a user in an organization (optionally narrowed to one workspace). "
        "Creates the user, organization, workspace and membership when missing. The raw key is "
        "printed once, alone, as the last line of standard output; only its hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="Username; created when missing.")
        parser.add_argument("--org", required=True, help="Organization id; created when missing.")
        parser.add_argument("--workspace", help="Workspace id inside the organization; created when missing.")
        parser.add_argument("--name", default="", help="A label to recognise the key by.")

    def handle(self, *args, **options):
        # The scope helpers are the import commands' own: one way to create tenants from flags.
        helper = ImportCommand(stdout=self.stdout, stderr=self.stderr)
        with transaction.atomic():
            organization = helper.get_or_create_organization(options["org"])
            user = helper.get_or_create_user(options["user"], organization)
            workspace = None
            if options["workspace"]:
                workspace = Workspace.objects.filter(pk=options["workspace"]).first()
                if workspace is None:
                    workspace = Workspace.objects.create(
                        pk=options["workspace"], organization=organization, name=options["workspace"]
                    )
                    self.stderr.write(f"Created workspace {workspace.pk} in organization {organization.pk}.")
                elif workspace.organization_id != organization.pk:
                    raise CommandError(f"Workspace {workspace.pk} belongs to another organization.")
            key, raw = ApiKey.generate(user=user, organization=organization, workspace=workspace, name=options["name"])
            audit.record(Action.API_KEY_CREATE, actor="create_api_key", object_type="API key", object_id=key.prefix,
                         organization=organization, changes={"user": user.username, "name": key.name})
        self.stderr.write(self.style.SUCCESS(f"Created API key {key.prefix}… for {user.username} in {organization.pk}."))
        self.stdout.write(raw)
