from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.notification_list, name="list"),
    path("notifications/read/", views.notification_mark_read, name="mark_read"),
    path("notifications/preferences/", views.preferences, name="preferences"),
    path("projects/<slug:slug>/webhooks/", views.webhook_list, name="webhooks"),
    path("projects/<slug:slug>/webhooks/<int:pk>/", views.webhook_detail, name="webhook"),
    path("projects/<slug:slug>/signoffs/request/", views.signoff_request, name="signoff_request"),
]
