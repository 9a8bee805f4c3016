"""Prepared statements on PostgreSQL (config/settings.py): a connection plans each statement it runs
often once, then reuses the plan; DATABASE_PREPARED_STATEMENTS=false turns them off for a pooler
that cannot keep them."""

import pytest
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
