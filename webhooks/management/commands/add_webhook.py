from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from webhooks.event_types import EVENT_TYPES, unknown_event_types
from webhooks.models import WebhookEndpoint
from webhooks.targets import check_at_creation


class Command(BaseCommand):
    help = (
        "Add a webhook endpoint to an organization: Flowdesk POSTs the events it names to the URL, "
        "signed with a new secret (X-Flowdesk-Signature: sha256=<HMAC-SHA256 of the body>). The "
        "secret is printed once, alone, as the last line of standard output. Private and loopback "
        "addresses are refused unless FLOWDESK_WEBHOOK_ALLOW_PRIVATE=true. Events: " + ", ".join(EVENT_TYPES) + "."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization id (it must exist).")
        parser.add_argument("--url", required=True, help="The http:// or https:// URL to POST events to.")
        parser.add_argument("--events", required=True, metavar="E1,E2",
                            help="Comma-separated event types: " + ", ".join(EVENT_TYPES) + ".")
        parser.add_argument("--name", default="", help="A label to recognise the endpoint by.")

    def handle(self, *args, **options):
        organization = Organization.objects.filter(pk=options["org"]).first()
        if organization is None:
            raise CommandError(f"--org: there is no organization {options['org']!r}.")
        events = parse_events(options["events"])
        try:
            check_at_creation(options["url"])
            WebhookEndpoint._meta.get_field("url").run_validators(options["url"])
        except ValidationError as exc:
            raise CommandError(f"--url: {' '.join(exc.messages)}") from None
        if len(options["name"]) > WebhookEndpoint._meta.get_field("name").max_length:
            raise CommandError("--name: at most 200 characters.")
        endpoint = WebhookEndpoint.objects.create(
            organization=organization, url=options["url"], events=events, name=options["name"]
        )
        self.stderr.write(self.style.SUCCESS(
            f"Created webhook endpoint {endpoint.pk} in {organization.pk} for {', '.join(events)} to {endpoint.url}."
        ))
        self.stdout.write(endpoint.secret)


def parse_events(text):
    names = [name.strip() for name in text.split(",")]
    if not any(names) or not all(names):
        raise CommandError(f"--events: name event types separated by commas ({', '.join(EVENT_TYPES)}).")
    unknown = unknown_event_types(names)
    if unknown:
        raise CommandError(f"--events: unknown event type {', '.join(map(repr, unknown))}; "
                           f"known: {', '.join(EVENT_TYPES)}.")
    return list(dict.fromkeys(names))
