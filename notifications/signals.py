"""Each committed audit event asks the dispatcher to run (coalesced, after commit)."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from audits.models import AuditEvent


@receiver(post_save, sender=AuditEvent, dispatch_uid="notifications-dispatch-audit-event")
def audit_event_recorded(sender, instance, created, **kwargs):
    if created:
        from .services import request_dispatch

        # request_dispatch swallows a broker outage: the change has committed, and the beat runs
        # the dispatcher every minute, which picks the event up from its cursor.
        transaction.on_commit(request_dispatch)
