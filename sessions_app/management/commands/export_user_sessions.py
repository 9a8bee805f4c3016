"""export_user_sessions: a user's sessions as GET /session answers them."""

from flowdesk.exporting.command import ExportCommand
from sessions_app.exporting import UserSessionsExport
from sessions_app.models import UserSession


class Command(ExportCommand):
    help = (
        "Export a user's sessions as the body of GET /session (most recently updated first), which "
        "import_user_sessions reads back."
    )

    def add_scope_arguments(self, parser):
        parser.add_argument("--user", required=True, help="Username owning the sessions.")

    def make_export(self, options, updated_after, updated_before):
        user = self.user(options["user"])
        # Every organization's: the list answers the user's sessions wherever they are stored.
        return UserSessionsExport(
            UserSession.objects.filter(user=user), updated_after=updated_after, updated_before=updated_before
        )
