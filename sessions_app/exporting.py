"""A user's sessions as GET /session answers them (sessions_data)."""

from flowdesk.exporting.export import Export
from sessions_app.api.serializers import sessions_data
from sessions_app.models import UserSession


class UserSessionsExport(Export):
    noun = ("user session", "user sessions")
    ordering = ("-updated_at", "-id")  # the list's: usersession_list_idx

    def render(self, pks):
        # Three queries a batch: the sessions, their dialogue items, their audio clips.
        return sessions_data(UserSession.objects.filter(pk__in=pks).order_by(*self.ordering))
