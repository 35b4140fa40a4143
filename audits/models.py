"""History that cannot be rewritten: hash-chained audit events and frozen readiness snapshots."""

import hashlib
import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

GENESIS_HASH = "0" * 64


class Channel(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    WORKER = "worker", "Worker"
    CLI = "cli", "Command line"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Audit events are append-only.")

    def delete(self):
        raise TypeError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One recorded change. `hash = sha256(prev_hash + canonical event)`; see `canonical()`."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    actor_label = models.CharField(max_length=200, help_text="User name, token prefix or 'system'.")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["project", "-id"], name="auditevent_project_id"),
            models.Index(fields=["project", "object_type", "object_id"], name="auditevent_project_object"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit events are append-only.")

    def canonical(self):
        """The event's content as stable JSON: what the hash covers."""
        payload = {
            "created_at": self.created_at.isoformat(),
            "actor_user": self.actor_user_id,
            "actor_label": self.actor_label,
            "channel": self.channel,
            "project": self.project_id,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "object_repr": self.object_repr,
            "before": self.before,
            "after": self.after,
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)

    def compute_hash(self):
        return hashlib.sha256((self.prev_hash + self.canonical()).encode()).hexdigest()


class AuditChainHead(models.Model):
    """A single row locked by every audit write, so concurrent writers extend one chain, not fork it."""

    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self):
        return self.last_hash[:12]


class ReadinessSnapshot(models.Model):
    """A frozen copy of a project's readiness: what trends, diffs and sign-offs read."""

    class Kind(models.TextChoices):
        RECOMPUTE = "recompute", "On change"
        DAILY = "daily", "Daily"
        SIGNOFF = "signoff", "Sign-off"
        MANUAL = "manual", "Manual"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="snapshots")
    stage_name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    taken_at = models.DateTimeField(default=timezone.now)
    day = models.DateField(default=timezone.localdate)
    score = models.FloatField()
    verdict = models.CharField(max_length=20)
    reasons = models.JSONField(default=list)
    category_scores = models.JSONField(default=list)
    gates = models.JSONField(default=list, help_text="Every gate's code, title, status and effective status.")
    signoffs = models.JSONField(default=list)
    state_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-taken_at"]
        get_latest_by = "taken_at"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "day"], condition=Q(kind="daily"), name="snapshot_one_daily_per_project"
            ),
        ]
        indexes = [models.Index(fields=["project", "-taken_at"], name="snapshot_project_taken")]

    def __str__(self):
        return f"{self.project} {self.taken_at:%Y-%m-%d %H:%M} {self.score} {self.verdict}"
