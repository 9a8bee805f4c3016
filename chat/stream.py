"""POST /v1/ai/workflow/chat/stream: one chat turn, its answer streamed as numbered events.

The user's message is stored first; the model answers with the chat's history as context; the
answer goes out in pieces as it is made, then the assistant message is stored with its
tokensUsed (summary fields kept exact by post_message). Every event is stored with its index, so
a client that reconnects with `turnId` and `lastEventIndex` gets what it missed and then the rest.

Events (`event:` name, `id:` index, `data:` JSON):
- `turn`: {turnId, message}: the stored user message, as history lists it;
- `token`: {delta}: the next piece of the answer, as the model sent it;
- `message`: the stored assistant message, as history lists it;
- `done`: {turnId, tokensUsed};
- `error`: {message}: the model could not answer (or the process running the turn went away);
  nothing more comes.

A turn runs in the process that took the request. If that process dies mid-turn (a restart), the
turn would stay RUNNING and its clients would wait for ever: a stream that has heard nothing of
its turn for longer than a step lease (the model's worst case) ends it with `error` (`stalled`).
"""

import logging
import threading

from django.conf import settings
from django.db import connections, transaction

from chat.api.serializers import stored_message
from chat.models import ChatMessage, ChatTurn, ChatTurnEvent, Role, TurnStatus
from chat.services import post_message
from flowdesk import events

logger = logging.getLogger("flowdesk.chat.stream")

HISTORY = 20  # the latest messages the model sees
ENDS = ("done", "error")


def channel(turn_id):
    return f"chat_turn:{turn_id}"


def _emit(turn, index, event, data):
    ChatTurnEvent.objects.create(turn=turn, index=index, event=event, data=data)
    events.publish("chat.turn_event", channel=channel(turn.pk), organization_id=turn.session.organization_id,
                   render=lambda: {"index": index})


def start_turn(organization, user_id, *, content, **where):
    """Store the user's message and open the turn; returns the turn (its events start with `turn`)."""
    with transaction.atomic():
        message = post_message(organization, role=Role.USER, content=content, sender_user_id=user_id, **where)
        turn = ChatTurn.objects.create(session=message.session)
        _emit(turn, 0, "turn", {"turnId": turn.pk, "message": stored_message(message.pk)})
    return turn


def dispatch(turn):
    """Run the turn: inline where the live-flow runner is (tests), else in a thread of this process."""
    if settings.LIVE_FLOW_RUNNER == "eager":
        run_turn(turn.pk)
    else:
        threading.Thread(target=_run_in_thread, args=(turn.pk,), name=f"chat-{turn.pk}", daemon=True).start()


def _run_in_thread(turn_id):
    try:
        run_turn(turn_id)
    finally:
        connections.close_all()


def fail_turn(turn_id, message):
    """End a turn that broke with an `error` event (its clients' streams end on it) and FAILED."""
    with transaction.atomic():
        turn = ChatTurn.objects.select_for_update().filter(pk=turn_id, status=TurnStatus.RUNNING).first()
        if turn is None:
            return
        last = ChatTurnEvent.objects.filter(turn=turn).order_by("-index").values_list("index", flat=True).first()
        _emit(turn, 0 if last is None else last + 1, "error", {"message": message})
        ChatTurn.objects.filter(pk=turn.pk).update(status=TurnStatus.FAILED)


STALLED = "The model could not answer: the turn stopped (the server running it went away)"


def stalled(turn_id):
    """Ends the turn if it is RUNNING and nothing was stored for it for a step lease.

    Returns the seconds until it should be looked at again, or None once it has ended.
    """
    from django.db.models import Max
    from django.utils import timezone

    turn = (ChatTurn.objects.filter(pk=turn_id, status=TurnStatus.RUNNING)
            .annotate(last=Max("events__created_at")).values("last", "created_at").first())
    if turn is None:
        return None
    quiet = (timezone.now() - (turn["last"] or turn["created_at"])).total_seconds()
    if quiet < settings.LIVE_FLOW_STEP_LEASE:
        return settings.LIVE_FLOW_STEP_LEASE - quiet
    logger.warning("Chat turn %s had no event for %d s: ended as stalled", turn_id, quiet)
    fail_turn(turn_id, STALLED)
    return None


def history(session):
    """The chat's latest messages as model messages, oldest first."""
    rows = list(
        ChatMessage.objects.filter(session=session).order_by("-created_at", "-id").values_list("role", "content")[:HISTORY]
    )
    return [{"role": role, "content": content} for role, content in reversed(rows)]


def run_turn(turn_id):
    try:
        _run_turn(turn_id)
    except Exception:
        # Whatever broke, the turn ends: a client waiting on its stream would wait for ever.
        logger.exception("Chat turn %s stopped on an error", turn_id)
        fail_turn(turn_id, "The model could not answer: server error")


def _run_turn(turn_id):
    from flows.llm import ModelError, get_model, stream_answer

    turn = ChatTurn.objects.select_related("session__workflow", "session__conversation").get(pk=turn_id)
    session = turn.session
    index = 1
    parts = []
    try:
        answer = stream_answer(get_model(), history(session))
        for part in answer:  # each piece goes out as the model sends it
            _emit(turn, index, "token", {"delta": part})
            parts.append(part)
            index += 1
    except ModelError as exc:
        _emit(turn, index, "error", {"message": f"The model could not answer: {exc}"})
        ChatTurn.objects.filter(pk=turn.pk).update(status=TurnStatus.FAILED)
        return
    where = (
        {"workflow_id": session.workflow.uuid} if session.workflow_id else {"session_id": session.session_id}
    )
    with transaction.atomic():
        message = post_message(session.organization, role=Role.ASSISTANT, content="".join(parts),
                               tokens_used=answer.tokens, **where)
        _emit(turn, index, "message", stored_message(message.pk))
        _emit(turn, index + 1, "done", {"turnId": turn.pk, "tokensUsed": answer.tokens})
        ChatTurn.objects.filter(pk=turn.pk).update(status=TurnStatus.DONE)


def frames(turn_id, after):
    """The stored events of the turn after index ``after``: (index, event, data)."""
    return list(ChatTurnEvent.objects.filter(turn_id=turn_id, index__gt=after).order_by("index")
                .values_list("index", "event", "data"))
