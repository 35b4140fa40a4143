"""Personal API tokens for integrations. Only a SHA-256 of the secret is ever stored."""

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

TOKEN_PREFIX = "pf_"


def hash_token(raw):
    """The stored form of a token: a hex SHA-256 of the whole secret string."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A personal token: acts as its user, limited by its scope and (optionally) to some projects."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"
        SIGNOFF = "signoff", "Read and sign off"

    # What each scope lets a token do (the user's own project rights still apply on top).
    GRANTS = {
        Scope.READ: frozenset({"read"}),
        Scope.WRITE: frozenset({"read", "write"}),
        Scope.SIGNOFF: frozenset({"read", "signoff"}),
    }

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. “CI on main”.")
    prefix = models.CharField(max_length=16, unique=True, help_text="The token's visible start; identifies it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    projects = models.ManyToManyField(
        "projects.Project",
        blank=True,
        related_name="api_tokens",
        help_text="If any are chosen, the token sees only these projects.",
    )
    # Set with the limits at creation (a token's limits never change), so authentication knows
    # without asking whether there is a list of projects to read.
    has_project_limits = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"
        constraints = [
            models.CheckConstraint(condition=Q(scope__in=["read", "write", "signoff"]), name="apitoken_valid_scope"),
        ]

    def __str__(self):
        return f"{self.prefix}… {self.name}"

    @property
    def is_expired(self):
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self):
        return self.revoked_at is None and not self.is_expired

    @property
    def state(self):
        if self.revoked_at is not None:
            return "revoked"
        if self.is_expired:
            return "expired"
        return "active"

    def grants(self, need):
        return need in self.GRANTS.get(self.scope, frozenset())

    def allowed_project_ids(self):
        """None when the token may see every project of its user, else the set of project ids.

        Fails closed: a token created with limits whose list has emptied since (its rows removed)
        sees no project, never every project. Only a token created without limits gets None.
        """
        if "_allowed_project_ids" not in self.__dict__:
            limited = self.has_project_limits
            self.__dict__["_allowed_project_ids"] = set(self.projects.values_list("pk", flat=True)) if limited else None
        return self.__dict__["_allowed_project_ids"]
