"""Background work of notifications and webhooks. Thin: ids in, a service call, a retry policy.

Every task acknowledges late (a worker killed mid-task leaves the message to be redone), has a
soft and a hard time limit, and retries transient errors with backoff. Every one is idempotent.
"""

from celery import shared_task

from . import services, webhooks

COMMON = {
    "acks_late": True,
    "autoretry_for": (Exception,),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 5,
}


@shared_task(soft_time_limit=120, time_limit=180, **COMMON)
def dispatch_events():
    """Fan the committed audit events out to notifications and webhook deliveries."""
    return services.events_dispatch()


@shared_task(soft_time_limit=60, time_limit=90, **COMMON)
def readiness_moved(snapshot_id, before):
    """Tell members and signers that a project's readiness moved; send readiness.changed."""
    return services.readiness_moved(snapshot_id=snapshot_id, before=before)


@shared_task(soft_time_limit=120, time_limit=180, **COMMON)
def send_notification_emails():
    """Email the notifications waiting for an immediate email."""
    return services.emails_send_immediate()


@shared_task(soft_time_limit=600, time_limit=660, **COMMON)
def send_daily_digests():
    """Email each user their daily digest of notifications."""
    return services.digests_send_daily()


@shared_task(soft_time_limit=600, time_limit=660, **COMMON)
def send_weekly_digest():
    """Each member's weekly summary of their projects' movement."""
    return services.weekly_digest_send()


@shared_task(soft_time_limit=300, time_limit=360, **COMMON)
def send_due_reminders():
    """Remind owners of gates due soon or overdue (at most once a day)."""
    return services.due_reminders_send()


@shared_task(soft_time_limit=300, time_limit=360, **COMMON)
def send_waiver_warnings():
    """Warn owners and approvers of waivers that expire soon (once per waiver)."""
    return services.waiver_warnings_send()


# A delivery's own failures are handled by its backoff schedule (delivery_attempt), not by
# Celery retries; autoretry only covers errors of the worker itself (database gone, …).
@shared_task(soft_time_limit=60, time_limit=90, **COMMON)
def deliver_webhook(delivery_id):
    """Attempt one webhook delivery (skipped if it was delivered or given up meanwhile)."""
    delivery = webhooks.delivery_attempt(delivery_id=delivery_id)
    return getattr(delivery, "status", None)


@shared_task(soft_time_limit=60, time_limit=90, **COMMON)
def retry_due_webhooks():
    """Queue the pending deliveries whose next attempt is due (catch-up after an outage)."""
    return len(webhooks.deliveries_retry_due())
