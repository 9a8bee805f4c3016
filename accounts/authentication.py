from datetime import timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import KEY_PREFIX, PREFIX_LENGTH, ApiKey, Membership

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


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        raw = raw_key_from_headers(request.headers)
        if raw is None:
            return None
        if not raw.startswith(KEY_PREFIX) or len(raw) < PREFIX_LENGTH + 16 or len(raw) > 256:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        # One query: the key with what tenant resolution reads (user, organization, workspace, and
        # whether the user still belongs to the key's organization), so most requests need no other.
        key = (
            ApiKey.objects.select_related("user", "organization", "workspace")
            .annotate(
                member_of_own_organization=Exists(
                    Membership.objects.filter(user=OuterRef("user"), organization=OuterRef("organization"))
                )
            )
            .filter(prefix=raw[:PREFIX_LENGTH])
            .first()
        )
        if key is None or not key.matches(raw):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if not key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if not key.user.is_active:
            raise exceptions.AuthenticationFailed("The user of this API key is inactive.")
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return key.user, key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when no credentials were sent.
        return "Bearer"
