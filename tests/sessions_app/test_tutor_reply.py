"""The tutor's reply always ends: whatever fails while it answers, isReplying goes back to false
with an error item, so the session is answered again next time."""

import asyncio

import pytest

from sessions_app import socket as tutor_socket
from sessions_app.models import DialogueItem, UserSession
from tests.sessions_app.conftest import make_session


@pytest.mark.django_db(transaction=True)
def test_a_reply_that_fails_unexpectedly_still_ends(tenant, monkeypatch):
    session = make_session(tenant.user, "tutor001", dialogue=1, audios=0)

    def broken(messages):
        raise RuntimeError("the model client crashed")

    async def emitted(*args, **kwargs):
        return None

    monkeypatch.setattr(tutor_socket, "_answer", broken)
    sockets = tutor_socket.TutorSockets()
    monkeypatch.setattr(sockets.server, "emit", emitted)
    asyncio.run(sockets._reply("sid-1", session.pk))
    session.refresh_from_db()
    assert session.is_replying is False
    last = DialogueItem.objects.filter(session=session).order_by("-position").first()
    assert (last.content_type, last.content) == ("error", "The tutor could not answer: server error")
    assert UserSession.objects.get(pk=session.pk).is_replying is False
