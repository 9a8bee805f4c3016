from django.core.management.base import BaseCommand, CommandError

from webhooks.models import WebhookEndpoint


class Command(BaseCommand):
    help = "Remove a webhook endpoint, with its deliveries and their log."

    def add_arguments(self, parser):
        parser.add_argument("endpoint", help="The endpoint's id (wh_…), as list_webhooks shows it.")
        parser.add_argument("--org", help="Refuse unless the endpoint belongs to this organization.")

    def handle(self, *args, **options):
        endpoints = WebhookEndpoint.objects.filter(pk=options["endpoint"])
        if options["org"]:
            endpoints = endpoints.filter(organization_id=options["org"])
        endpoint = endpoints.first()
        if endpoint is None:
            where = f" in organization {options['org']!r}" if options["org"] else ""
            raise CommandError(f"endpoint: there is no webhook endpoint {options['endpoint']!r}{where}.")
        endpoint.delete()
        self.stdout.write(f"Removed webhook endpoint {options['endpoint']}.")
