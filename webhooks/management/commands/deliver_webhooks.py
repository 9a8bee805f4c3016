from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from webhooks import delivery


class Command(BaseCommand):
    help = (
        "Send the webhook deliveries that are due and that no worker holds: retries left by a process "
        "that stopped, deliveries whose task was lost. Each gets one attempt; a failed one is retried "
        "later with back-off, as usual. With Celery (FLOWDESK_WEBHOOK_RUNNER=celery) the deliveries "
        "are sent to the workers; otherwise this command sends them itself. Run it from cron in the "
        "embedded mode, or after a restart."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="At most this many deliveries.")
        parser.add_argument("--dry-run", action="store_true", help="List the due deliveries, send nothing.")

    def handle(self, *args, **options):
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be 1 or more.")
        due = delivery.due_deliveries(limit=options["limit"])
        if options["dry_run"]:
            for delivery_id in due:
                self.stderr.write(f"delivery {delivery_id}")
            self.stdout.write(f"{len(due)} due deliveries; none sent (dry run)")
            return
        if settings.WEBHOOK_RUNNER == "celery":
            from webhooks.tasks import deliver_webhook

            for delivery_id in due:
                deliver_webhook.delay(delivery_id)
            self.stdout.write(f"{len(due)} due deliveries sent to the workers")
            return
        counts = {"delivered": 0, "retry": 0, "failed": 0}
        for delivery_id in due:
            outcome = delivery.attempt(delivery_id)
            self.stderr.write(f"delivery {delivery_id}: {outcome.kind}")
            if outcome.kind in counts:
                counts[outcome.kind] += 1
        self.stdout.write(
            f"{len(due)} due deliveries: delivered {counts['delivered']}, to retry {counts['retry']}, "
            f"failed {counts['failed']}"
        )
