import re

from django.db import connections, router
from django.db.models import Q, Subquery
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import stream
from chat.api.errors import WORKFLOW_CHAT
from chat.api.serializers import (
    MESSAGE_FIELDS,
    SESSION_ITEM_COLUMNS,
    SESSION_ITEM_FIELDS,
    ChatHistoryQuery,
    ChatMessageCreateSerializer,
    ChatMessageSerializer,
    ChatSessionItemSerializer,
    ChatSessionPageQuery,
    ChatSessionPageSerializer,
    ChatStreamSerializer,
    envelope,
    message_data,
    session_item,
    session_item_row,
    session_item_text_row,
)
from chat.filters import ChatSessionFilterSet
from chat.models import ChatMessage, ChatSession, ChatTurn, ContextType, Conversation, Role, Workflow
from chat.services import post_message
from flowdesk.api.errors import ApiError, ErrorItem
from flowdesk.api.fields import UTC_TEXT_SQL
from flowdesk.api.renderers import EventStreamRenderer, ORJSONRenderer
from flowdesk.api.views import (
    FilterBackend,
    TenantScopedMixin,
    is_uuid,
    query_validation_error,
    validate_query,
)
from flowdesk.sse import event_schema, event_stream_response, log_snapshot, log_stream, served_on_asgi

# The unfiltered page (nearly every list request) as one constant SQL string: what the ORM builds
# from ChatSessionViewSet's queryset (the organization's sessions, the workflow LEFT JOINed, the
# list order), without compiling it on every request (a sixth of the request's time). PostgreSQL
# only (elsewhere timestamps need Django's converters); with a filter the ORM builds it.
# Timestamps come formatted by PostgreSQL (session_item_text_row finishes them) and the workflow id
# as text: parsing them into Python objects only to format them again was a third of the rest.
# The page is cut first, from the list index alone (ids only: an index-only scan where the table is
# vacuumed): rows skipped by OFFSET are never fetched, joined or formatted.
PAGE_SQL = (
    "SELECT s.context_type, c.conversation_id, "
    f"{UTC_TEXT_SQL.format('s.first_message_at')}, {UTC_TEXT_SQL.format('s.last_message_at')}, "
    "s.message_count, s.preview, s.session_id, w.uuid::text, w.name "
    f"FROM (SELECT id FROM {ChatSession._meta.db_table} WHERE organization_id = %s "
    "ORDER BY activity_at DESC, id DESC LIMIT %s OFFSET %s) page "
    f"JOIN {ChatSession._meta.db_table} s ON s.id = page.id "
    f"LEFT OUTER JOIN {Workflow._meta.db_table} w ON w.id = s.workflow_id "
    f"LEFT OUTER JOIN {Conversation._meta.db_table} c ON c.id = s.conversation_id "
    "ORDER BY s.activity_at DESC, s.id DESC"
)

_DIGITS = re.compile(r"[0-9]{1,9}")


def workflow_pk(organization, workflow_id):
    """The pk of the organization's workflow with this id, as a subquery (one value, read from the
    (organization, uuid) index), so that sessions are then found by their workflow foreign key."""
    workflows = Workflow.objects.filter(organization=organization, uuid=workflow_id).order_by()
    return Subquery(workflows.values("pk")[:1])
_PAGE_FIELDS = ChatSessionPageQuery._declared_fields
_PAGE_BOUNDS = [
    (name, _PAGE_FIELDS[name].default, _PAGE_FIELDS[name].min_value, _PAGE_FIELDS[name].max_value)
    for name in ("limit", "offset")
]


def page_query(request):
    """(limit, offset) as ChatSessionPageQuery validates them; plain digits in range are read
    directly (a serializer per request costs more than the page query), anything else goes to the
    serializer, which words the error."""
    params = request.query_params
    values = []
    for name, default, low, high in _PAGE_BOUNDS:
        raw = params.get(name)
        if raw is None:
            values.append(default)
        elif _DIGITS.fullmatch(raw) and low <= int(raw) <= high:
            values.append(int(raw))
        else:
            page = validate_query(ChatSessionPageQuery, request)
            return page["limit"], page["offset"]
    return tuple(values)


class WorkflowChatView(TenantScopedMixin):
    family = WORKFLOW_CHAT
    list_is_enveloped = True

    def envelope(self, data):
        """The vendor's success envelope; requestId is the X-Request-Id header's value."""
        return Response({"code": 200, "data": data, "message": "success", "requestId": self.request.request_id})


@extend_schema_view(
    list=extend_schema(
        operation_id="v1_ai_workflow_chat_sessions_list",
        parameters=[ChatSessionPageQuery],
        responses=envelope("ChatSessionPageEnvelope", ChatSessionPageSerializer()),
    ),
    retrieve=extend_schema(responses=envelope("ChatSessionEnvelope", ChatSessionItemSerializer())),
    destroy=extend_schema(responses={200: envelope("ChatSessionDeletedEnvelope", ChatSessionItemSerializer())}),
)
class ChatSessionViewSet(WorkflowChatView, viewsets.GenericViewSet):
    """GET /sessions (the list), GET and DELETE /sessions/{sessionId or workflowId}."""

    # workflow: each item's workflowId and workflowName; conversation: its conversationId
    queryset = (
        ChatSession.objects.select_related("workflow", "conversation")
        .only(*SESSION_ITEM_FIELDS)
        .order_by("-activity_at", "-id")
    )
    filterset_class = ChatSessionFilterSet
    lookup_url_kwarg = "key"
    lookup_value_regex = "[^/]+"

    def list(self, request, *args, **kwargs):
        limit, offset = page_query(request)
        # One row past the page tells hasMore without a COUNT.
        db = connections[router.db_for_read(ChatSession)]
        if db.vendor == "postgresql" and not FilterBackend.names_a_filter(request, self):
            with db.cursor() as cursor:
                cursor.execute(PAGE_SQL, [self.tenant.organization.pk, limit + 1, offset])
                rows = cursor.fetchall()
            render = session_item_text_row
        else:
            sessions = self.filter_queryset(self.get_queryset()).values_list(*SESSION_ITEM_COLUMNS)
            rows = list(sessions[offset : offset + limit + 1])
            render = session_item_row
        return self.envelope(
            {
                "hasMore": len(rows) > limit,
                "items": [render(row) for row in rows[:limit]],
                "limit": limit,
                "offset": offset,
            }
        )

    def get_object(self):
        key = self.kwargs["key"]
        match = Q(session_id=key)
        if is_uuid(key):
            match |= Q(context_type=ContextType.WORKFLOW, workflow=workflow_pk(self.tenant.organization, key))
        session = self.get_queryset().filter(match).first()
        if session is None:
            raise ApiError(
                404, f"Chat session {key!r} not found.", [ErrorItem(("path", "sessionId"), "No such chat session.")]
            )
        return session

    def retrieve(self, request, *args, **kwargs):
        return self.envelope(session_item(self.get_object()))

    def destroy(self, request, *args, **kwargs):
        """Deletes the session and all its messages; answers the session as it was."""
        session = self.get_object()
        data = session_item(session)
        session.delete()
        return self.envelope(data)


class ChatHistoryView(WorkflowChatView, APIView):
    """GET /history?conversationId=|sessionId=|workflowId=&limit=&before=&beforeId=: the latest
    messages (before the cursor), oldest first."""

    @extend_schema(
        parameters=[ChatHistoryQuery],
        responses=envelope("ChatHistoryEnvelope", ChatMessageSerializer(many=True)),
    )
    def get(self, request):
        query = validate_query(ChatHistoryQuery, request)
        messages = ChatMessage.objects.filter(self.chat(query))
        if query.get("beforeId") is not None:
            # The cursor is where that message stands: exact even if `before` was rounded by the client.
            cursor = messages.filter(pk=query["beforeId"]).values_list("created_at", "id").first()
            if cursor is None:
                raise query_validation_error({"beforeId": ["Not a message of this chat."]})
            at, pk = cursor
            # created_at <= at bounds the index range; the OR only sorts out ties at `at`.
            messages = messages.filter(Q(created_at__lte=at) & (Q(created_at__lt=at) | Q(id__lt=pk)))
        elif query.get("before") is not None:
            messages = messages.filter(created_at__lt=query["before"])
        # session (and its workflow): each message's sessionId, organizationId and workflowId;
        # conversation: its conversationId
        messages = messages.select_related("session__workflow", "conversation").only(*MESSAGE_FIELDS)
        latest = list(messages.order_by("-created_at", "-id")[: query["limit"]])
        latest.reverse()
        return self.envelope([message_data(message) for message in latest])

    def chat(self, query):
        """The messages asked for, as a condition on an indexed column: the conversation's or the
        session's id is a subquery (one value), so the page is one range of its (created_at, id) index."""
        organization = self.tenant.organization
        if query.get("conversationId") is not None:
            conversations = Conversation.objects.filter(organization=organization, conversation_id=query["conversationId"])
            return Q(conversation=Subquery(conversations.order_by().values("pk")[:1]))
        if query.get("sessionId") is not None:
            sessions = ChatSession.objects.filter(organization=organization, session_id=query["sessionId"])
        else:
            sessions = ChatSession.objects.filter(
                organization=organization, context_type=ContextType.WORKFLOW,
                workflow=workflow_pk(organization, query["workflowId"]),
            )
        return Q(session=Subquery(sessions.order_by().values("pk")[:1]))


class ChatMessageView(WorkflowChatView, APIView):
    """POST /messages: store one message; its session is created when new."""

    @extend_schema(
        request=ChatMessageCreateSerializer,
        responses=envelope("ChatMessageEnvelope", ChatMessageSerializer()),
    )
    def post(self, request):
        serializer = ChatMessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kwargs = serializer.service_kwargs()
        if kwargs["role"] == Role.USER:
            kwargs["sender_user_id"] = str(self.tenant.key.user_id)  # who sent it: the key's user
        message = post_message(self.tenant.organization, **kwargs)
        return self.envelope(message_data(message))


STREAM_EVENTS = OpenApiResponse(
    event_schema("JSON: the event's payload (see the description)."),
    description="Server-Sent Events, numbered from 0 (`id:`): `turn` {turnId, message} (the stored user "
                "message), `token` {delta} (the next piece of the answer), `message` (the stored assistant "
                "message), `done` {turnId, tokensUsed}, or `error` {message}. Errors before the stream starts "
                "answer in the envelope's error body.",
)


class ChatStreamView(WorkflowChatView, APIView):
    """POST /stream: a chat turn, the model's answer streamed as it is made (see chat/stream.py)."""

    renderer_classes = [ORJSONRenderer, EventStreamRenderer]

    @extend_schema(request=ChatStreamSerializer, responses={(200, "text/event-stream"): STREAM_EVENTS})
    def post(self, request):
        serializer = ChatStreamSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("turnId") is not None:
            turn = ChatTurn.objects.filter(pk=data["turnId"], session__organization=self.tenant.organization).first()
            if turn is None:
                raise ApiError(404, f"No turn {data['turnId']!r}.")
            after = data.get("lastEventIndex", -1)
        else:
            turn = stream.start_turn(self.tenant.organization, str(self.tenant.key.user_id), **serializer.turn_kwargs())
            stream.dispatch(turn)
            after = -1
        turn_id = turn.pk

        def load(index):
            return stream.frames(turn_id, index)

        if not served_on_asgi(request):
            # A WSGI worker cannot wait on the model: what is stored, then the end (follow on ASGI).
            return event_stream_response(log_snapshot(load, after, stream.ENDS))
        return event_stream_response(
            log_stream(stream.channel(turn_id), load, after, stream.ENDS, check=lambda: stream.stalled(turn_id))
        )
