"""On PostgreSQL, a batch in progress locks its own rows and nothing else: the same table takes
other writes and reads meanwhile, and only a write to a row of the batch waits."""

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from sessions_app.models import UserSession
from tests.retention.conftest import run

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_batch_locks_only_its_own_rows(monkeypatch, ours, theirs):
    from retention import apply

    run("set_retention", ours.organization.pk, "--user-sessions", "30")
    in_batch, go = threading.Event(), threading.Event()
    real = apply.delete_rows
    batch = []

    def held_open(queryset):
        if not in_batch.is_set():
            batch.extend(queryset.values_list("pk", flat=True))
            in_batch.set()
            assert go.wait(30)
        return real(queryset)

    monkeypatch.setattr(apply, "delete_rows", held_open)
    outcome = {}

    def apply_in_a_thread():
        try:
            outcome["out"] = run("apply_retention", "--batch-size", "2", "--no-progress")[0]
        finally:
            connections.close_all()

    worker = threading.Thread(target=apply_in_a_thread)
    worker.start()
    try:
        assert in_batch.wait(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        # The same table, meanwhile: another organization's row changed, a new row, a list read.
        with transaction.atomic():
            UserSession.objects.filter(pk=theirs.user["old"][0].pk).update(name="changed meanwhile")
            UserSession.objects.create(user=ours.tenant.user, organization=ours.organization, session_id="newDuringRun")
        assert len(theirs.tenant.client.get("/session").json()) == 11
        # A row of the batch waits for it (here: gives up after the lock timeout).
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            UserSession.objects.filter(pk=batch[0]).update(name="too late")
    finally:
        go.set()
        worker.join(60)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert outcome["out"] == "deleted 0 live flow sessions, 5 user sessions, 0 chat sessions\n"
    assert UserSession.objects.filter(session_id="newDuringRun").exists()
    assert UserSession.objects.get(pk=theirs.user["old"][0].pk).name == "changed meanwhile"
