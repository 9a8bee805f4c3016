"""Which organization and workspace a request acts in, decided once for every family."""

from dataclasses import dataclass

from rest_framework import exceptions

from accounts.api.errors import BadRequest, ErrorItem
from accounts.models import Membership, Organization, Workspace


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
    org_id = request.headers.get("Current-Org-Id", "").strip() or key.organization_id
    if key.workspace_id and org_id != key.organization_id:
        raise exceptions.PermissionDenied("This API key is limited to one workspace of another organization.")
    if org_id == key.organization_id and getattr(key, "member_of_own_organization", False):
        # Authentication already proved the membership and loaded the organization.
        organization = key.organization
    else:
        # One query: the membership proves access and brings the organization along.
        # An id with a NUL cannot exist, and PostgreSQL refuses to compare with one: answer as for any unknown id.
        membership = "\x00" not in org_id and (
            Membership.objects.select_related("organization").filter(user=key.user_id, organization_id=org_id).first()
        )
        if not membership:
            raise exceptions.PermissionDenied(f"No access to organization {org_id!r}.")
        organization = membership.organization

    workspace_id = request.headers.get("x-workspace-id", "").strip()
    workspace = None
    if key.workspace_id:
        if workspace_id and workspace_id != key.workspace_id:
            raise exceptions.PermissionDenied(f"This API key is limited to workspace {key.workspace_id!r}.")
        workspace = key.workspace
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
