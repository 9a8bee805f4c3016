import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

DOCUMENTED = json.loads((Path(__file__).resolve().parent.parent / "fixtures" / "message_flows.json").read_text())


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        out = io.StringIO()
        call_command("spectacular", "--format", "openapi-json", stdout=out)
    return json.loads(out.getvalue())


def properties(schema, ref):
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]


def test_schema_documents_every_vendor_key_and_the_workspace_header(schema):
    listing = schema["paths"]["/v1/api/message-flows/"]["get"]
    body = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["type"] == "array"
    assert list(properties(schema, body["items"]["$ref"])) == list(DOCUMENTED[0])
    assert {p["name"] for p in listing["parameters"] if p["in"] == "query"} == {
        "isActive", "autopilot", "messageChannel", "direction", "agent", "limit", "offset"
    }
    assert next(p for p in listing["parameters"] if p["name"] == "x-workspace-id")["required"] is True
    one = schema["paths"]["/v1/api/message-flows/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert list(properties(schema, one["schema"]["$ref"])) == [*DOCUMENTED[0], "initiationMessage", "__v"]
    put = schema["paths"]["/v1/api/message-flows/{id}/"]["put"]["requestBody"]["content"]["application/json"]
    assert set(properties(schema, put["schema"]["$ref"])) == {"description", "settings", "toggleAutopilot"}
