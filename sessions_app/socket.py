"""Tutor sessions live over Socket.IO, as TutoriaLLM's editor expects them.

Path `/session/socket/connect/`, `sessionId` in the handshake query, an API key in one of the
three headers or in `auth.token`; the key's user must own the session.

- server to client: `PushCurrentSession` (the whole session, this socket's id in `clients`),
  `PushSessionDiff` (an RFC 6902 patch), `notifyIsReplyingforSender`, `error` (a string);
- client to server: `UpdateCurrentSessionDiff` (an RFC 6902 patch), applied and validated like
  a PUT; a user item added to the dialogue makes the tutor answer.

Every change, whoever makes it (this socket, REST, an import, the admin, another process),
arrives here as an event of flowdesk/events.py with the session as committed. Each process keeps,
per session with clients here, the state its clients last got, and pushes them the difference,
so no socket packet needs to cross processes: the events do (Redis pub/sub with REDIS_URL).
"""

import asyncio
import logging
from urllib.parse import parse_qs

import jsonpatch
import socketio
from asgiref.sync import sync_to_async
from django.conf import settings
from rest_framework import exceptions

from flowdesk import events
from flowdesk.api.authentication import ApiKeyAuthentication
from flowdesk.api.fields import has_nul
from sessions_app import services

logger = logging.getLogger("flowdesk.sessions.socket")

PATH = "session/socket/connect"
# The vendor's words for a session that cannot be had, and for a patch that cannot be applied.
INVALID_SESSION = "Invalid sessionId"
READY_SECONDS = 10  # how long a connect waits for its room to hear the session's events


class _Headers(dict):
    """Just what ApiKeyAuthentication reads of a request: case-insensitive headers."""

    def get(self, name, default=None):
        return super().get(name.lower(), default)


class _HandshakeRequest:
    def __init__(self, environ, auth):
        headers = _Headers()
        for name, value in environ.items():
            if name.startswith("HTTP_"):
                headers[name[5:].replace("_", "-").lower()] = value
        token = auth.get("token") if isinstance(auth, dict) else None
        if isinstance(token, str) and token and not any(h in headers for h in ("authorization", "api-key", "x-api-key")):
            headers["authorization"] = f"Bearer {token}"
        self.headers = headers


def _authenticate(environ, auth):
    """The key's user, or a ConnectionRefusedError the client sees as `connect_error`."""
    try:
        found = ApiKeyAuthentication().authenticate(_HandshakeRequest(environ, auth))
    except exceptions.AuthenticationFailed as exc:
        raise socketio.exceptions.ConnectionRefusedError(str(exc.detail)) from None
    if found is None:
        raise socketio.exceptions.ConnectionRefusedError(
            "An API key is required (Authorization: Bearer, Api-key, x-api-key, or auth.token)."
        )
    return found[0]


def _own_session(user, session_id):
    from sessions_app.models import UserSession

    if not isinstance(session_id, str) or not session_id or len(session_id) > 64 or has_nul(session_id):
        return None
    return UserSession.objects.filter(user=user, session_id=session_id).first()


def _apply_patch(user_id, pk, patch):
    """The session after ``patch``, stored; (before, patched, after) or raises ValueError with the reason."""
    from rest_framework.serializers import ValidationError

    from flowdesk.api.errors import flatten_validation
    from sessions_app.api.updates import apply_update
    from sessions_app.models import UserSession

    sessions = UserSession.objects.filter(user_id=user_id)
    session = sessions.filter(pk=pk).first()
    if session is None:
        raise ValueError("Session not found")
    before = services.rendered(pk)
    if not isinstance(patch, list):
        raise ValueError("Invalid patch: an RFC 6902 JSON Patch (an array of operations) was expected.")
    try:
        patched = jsonpatch.JsonPatch(patch).apply(before)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"Invalid patch: {exc}") from None
    if not isinstance(patched, dict):
        raise ValueError("Invalid patch: the session must stay an object.")
    changed = {key: value for key, value in patched.items() if before.get(key) != value}
    if not changed:
        return before, patched, before
    try:
        apply_update(sessions, session, changed)
    except ValidationError as exc:
        problems = "; ".join(f"{item.field}: {item.message}" for item in flatten_validation(exc.detail))
        raise ValueError(f"Invalid session: {problems}") from None
    return before, patched, services.rendered(pk)


def added_user_item(before, after):
    """Whether the change appended a user item to the dialogue (what makes the tutor answer)."""
    old, new = before.get("dialogue") or [], after.get("dialogue") or []
    return len(new) > len(old) and isinstance(new[-1], dict) and new[-1].get("contentType") == "user"


def tutor_messages(session):
    """The dialogue as chat messages for the model: the user's and the tutor's text turns."""
    messages = []
    if session.get("llmContext"):
        messages.append({"role": "system", "content": session["llmContext"]})
    for item in session.get("dialogue") or []:
        if isinstance(item.get("content"), str) and item.get("contentType") in ("user", "ai"):
            messages.append({"role": "user" if item["contentType"] == "user" else "assistant", "content": item["content"]})
    return messages


def _answer(messages):
    from flows.llm import ModelError, get_model

    try:
        return get_model().complete(messages), "ai"
    except ModelError as exc:
        return f"The tutor could not answer: {exc}", "error"


class TutorSockets:
    def __init__(self):
        self.server = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=settings.FLOWDESK_SOCKET_ALLOWED_ORIGINS,
            logger=False, engineio_logger=False,
        )
        self.rooms = {}  # session pk -> Room (sessions with clients in this process)
        for name in ("connect", "disconnect", "UpdateCurrentSessionDiff"):
            self.server.on(name, getattr(self, "on_" + name))

    async def on_connect(self, sid, environ, auth=None):
        user = await sync_to_async(_authenticate)(environ, auth)
        session_id = (parse_qs(environ.get("QUERY_STRING", "")).get("sessionId") or [None])[0]
        session = await sync_to_async(_own_session)(user, session_id)
        if session is None:
            # As the vendor: the socket is told, then let go (another user's session is not revealed).
            self.server.start_background_task(self._refuse, sid, INVALID_SESSION)
            return True
        await self.server.save_session(sid, {"pk": session.pk, "user": user.pk})
        await self.server.enter_room(sid, self.room_name(session.pk))
        room = self.room(session.pk)
        # A member from here on: the last other client leaving while this one waits below must not
        # close the room under it (it would hear no more events).
        room.members.add(sid)
        try:  # hearing its events before reading the state they change
            await asyncio.wait_for(asyncio.shield(room.ready.wait()), READY_SECONDS)
        except TimeoutError:
            # The room cannot hear its events (Redis is down): a client would never be told of a change.
            logger.error("User session %s: its events could not be heard; socket %s refused", session.pk, sid)
            self._leave(room, sid)
            self.server.start_background_task(self._refuse, sid, "Server error")
            return True
        async with room.lock:
            await sync_to_async(services.set_client)(session.pk, sid, True)
            state = await sync_to_async(services.rendered)(session.pk)
            if state is None:
                self._leave(room, sid)
                self.server.start_background_task(self._refuse, sid, INVALID_SESSION)
                return True
            await self._push(room, state, skip_sid=sid)
            self.server.start_background_task(self._welcome, sid, state)
        return True

    async def _welcome(self, sid, state):
        await self.server.emit("PushCurrentSession", state, to=sid)

    async def _refuse(self, sid, message):
        await self.server.emit("error", message, to=sid)
        await self.server.disconnect(sid)

    async def on_disconnect(self, sid, reason=None):
        saved = await self.server.get_session(sid)
        pk = saved.get("pk") if saved else None
        if pk is None:
            return
        await sync_to_async(services.set_client)(pk, sid, False)
        room = self.rooms.get(pk)
        if room is not None:
            self._leave(room, sid)

    def _leave(self, room, sid):
        room.members.discard(sid)
        if not room.members and self.rooms.get(room.pk) is room:
            room.close()
            self.rooms.pop(room.pk, None)

    async def on_UpdateCurrentSessionDiff(self, sid, patch):  # noqa: N802 - the vendor's event name
        saved = await self.server.get_session(sid)
        if not saved or saved.get("pk") is None:
            return
        pk, room = saved["pk"], self.rooms.get(saved["pk"])
        if room is None:
            return
        async with room.lock:
            try:
                before, patched, after = await sync_to_async(_apply_patch)(saved["user"], pk, patch)
            except ValueError as exc:
                await self.server.emit("error", str(exc), to=sid)
                # The sender applied its patch as it sent it: the session as stored puts it back in step.
                if room.state is not None:
                    await self.server.emit("PushCurrentSession", room.state, to=sid)
                return
            except Exception:
                logger.exception("Patch on user session %s failed", pk)
                await self.server.emit("error", "Server error", to=sid)
                return
            # The sender has its own patch applied already: it gets only what the server added.
            own = jsonpatch.make_patch(patched, after).patch
            if own:
                await self.server.emit("PushSessionDiff", own, to=sid)
            await self._push(room, after, skip_sid=sid)
        if added_user_item(before, after) and not after.get("isReplying"):
            self.server.start_background_task(self._reply, sid, pk)

    async def _reply(self, sid, pk):
        if not await sync_to_async(services.begin_reply)(pk):
            return
        await self.server.emit("notifyIsReplyingforSender", to=sid)
        try:
            session = await sync_to_async(services.rendered)(pk)
            content, content_type = await asyncio.to_thread(_answer, tutor_messages(session or {}))
        except Exception:
            # Whatever broke, the reply ends: a session left isReplying would never be answered again.
            logger.exception("The tutor's answer to user session %s failed", pk)
            content, content_type = "The tutor could not answer: server error", "error"
        await sync_to_async(services.finish_reply)(pk, content, content_type)
        # Both changes reach every client, the sender included, through the session's events.

    # --- rooms: what this process's clients of one session have, and the events that change it ---

    @staticmethod
    def room_name(pk):
        return f"user-session-{pk}"

    def room(self, pk):
        room = self.rooms.get(pk)
        if room is None:
            room = self.rooms[pk] = Room(self, pk)
        return room

    async def _push(self, room, state, skip_sid=None):
        """Bring the room's clients from what they have to ``state``."""
        if room.state is not None:
            diff = jsonpatch.make_patch(room.state, state).patch
            if diff:
                await self.server.emit("PushSessionDiff", diff, room=self.room_name(room.pk), skip_sid=skip_sid)
        room.state = state

    async def on_event(self, room, event):
        if event.type == services.DELETED:
            # As for a session that cannot be had: each client is told, then let go.
            for sid in list(room.members):
                self.server.start_background_task(self._refuse, sid, INVALID_SESSION)
            return
        async with room.lock:
            await self._push(room, event.data)


class Room:
    """One session's clients in this process: the state they have, and the task hearing its events."""

    def __init__(self, sockets, pk):
        self.pk = pk
        self.state = None
        self.members = set()
        self.lock = asyncio.Lock()
        self.ready = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._listen(sockets))

    async def _listen(self, sockets):
        try:
            async with events.listen(services.channel(self.pk)) as queue:
                self.ready.set()
                while True:
                    event = await queue.get()
                    try:
                        await sockets.on_event(self, event)
                    except Exception:
                        logger.exception("Could not push a change of user session %s", self.pk)
        except Exception:
            # Its events cannot be heard (Redis down): the next connect makes a new room, and tries again.
            logger.exception("User session %s: could not listen to its events", self.pk)
            if sockets.rooms.get(self.pk) is self:
                sockets.rooms.pop(self.pk)

    def close(self):
        self.task.cancel()


_sockets = None


def sockets():
    global _sockets
    if _sockets is None:
        _sockets = TutorSockets()
    return _sockets


def asgi_application(django_application):
    """Socket.IO at /session/socket/connect/, everything else to Django."""
    return socketio.ASGIApp(sockets().server, other_asgi_app=django_application, socketio_path=PATH)

