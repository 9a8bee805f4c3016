from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

import audit
from accounts.models import Organization
from audit.models import Action
from retention.models import MAX_DAYS, RetentionPolicy

# flag, option name, policy field
DAY_FLAGS = [
    ("--live-flow-sessions", "live_flow_sessions", "live_flow_sessions_days"),
    ("--user-sessions", "user_sessions", "user_sessions_days"),
    ("--chat-sessions", "chat_sessions", "chat_sessions_days"),
]
FOR_EVER = {"none", "forever", "for-ever"}


def parse_days(flag, value):
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        days = value
    elif isinstance(value, str) and value.strip().lower() in FOR_EVER:
        return None
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        days = int(value)
    else:
        raise CommandError(f"{flag}: {value!r} is not a number of days (a positive integer) nor none/forever.")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise CommandError(f"{flag}: {value!r} must be between 1 and {MAX_DAYS} days (or none/forever).")
    return days


class Command(BaseCommand):
    help = (
        "Set an organization's retention policy: how many days after their last activity apply_retention "
        "deletes its live flow sessions, user sessions and chat sessions (none or forever: kept for ever), "
        "and a hold that stops every deletion. Flags not given keep their value; with none, the policy is "
        "printed. Prints the resulting policy on one line."
    )

    def add_arguments(self, parser):
        parser.add_argument("org", metavar="ORG", help="Organization id.")
        for flag, _, _ in DAY_FLAGS:
            parser.add_argument(flag, metavar="D", help="Days to keep, or none/forever.")
        hold = parser.add_mutually_exclusive_group()
        hold.add_argument("--hold", dest="hold", action="store_true", default=None,
                          help="Hold: apply_retention deletes nothing of this organization.")
        hold.add_argument("--no-hold", dest="hold", action="store_false", help="Release the hold.")

    def handle(self, *args, **options):
        wanted = {field: parse_days(flag, options[name]) for flag, name, field in DAY_FLAGS if options[name] is not None}
        if options["hold"] is not None:
            wanted["hold"] = bool(options["hold"])
        with transaction.atomic():
            organization = Organization.objects.filter(pk=options["org"]).first()
            if organization is None:
                raise CommandError(f"ORG: no organization {options['org']!r}.")
            policy = RetentionPolicy.objects.select_for_update().filter(pk=organization.pk).first()
            if policy is None:
                policy = RetentionPolicy(organization=organization)
                if not wanted:  # nothing to set: the default, kept for ever, without a row for it
                    self.stdout.write(policy.summary())
                    return
                changes = wanted
            else:
                changes = {field: value for field, value in wanted.items() if getattr(policy, field) != value}
            for field, value in changes.items():
                setattr(policy, field, value)
            if changes:
                policy.save()
                audit.record(Action.RETENTION_POLICY, actor="set_retention", object_type="retention policy",
                             object_id=organization.pk, organization=organization, changes=changes)
        self.stdout.write(policy.summary())
