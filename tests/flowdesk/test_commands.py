"""The long commands' progress bar (flowdesk.commands.progress_bar): on a terminal's stderr only
(a log or a pipe would get every redraw), never with --no-progress."""

import io

import pytest
from django.core.management import call_command


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stderr", "flags", "drawn"),
    [(Terminal, [], True), (io.StringIO, [], False), (Terminal, ["--no-progress"], False)],
    ids=["terminal", "pipe", "no-progress"],
)
@pytest.mark.parametrize("command", ["import", "export", "apply_retention"])
def test_the_bar_is_drawn_on_a_terminal_only(tmp_path, stderr, flags, drawn, command):
    from accounts.models import Organization
    from retention.models import RetentionPolicy

    organization = Organization.objects.create(pk="org_bar", name="Bar")
    path = tmp_path / "chats.json"
    path.write_text("[]")
    args, bar = {
        "import": (["import_chat_sessions", str(path), "--org", organization.pk], f"importing {path}"),
        "export": (["export_chat_sessions", "--org", organization.pk, "-o", str(path)], "exporting chat sessions"),
        "apply_retention": (["apply_retention"], "org_bar: live flow sessions"),
    }[command]
    RetentionPolicy.objects.create(organization=organization, live_flow_sessions_days=30)
    out, err = io.StringIO(), stderr()
    call_command(*args, *flags, stdout=out, stderr=err)
    assert (bar in err.getvalue()) is drawn
