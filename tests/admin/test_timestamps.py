"""Saving an admin page as it was rendered keeps its timestamps to the microsecond: the time box
shows them (it used to drop them, and every save moved a chat's messages and its activity)."""

import re
from datetime import timedelta

import pytest

from chat.models import ChatMessage, ChatSession
from tests.admin.conftest import AT
from tests.admin.helpers import admin_url, page_form_data

pytestmark = pytest.mark.django_db


def rendered_inputs(html):
    """name -> value of every text input as the browser would send it back."""
    return dict(re.findall(r'<input type="text" name="([^"]+)" value="([^"]*)"', html))


def test_a_chat_saved_as_rendered_keeps_its_messages_times(admin_client_, mine):
    session = mine.objects[ChatSession]
    ChatMessage.objects.filter(session=session).update(created_at=AT + timedelta(microseconds=123456))
    before = list(ChatMessage.objects.filter(session=session).values_list("pk", "created_at"))
    url = admin_url(ChatSession, "change", session.pk)
    page = admin_client_.get(url)
    data = page_form_data(page)
    shown = rendered_inputs(page.content.decode())
    times = {name: value for name, value in shown.items() if name.endswith("created_at_1") and "__prefix__" not in name}
    assert times and all(value.endswith(".123456") for value in times.values()), times
    data.update(shown)  # what the browser sends: the rendered values, not the form's own
    response = admin_client_.post(url, data)
    assert response.status_code == 302
    assert list(ChatMessage.objects.filter(session=session).values_list("pk", "created_at")) == before
