"""Every path that names a workflow finds it by (organization, workflow id), the key that makes it unique."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import Role
from tests.chat.factories import HISTORY_URL, LIST_URL, chat

pytestmark = pytest.mark.django_db

WORKFLOW_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


@pytest.mark.postgres
@pytest.mark.parametrize("path", [f"{HISTORY_URL}?workflowId={WORKFLOW_ID}", f"{LIST_URL}/{WORKFLOW_ID}",
                                  f"{LIST_URL}?workflowId={WORKFLOW_ID}"])
def test_a_workflow_is_read_from_its_organizations_index(tenant, other_tenant, path):
    for _ in range(30):  # other workflows of this organization
        chat(tenant.organization, workflow_id=uuid.uuid4(), messages=[(Role.USER, "x")])
    chat(tenant.organization, workflow_id=WORKFLOW_ID, workflow_name="Mine")
    chat(other_tenant.organization, workflow_id=WORKFLOW_ID, workflow_name="Theirs")
    with CaptureQueriesContext(connection) as queries:
        response = tenant.client.get(path)
    assert response.status_code == 200
    assert "Theirs" not in response.content.decode()
    sql = queries.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # so few rows would let the planner scan them all
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        (plan,) = cursor.fetchone()
    nodes, stack = [], [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("Plans", []))
    # Not every workflow (chat) of the organization, one by one: the one, by its unique key.
    assert "chatworkflow_uuid_unique" in {node.get("Index Name") for node in nodes}, plan
