from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import KEY_PREFIX, PREFIX_LENGTH, ApiKey, Membership, Organization, Workspace
from flowdesk.api.tenancy import TenantRows, requested_ids
from flowdesk.db import routers as replica_routes

# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def raw_key_from_headers(headers):
    """The key from `Authorization: Bearer`, `Api-key` or `x-api-key`, in that order."""
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for name in ("Api-key", "x-api-key"):
        value = headers.get(name, "").strip()
        if value:
            return value
    return None


class _Part:
    """One model's columns in the key query: its SQL select list and how to build the instance."""

    def __init__(self, model, alias, connection, outer=False):
        qn = connection.ops.quote_name
        self.model = model
        self.outer = outer
        self.fields = model._meta.concrete_fields
        self.names = [field.attname for field in self.fields]
        self.sql = ", ".join(f"{alias}.{qn(field.column)}" for field in self.fields)
        self.width = len(self.fields)
        self.pk_index = self.names.index(model._meta.pk.attname)
        # What the ORM would apply to each column (e.g. SQLite's text datetimes); none on PostgreSQL.
        self.converters = []
        for index, field in enumerate(self.fields):
            col = field.get_col(alias)
            converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if converters:
                self.converters.append((index, col, converters))

    def build(self, row, start, db, connection):
        values = list(row[start : start + self.width])
        if self.outer and values[self.pk_index] is None:
            return None  # an outer join that found nothing
        for index, col, converters in self.converters:
            value = values[index]
            for converter in converters:
                value = converter(value, col, connection)
            values[index] = value
        return self.model.from_db(db, self.names, values)


class KeyQuery:
    """The one query that authenticates a request: a constant SQL string, built once per database.

    The key row with its user, organization, workspace, whether the user still belongs to the key's
    organization, and the organization (through the user's membership) and workspace that the
    request's Current-Org-Id and x-workspace-id headers name, so tenant resolution needs no query of
    its own. Nothing is cached between requests: a revoked key or a removed membership takes effect
    on the next request.
    """

    _built = {}

    @classmethod
    def for_database(cls, db):
        connection = connections[db]
        query = cls._built.get((db, connection.vendor))
        if query is None:
            query = cls._built[(db, connection.vendor)] = cls(connection)
        return query

    def __init__(self, connection):
        qn = connection.ops.quote_name
        user_model = get_user_model()
        self.parts = [
            _Part(ApiKey, "k", connection),
            _Part(user_model, "u", connection),
            _Part(Organization, "o", connection),
            _Part(Workspace, "w", connection, outer=True),
            _Part(Organization, "ro", connection, outer=True),
            _Part(Workspace, "rw", connection, outer=True),
        ]
        key, user, organization, workspace, requested_org, requested_ws = self.parts
        membership = qn(Membership._meta.db_table)
        m_user = qn(Membership._meta.get_field("user").column)
        m_org = qn(Membership._meta.get_field("organization").column)
        k_user = qn(ApiKey._meta.get_field("user").column)
        k_org = qn(ApiKey._meta.get_field("organization").column)
        k_ws = qn(ApiKey._meta.get_field("workspace").column)
        org_pk = qn(Organization._meta.pk.column)
        ws_pk = qn(Workspace._meta.pk.column)
        self.sql = (
            f"SELECT {key.sql}, {user.sql}, {organization.sql}, {workspace.sql}, "
            f"EXISTS (SELECT 1 FROM {membership} m WHERE m.{m_user} = k.{k_user} AND m.{m_org} = k.{k_org}), "
            f"{requested_org.sql}, {requested_ws.sql} "
            f"FROM {qn(ApiKey._meta.db_table)} k "
            f"INNER JOIN {qn(user_model._meta.db_table)} u ON u.{qn(user_model._meta.pk.column)} = k.{k_user} "
            f"INNER JOIN {qn(Organization._meta.db_table)} o ON o.{org_pk} = k.{k_org} "
            f"LEFT OUTER JOIN {qn(Workspace._meta.db_table)} w ON w.{ws_pk} = k.{k_ws} "
            f"LEFT OUTER JOIN {membership} rm ON rm.{m_user} = k.{k_user} AND rm.{m_org} = %s "
            f"LEFT OUTER JOIN {qn(Organization._meta.db_table)} ro ON ro.{org_pk} = rm.{m_org} "
            f"LEFT OUTER JOIN {qn(Workspace._meta.db_table)} rw ON rw.{ws_pk} = %s "
            f"WHERE k.{qn(ApiKey._meta.get_field('prefix').column)} = %s"
        )

    def fetch(self, db, prefix, organization_id, workspace_id):
        connection = connections[db]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [organization_id, workspace_id, prefix])
            row = cursor.fetchone()
        if row is None:
            return None
        key_part, user_part, org_part, ws_part, requested_org_part, requested_ws_part = self.parts
        start = 0
        built = []
        for part in (key_part, user_part, org_part, ws_part):
            built.append(part.build(row, start, db, connection))
            start += part.width
        key, user, organization, workspace = built
        key.member_of_own_organization = bool(row[start])
        start += 1
        requested_org = requested_org_part.build(row, start, db, connection)
        start += requested_org_part.width
        requested_ws = requested_ws_part.build(row, start, db, connection)
        _USER.set_cached_value(key, user)
        _ORGANIZATION.set_cached_value(key, organization)
        _WORKSPACE.set_cached_value(key, workspace)
        key.tenant_rows = TenantRows(organization_id, requested_org, workspace_id, requested_ws)
        return key


_USER = ApiKey._meta.get_field("user")
_ORGANIZATION = ApiKey._meta.get_field("organization")
_WORKSPACE = ApiKey._meta.get_field("workspace")


def _lookup_id(value):
    # An id with a NUL cannot exist, and PostgreSQL refuses to compare with one: look up nothing.
    return value if value and "\x00" not in value else None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        raw = raw_key_from_headers(request.headers)
        if raw is None:
            return None
        if not raw.startswith(KEY_PREFIX) or len(raw) < PREFIX_LENGTH + 16 or len(raw) > 256:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        organization_id, workspace_id = requested_ids(request.headers)
        db = router.db_for_read(ApiKey)
        key = KeyQuery.for_database(db).fetch(db, raw[:PREFIX_LENGTH], _lookup_id(organization_id), _lookup_id(workspace_id))
        if key is None or not key.matches(raw):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if not key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if not key.user.is_active:
            raise exceptions.AuthenticationFailed("The user of this API key is inactive.")
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            # On the primary by name: bookkeeping, not a write of the client's, so it does not keep
            # the key's reads off the replicas (flowdesk.db.routers).
            ApiKey.objects.using(DEFAULT_DB_ALIAS).filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        replica_routes.authenticated(key.pk)
        return key.user, key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when no credentials were sent.
        return "Bearer"
