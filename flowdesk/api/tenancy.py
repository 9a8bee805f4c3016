"""Which organization and workspace a request acts in, decided once for every family."""

from dataclasses import dataclass

from rest_framework import exceptions

from accounts.models import Membership, Organization, Workspace
from flowdesk.api.errors import BadRequest, ErrorItem


@dataclass(frozen=True)
class TenantRows:
    """What authentication's key query already read for the request's tenant headers.

    ``organization``: the organization ``organization_id`` names if the key's user is a member of
    it, else None; ``workspace``: the workspace ``workspace_id`` names (any organization), else None.
    """

    organization_id: str | None
    organization: Organization | None
    workspace_id: str | None
    workspace: Workspace | None


def requested_ids(headers):
    """The organization and workspace ids the request names (`Current-Org-Id`, `x-workspace-id`), or ""."""
    return headers.get("Current-Org-Id", "").strip(), headers.get("x-workspace-id", "").strip()


@dataclass(frozen=True)
class Tenant:
    user: object
    key: object
    organization: Organization
    workspace: Workspace | None


def resolve_tenant(request, *, workspace_required=False):
    """Organization from `Current-Org-Id` (else the key's), workspace from `x-workspace-id`.

    401 is DRF's business (no or bad key); here a known key asking for an organization or
    workspace outside its reach gets 403, and a missing required workspace header 400.
    """
    key = request.auth
    if key is None:
        raise exceptions.NotAuthenticated()
    requested_org_id, workspace_id = requested_ids(request.headers)
    org_id = requested_org_id or key.organization_id
    rows = getattr(key, "tenant_rows", None)
    if key.workspace_id and org_id != key.organization_id:
        raise exceptions.PermissionDenied("This API key is limited to one workspace of another organization.")
    if org_id == key.organization_id and getattr(key, "member_of_own_organization", False):
        # Authentication already proved the membership and loaded the organization.
        organization = key.organization
    elif rows is not None and rows.organization_id == org_id:
        # Authentication's query read the membership (and its organization) for this id.
        organization = rows.organization
        if organization is None:
            raise exceptions.PermissionDenied(f"No access to organization {org_id!r}.")
    else:
        # One query: the membership proves access and brings the organization along.
        # An id with a NUL cannot exist, and PostgreSQL refuses to compare with one: answer as for any unknown id.
        membership = "\x00" not in org_id and (
            Membership.objects.select_related("organization").filter(user=key.user_id, organization_id=org_id).first()
        )
        if not membership:
            raise exceptions.PermissionDenied(f"No access to organization {org_id!r}.")
        organization = membership.organization

    workspace = None
    if key.workspace_id:
        if workspace_id and workspace_id != key.workspace_id:
            raise exceptions.PermissionDenied(f"This API key is limited to workspace {key.workspace_id!r}.")
        workspace = key.workspace
    elif workspace_id and rows is not None and rows.workspace_id == workspace_id:
        # Authentication's query read the workspace of this id; it must belong to the organization.
        workspace = rows.workspace if rows.workspace and rows.workspace.organization_id == organization.pk else None
        if not workspace:
            raise exceptions.PermissionDenied(f"No access to workspace {workspace_id!r} in organization {org_id!r}.")
    elif workspace_id:
        workspace = "\x00" not in workspace_id and Workspace.objects.filter(pk=workspace_id, organization=organization).first()
        if not workspace:
            raise exceptions.PermissionDenied(f"No access to workspace {workspace_id!r} in organization {org_id!r}.")
    if workspace_required and workspace is None:
        raise BadRequest(
            "The x-workspace-id header is required.",
            [ErrorItem(("header", "x-workspace-id"), "This header is required.", "required")],
        )
    return Tenant(user=key.user, key=key, organization=organization, workspace=workspace)
