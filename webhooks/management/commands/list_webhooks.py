from django.core.management.base import BaseCommand

from webhooks.models import WebhookEndpoint


class Command(BaseCommand):
    help = "List webhook endpoints (id, organization, active, events, URL), one a line. Secrets are never shown."

    def add_arguments(self, parser):
        parser.add_argument("--org", help="Only this organization's endpoints.")

    def handle(self, *args, **options):
        endpoints = WebhookEndpoint.objects.order_by("organization_id", "created_at", "id")
        if options["org"]:
            endpoints = endpoints.filter(organization_id=options["org"])
        for endpoint in endpoints:
            state = "active" if endpoint.is_active else "inactive"
            name = f" ({endpoint.name})" if endpoint.name else ""
            self.stdout.write(
                f"{endpoint.pk}\t{endpoint.organization_id}\t{state}\t{','.join(endpoint.events)}\t{endpoint.url}{name}"
            )
