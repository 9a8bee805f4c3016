"""An import is a source of events too: the messages it adds to a chat that was already stored
reach that chat's listeners and webhooks, once, after the batch commits."""

import io
import json
import uuid

import pytest
from django.core.management import call_command

from chat.models import ChatMessage, Role
from tests.chat.factories import HISTORY_URL, chat

pytestmark = pytest.mark.django_db(transaction=True)


def exported(tenant):
    out = io.StringIO()
    call_command("export_chat_sessions", "--org", tenant.organization.pk, "--no-progress", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def imported(tenant, tmp_path, body):
    path = tmp_path / "chats.json"
    path.write_text(json.dumps(body))
    out = io.StringIO()
    call_command("import_chat_sessions", str(path), "--org", tenant.organization.pk, "--no-progress",
                 stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()[-1]


def test_messages_added_to_a_stored_chat_are_published_and_a_new_chats_are_not(tenant, heard, tmp_path):
    stored = chat(tenant.organization, messages=[(Role.USER, "First question")])
    body = exported(tenant)
    heard.clear()
    (item,) = body["data"]["items"]
    first = item["messages"][0]
    added = {**first, "id": str(uuid.uuid4()), "role": "assistant", "content": "An answer from the file",
             "createdAt": "2030-01-01T00:00:00.000Z"}
    item["messages"].append(added)
    other = {**item, "sessionId": "session_1700000000000_fromfile", "messages": [
        {**first, "id": str(uuid.uuid4()), "sessionId": "session_1700000000000_fromfile",
         "content": "A new chat's history"}]}
    body["data"]["items"].append(other)
    assert imported(tenant, tmp_path, body).startswith("created 1, updated 1")

    assert [(event.type, event.channel) for event in heard] == [("chat.message_created", f"chat_message:{added['id']}")]
    history = tenant.client.get(HISTORY_URL, {"sessionId": stored.session_id}).json()["data"]
    assert heard[0].data == next(m for m in history if m["id"] == added["id"])

    # The same file again changes nothing and says nothing.
    heard.clear()
    assert imported(tenant, tmp_path, body).startswith("created 0, updated 0")
    assert heard == []
    assert ChatMessage.objects.filter(session=stored).count() == 2
