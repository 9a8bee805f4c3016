from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

import audit
from accounts.models import Organization
from audit.models import Action
from flowdesk.commands import add_progress_flag, progress_bar
from retention.apply import BATCH_SIZE, FAMILIES, PolicyHeld, apply_family
from retention.models import RetentionPolicy


class Command(BaseCommand):
    help = (
        "Delete the sessions each organization's retention policy no longer keeps (set_retention, or the "
        "admin), in batches of their own transaction: live flow sessions and user sessions by updated_at, "
        "chat sessions by their last message. Organizations without a policy, held organizations and held "
        "sessions are left alone. Ends with `deleted A live flow sessions, B user sessions, C chat sessions`."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="O", help="Only this organization (default: every one with a policy).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, metavar="N",
                            help=f"Sessions deleted per transaction ({BATCH_SIZE}).")
        add_progress_flag(parser)

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be 1 or more.")
        policies = RetentionPolicy.objects.select_related("organization").order_by("pk")
        if options["org"] is not None:
            if not Organization.objects.filter(pk=options["org"]).exists():
                raise CommandError(f"--org: no organization {options['org']!r}.")
            policies = policies.filter(pk=options["org"])
            if not policies.exists():
                self.stderr.write(f"{options['org']}: no retention policy, everything is kept.")
        dry_run = options["dry_run"]
        now = timezone.now()  # one cutoff per policy for the whole run
        totals = dict.fromkeys((family.key for family in FAMILIES), 0)
        for policy in policies:
            if policy.hold:
                self.stderr.write(f"{policy.pk}: on hold, nothing deleted.")
                if not dry_run:
                    audit.record(Action.RETENTION_APPLY, actor="apply_retention", object_type="organization",
                                 object_id=policy.pk, organization=policy.organization,
                                 changes={**dict.fromkeys((f.key for f in FAMILIES), 0), "held": True})
                continue
            counts = self.apply_policy(policy, now, dry_run, options)
            for key, count in counts.items():
                totals[key] += count
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(f"{verb} " + ", ".join(f"{totals[f.key]} {f.noun}" for f in FAMILIES))

    def apply_policy(self, policy, now, dry_run, options):
        counts = dict.fromkeys((family.key for family in FAMILIES), 0)
        try:
            for family in FAMILIES:
                days = getattr(policy, family.policy_field)
                if days is None:
                    continue
                bar = progress_bar(self, options, f"{policy.pk}: {family.noun}", " sessions")
                try:
                    batches = apply_family(family, policy.pk, now - timedelta(days=days), dry_run=dry_run,
                                           batch_size=options["batch_size"])
                    for done in batches:
                        counts[family.key] += done
                        bar.update(done)
                finally:
                    bar.close()
        except PolicyHeld:
            self.stderr.write(f"{policy.pk}: the policy was put on hold or changed during the run; stopped there.")
        except DatabaseError as exc:
            raise CommandError(
                f"{policy.pk}: the database refused a batch, which was rolled back (the batches before it "
                f"stay deleted: {self.describe(counts)}): {exc}"
            ) from None
        finally:
            if not dry_run:
                # Every run, zeros included; also after a failed batch: what the batches before it
                # deleted is on the record.
                audit.record(Action.RETENTION_APPLY, actor="apply_retention", object_type="organization",
                             object_id=policy.pk, organization=policy.organization, changes=counts)
        self.stderr.write(f"{policy.pk}: {'would delete' if dry_run else 'deleted'} {self.describe(counts)}")
        return counts

    @staticmethod
    def describe(counts):
        return ", ".join(f"{counts[f.key]} {f.noun}" for f in FAMILIES)
