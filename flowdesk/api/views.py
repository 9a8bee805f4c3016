"""What every API family shares: credentials, tenant scoping, error family, query validation."""

import uuid

import django_filters
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, serializers

from flowdesk.api.tenancy import resolve_tenant
from flowdesk.api.throttling import KeyRateThrottle


def query_validation_error(errors):
    """A ValidationError whose field paths read ("query", name) instead of ("body", name)."""
    exc = exceptions.ValidationError({name: [str(message) for message in messages] for name, messages in errors.items()})
    exc.loc = ("query",)
    return exc


NOT_ASCII = "Must be written in ASCII: only the digits 0-9 are numbers."


def non_ascii_values(params, is_text):
    """Errors for parameters read as numbers, timestamps, ids or flags whose value is not ASCII.

    int(), Decimal and Django's date parsing all read any script's digits ("２" is 2); a client
    that sends them made a mistake we should name rather than guess at. Text parameters are free.
    """
    return {
        name: [NOT_ASCII]
        for name, values in params.lists()
        if not is_text(name) and any(not value.isascii() for value in values)
    }


def validate_query(serializer_class, request):
    serializer = serializer_class(data=request.query_params)
    fields = serializer.fields
    errors = non_ascii_values(
        request.query_params, lambda name: name not in fields or isinstance(fields[name], serializers.CharField)
    )
    if errors:
        raise query_validation_error(errors)
    if not serializer.is_valid():
        raise query_validation_error(serializer.errors)
    return serializer.validated_data


class FilterBackend(DjangoFilterBackend):
    """django-filter, with bad query parameters reported as query errors of the family."""

    def filter_queryset(self, request, queryset, view):
        if not self.names_a_filter(request, view):
            # Nothing to filter by: an unbound FilterSet would return the queryset as it is, after
            # building a form and its fields (a tenth of a list request).
            return queryset
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        filters = filterset.filters
        errors = non_ascii_values(
            request.query_params,
            lambda name: name not in filters or isinstance(filters[name], django_filters.CharFilter),
        )
        if errors:
            raise query_validation_error(errors)
        if not filterset.is_valid():
            raise query_validation_error(filterset.errors)
        return filterset.qs

    @staticmethod
    def names_a_filter(request, view):
        """False when the FilterSet could not change the queryset: no parameter names one of its filters."""
        filterset_class = getattr(view, "filterset_class", None)
        if (
            filterset_class is None
            or filterset_class.filter_queryset is not django_filters.FilterSet.filter_queryset
            or filterset_class.qs is not django_filters.FilterSet.qs
            or any(f.extra.get("required") for f in filterset_class.base_filters.values())
        ):
            return True  # django-filter decides, as for any other view
        # A prefix match also covers filters read from several parameters (e.g. `name_min`, `name_max`).
        names = tuple(filterset_class.base_filters)
        return any(param.startswith(names) for param in request.query_params)


class LimitOffsetQuery(serializers.Serializer):
    """The vendors' `limit` / `offset` paging; without `limit`, everything from `offset` on."""

    limit = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    offset = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)


def page_parameters(noun):
    """LimitOffsetQuery's parameters as the OpenAPI document describes them, e.g. for "sessions"."""
    from drf_spectacular.utils import OpenApiParameter

    return [
        OpenApiParameter("limit", int, description=f"At most this many {noun} (1-1000); default: all."),
        OpenApiParameter("offset", int, description=f"Skip this many {noun} first; default 0."),
    ]


class TenantScopedMixin:
    """Base of every family's views.

    ``family`` picks the error body; ``organization_field`` (and, for per-workspace families,
    ``workspace_field``) is the lookup from the view's model to its tenant, applied to every
    queryset so that another tenant's object is a 404 exactly as if it did not exist.
    """

    family = None
    organization_field = "organization"
    workspace_field = None
    workspace_required = False
    uuid_lookup = False
    filter_backends = [FilterBackend]
    throttle_classes = [KeyRateThrottle]

    page_query = LimitOffsetQuery

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.tenant = resolve_tenant(request, workspace_required=self.workspace_required)

    def page_bounds(self, request):
        """(offset, end) of the page asked for: a slice ``[offset:end]``, end None for no limit."""
        page = validate_query(self.page_query, request)
        offset = page["offset"]
        return offset, offset + page["limit"] if "limit" in page else None

    def scope_queryset(self, queryset):
        queryset = queryset.filter(**{self.organization_field: self.tenant.organization})
        if self.workspace_field and self.tenant.workspace is not None:
            queryset = queryset.filter(**{self.workspace_field: self.tenant.workspace})
        return queryset

    def get_queryset(self):
        return self.scope_queryset(super().get_queryset())

    def get_object(self):
        lookup = self.lookup_url_kwarg or self.lookup_field
        if self.uuid_lookup and not is_uuid(self.kwargs.get(lookup)):
            raise Http404
        return super().get_object()


def is_uuid(value):
    if not str(value).isascii():
        return False  # uuid.UUID reads other scripts' digits too
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class StrictSerializerMixin:
    """Unknown keys in a request body are an error, not silently dropped."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields) - set(getattr(self, "ignored_fields", ()))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        return super().to_internal_value(data)
