"""Writes of the audit history: events (hash-chained) and readiness snapshots."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .models import AuditChainHead, AuditEvent, Channel, ReadinessSnapshot


@dataclass(frozen=True)
class Actor:
    """Who does a write, and through what: a user (or none, for the system) on a channel."""

    user: object = None
    channel: str = Channel.WEB
    token_label: str = ""

    @classmethod
    def system(cls, channel=Channel.WORKER):
        return cls(user=None, channel=channel)

    @property
    def label(self):
        if self.token_label:
            name = self.user.get_username() if self.user else "?"
            return f"{name} via token {self.token_label}"
        if self.user is not None:
            return self.user.get_username()
        return "system"

    @property
    def user_id(self):
        return getattr(self.user, "pk", None)


def audit_record(*, actor, action, project=None, obj=None, before=None, after=None, object_type="", object_repr=""):
    """Append one event to the hash chain. Must run inside the transaction of the change it records."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records.")
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
    event = AuditEvent(
        created_at=timezone.now(),
        actor_user_id=actor.user_id,
        actor_label=actor.label[:200],
        channel=actor.channel,
        project=project,
        action=action,
        object_type=object_type or (obj._meta.model_name if obj is not None else ""),
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=(object_repr or (str(obj) if obj is not None else ""))[:300],
        before=before,
        after=after,
        prev_hash=head.last_hash,
    )
    event.hash = event.compute_hash()
    event.save()
    AuditChainHead.objects.filter(pk=1).update(last_hash=event.hash)
    return event


def audit_verify_chain(events=None):
    """Walk the chain in order. Return (number checked, first broken event or None, what is wrong)."""
    expected_prev = AuditChainHead._meta.get_field("last_hash").default
    checked = 0
    for event in events if events is not None else AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != expected_prev:
            return checked, event, "its prev_hash does not match the hash of the event before it"
        if event.compute_hash() != event.hash:
            return checked, event, "its content does not match its hash (edited after it was written)"
        expected_prev = event.hash
        checked += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and checked and head.last_hash != expected_prev:
        return checked, None, "the chain head does not point at the last event (events were deleted)"
    return checked, None, ""


def snapshot_build(*, project_id, result, kind, stage_name="", now=None):
    """An unsaved snapshot of a readiness result (a `readiness.Readiness` or its dict)."""
    now = now or timezone.now()
    data = result if isinstance(result, dict) else result.to_dict()
    return ReadinessSnapshot(
        project_id=project_id,
        stage_name=stage_name,
        kind=kind,
        taken_at=now,
        day=timezone.localdate(now),
        score=data["score"],
        verdict=data["verdict"],
        reasons=data["reasons"],
        category_scores=data["categories"],
        gates=data["gates"],
        signoffs=data["signoffs"],
        state_hash=data["state_hash"],
    )


def snapshot_take(*, project, result, kind, stage_name="", now=None):
    """Freeze a readiness result for a project."""
    snapshot = snapshot_build(project_id=project.pk, result=result, kind=kind, stage_name=stage_name, now=now)
    snapshot.save()
    return snapshot


# --- Many events in one batch (imports of large documents, project restores) -------------------


def audit_build(
    *, actor, action, project=None, obj=None, before=None, after=None, object_type="", object_repr="", created_at=None
):
    """An unsaved, unchained event, as `audit_record` would write it; pass a list to `audit_append`."""
    return AuditEvent(
        created_at=created_at or timezone.now(),
        actor_user_id=actor.user_id,
        actor_label=actor.label[:200],
        channel=actor.channel,
        project=project,
        action=action,
        object_type=object_type or (obj._meta.model_name if obj is not None else ""),
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=(object_repr or (str(obj) if obj is not None else ""))[:300],
        before=before,
        after=after,
    )


def audit_append(events, *, batch_size=500):
    """Chain unsaved events in the given order and insert them with one lock on the chain head.

    Same chain as `audit_record` (so `audit_verify_chain` checks them alike), in a fixed number of
    queries per batch instead of three per event. Must run inside the transaction of the change.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_append must run inside the transaction of the change it records.")
    events = list(events)
    if not events:
        return events
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
    previous = head.last_hash
    for event in events:
        event.prev_hash = previous
        event.hash = event.compute_hash()
        previous = event.hash
    AuditEvent.objects.bulk_create(events, batch_size=batch_size)
    AuditChainHead.objects.filter(pk=1).update(last_hash=previous)
    return events
