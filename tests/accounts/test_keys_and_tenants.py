import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiKey, Membership, Organization, Workspace, hash_key
from tests.conftest import key_client, make_tenant
from tests.flows.factories import make_live_flow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def live_flow(tenant):
    return make_live_flow(tenant.organization)


UNAUTHENTICATED = {"detail": "Authentication credentials were not provided."}
INVALID = {"detail": "Invalid API key."}


@pytest.mark.parametrize(
    "headers, body",
    [
        ({}, UNAUTHENTICATED),
        ({"HTTP_AUTHORIZATION": "Bearer fdk_thisIsNotAKeyThatExists000000000000"}, INVALID),
        ({"HTTP_API_KEY": "garbage"}, INVALID),
        ({"HTTP_X_API_KEY": "fdk_"}, INVALID),
        ({"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}, UNAUTHENTICATED),
    ],
)
def test_401_without_or_with_a_bad_key(live_flow, headers, body):
    response = APIClient().get(f"/live_flows/{live_flow.pk}/sessions", **headers)
    assert response.status_code == 401
    assert response.json() == body
    assert response["WWW-Authenticate"] == "Bearer"


def test_401_with_a_key_that_shares_the_prefix_but_not_the_secret(tenant, live_flow):
    forged = tenant.raw_key[:12] + "A" * (len(tenant.raw_key) - 12)
    response = key_client(forged).get(f"/live_flows/{live_flow.pk}/sessions")
    assert (response.status_code, response.json()) == (401, INVALID)


def test_401_with_a_revoked_key(tenant, live_flow):
    assert tenant.client.get(f"/live_flows/{live_flow.pk}/sessions").status_code == 200
    tenant.key.revoke()
    response = tenant.client.get(f"/live_flows/{live_flow.pk}/sessions")
    assert (response.status_code, response.json()) == (401, {"detail": "This API key has been revoked."})


@pytest.mark.parametrize("header", ["Authorization", "Api-key", "x-api-key"])
def test_each_credential_header_works(tenant, live_flow, header):
    assert key_client(tenant.raw_key, header).get(f"/live_flows/{live_flow.pk}/sessions").status_code == 200


def test_key_is_stored_hashed_and_records_last_use(tenant, live_flow):
    key = ApiKey.objects.get(pk=tenant.key.pk)
    assert key.key_hash == hash_key(tenant.raw_key) and tenant.raw_key not in (key.key_hash, key.prefix)
    assert tenant.raw_key.startswith(key.prefix) and len(tenant.raw_key) >= 4 + 43  # 256 random bits
    assert key.last_used_at is None
    tenant.client.get(f"/live_flows/{live_flow.pk}/sessions")
    assert ApiKey.objects.get(pk=tenant.key.pk).last_used_at is not None


def test_403_for_an_organization_without_membership(tenant, other_tenant, live_flow):
    for org_id in (other_tenant.organization.pk, "org_doesNotExist"):
        response = tenant.client.get(f"/live_flows/{live_flow.pk}/sessions", HTTP_CURRENT_ORG_ID=org_id)
        assert response.status_code == 403
        assert response.json() == {"detail": f"No access to organization {org_id!r}."}


def test_current_org_id_selects_another_membership(tenant, other_tenant):
    theirs = make_live_flow(other_tenant.organization)
    Membership.objects.create(user=tenant.user, organization=other_tenant.organization)
    url = f"/live_flows/{theirs.pk}/sessions"
    assert tenant.client.get(url).status_code == 404  # the key's own organization by default
    assert tenant.client.get(url, HTTP_CURRENT_ORG_ID=other_tenant.organization.pk).status_code == 200


def test_403_for_a_workspace_outside_the_organization(tenant, other_tenant, live_flow):
    url = f"/live_flows/{live_flow.pk}/sessions"
    assert tenant.client.get(url, HTTP_X_WORKSPACE_ID=tenant.workspace.pk).status_code == 200
    for workspace_id in (other_tenant.workspace.pk, "ws_nowhere"):
        response = tenant.client.get(url, HTTP_X_WORKSPACE_ID=workspace_id)
        assert response.status_code == 403, workspace_id


def test_workspace_narrowed_key(tenant, live_flow):
    second = Workspace.objects.create(pk="ws_second", organization=tenant.organization)
    _, raw = ApiKey.generate(user=tenant.user, organization=tenant.organization, workspace=tenant.workspace)
    client = key_client(raw)
    url = f"/live_flows/{live_flow.pk}/sessions"
    assert client.get(url).status_code == 200
    assert client.get(url, HTTP_X_WORKSPACE_ID=second.pk).status_code == 403


def test_removed_membership_locks_the_key_out(tenant, live_flow):
    Membership.objects.filter(user=tenant.user).delete()
    assert tenant.client.get(f"/live_flows/{live_flow.pk}/sessions").status_code == 403


def test_request_ids(tenant, live_flow):
    url = f"/live_flows/{live_flow.pk}/sessions"
    first = tenant.client.get(url)["X-Request-Id"]
    second = tenant.client.get(url)["X-Request-Id"]
    assert first.startswith("req_") and second.startswith("req_") and first != second
    assert tenant.client.get(url, HTTP_X_REQUEST_ID="trace-1234abcd")["X-Request-Id"] == "trace-1234abcd"
    assert tenant.client.get(url, HTTP_X_REQUEST_ID="bad id <script>")["X-Request-Id"].startswith("req_")
    assert APIClient().get(url)["X-Request-Id"].startswith("req_")  # errors carry one too
    assert APIClient().get("/admin/login/")["X-Request-Id"].startswith("req_")


def test_create_api_key_creates_what_is_missing(db, live_flow=None):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", user="bob", org="org_new", workspace="ws_new", name="ci", stdout=out, stderr=err)
    raw = out.getvalue().strip().splitlines()[-1]
    assert raw.startswith("fdk_")
    key = ApiKey.objects.get()
    assert (key.user.username, key.organization_id, key.workspace_id, key.name) == ("bob", "org_new", "ws_new", "ci")
    assert Membership.objects.filter(user=key.user, organization_id="org_new").exists()
    assert "Created organization org_new." in err.getvalue()
    assert "Created workspace ws_new" in err.getvalue()
    assert raw not in err.getvalue()
    live_flow = make_live_flow(Organization.objects.get(pk="org_new"))
    assert key_client(raw, "x-api-key").get(f"/live_flows/{live_flow.pk}/sessions").status_code == 200
    # a second key for the same user reuses everything
    call_command("create_api_key", user="bob", org="org_new", stdout=io.StringIO(), stderr=io.StringIO())
    assert ApiKey.objects.count() == 2 and Organization.objects.count() == 1


def test_create_api_key_refuses_a_workspace_of_another_org(db):
    make_tenant("org_a", "a", workspace_id="ws_a")
    with pytest.raises(CommandError, match="belongs to another organization"):
        call_command("create_api_key", user="bob", org="org_b", workspace="ws_a", stdout=io.StringIO(),
                     stderr=io.StringIO())
    assert not ApiKey.objects.filter(user__username="bob").exists()


# --- settings read the environment strictly -------------------------------------------------


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DEBUG": "maybe"}, "DEBUG must be one of"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL must be a postgres:// or sqlite:// URL"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 50 characters"),
        ({"ALLOWED_HOSTS": "a,,b"}, "ALLOWED_HOSTS must be a comma-separated list"),
    ],
)
def test_bad_environment_stops_start_up_naming_the_variable(env, message):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_migrations_match_the_models(db):
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)


# --- the key query: one query reads the key and what the tenant headers name ----------------------


def test_inactive_user_is_refused(tenant, live_flow):
    tenant.user.is_active = False
    tenant.user.save()
    response = tenant.client.get(f"/live_flows/{live_flow.pk}/sessions")
    assert (response.status_code, response.json()) == (401, {"detail": "The user of this API key is inactive."})


def test_membership_removed_from_another_organization_takes_effect_on_the_next_request(tenant, other_tenant):
    theirs = make_live_flow(other_tenant.organization)
    membership = Membership.objects.create(user=tenant.user, organization=other_tenant.organization)
    url = f"/live_flows/{theirs.pk}/sessions"
    assert tenant.client.get(url, HTTP_CURRENT_ORG_ID=other_tenant.organization.pk).status_code == 200
    membership.delete()
    response = tenant.client.get(url, HTTP_CURRENT_ORG_ID=other_tenant.organization.pk)
    assert (response.status_code, response.json()) == (
        403, {"detail": f"No access to organization {other_tenant.organization.pk!r}."}
    )


def test_workspace_of_another_organization_is_refused_with_its_message(tenant, other_tenant, live_flow):
    url = f"/live_flows/{live_flow.pk}/sessions"
    Membership.objects.create(user=tenant.user, organization=other_tenant.organization)
    # The workspace exists and the user may act in its organization, but not while acting in their own.
    response = tenant.client.get(url, HTTP_X_WORKSPACE_ID=other_tenant.workspace.pk)
    assert (response.status_code, response.json()) == (
        403,
        {"detail": f"No access to workspace {other_tenant.workspace.pk!r} in organization {tenant.organization.pk!r}."},
    )


def test_key_query_reads_the_tenant_headers_too(tenant, other_tenant, django_assert_num_queries):
    from django.utils import timezone

    from chat.models import ChatSession

    ChatSession.objects.create(organization=other_tenant.organization, context_type="session", session_id="s_1")
    Membership.objects.create(user=tenant.user, organization=other_tenant.organization)
    tenant.key.last_used_at = timezone.now()
    tenant.key.save()
    headers = {"HTTP_CURRENT_ORG_ID": other_tenant.organization.pk, "HTTP_X_WORKSPACE_ID": other_tenant.workspace.pk}
    # key (with user, organization, workspace, membership, and the organization and workspace named); sessions
    with django_assert_num_queries(2):
        response = tenant.client.get("/v1/ai/workflow/chat/sessions", **headers)
    assert [item["sessionId"] for item in response.json()["data"]["items"]] == ["s_1"]


def test_authenticated_key_carries_full_rows(tenant, rf):
    from flowdesk.api.authentication import ApiKeyAuthentication

    request = rf.get("/", HTTP_AUTHORIZATION=f"Bearer {tenant.raw_key}", HTTP_X_WORKSPACE_ID=tenant.workspace.pk)
    user, key = ApiKeyAuthentication().authenticate(request)
    assert (user, key, key.user, key.organization) == (tenant.user, tenant.key, tenant.user, tenant.organization)
    assert user.username == tenant.user.username and user.is_active is True and user.date_joined is not None
    assert key.created_at == ApiKey.objects.get(pk=key.pk).created_at and key.workspace is None
    assert key.organization.created_at == tenant.organization.created_at
    assert key.tenant_rows.workspace == tenant.workspace
    assert key.tenant_rows.workspace.created_at == tenant.workspace.created_at


def test_filter_backend_skips_the_filterset_only_when_no_parameter_names_a_filter(rf):
    import django_filters
    from rest_framework.request import Request

    from chat.filters import ChatSessionFilterSet
    from flowdesk.api.views import FilterBackend

    class AlwaysFilters(ChatSessionFilterSet):
        def filter_queryset(self, queryset):
            return queryset.none()

    class View:
        filterset_class = ChatSessionFilterSet

    def names(query, filterset_class=ChatSessionFilterSet):
        View.filterset_class = filterset_class
        return FilterBackend.names_a_filter(Request(rf.get("/" + query)), View)

    assert not names("") and not names("?limit=5&offset=0")
    assert names("?search=") and names("?contextType=bad") and names("?limit=5&lastMessageAfter=x")
    assert names("", AlwaysFilters)  # a FilterSet of its own making always runs
    required = type("Required", (django_filters.FilterSet,), {"q": django_filters.CharFilter(required=True)})
    assert names("", required)
