"""Fixtures every family's tests share: tenants, keys and clients that send them."""

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import ApiKey, Membership, Organization, Workspace


@dataclass
class Tenant:
    organization: Organization
    workspace: Workspace
    user: object
    key: ApiKey
    raw_key: str
    client: APIClient


def make_tenant(org_id, username, workspace_id=None, header="Authorization"):
    organization = Organization.objects.create(pk=org_id, name=org_id)
    workspace = Workspace.objects.create(pk=workspace_id or f"ws_{org_id}", organization=organization)
    user = get_user_model().objects.create_user(username=username)
    Membership.objects.create(user=user, organization=organization)
    key, raw = ApiKey.generate(user=user, organization=organization, name="tests")
    return Tenant(organization, workspace, user, key, raw, key_client(raw, header))


def key_client(raw, header="Authorization"):
    """A client that sends `raw` in one of the three accepted credential headers."""
    client = APIClient()
    if header == "Authorization":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    elif header == "Api-key":
        client.credentials(HTTP_API_KEY=raw)
    elif header == "x-api-key":
        client.credentials(HTTP_X_API_KEY=raw)
    else:
        raise ValueError(header)
    return client


def at_once(threads_count, work):
    """``work(number)`` in ``threads_count`` threads released together, each on a database connection
    of its own; returns what they raised."""
    barrier = threading.Barrier(threads_count)
    raised = []

    def run(number):
        try:
            barrier.wait()
            work(number)
        except Exception as exc:  # noqa: BLE001 - returned, for the test's assertion
            raised.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(number,)) for number in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return raised


@pytest.fixture
def tenant(db):
    return make_tenant("org_u13TesTDumMyEe5P", "alice")


@pytest.fixture
def other_tenant(db):
    return make_tenant("org_0therTenant00001", "mallory")


@pytest.fixture
def anon():
    return APIClient()


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_webhook_sender_outlives_its_test():
    # A sender or sweep thread left running writes to the test database while the next test
    # reads it (SQLite's shared in-memory cache then refuses that test's query as locked).
    yield
    from webhooks.runner import stop_embedded_runner

    stop_embedded_runner()


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # Counters are keyed by API key id, and SQLite reuses ids after each test's rollback.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _user_session_answers_match_the_vendors_schemas(monkeypatch):
    # Every answer from a path under /session, in any test, is checked against the vendor's zod
    # schemas (tests/sessions_app/schemas/); APIClient goes through Client.request too.
    from django.test import Client

    from tests.user_session_schemas import check_response

    request = Client.request

    def checked_request(self, **kwargs):
        response = request(self, **kwargs)
        check_response(response)
        return response

    monkeypatch.setattr(Client, "request", checked_request)


@pytest.fixture
def heard():
    """Every event published while the test runs (flowdesk/events.py), in order."""
    from flowdesk import events

    received = []
    events.register_outlet(received.append)
    yield received
    events._outlets.remove(received.append)


def settings_run(script, **env):
    """``script`` run after django.setup() in a new Python with these variables (and none of the
    database's or replicas' from this environment): what start-up makes of the settings."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "FLOWDESK_REPLICA"))}
    environ.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + script],
                          cwd=Path(__file__).resolve().parents[1], env=environ, capture_output=True, text=True,
                          timeout=60)
