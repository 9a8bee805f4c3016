from django.db import connections, router, transaction
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from flowdesk.api.fields import UTC_TEXT_SQL, has_nul
from flowdesk.api.views import FilterBackend, TenantScopedMixin, page_parameters
from messaging import services
from messaging.api.errors import MESSAGE_FLOWS
from messaging.api.renderers import LIST_COLUMNS, message_flow_data, message_flow_row, message_flow_text_row
from messaging.api.serializers import (
    MessageFlowDetailSerializer,
    MessageFlowPatchSerializer,
    MessageFlowPutSerializer,
    MessageFlowReadSerializer,
    MessageFlowSerializer,
)
from messaging.filters import MessageFlowFilterSet
from messaging.models import Agent, MessageFlow

# The unfiltered page (nearly every list request) as one constant SQL string on PostgreSQL: what
# the ORM builds from MessageFlowViewSet's list queryset (LIST_COLUMNS of the workspace's flows,
# oldest first), with settings as jsonb text and the timestamps formatted by PostgreSQL. Compiling
# the query, parsing settings with the json module and formatting timestamps in Python were 40% of
# the request, served (bench/FINDINGS.md). The workspace is the tenant's, so in its organization.
PAGE_SQL = (
    "SELECT f.id, f.workspace_id, f.name, f.direction, f.description, a.agent_id, f.settings::text, f.prompt, "
    f"f.is_active, f.autopilot, f.message_channel, {UTC_TEXT_SQL.format('f.created_at')}, "
    f"{UTC_TEXT_SQL.format('f.updated_at')} "
    f"FROM {MessageFlow._meta.db_table} f JOIN {Agent._meta.db_table} a ON a.id = f.agent_id "
    "WHERE f.workspace_id = %s ORDER BY f.created_at, f.id LIMIT %s OFFSET %s"
)

# The vendor documents an optional, empty object; any object is accepted and its keys not read.
TOGGLE_BODY = {
    "type": "object",
    "additionalProperties": True,
    "description": "Optional: an empty object, or no body at all. Its keys are not read.",
    "example": {},
}


def vendor_now():
    # The vendor stores milliseconds (MongoDB dates); so do we, so timestamps read alike.
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def agent_in(workspace_id, agent_id):
    """The workspace's agent row for this id, created the first time a flow names it."""
    agent, _ = Agent.objects.get_or_create(workspace_id=workspace_id, agent_id=agent_id)
    return agent


class MessageFlowViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    """`/v1/api/message-flows`: the flows of the workspace named by `x-workspace-id`."""

    family = MESSAGE_FLOWS
    organization_field = "workspace__organization"
    workspace_field = "workspace"
    workspace_required = True
    # agent: every shape renders the agent's id
    queryset = MessageFlow.objects.select_related("agent")
    serializer_class = MessageFlowSerializer
    filterset_class = MessageFlowFilterSet
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "list":
            return queryset.only(*LIST_COLUMNS)
        if self.action in ("update", "partial_update", "toggle_autopilot"):
            # Locked for the read-modify-write, so that two toggles flip twice and two settings changes
            # both land.
            return queryset.select_for_update(of=("self",))
        return queryset

    def get_object(self):
        # No stored id holds a NUL (PostgreSQL refuses to compare with one) or outgrows the column.
        value = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        if has_nul(value) or len(value) > MessageFlow._meta.pk.max_length:
            raise Http404
        return super().get_object()

    @extend_schema(
        responses=MessageFlowReadSerializer(many=True),
        parameters=page_parameters("flows"),
    )
    def list(self, request, *args, **kwargs):
        """The workspace's message flows, oldest first: the vendor's plain array."""
        offset, end = self.page_bounds(request)
        db = connections[router.db_for_read(MessageFlow)]
        if db.vendor == "postgresql" and not FilterBackend.names_a_filter(request, self):
            with db.cursor() as cursor:
                cursor.execute(PAGE_SQL, [self.tenant.workspace.pk, None if end is None else end - offset, offset])
                return Response([message_flow_text_row(row) for row in cursor.fetchall()])
        queryset = self.filter_queryset(self.get_queryset())
        # Rendered from rows, not model instances: building them was a third of the request.
        return Response([message_flow_row(row) for row in queryset.values_list(*LIST_COLUMNS)[offset:end]])

    @extend_schema(responses=MessageFlowDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        """One message flow, with its initiationMessage and version (`__v`)."""
        return Response(message_flow_data(self.get_object(), detail=True))

    @extend_schema(request=MessageFlowSerializer, responses={201: MessageFlowDetailSerializer})
    def create(self, request, *args, **kwargs):
        """Create a message flow in the workspace; its agent is created there when new.

        Settings start from the vendor's defaults; responseSettings may give the working-hours keys flat.
        """
        workspace = self.tenant.workspace
        serializer = MessageFlowSerializer(data=request.data, mode="create", context={"workspace": workspace})
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        now = vendor_now()
        with transaction.atomic():
            agent = agent_in(workspace.pk, data.pop("agent"))
            flow = MessageFlow.objects.create(workspace=workspace, agent=agent, created_at=now, updated_at=now, **data)
            services.published(flow.pk, self.tenant.organization.pk)
        headers = {"Location": f"/v1/api/message-flows/{flow.pk}"}
        return Response(message_flow_data(flow, detail=True), status=status.HTTP_201_CREATED, headers=headers)

    @extend_schema(request=MessageFlowPutSerializer, responses=MessageFlowDetailSerializer)
    def update(self, request, *args, partial=False, **kwargs):
        """The vendor's PUT: description, settings (only the sections and keys given change), and
        toggleAutopilot (true flips autopilot)."""
        with transaction.atomic():
            flow = self.get_object()
            serializer_class = MessageFlowPatchSerializer if partial else MessageFlowPutSerializer
            serializer = serializer_class(data=request.data, context={"workspace": self.tenant.workspace, "flow": flow})
            serializer.is_valid(raise_exception=True)
            if apply_changes(flow, dict(serializer.validated_data)):
                flow.updated_at = vendor_now()
                flow.version += 1
                flow.save()
                services.published(flow.pk, self.tenant.organization.pk)
        return Response(message_flow_data(flow, detail=True))

    @extend_schema(request=MessageFlowPatchSerializer, responses=MessageFlowDetailSerializer)
    def partial_update(self, request, *args, **kwargs):
        """Change any subset of the writable fields."""
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(request={"application/json": TOGGLE_BODY}, responses=MessageFlowDetailSerializer)
    @action(detail=True, methods=["put"], url_path="toggle-autopilot")
    def toggle_autopilot(self, request, *args, **kwargs):
        """Flip autopilot: the flow as GET one answers it, with a new `__v`. The body may be left out."""
        with transaction.atomic():
            flow = self.get_object()
            # The vendor's example sends `{"": "<string>"}`: any object is taken, its keys unread.
            if not isinstance(request.data, dict):
                raise ValidationError({"non_field_errors": ["Expected a JSON object, or no body."]})
            flow.autopilot = not flow.autopilot
            flow.updated_at = vendor_now()
            flow.version += 1
            flow.save(update_fields=["autopilot", "updated_at", "version"])
            services.published(flow.pk, self.tenant.organization.pk)
        return Response(message_flow_data(flow, detail=True))

    @extend_schema(responses={204: None})
    def destroy(self, request, *args, **kwargs):
        """Delete the message flow: 204 with an empty body."""
        self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def apply_changes(flow, data):
    """Set the validated changes on ``flow``; True when any value actually changed."""
    changed = False
    if data.pop("toggle_autopilot", False):
        flow.autopilot = not flow.autopilot
        changed = True
    if "agent" in data:
        agent_id = data.pop("agent")
        if agent_id != flow.agent.agent_id:
            flow.agent = agent_in(flow.workspace_id, agent_id)
            changed = True
    for name, value in data.items():
        if getattr(flow, name) != value:
            setattr(flow, name, value)
            changed = True
    return changed
