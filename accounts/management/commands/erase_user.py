"""erase_user: delete a user's account and everything Flowdesk holds about them."""

from django.core.management.base import BaseCommand, CommandError

from accounts.userdata import Held, describe, erase, holdings, holds
from flowdesk.exporting.command import user_flag


class Command(BaseCommand):
    help = (
        "Erase a user: their user sessions (dialogue items, audio clips), the chat messages they sent, "
        "API keys (which answer 401 from then on), memberships and account, in one transaction, "
        "recorded in the audit trail. Refused while a retention hold keeps any of it. --dry-run prints "
        "what would go (and any hold) and deletes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="Username.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be erased; delete nothing.")

    def handle(self, *args, **options):
        user = user_flag(options["user"])
        username = user.get_username()
        if options["dry_run"]:
            for reason in holds(user):
                self.stderr.write(f"held: {reason}")
            self.stdout.write(describe(username, holdings(user), verb="would erase"))
            return
        try:
            counts = erase(user, actor="erase_user")
        except Held as held:
            raise CommandError(str(held)) from None
        self.stdout.write(describe(username, counts))
