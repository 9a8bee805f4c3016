"""Chat conversations in the admin: a chat's messages follow it into another conversation, scoped to its organization."""

import pytest

from chat.models import ChatMessage, ChatSession, Conversation
from tests.admin.helpers import add_inline_row, admin_url, page_form_data

pytestmark = pytest.mark.django_db


def test_moving_a_chat_to_another_conversation_moves_its_messages(staff_client, mine):
    session = mine.objects[ChatSession]
    target = Conversation.objects.create(organization=mine.tenant.organization, conversation_id="conv_target")
    url = admin_url(ChatSession, "change", session.pk)
    data = page_form_data(staff_client.get(url))
    data["conversation"] = str(target.pk)
    add_inline_row(data, "messages", role="user", content="Added in the admin", tokens_used="", image_urls="[]",
                   created_at_0="2030-01-01", created_at_1="10:00:00")
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert set(ChatMessage.objects.filter(session=session).values_list("conversation", flat=True)) == {target.pk}
    history = mine.tenant.client.get("/v1/ai/workflow/chat/history?conversationId=conv_target").json()["data"]
    assert [m["content"] for m in history][-1] == "Added in the admin"
    assert len(history) == 3


def test_another_organizations_conversation_is_refused(admin_client_, mine, theirs):
    session = mine.objects[ChatSession]
    url = admin_url(ChatSession, "change", session.pk)
    data = page_form_data(admin_client_.get(url))
    data["conversation"] = str(theirs.objects[Conversation].pk)
    response = admin_client_.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["conversation"] == [
        "This conversation belongs to another organization."]
    session.refresh_from_db()
    assert session.conversation == mine.objects[Conversation]


def test_staff_see_only_their_organizations_conversations(staff_client, mine, theirs):
    response = staff_client.get(admin_url(Conversation, "changelist"))
    assert [c.conversation_id for c in response.context["cl"].result_list] == ["conv_alice"]
    assert staff_client.get(admin_url(Conversation, "change", theirs.objects[Conversation].pk)).status_code == 302


def test_a_message_edited_in_the_admin_keeps_its_sessions_conversation(staff_client, mine):
    message = mine.objects[ChatSession].messages.first()
    url = admin_url(ChatMessage, "change", message.pk)
    data = page_form_data(staff_client.get(url))
    data["content"] = "Edited"
    assert staff_client.post(url, data).status_code == 302
    message.refresh_from_db()
    assert (message.content, message.conversation) == ("Edited", mine.objects[Conversation])


@pytest.mark.django_db(transaction=True)
def test_a_message_added_in_the_admin_is_published_as_history_lists_it(staff_client, mine, heard):
    session = mine.objects[ChatSession]
    url = admin_url(ChatMessage, "add")
    data = page_form_data(staff_client.get(url))
    data.update({"session": str(session.pk), "role": "user", "content": "Added by staff"})
    assert staff_client.post(url, data).status_code == 302
    created = [event for event in heard if event.type == "chat.message_created"]
    assert [(event.organization_id, event.data["content"]) for event in created] == [
        (session.organization_id, "Added by staff")
    ]
    message = ChatMessage.objects.get(content="Added by staff")
    assert created[0].data["id"] == str(message.pk)
    assert created[0].data["sessionId"] == session.session_id
    # Editing it is no new message.
    change = admin_url(ChatMessage, "change", message.pk)
    edit = page_form_data(staff_client.get(change))
    edit["content"] = "Edited"
    assert staff_client.post(change, edit).status_code == 302
    assert len([event for event in heard if event.type == "chat.message_created"]) == 1


@pytest.mark.django_db(transaction=True)
def test_a_message_added_on_its_chats_page_is_published(staff_client, mine, heard):
    session = mine.objects[ChatSession]
    url = admin_url(ChatSession, "change", session.pk)
    data = add_inline_row(page_form_data(staff_client.get(url)), "messages", role="user", content="Inline one",
                          tokens_used="", image_urls="[]", created_at_0="2030-01-01", created_at_1="10:00:00")
    assert staff_client.post(url, data).status_code == 302
    created = [event for event in heard if event.type == "chat.message_created"]
    assert [event.data["content"] for event in created] == ["Inline one"]
    assert created[0].data["id"] == str(ChatMessage.objects.get(content="Inline one").pk)
