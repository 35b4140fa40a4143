"""/api/v1/ routes of notifications, webhooks, sign-off requests and snapshot diffs."""

from django.urls import path

from . import api

urlpatterns = [
    path("notifications", api.NotificationListView.as_view(), name="notification-list"),
    path("notifications/read", api.NotificationReadView.as_view(), name="notification-read"),
    path("notifications/preferences", api.PreferenceView.as_view(), name="notification-preferences"),
    path("projects/<slug:slug>/webhooks", api.WebhookListView.as_view(), name="webhook-list"),
    path("projects/<slug:slug>/webhooks/<int:id>", api.WebhookDetailView.as_view(), name="webhook-detail"),
    path(
        "projects/<slug:slug>/webhooks/<int:id>/rotate-secret",
        api.WebhookRotateSecretView.as_view(),
        name="webhook-rotate-secret",
    ),
    path("projects/<slug:slug>/webhooks/<int:id>/test", api.WebhookTestView.as_view(), name="webhook-test"),
    path(
        "projects/<slug:slug>/webhooks/<int:id>/deliveries",
        api.WebhookDeliveryListView.as_view(),
        name="webhook-delivery-list",
    ),
    path("projects/<slug:slug>/signoffs/request", api.SignOffRequestView.as_view(), name="signoff-request"),
    path("projects/<slug:slug>/gates/<str:code>/check", api.GateCheckView.as_view(), name="gate-check"),
    path("projects/<slug:slug>/snapshots/diff", api.SnapshotDiffView.as_view(), name="snapshot-diff"),
]
