from tests.flowdesk import test_schema as shared
from tests.flowdesk.test_schema import covers, keys_of, keys_of_example, list_response

from .conftest import fixture_records

schema = shared.schema  # the OpenAPI document, a module fixture


def test_session_list_schema_has_every_documented_key(schema):
    record = fixture_records()[0]  # every key filled, dialogue content nested
    covers(keys_of(schema, list_response(schema, "/session/")), keys_of_example([record]))


def test_write_operations_are_described(schema):
    paths = schema["paths"]
    ok = paths["/session/new/"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert keys_of(schema, ok) == {"sessionId": None}
    assert "200" in paths["/session/{session_id}/"]["delete"]["responses"]
    appended = paths["/session/{session_id}/dialogue/"]["post"]["responses"]["201"]["content"]["application/json"]
    assert set(keys_of(schema, appended["schema"])) == {"id", "contentType", "isUser", "content", "ui"}
