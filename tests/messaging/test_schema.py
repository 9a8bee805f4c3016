import json
from pathlib import Path

from tests.flowdesk import test_schema as shared

schema = shared.schema  # the fixture: the generated OpenAPI schema, made once for the module

DOCUMENTED = json.loads((Path(__file__).resolve().parent.parent / "fixtures" / "message_flows.json").read_text())


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


def resolved(schema, node):
    while "$ref" in node or "allOf" in node:
        node = schema["components"]["schemas"][(node.get("$ref") or node["allOf"][0]["$ref"]).rsplit("/", 1)[1]]
    return node


def settings_keys(schema, node):
    """The nested documented keys of a settings schema: {key: sub-keys or None}."""
    node = resolved(schema, node)
    if "properties" not in node:
        return None
    return {name: settings_keys(schema, sub) for name, sub in node["properties"].items()}


WORKING_HOURS = {"enabled": None, "start": None, "end": None, "timezone": None, "outOfHoursMessage": None}


def test_schema_documents_toggle_autopilot(schema):
    operations = schema["paths"]["/v1/api/message-flows/{id}/toggle-autopilot/"]
    assert set(operations) == {"put"}
    put = operations["put"]
    # An optional, empty object: the body may be left out.
    assert put["requestBody"].get("required", False) is False
    assert put["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"
    answer = put["responses"]["200"]["content"]["application/json"]["schema"]
    assert list(properties(schema, answer["$ref"])) == [*DOCUMENTED[0], "initiationMessage", "__v"]
    assert {"400", "401", "403", "404"} <= set(put["responses"])
    assert next(p for p in put["parameters"] if p["name"] == "x-workspace-id")["required"] is True


def test_schema_documents_the_settings_sections(schema):
    one = schema["paths"]["/v1/api/message-flows/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]
    read = settings_keys(schema, properties(schema, one["schema"]["$ref"])["settings"])
    assert read == {
        "responseSettings": {"delay": None, "workingHours": WORKING_HOURS},
        "security": {"hipaaCompliance": None},
        "emailSettings": {"subjectLine": None, "signature": None},
    }
    # Writes take responseSettings nested or flat, on create and on both updates.
    for method, path in (("post", "/v1/api/message-flows/"), ("put", "/v1/api/message-flows/{id}/"),
                         ("patch", "/v1/api/message-flows/{id}/")):
        body = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        written = settings_keys(schema, properties(schema, body["$ref"])["settings"])
        assert written["responseSettings"] == {"delay": None, "workingHours": WORKING_HOURS, **WORKING_HOURS}, method
        assert written["security"] == {"hipaaCompliance": None}
