from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications and webhooks"

    def ready(self):
        # Every audit event is a domain event: once it commits, the dispatcher fans it out to
        # notifications and webhook deliveries (see services.events_dispatch).
        from . import signals  # noqa: F401
