import re

from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from flowdesk.api.views import TenantScopedMixin, page_parameters
from sessions_app import services
from sessions_app.api import schema  # noqa: F401 - registers the OpenAPI field extensions
from sessions_app.api.errors import USER_SESSIONS
from sessions_app.api.serializers import (
    SESSION_ID_REGEX,
    DialogueItemSerializer,
    NewDialogueItemSerializer,
    UserSessionSerializer,
    dialogue_item_data,
    session_data,
    sessions_data,
)
from sessions_app.api.updates import apply_update
from sessions_app.filters import UserSessionFilterSet
from sessions_app.models import UserSession

SESSION_ID_PATTERN = re.compile(SESSION_ID_REGEX)


SESSION_ID_BODY = inline_serializer("UserSessionId", {"sessionId": serializers.CharField()})


def json_body(request):
    """The parsed JSON body; a missing one is an error (DRF would read it as an empty form)."""
    if request.stream is None:
        raise exceptions.ParseError("Request body is empty; a JSON document was expected.")
    return request.data


class UserSessionViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """The user-sessions family: a user's own sessions, addressed by `sessionId`."""

    family = USER_SESSIONS
    queryset = UserSession.objects.all()
    serializer_class = UserSessionSerializer
    filterset_class = UserSessionFilterSet
    lookup_field = "session_id"
    lookup_url_kwarg = "session_id"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "put", "delete", "head", "options"]

    def scope_queryset(self, queryset):
        # Sessions belong to a user: another user's are invisible, in every organization.
        return queryset.filter(user=self.tenant.user)

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.with_children()  # the rendered dialogue and audio clips
        return queryset

    def get_object(self):
        session_id = self.kwargs["session_id"]
        try:
            # An id no session can have (too long, odd characters) is not even looked up.
            if not SESSION_ID_PATTERN.match(session_id):
                raise Http404
            return super().get_object()
        except Http404:
            raise exceptions.NotFound(f"No session with sessionId {session_id!r}.") from None

    def own_sessions(self):
        """The user's sessions without the prefetches: for locking and writing."""
        return UserSession.objects.filter(user=self.tenant.user)

    def get_serializer_class(self):
        # What each action reads (for OPTIONS and the schema); `new` and `resume` read no body.
        if self.action == "dialogue":
            return NewDialogueItemSerializer
        if self.action in ("new", "resume"):
            return serializers.Serializer
        return UserSessionSerializer

    @extend_schema(
        responses=UserSessionSerializer(many=True),
        parameters=page_parameters("sessions"),
    )
    def list(self, request, *args, **kwargs):
        """The vendor's plain array, most recently updated first; without `limit`, every session."""
        offset, end = self.page_bounds(request)
        queryset = self.filter_queryset(self.get_queryset()).order_by("-updated_at", "-id")
        return Response(sessions_data(queryset[offset:end]))

    def retrieve(self, request, *args, **kwargs):
        """One session of the current user, in the shape the list gives."""
        return Response(session_data(self.get_object()))

    @extend_schema(request=UserSessionSerializer(partial=True), responses=SESSION_ID_BODY)
    def update(self, request, *args, **kwargs):
        """Change any subset of the session's keys; each given key is replaced whole.

        Keys no session has are dropped, as the vendor drops them. `createdAt` and `updatedAt` are
        stored as given; without `updatedAt` it becomes the time of the change.
        """
        session = self.get_object()
        apply_update(self.own_sessions(), session, json_body(request))
        return Response({"sessionId": session.session_id})

    @extend_schema(responses={200: SESSION_ID_BODY})
    def destroy(self, request, *args, **kwargs):
        session = self.get_object()
        with transaction.atomic():
            services.deleted(session)  # its sockets are let go
            session.delete()
        return Response({"sessionId": session.session_id})

    @extend_schema(
        request=None,
        responses=SESSION_ID_BODY,
        parameters=[
            OpenApiParameter("language", str, description="The session's language, any string (e.g. en, pt-BR); default en.")
        ],
    )
    @action(detail=False, methods=["post"], url_path="new")
    def new(self, request, *args, **kwargs):
        """A new session of the current user, with the vendor's initial values."""
        # Missing or empty is the vendor's "en"; any other string is kept as sent.
        language = request.query_params.get("language") or "en"
        session = services.create_session(self.tenant.user, self.tenant.organization, language)
        return Response({"sessionId": session.session_id})

    @extend_schema(request=None, responses=SESSION_ID_BODY)
    @action(detail=False, methods=["post"], url_path=r"resume/(?P<session_id>[^/]+)")
    def resume(self, request, *args, **kwargs):
        """Resume a session: it becomes the most recently updated one."""
        session = self.get_object()
        services.touch_session(self.own_sessions(), session.pk)
        return Response({"sessionId": session.session_id})

    @extend_schema(request=NewDialogueItemSerializer, responses={201: DialogueItemSerializer})
    @action(detail=True, methods=["post"], url_path="dialogue")
    def dialogue(self, request, *args, **kwargs):
        """Append one item to the dialogue: the server numbers it and counts user messages."""
        session = self.get_object()
        serializer = NewDialogueItemSerializer(data=json_body(request))
        serializer.is_valid(raise_exception=True)
        item = services.append_dialogue_item(self.own_sessions(), session.pk, serializer.validated_data)
        return Response(dialogue_item_data(item), status=status.HTTP_201_CREATED)
