"""Prepared statements on PostgreSQL (config/settings.py): a connection plans each statement it runs
often once, then reuses the plan; DATABASE_PREPARED_STATEMENTS=false turns them off for a pooler
that cannot keep them."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from tests.conftest import settings_run

SCRIPT = """
from django.conf import settings
for alias, database in sorted(settings.DATABASES.items()):
    options = database.get("OPTIONS", {})
    print(alias, options.get("server_side_binding"), options.get("prepare_threshold"))
"""


def test_postgresql_and_its_replicas_prepare_statements_by_default():
    done = settings_run(SCRIPT, DATABASE_URL="postgres://u@db:5432/app", DATABASE_REPLICA_URLS="postgres://u@r0:5432/app")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["default True 5", "replica_0 True 5"]


def test_the_switch_turns_them_off_and_sqlite_never_has_them():
    done = settings_run(SCRIPT, DATABASE_URL="postgres://u@db:5432/app", DATABASE_PREPARED_STATEMENTS="false")
    assert (done.returncode, done.stdout) == (0, "default None None\n"), done.stderr
    done = settings_run(SCRIPT, DATABASE_URL="sqlite:////tmp/flowdesk-prepared.sqlite3")
    assert (done.returncode, done.stdout) == (0, "default None None\n"), done.stderr


def test_a_bad_switch_stops_start_up_naming_the_variable():
    done = settings_run(SCRIPT, DATABASE_URL="postgres://u@db:5432/app", DATABASE_PREPARED_STATEMENTS="sometimes")
    assert done.returncode != 0
    assert "ImproperlyConfigured: DATABASE_PREPARED_STATEMENTS must be one of" in done.stderr


@pytest.mark.postgres
def test_the_key_query_and_the_page_are_planned_once_per_connection(tenant):
    for _ in range(6):
        assert tenant.client.get("/v1/ai/workflow/chat/sessions?limit=5").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("accounts_apikey" in statement for statement in prepared), prepared
    assert any("chat_chatsession" in statement for statement in prepared), prepared


@pytest.mark.postgres
def test_an_import_prepares_nothing_while_it_runs_and_gives_the_connection_back_as_it_was(tenant, tmp_path,
                                                                                         monkeypatch):
    from chat.management.commands.import_chat_sessions import Command

    seen, resolve_scope = [], Command.resolve_scope

    def spy(self, options):
        seen.append(connection.connection.prepare_threshold)
        return resolve_scope(self, options)

    monkeypatch.setattr(Command, "resolve_scope", spy)
    path = tmp_path / "chats.json"
    path.write_text("[]")
    connection.ensure_connection()
    before = connection.connection.prepare_threshold
    call_command("import_chat_sessions", str(path), "--org", tenant.organization.pk, "--no-progress",
                 stdout=io.StringIO(), stderr=io.StringIO())
    assert (before, seen, connection.connection.prepare_threshold) == (5, [None], 5)
