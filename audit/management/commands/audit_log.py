import orjson
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.models import Organization
from audit.models import AuditEvent
from flowdesk.api.fields import parse_iso

BATCH = 2000


class Command(BaseCommand):
    help = (
        "Print audit events as JSON lines, oldest first (at, actor, action, object_type, object_id, "
        "organization, organization_name, request_id, changes), for shipping to a log store."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", help="Only this organization's events.")
        parser.add_argument("--since", help="Only events at or after this ISO 8601 time (e.g. 2026-01-01T00:00:00Z).")
        parser.add_argument("--format", default="jsonl", help="jsonl (the only format: one event a line).")

    def handle(self, *args, **options):
        if options["format"] != "jsonl":
            raise CommandError(f"--format: {options['format']!r} is not a format; use jsonl.")
        events = AuditEvent.objects.all()
        if options["org"] is not None:
            # An organization that was deleted still has its events: only refuse ids never seen.
            org = options["org"]
            if not (Organization.objects.filter(pk=org).exists() or events.filter(organization_id=org).exists()):
                raise CommandError(f"--org: no organization {org!r}.")
            events = events.filter(organization_id=org)
        if options["since"] is not None:
            try:
                since = parse_iso(options["since"])
            except (ValueError, OverflowError):
                raise CommandError(f"--since: {options['since']!r} is not an ISO 8601 time.") from None
            events = events.filter(at__gte=since)
        # Keyset pages in (at, id) order: flat memory however long the trail.
        last = None
        while True:
            page = events.order_by("at", "id")
            if last is not None:
                page = page.filter(Q(at__gt=last[0]) | Q(at=last[0], id__gt=last[1]))
            batch = list(page[:BATCH])
            for item in batch:
                self.stdout.write(orjson.dumps(item.as_line()).decode())
            if len(batch) < BATCH:
                break
            last = (batch[-1].at, batch[-1].id)
