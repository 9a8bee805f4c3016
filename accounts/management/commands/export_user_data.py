"""export_user_data: everything Flowdesk holds about one user, as one JSON object."""

import orjson
from django.core.management.base import BaseCommand, CommandError

import audit
from accounts.models import home_organization
from accounts.userdata import describe, user_data
from audit.models import Action
from flowdesk.exporting.command import user_flag


class Command(BaseCommand):
    help = (
        "Write one JSON object of everything Flowdesk holds about a user (a subject access request): "
        "user (account fields), memberships, api_keys (prefix, name, dates; never a hash or a key), "
        "user_sessions (the GET /session body), chat_messages (those they sent, in the history shape) "
        "and audit_events (those about them)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="Username.")
        parser.add_argument("-o", "--output", metavar="FILE", help="Write it here; default: standard output.")

    def handle(self, *args, **options):
        user = user_flag(options["user"])
        data = user_data(user)
        body = orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"
        if options["output"]:
            try:
                with open(options["output"], "wb") as out:
                    out.write(body)
            except OSError as exc:
                raise CommandError(f"--output: cannot write {options['output']!r}: {exc.strerror}.") from None
        else:
            self.stdout.write(body.decode(), ending="")
        audit.record(
            Action.USER_EXPORT, actor="export_user_data", object_type="user", object_id=user.get_username(),
            organization=home_organization(user), changes={"user_sessions": len(data["user_sessions"])},
        )
        counted = {kind: len(data[key]) for kind, key in (
            ("user sessions", "user_sessions"), ("chat messages", "chat_messages"), ("memberships", "memberships"),
            ("API keys", "api_keys"), ("audit events", "audit_events"),
        )}
        self.stderr.write(describe(user.get_username(), counted, verb="exported"))
