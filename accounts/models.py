import hashlib
import hmac
import secrets
import string

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

_ALPHABET = string.ascii_letters + string.digits


def random_id(prefix, length=16):
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_organization_id():
    return random_id("org_")


def new_workspace_id():
    return random_id("ws_")


class Organization(models.Model):
    # Kept as given (e.g. org_u13TesTDumMyEe5P): clients send it back in Current-Org-Id.
    id = models.CharField(primary_key=True, max_length=64, default=new_organization_id)
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="organizations")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name or self.id


class Workspace(models.Model):
    id = models.CharField(primary_key=True, max_length=64, default=new_workspace_id)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="workspaces")
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name or self.id


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        MEMBER = "member"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="membership_unique")]

    def __str__(self):
        return f"{self.user} in {self.organization_id}"


KEY_PREFIX = "fdk_"
# The visible part: "fdk_" and 8 characters, enough to find the row without revealing the secret.
PREFIX_LENGTH = len(KEY_PREFIX) + 8


def hash_key(raw):
    # The key carries 256 random bits, so a fast hash is safe: there is nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


def home_organization(user):
    """The id of the user's one organization, None when they have none or several: the organization
    an event about them (an export, an erasure) is filed under, so its staff see it."""
    organizations = list(Membership.objects.filter(user=user).values_list("organization_id", flat=True)[:2])
    return organizations[0] if len(organizations) == 1 else None


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    # Optional narrowing: a key that may only act in this workspace.
    workspace = models.ForeignKey(Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200, blank=True)
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.prefix}… ({self.name or self.user})"

    @classmethod
    def generate(cls, *, user, organization, workspace=None, name=""):
        """Create a key; returns (ApiKey, raw key). The raw key is never stored."""
        if workspace is not None and workspace.organization_id != organization.pk:
            raise ValueError("the workspace must belong to the key's organization")
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        key = cls.objects.create(
            user=user,
            organization=organization,
            workspace=workspace,
            name=name,
            prefix=raw[:PREFIX_LENGTH],
            key_hash=hash_key(raw),
        )
        return key, raw

    def clean(self):
        if self.workspace_id and self.workspace.organization_id != self.organization_id:
            raise ValidationError({"workspace": "The workspace must belong to the key's organization."})

    def matches(self, raw):
        return hmac.compare_digest(self.key_hash, hash_key(raw))

    @property
    def is_active(self):
        return self.revoked_at is None

    def revoke(self):
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
