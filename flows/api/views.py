import uuid
from datetime import timedelta

from django.db import connections, router, transaction
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from flowdesk.api.errors import BadRequest, Conflict, ErrorItem
from flowdesk.api.fields import UTC_TEXT_SQL, jsonb_text_value
from flowdesk.api.renderers import EventStreamRenderer, ORJSONRenderer, json_response
from flowdesk.api.views import FilterBackend, TenantScopedMixin, is_uuid
from flowdesk.db.pipeline import fetch_sql_together, fetch_together
from flowdesk.sse import event_schema, event_stream_response, served_on_asgi, state_snapshot, state_stream
from flows import live
from flows.api.errors import LIVE_FLOWS
from flows.api.serializers import (
    FlowSerializer,
    FlowVersionSerializer,
    LiveFlowReadSerializer,
    LiveFlowSerializer,
    LiveFlowSessionSerializer,
    SessionRenderer,
    UserInputSerializer,
    session_tree,
    session_tree_queries,
)
from flows.api.streaming import LiveFlowBody, json_body, session_array
from flows.engine import SessionStateError
from flows.filters import LiveFlowSessionFilterSet
from flows.models import Flow, FlowVersion, LiveFlow, LiveFlowSession, Step, StepTransition
from flows.services import cancel_session, start_session, submit_user_input

# The unfiltered page of a live flow's sessions (nearly every list request) on PostgreSQL: the five
# statements the ORM builds for it (session_tree_queries and the live flow's look), as constant SQL
# with ids and JSON as text and the timestamps formatted by PostgreSQL. Compiling those five
# queries was a ninth of the request served, building UUIDs and parsing JSON with the json module
# more (py-spy, bench/FINDINGS.md); tests/flows/test_list_fast_path.py holds it equal to the ORM page.
_PAGE = ("SELECT {column} FROM flows_liveflowsession p WHERE p.live_flow_id = %s "
         "ORDER BY p.created_at DESC, p.id DESC LIMIT %s OFFSET %s")
PAGE_SQL = (
    "SELECT s.id::text, s.inputs::text, s.error, s.status, s.current_step_id::text, "
    f"{UTC_TEXT_SQL.format('s.created_at')}, {UTC_TEXT_SQL.format('s.updated_at')}, s.flow_version_id::text, "
    f"v.id::text, v.flow_id::text, {UTC_TEXT_SQL.format('v.created_at')}, {UTC_TEXT_SQL.format('v.updated_at')} "
    "FROM flows_liveflowsession s JOIN flows_flowversion v ON v.id = s.flow_version_id "
    "WHERE s.live_flow_id = %s ORDER BY s.created_at DESC, s.id DESC LIMIT %s OFFSET %s",
    "SELECT t.flow_version_id::text, t.id::text, t.name, t.step_type, t.prompt_template::text, "
    f"{UTC_TEXT_SQL.format('t.created_at')}, {UTC_TEXT_SQL.format('t.updated_at')} FROM flows_step t "
    f"WHERE t.flow_version_id IN ({_PAGE.format(column='p.flow_version_id')}) ORDER BY t.created_at, t.id",
    "SELECT t.flow_version_id::text, t.source_step_id::text, t.target_step_id::text, t.label, t.id::text "
    f"FROM flows_steptransition t WHERE t.flow_version_id IN ({_PAGE.format(column='p.flow_version_id')}) "
    "ORDER BY t.id",
    "SELECT r.session_id::text, r.id::text, r.status, r.prompt::text, r.result, r.error, r.user_input, "
    f"r.step_id::text, {UTC_TEXT_SQL.format('r.created_at')}, {UTC_TEXT_SQL.format('r.updated_at')} "
    f"FROM flows_liveflowsessionstep r WHERE r.session_id IN ({_PAGE.format(column='p.id')}) "
    "ORDER BY r.created_at, r.id",
    "SELECT id FROM flows_liveflow WHERE id = %s AND organization_id = %s",
)


def page_sql_tree(fetched):
    """session_tree's rows from PAGE_SQL's (JSON text read as the ORM reads it)."""
    rows, steps, transitions, recorded, _ = fetched
    rows = [(pk, jsonb_text_value(inputs), *rest) for pk, inputs, *rest in rows]
    steps = [(version, pk, name, step_type, jsonb_text_value(template), created, updated)
             for version, pk, name, step_type, template, created, updated in steps]
    recorded = [(session, pk, status, jsonb_text_value(prompt), *rest) for session, pk, status, prompt, *rest in recorded]
    return rows, steps, transitions, recorded


class LiveFlowsView(TenantScopedMixin):
    family = LIVE_FLOWS
    uuid_lookup = True

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "organization": self.tenant.organization}

    def get_parent(self, model, kwarg, organization_field="organization"):
        """The parent named in the path, inside this tenant, else 404."""
        value = self.kwargs[kwarg]
        if not is_uuid(value):
            get_object_or_404(model.objects.none())
        return get_object_or_404(model.objects.filter(**{organization_field: self.tenant.organization}), pk=value)


# FastAPI answers a delete with what its handler returns; the vendor's SDK checks for 200.
DELETED = OpenApiResponse(
    {"type": "object", "nullable": True, "enum": [None]}, description="Deleted: the body is `null`."
)


class FastAPIStatuses:
    """The statuses of the vendor's FastAPI service, which its SDK tests for: a create answers 200
    (FastAPI's default, not 201), and so does a delete, its body ``null``."""

    def create(self, request, *args, **kwargs):
        response = super().create(request, *args, **kwargs)
        response.status_code = status.HTTP_200_OK
        return response

    def destroy(self, request, *args, **kwargs):
        super().destroy(request, *args, **kwargs)
        return json_response(None)


@extend_schema_view(
    create=extend_schema(responses={200: FlowSerializer}), destroy=extend_schema(responses={200: DELETED})
)
class FlowViewSet(FastAPIStatuses, LiveFlowsView, viewsets.ModelViewSet):
    # versions_count: the list's column, without a query per flow
    queryset = Flow.objects.annotate(versions_count=Count("versions"))
    serializer_class = FlowSerializer

    def perform_create(self, serializer):
        serializer.save(organization=self.tenant.organization)

    def perform_update(self, serializer):
        serializer.save(updated_at=timezone.now())


@extend_schema_view(
    create=extend_schema(responses={200: FlowVersionSerializer}), destroy=extend_schema(responses={200: DELETED})
)
class FlowVersionViewSet(FastAPIStatuses, LiveFlowsView, viewsets.ModelViewSet):
    organization_field = "flow__organization"
    # steps, transitions: the nested graph of every version rendered
    queryset = FlowVersion.objects.prefetch_related("steps", "transitions")
    serializer_class = FlowVersionSerializer
    http_method_names = ["get", "post", "put", "delete", "head", "options"]

    def get_queryset(self):
        return super().get_queryset().filter(flow_id=self.flow.pk)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.flow = self.get_parent(Flow, "flow_id")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "id" in data and FlowVersion.objects.filter(pk=data["id"]).exists():
            raise serializers.ValidationError({"id": ["A flow version with this id already exists."]})
        with transaction.atomic():
            version = FlowVersion.objects.create(flow=self.flow, **({"id": data["id"]} if "id" in data else {}))
            write_graph(version, data)
        return Response(self.get_serializer(self.get_queryset().get(pk=version.pk)).data)

    def update(self, request, *args, **kwargs):
        version = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("id", version.id) != version.id:
            raise serializers.ValidationError({"id": ["The id of an existing version cannot change."]})
        with transaction.atomic():
            # Locked so a session cannot start on the graph while it is being replaced.
            FlowVersion.objects.select_for_update().filter(pk=version.pk).first()
            if version.sessions.exists():
                raise Conflict("Sessions have run this version; create a new version instead of changing it.")
            version.transitions.all().delete()
            version.steps.all().delete()
            write_graph(version, data)
            FlowVersion.objects.filter(pk=version.pk).update(updated_at=timezone.now())
        return Response(self.get_serializer(self.get_queryset().get(pk=version.pk)).data)

    def perform_destroy(self, instance):
        if instance.sessions.exists():
            raise Conflict("Sessions have run this version; it cannot be deleted.")
        if instance.live_flows.exists():
            raise Conflict("A live flow runs this version; point it at another version first.")
        instance.delete()


def write_graph(version, data):
    """Steps and transitions of a validated FlowVersionSerializer payload."""
    taken = Step.objects.filter(id__in=[s["id"] for s in data["steps"] if "id" in s]).exclude(flow_version=version)
    if taken.exists():
        used = {str(pk) for pk in taken.values_list("id", flat=True)}
        raise serializers.ValidationError(
            {"steps": [{"id": ["This id is used by a step of another version."]} if str(s.get("id")) in used else {}
                       for s in data["steps"]]}
        )
    now = timezone.now()
    steps = []
    for index, item in enumerate(data["steps"]):
        # A microsecond apart: steps are listed by created_at, in the order the request gave them.
        at = now + timedelta(microseconds=index)
        step = Step(
            flow_version=version,
            name=item["name"],
            step_type=item["step_type"],
            prompt_template=item.get("prompt_template"),
            created_at=at,
            updated_at=at,
            **({"id": item["id"]} if "id" in item else {}),
        )
        item["_obj"] = step
        steps.append(step)
    Step.objects.bulk_create(steps)
    StepTransition.objects.bulk_create(
        StepTransition(
            flow_version=version,
            source_step=item["_source"]["_obj"],
            target_step=item["_target"]["_obj"],
            label=item.get("label"),
            **({"id": item["id"]} if "id" in item else {}),
        )
        for item in data["step_transitions"]
    )


@extend_schema_view(
    list=extend_schema(responses=LiveFlowReadSerializer(many=True)),
    retrieve=extend_schema(responses=LiveFlowReadSerializer),
    create=extend_schema(responses={200: LiveFlowReadSerializer}),
    update=extend_schema(responses=LiveFlowReadSerializer),
    partial_update=extend_schema(responses=LiveFlowReadSerializer),
    destroy=extend_schema(responses={200: DELETED}),
)
class LiveFlowViewSet(FastAPIStatuses, LiveFlowsView, viewsets.ModelViewSet):
    """Live flows as the vendor's LiveFlowRead: `current_version` nested, `sessions` every session
    of the live flow (newest first, as its session list gives them)."""

    # Answers are written as they are read (flows.api.streaming): a fixed number of queries and flat
    # memory whatever the number of sessions.
    queryset = LiveFlow.objects.all()
    serializer_class = LiveFlowSerializer

    def body(self, pk=None):
        live_flows = self.get_queryset() if pk is None else self.get_queryset().filter(pk=pk)
        return LiveFlowBody(live_flows, SessionRenderer())

    def list(self, request, *args, **kwargs):
        return json_body(self.body().array())

    def retrieve(self, request, *args, **kwargs):
        pk = self.kwargs["pk"]
        body = self.body(pk) if is_uuid(pk) else None
        if not body:
            raise Http404
        return json_body(body.one())

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        live_flow = serializer.save(organization=self.tenant.organization)
        return json_body(self.body(live_flow.pk).one())

    def update(self, request, *args, **kwargs):
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=kwargs.pop("partial", False))
        serializer.is_valid(raise_exception=True)
        serializer.save(updated_at=timezone.now())
        return json_body(self.body(serializer.instance.pk).one())


class LiveFlowSessionViewSet(
    LiveFlowsView, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    organization_field = "live_flow__organization"
    queryset = LiveFlowSession.objects.with_tree().order_by("-created_at", "-id")
    serializer_class = LiveFlowSessionSerializer
    filterset_class = LiveFlowSessionFilterSet

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.action == "list" and "limit" in request.query_params:
            # A page: the live flow is looked up with the page's statements, in one round trip
            # (list); nothing of the page is answered unless it is found inside the tenant.
            value = self.kwargs["live_flow_id"]
            if not is_uuid(value):
                get_object_or_404(LiveFlow.objects.none())
            self.live_flow, self.live_flow_pk = None, uuid.UUID(value)
        else:
            self.live_flow = self.get_parent(LiveFlow, "live_flow_id")
            self.live_flow_pk = self.live_flow.pk

    def scope_queryset(self, queryset):
        # The live flow in the path is inside the tenant (initial, or list's own look), so its
        # sessions are: no join to flows_liveflow, which kept the planner off session_list_idx.
        return queryset.filter(live_flow_id=self.live_flow_pk)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "limit", int, description="At most this many sessions (1-1000); default: all, streamed when long."
            ),
            OpenApiParameter("offset", int, description="Skip this many sessions first; default 0."),
        ]
    )
    def list(self, request, *args, **kwargs):
        """The live flow's sessions, newest first: the vendor's plain array (every session without `limit`)."""
        offset, end = self.page_bounds(request)
        db = connections[router.db_for_read(LiveFlowSession)]
        if end is not None and db.vendor == "postgresql" and not FilterBackend.names_a_filter(request, self):
            page = [self.live_flow_pk, end - offset, offset]
            fetched = fetch_sql_together(db.alias, [
                *((sql, page) for sql in PAGE_SQL[:4]), (PAGE_SQL[4], [self.live_flow_pk, self.tenant.organization.pk]),
            ])
            if not fetched[4]:
                get_object_or_404(LiveFlow.objects.none())
            return Response(SessionRenderer().page(session_tree(page_sql_tree(fetched))))
        queryset = self.filter_queryset(self.get_queryset())
        if end is None:
            if self.live_flow is None:  # not a page after all: the usual look first
                self.live_flow = self.get_parent(LiveFlow, "live_flow_id")
            # Every session: written as they are read (a live flow may have 100,000 of them).
            if offset:
                rest = queryset.prefetch_related(None)[offset:].values("pk")
                queryset = LiveFlowSession.objects.filter(pk__in=rest)
            return json_body(session_array(SessionRenderer(), queryset))
        # Rows, not model instances: the page's four queries and the live flow's look, in one round
        # trip (flowdesk/db/pipeline.py).
        *tree, live_flow = fetch_together(
            *session_tree_queries(queryset[offset:end]),
            LiveFlow.objects.filter(pk=self.live_flow_pk, organization=self.tenant.organization).values_list("pk"),
        )
        if not live_flow:
            get_object_or_404(LiveFlow.objects.none())
        return Response(SessionRenderer().page(session_tree(tree)))

    @extend_schema(responses={200: LiveFlowSessionSerializer})
    def create(self, request, *args, **kwargs):
        """Start a session on the live flow's current version with the trigger `inputs`."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if self.live_flow.current_version_id is None:
            raise Conflict("This live flow has no current version to run.")
        # Rendered before the transaction commits, and so before a worker can take the session:
        # the answer is the session as started (NEW), whatever the worker does next.
        with transaction.atomic():
            session = start_session(self.live_flow, serializer.validated_data["inputs"])
            data = self._session_data(session.pk)
        return Response(data)

    def retrieve(self, request, *args, **kwargs):
        pk = self.kwargs["pk"]
        data = self._session_data(pk) if is_uuid(pk) else None
        if data is None:
            raise Http404
        return Response(data)

    def _session_data(self, pk):
        """The session as GET one answers it (None: not this live flow's), in one round trip.

        Read by its key alone and the live flow checked on the row: with the live flow in the
        WHERE as well, a live flow whose statistics lag its sessions (one filling up fast) made
        PostgreSQL walk all of them (10 ms at 115,000, measured in bench/served.py's writes)."""
        by_key = LiveFlowSession.objects.filter(pk=pk)
        *tree, owner = fetch_together(*session_tree_queries(by_key), by_key.values_list("live_flow_id"))
        if owner != [(self.live_flow_pk,)]:
            return None
        return SessionRenderer().page(session_tree(tree))[0]

    @extend_schema(request=UserInputSerializer, responses=LiveFlowSessionSerializer)
    @action(detail=True, methods=["post"], url_path="user_input")
    def user_input(self, request, *args, **kwargs):
        """The vendor's "add user input": answers the USER_INPUT step the session waits on."""
        session = self.get_object()
        serializer = UserInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            # As answered (RUNNING, the next step NEW): rendered before a worker runs on.
            with transaction.atomic():
                submit_user_input(session, serializer.validated_data["user_input"])
                data = self._session_data(session.pk)
        except SessionStateError as exc:
            raise Conflict(str(exc)) from None
        return Response(data)

    @extend_schema(
        responses={(200, "text/event-stream"): OpenApiResponse(
            event_schema("JSON: the LiveFlowSessionRead."),
            description="Server-Sent Events: `id:` the session's revision (it grows with every change), `data:` "
                        "the LiveFlowSessionRead; the current state first, then every change; ends after a "
                        "terminal status (FINISHED, FAILED, CANCELLED). A comment every 15 s keeps it open.",
        )},
        parameters=[OpenApiParameter(
            "Last-Event-ID", str, OpenApiParameter.HEADER,
            description="The last `id:` the client got: a state it already has is not sent again.",
        )],
    )
    @action(detail=True, methods=["get"], renderer_classes=[ORJSONRenderer, EventStreamRenderer])
    def events(self, request, *args, **kwargs):
        """The session as it changes, as Server-Sent Events (served on ASGI: see the README)."""
        session = self.get_object()
        raw = request.headers.get("Last-Event-ID", "").strip()
        if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 20):
            raise BadRequest("Last-Event-ID must be an event id this stream sent.",
                             [ErrorItem(("header", "Last-Event-ID"), "Not an event id of this stream.")])
        pk, last_event_id = session.pk, int(raw) if raw else None
        if not served_on_asgi(request):
            # A WSGI worker cannot wait on events: the current state, then the end (follow on ASGI).
            return event_stream_response(state_snapshot(lambda: live.state(pk), last_event_id))
        stream = state_stream(
            live.channel(pk), lambda: live.state(pk), last_event_id=last_event_id,
            done=lambda data: data["status"] in live.TERMINAL,
        )
        return event_stream_response(stream)

    @extend_schema(request=None, responses=LiveFlowSessionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        """The vendor's "cancel session": CANCELLED unless it has already ended."""
        session = self.get_object()
        try:
            cancel_session(session)
        except SessionStateError as exc:
            raise Conflict(str(exc)) from None
        return Response(self._session_data(session.pk))
