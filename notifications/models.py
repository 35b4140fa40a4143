"""Who is told what: in-app/email notifications with per-kind preferences, and outbound webhooks."""

import secrets
import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Kind(models.TextChoices):
    GATE_REOPENED = "gate_reopened", "A gate I own reopens"
    GATE_STALE = "gate_stale", "Evidence of a gate I own goes stale"
    VERDICT_CHANGED = "verdict_changed", "The verdict of a project of mine changes"
    SIGNOFF_REQUESTED = "signoff_requested", "My sign-off is requested"
    SIGNOFF_STALE = "signoff_stale", "A sign-off I gave goes stale"
    WAIVER_EXPIRING = "waiver_expiring", "A waiver on a gate I own or approved nears expiry"
    DUE_REMINDER = "due_reminder", "Gates I own are due soon or overdue"
    WEBHOOK_DISABLED = "webhook_disabled", "A webhook of a project I own was disabled"
    WEEKLY_DIGEST = "weekly_digest", "Weekly digest of my projects"


class Delivery(models.TextChoices):
    IMMEDIATE = "immediate", "Immediately"
    DAILY = "daily", "In a daily digest"
    OFF = "off", "Off"


class Notification(models.Model):
    """One thing a user is told: listed in the app, and emailed now or in the daily digest."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True, help_text="Path of the page it is about.")
    # Makes creation idempotent: the same event, reminder day or sign-off never notifies twice.
    dedupe_key = models.CharField(max_length=200, blank=True)
    # How it is emailed, fixed from the user's preference when it was created.
    email_mode = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.IMMEDIATE)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # Failed email sends: counted, the last error kept, retried after a doubling delay until
    # PREFLIGHT_EMAIL_MAX_ATTEMPTS, then given up (email_failed_at). Listed in the app regardless.
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_last_error = models.CharField(max_length=500, blank=True)
    email_next_attempt_at = models.DateTimeField(null=True, blank=True)
    email_failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "dedupe_key"], condition=~Q(dedupe_key=""), name="notification_unique_dedupe_key"
            ),
            models.CheckConstraint(condition=~Q(email_mode="off"), name="notification_email_mode_not_off"),
        ]
        indexes = [
            models.Index(fields=["user", "read_at"], name="notification_user_unread"),
            models.Index(fields=["user", "-created_at"], name="notification_user_recent"),
            models.Index(fields=["email_mode", "emailed_at"], name="notification_email_queue"),
        ]

    def __str__(self):
        return f"{self.user} · {self.title}"

    @property
    def is_read(self):
        return self.read_at is not None


class NotificationPreference(models.Model):
    """A user's choice for one kind. Without a row, the kind's default applies (immediate)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    delivery = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.IMMEDIATE)

    class Meta:
        ordering = ["user", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notificationpreference_unique_user_kind"),
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="notificationpreference_valid_kind"),
            models.CheckConstraint(
                condition=Q(delivery__in=Delivery.values), name="notificationpreference_valid_delivery"
            ),
        ]

    def __str__(self):
        return f"{self.user} · {self.get_kind_display()}: {self.get_delivery_display()}"


def _new_secret():
    return secrets.token_urlsafe(32)


class WebhookSubscription(models.Model):
    """A project's outbound webhook: which events go to which URL, signed with which secret."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="Event names this subscription receives.")
    secret = models.CharField(max_length=100, default=_new_secret, help_text="Key of the HMAC-SHA256 signature.")
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Deliveries that gave up in a row; reset by a success. At the limit the subscription is disabled.
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "-created_at"]
        indexes = [models.Index(fields=["project", "is_active"], name="webhook_project_active")]

    def __str__(self):
        return f"{self.project} → {self.url}"


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one subscription, with the log of its attempts."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Gave up"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=60)
    # What the delivery is about (audit event, snapshot, test ping): one delivery per subscription.
    event_key = models.CharField(max_length=120)
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # [{"at", "status_code", "error", "duration_ms"}, …] one entry per attempt.
    log = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_key"], name="webhookdelivery_unique_event"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed"]), name="webhookdelivery_valid_status"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due"),
            models.Index(fields=["subscription", "-created_at"], name="webhookdelivery_log"),
        ]

    def __str__(self):
        return f"{self.event} → {self.subscription.url} ({self.status})"


class EventCursor(models.Model):
    """How far the dispatcher has fanned out the audit history (one row per stream)."""

    name = models.CharField(max_length=40, unique=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.name} @ {self.last_id}"
