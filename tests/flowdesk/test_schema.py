import io
import json
import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

# The example bodies of the vendors' pages, kept with the tests so that a clone alone passes.
VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"


def vendor_example(name):
    return json.loads((VENDOR / name).read_text())


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        out = io.StringIO()
        call_command("spectacular", "--format", "openapi-json", stdout=out)
    return json.loads(out.getvalue())


def resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def keys_of(schema, node):
    """The nested key structure of a schema node: {key: substructure} / [item] / None for scalars."""
    node = resolve(schema, node)
    if "allOf" in node:
        node = resolve(schema, node["allOf"][0])
    if node.get("type") == "array":
        return [keys_of(schema, node["items"])]
    if "properties" in node:
        return {name: keys_of(schema, sub) for name, sub in node["properties"].items()}
    return None


def keys_of_example(value):
    if isinstance(value, list):
        return [keys_of_example(value[0])] if value else []
    if isinstance(value, dict):
        return {k: keys_of_example(v) for k, v in value.items()}
    return None


def covers(schema_keys, example_keys, path="$"):
    """Every key the vendor's example shows is in the schema, with the same nesting."""
    if isinstance(example_keys, dict):
        assert isinstance(schema_keys, dict), path
        for key, sub in example_keys.items():
            assert key in schema_keys, f"{path}.{key} missing from the schema"
            if sub not in (None, [], {}) and schema_keys[key] is not None:
                covers(schema_keys[key], sub, f"{path}.{key}")
    elif isinstance(example_keys, list) and example_keys:
        assert isinstance(schema_keys, list), path
        covers(schema_keys[0], example_keys[0], f"{path}[]")


def list_response(schema, path):
    return schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


def test_live_flow_session_list_schema_matches_vendor_page(schema):
    example = vendor_example("live_flow_sessions_list.json")
    covers(keys_of(schema, list_response(schema, "/live_flows/{live_flow_id}/sessions/")), keys_of_example(example))


def test_schema_and_docs_are_public_and_offline():
    client = APIClient()
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert yaml.safe_load(response.content)["openapi"].startswith("3.")
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert assets, "the docs page should load its assets from Flowdesk"
    assert not re.search(r'(?:src|href)="https?://', html)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_chat_session_list_schema_matches_vendor_page(schema):
    example = vendor_example("workflow_chat_sessions_list.json")
    covers(keys_of(schema, list_response(schema, "/v1/ai/workflow/chat/sessions/")), keys_of_example(example))


def test_message_flow_list_schema_matches_vendor_page(schema):
    example = vendor_example("message_flows_list.json")
    covers(keys_of(schema, list_response(schema, "/v1/api/message-flows/")), keys_of_example(example))


def test_schema_validates_without_warnings(django_db_blocker):
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
