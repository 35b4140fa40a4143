"""Reads of notifications and webhooks. Project-scoped reads go through projects.selectors first."""

from django.http import Http404

from .models import Notification, WebhookDelivery, WebhookSubscription


def notifications_for_user(user):
    return Notification.objects.filter(user=user).select_related("project").order_by("-created_at", "-id")


def unread_count(user):
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def webhooks_for_project(project):
    return WebhookSubscription.objects.filter(project=project).order_by("-created_at")


def webhook_get(project, pk):
    try:
        return WebhookSubscription.objects.select_related("project").get(project=project, pk=pk)
    except (WebhookSubscription.DoesNotExist, ValueError, TypeError):
        raise Http404("No such webhook.") from None


def deliveries_for_webhook(subscription, limit=50):
    return WebhookDelivery.objects.filter(subscription=subscription).order_by("-created_at", "-id")[:limit]
