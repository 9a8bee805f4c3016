from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from webhooks.models import Delivery, DeliveryAttempt, DeliveryState


class Command(BaseCommand):
    help = (
        "Delete delivered and failed webhook deliveries (with their attempts) older than --days days. "
        "Pending ones are kept whatever their age. Run it from cron to keep the delivery log small."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="Keep this many days of deliveries (30).")

    def handle(self, *args, **options):
        if options["days"] < 1:
            raise CommandError("--days must be 1 or more.")
        old = Delivery.objects.filter(
            state__in=[DeliveryState.DELIVERED, DeliveryState.FAILED],
            created_at__lt=timezone.now() - timedelta(days=options["days"]),
        )
        # Two DELETE statements: QuerySet.delete() would first load every old delivery, bodies and all,
        # to cascade to the attempts, which go first here instead.
        attempts = DeliveryAttempt.objects.filter(delivery__in=old.values("pk"))._raw_delete(old.db)
        deliveries = old._raw_delete(old.db)
        self.stdout.write(f"Deleted {deliveries} deliveries and {attempts} attempts")
