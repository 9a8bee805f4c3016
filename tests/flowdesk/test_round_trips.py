"""Database round trips of an authenticated read, counted as production makes them.

The request goes through Django's WSGI handler with its request signals (the test client leaves
out the one that manages persistent connections), and every statement psycopg sends is counted,
Django's connection health check included.
"""

import io

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import RequestFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def served_get(path, headers):
    environ = RequestFactory()._base_environ(PATH_INFO=path, REQUEST_METHOD="GET", **headers)
    environ["wsgi.input"] = io.BytesIO()
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])

    body = b"".join(WSGIHandler()(environ, start_response))
    return answer["status"], body


@pytest.fixture
def statements(monkeypatch):
    sent = []
    execute = psycopg.Cursor.execute

    def counted(self, query, *args, **kwargs):
        sent.append(query if isinstance(query, str) else repr(query))
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    return sent


def test_an_authenticated_read_makes_two_round_trips(tenant, statements):
    from messaging.models import Agent, MessageFlow

    agent = Agent.objects.create(workspace=tenant.workspace, agent_id="agent_1")
    flow = MessageFlow.objects.create(
        workspace=tenant.workspace, agent=agent, name="Welcome", direction="outbound", prompt="Hi",
        message_channel="sms",
    )
    headers = {"HTTP_API_KEY": tenant.raw_key, "HTTP_X_WORKSPACE_ID": tenant.workspace.pk}
    for path in ("/v1/api/message-flows", f"/v1/api/message-flows/{flow.pk}"):
        assert served_get(path, headers)[0] == 200  # the worker's connection is open from here on
        for _ in range(2):
            before = len(statements)
            status, _ = served_get(path, headers)
            assert status == 200
            # The key with its membership and tenant, then the page: no health check in between.
            assert len(statements) - before == 2, statements[before:]
