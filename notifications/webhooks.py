"""Outbound webhooks: the event catalog, signing, subscriptions, and delivery with retries.

Every request carries

    Preflight-Event: gate.status_changed
    Preflight-Delivery: <uuid, the same on every retry of one delivery>
    Preflight-Timestamp: <unix seconds when this attempt was signed>
    Preflight-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

A receiver recomputes the signature over the timestamp and the raw body, compares it in
constant time, and rejects a timestamp older than a few minutes (a replay) and a delivery id it
has already processed. `signature_verify` below is the reference implementation.

Deliveries never follow a redirect (a 3xx answer is a failed attempt) and, unless
PREFLIGHT_ALLOW_PRIVATE_URLS is on, never reach an internal address (see projects.checks).
"""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audits.services import Actor, audit_record
from portal.errors import InvalidInput, NotAllowed
from portal.outbound import RefusedAddress, outbound_opener, url_address_refusal
from projects.selectors import OWN, user_can

from .models import WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

EVENTS = {
    "gate.status_changed": "A gate's status changed",
    "gate.updated": "A gate's evidence, owner, due date or notes changed",
    "gate.waived": "A gate was waived",
    "gate.unwaived": "A waiver was lifted or expired (the gate reopened)",
    "gate.evidence_expired": "A gate's evidence went stale",
    "gate.check_changed": "A gate's automated check was set or removed",
    "check.recorded": "A check result was recorded for a gate",
    "readiness.changed": "The project's score, verdict or state changed",
    "signoff.given": "A sign-off was given",
    "signoff.revoked": "A sign-off was revoked",
    "signoff.requested": "Sign-offs were requested",
    "member.added": "A member was added",
    "member.updated": "A member's role changed",
    "member.removed": "A member was removed",
    "project.updated": "The project's details changed",
    "project.stage_changed": "The project moved to another stage",
}
TEST_EVENT = "webhook.test"
SIGNATURE_HEADER = "Preflight-Signature"
TIMESTAMP_HEADER = "Preflight-Timestamp"
EVENT_HEADER = "Preflight-Event"
DELIVERY_HEADER = "Preflight-Delivery"
DEFAULT_TOLERANCE = 300


# --- signing -----------------------------------------------------------------------------------


def payload_body(payload):
    """The exact bytes sent (and signed): compact JSON."""
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True).encode()


def signature_compute(secret, timestamp, body):
    """hex HMAC-SHA256 of "<timestamp>." + body with the subscription's secret."""
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_headers(secret, body, *, event, delivery_id, timestamp=None):
    timestamp = int(timestamp if timestamp is not None else time.time())
    return {
        "Content-Type": "application/json",
        "User-Agent": "Preflight-Webhooks/1",
        EVENT_HEADER: event,
        DELIVERY_HEADER: str(delivery_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"v1={signature_compute(secret, timestamp, body)}",
    }


def signature_verify(secret, body, timestamp_header, signature_header, *, tolerance=DEFAULT_TOLERANCE, now=None):
    """What a receiver does: True only for a correct signature on a recent timestamp."""
    try:
        timestamp = int(timestamp_header)
    except (TypeError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = f"v1={signature_compute(secret, timestamp, body)}"
    return hmac.compare_digest(expected, signature_header or "")


# --- subscriptions -----------------------------------------------------------------------------


def _clean_subscription(url, events, *, check_address=True):
    errors = {}
    try:
        URLValidator(schemes=["http", "https"])(url or "")
    except ValidationError:
        errors["url"] = ["Enter a full http(s) URL."]
    else:
        refusal = url_address_refusal(url) if check_address else ""
        if refusal:
            errors["url"] = [refusal]
    if not isinstance(events, list | tuple) or not events:
        errors["events"] = ["Choose at least one event."]
    else:
        unknown = sorted({e for e in events if e not in EVENTS})
        if unknown:
            errors["events"] = [f"Unknown events: {', '.join(map(str, unknown))}."]
    if errors:
        raise InvalidInput("The webhook was not saved.", field_errors=errors)
    return sorted(set(events))


def _require_owner(actor, project):
    if actor.user is not None and not user_can(actor.user, project, OWN):
        raise NotAllowed("Only the project's owners manage its webhooks.")


def _subscription_state(subscription):
    return {
        "url": subscription.url,
        "events": subscription.events,
        "description": subscription.description,
        "is_active": subscription.is_active,
    }


@transaction.atomic
def webhook_subscription_create(*, actor, project, url, events, description="", secret=""):
    """Subscribe a URL to a project's events (owners only). The secret is generated unless given."""
    _require_owner(actor, project)
    events = _clean_subscription(url, events)
    subscription = WebhookSubscription(
        project=project, url=url, events=events, description=(description or "")[:200], created_by=actor.user
    )
    if secret:
        if len(secret) < 16:
            raise InvalidInput("The webhook was not saved.", field_errors={"secret": ["At least 16 characters."]})
        subscription.secret = secret
    subscription.save()
    audit_record(
        actor=actor,
        action="webhook.created",
        project=project,
        obj=subscription,
        after=_subscription_state(subscription),
    )
    return subscription


@transaction.atomic
def webhook_subscription_update(*, actor, subscription, rotate_secret=False, **changes):
    """Change a subscription's URL, events, description or active flag (owners only).

    Re-activating a disabled subscription clears its failure count.
    """
    _require_owner(actor, subscription.project)
    unknown = set(changes) - {"url", "events", "description", "is_active"}
    if unknown:
        raise InvalidInput(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    subscription = WebhookSubscription.objects.select_for_update().select_related("project").get(pk=subscription.pk)
    before = _subscription_state(subscription)
    # The address is checked when the URL changes; an unchanged one may still be disabled or
    # deleted after the rules tightened (its deliveries are refused when they connect).
    url_changed = changes.get("url", subscription.url) != subscription.url
    events = _clean_subscription(
        changes.get("url", subscription.url), changes.get("events", subscription.events), check_address=url_changed
    )
    subscription.url = changes.get("url", subscription.url)
    subscription.events = events
    subscription.description = (changes.get("description", subscription.description) or "")[:200]
    if "is_active" in changes:
        subscription.is_active = bool(changes["is_active"])
        if subscription.is_active:
            subscription.consecutive_failures = 0
            subscription.disabled_at = None
            subscription.disabled_reason = ""
    if rotate_secret:
        from .models import _new_secret

        subscription.secret = _new_secret()
    subscription.save()
    after = _subscription_state(subscription)
    if before != after or rotate_secret:
        after["secret_rotated"] = bool(rotate_secret)
        audit_record(
            actor=actor,
            action="webhook.updated",
            project=subscription.project,
            obj=subscription,
            before=before,
            after=after,
        )
    return subscription


@transaction.atomic
def webhook_subscription_delete(*, actor, subscription):
    """Remove a subscription and its delivery log (owners only)."""
    _require_owner(actor, subscription.project)
    audit_record(
        actor=actor,
        action="webhook.deleted",
        project=subscription.project,
        obj=subscription,
        before=_subscription_state(subscription),
    )
    subscription.delete()


# --- deliveries --------------------------------------------------------------------------------


def deliveries_create(*, project_id, event, event_key, payload):
    """One pending delivery per active subscription of the project that wants `event`.

    Idempotent: (subscription, event_key) is unique, so fanning the same event out twice adds
    nothing. Returns the new deliveries' ids; their sending is queued on commit.
    """
    return deliveries_create_batch([(project_id, event, event_key, payload)])


def deliveries_create_batch(items):
    """`deliveries_create` for many events at once: [(project_id, event, event_key, payload), …].

    The subscriptions of every project in the batch are read in one query, so fanning out a
    re-import of thousands of audit events costs the same few queries as one event. A payload
    may be a callable, built only for the events some subscription wants.
    """
    items = list(items)
    project_ids = {project_id for project_id, _, _, _ in items}
    if not project_ids:
        return []
    by_project = {}
    for s in WebhookSubscription.objects.filter(project_id__in=project_ids, is_active=True):
        by_project.setdefault(s.project_id, []).append(s)
    now = timezone.now()
    wanted = [
        (s, event, event_key, payload)
        for project_id, event, event_key, payload in items
        for s in by_project.get(project_id, [])
        if event in s.events or event == TEST_EVENT
    ]
    if not wanted:
        return []
    keys = {event_key for _, _, event_key, _ in wanted}
    subscription_ids = {s.pk for s, _, _, _ in wanted}
    existing = set(
        WebhookDelivery.objects.filter(subscription_id__in=subscription_ids, event_key__in=keys).values_list(
            "subscription_id", "event_key"
        )
    )
    built = {}

    def payload_of(event_key, payload):
        if event_key not in built:
            built[event_key] = payload() if callable(payload) else payload
        return built[event_key]

    rows = [
        WebhookDelivery(
            subscription=s,
            event=event,
            event_key=event_key,
            payload=payload_of(event_key, payload),
            next_attempt_at=now,
            created_at=now,
        )
        for s, event, event_key, payload in wanted
        if (s.pk, event_key) not in existing
    ]
    if not rows:
        return []
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    created = {(r.subscription_id, r.event_key) for r in rows}
    ids = [
        pk
        for pk, subscription_id, event_key in WebhookDelivery.objects.filter(
            subscription_id__in={r.subscription_id for r in rows},
            event_key__in={r.event_key for r in rows},
            attempts=0,
        ).values_list("pk", "subscription_id", "event_key")
        if (subscription_id, event_key) in created
    ]
    if ids:
        from .tasks import deliver_webhook

        for pk in ids:
            deliver_webhook.delay_on_commit(pk)
    return ids


def webhook_send_test(*, actor, subscription):
    """Queue a signed test event to a subscription (owners only), to check the receiver."""
    _require_owner(actor, subscription.project)
    payload = {
        "event": TEST_EVENT,
        "created_at": timezone.now(),
        "project": {"slug": subscription.project.slug, "name": subscription.project.name},
        "data": {"message": "A test delivery from Preflight."},
    }
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            subscription=subscription, event=TEST_EVENT, event_key=f"test:{time.time_ns()}", payload=payload
        )
        from .tasks import deliver_webhook

        deliver_webhook.delay_on_commit(delivery.pk)
    return delivery


def retry_delay(attempts):
    """Seconds before the next attempt after `attempts` failures: base × 2^(attempts−1), capped."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    return min(base * (2 ** max(attempts - 1, 0)), settings.WEBHOOK_RETRY_MAX_SECONDS)


_opener = outbound_opener()


def _post(url, body, headers, timeout):
    """POST once, without following redirects (a 3xx is a failed attempt). Never raises for network trouble."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    started = time.monotonic()
    status, error, excerpt = None, "", ""
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = response.status
            excerpt = response.read(500).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status = exc.code
        error = f"HTTP {exc.code}" + (" (redirects are not followed)" if 300 <= exc.code < 400 else "")
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, RefusedAddress):
            error = f"Not sent: {reason}."[:500]
        else:
            error = f"{type(reason).__name__}: {reason}"[:500]
    return status, error, excerpt, round((time.monotonic() - started) * 1000)


def delivery_attempt(*, delivery_id):
    """Send one pending delivery that is due. Returns the delivery, or None if there is nothing to send.

    The row is locked for the attempt, so two workers never send the same delivery at once, and
    a delivery already delivered, given up, or not yet due is left alone: a redelivered task, or
    the retry sweep's message arriving beside the delayed retry, never skips the backoff.
    A 2xx answer succeeds; anything else schedules the next attempt with exponential backoff,
    and after the last attempt the delivery gives up and counts against its subscription.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription", "subscription__project")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now())
            .first()
        )
        if delivery is None:
            return None
        subscription = delivery.subscription
        if not subscription.is_active:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.last_error = "The subscription is disabled."
            delivery.save(update_fields=["status", "last_error"])
            return delivery
        body = payload_body({**delivery.payload, "delivery_id": str(delivery.delivery_id)})
        headers = signature_headers(subscription.secret, body, event=delivery.event, delivery_id=delivery.delivery_id)
        status, error, excerpt, duration_ms = _post(subscription.url, body, headers, settings.WEBHOOK_TIMEOUT_SECONDS)
        now = timezone.now()
        delivery.attempts += 1
        delivery.last_status_code = status
        delivery.last_error = error
        delivery.log = [
            *delivery.log,
            {"at": now.isoformat(), "status_code": status, "error": error, "duration_ms": duration_ms},
        ]
        succeeded = status is not None and 200 <= status < 300
        gave_up = False
        if succeeded:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = now
            if subscription.consecutive_failures:
                WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=0)
        elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            gave_up = True
        else:
            delivery.next_attempt_at = now + timedelta(seconds=retry_delay(delivery.attempts))
        delivery.save()
        if gave_up:
            _count_failure(subscription, delivery, now)
        elif not succeeded:
            from .tasks import deliver_webhook

            # Eager runs would retry at once, ignoring the backoff; the beat catch-up sends them.
            if not deliver_webhook.app.conf.task_always_eager:
                deliver_webhook.apply_async_on_commit((delivery.pk,), countdown=retry_delay(delivery.attempts))
    return delivery


def _count_failure(subscription, delivery, now):
    """A delivery gave up: count it; at the limit disable the subscription and tell its owners.

    Runs in the delivery's transaction. The subscription row is locked, so two deliveries that
    give up at once count twice and disable it once; the disable is a write like any other,
    audited (by the system, on the worker channel) in the same transaction.
    """
    from .models import Kind
    from .services import notify

    subscription = WebhookSubscription.objects.select_for_update().select_related("project").get(pk=subscription.pk)
    subscription.consecutive_failures += 1
    if not subscription.is_active or subscription.consecutive_failures < settings.WEBHOOK_DISABLE_AFTER_FAILURES:
        subscription.save(update_fields=["consecutive_failures", "updated_at"])
        return
    reason = (
        f"{subscription.consecutive_failures} deliveries in a row failed; the last answered "
        f"{delivery.last_status_code or delivery.last_error or 'nothing'}."
    )[:300]
    before = _subscription_state(subscription)
    subscription.is_active = False
    subscription.disabled_at = now
    subscription.disabled_reason = reason
    subscription.save(
        update_fields=["consecutive_failures", "is_active", "disabled_at", "disabled_reason", "updated_at"]
    )
    project = subscription.project
    audit_record(
        actor=Actor.system(),
        action="webhook.disabled",
        project=project,
        obj=subscription,
        before=before,
        after={
            **_subscription_state(subscription),
            "reason": reason,
            "consecutive_failures": subscription.consecutive_failures,
            "last_delivery": str(delivery.delivery_id),
        },
    )
    from projects.models import Membership

    owners = set(
        Membership.objects.filter(project=project, role=Membership.Role.OWNER).values_list("user_id", flat=True)
    )
    if subscription.created_by_id:
        owners.add(subscription.created_by_id)
    notify(
        user_ids=owners,
        kind=Kind.WEBHOOK_DISABLED,
        project=project,
        title=f"Webhook to {subscription.url} disabled on {project.name}",
        body=f"{reason} Fix the receiver, then re-enable the webhook on the project's webhook page.",
        url=reverse("notifications:webhooks", args=[project.slug]),
        dedupe_key=f"webhook-disabled:{subscription.pk}:{now.isoformat()}",
    )


def deliveries_retry_due(*, now=None):
    """Queue every pending delivery whose next attempt is due (catch-up after an outage)."""
    from .tasks import deliver_webhook

    now = now or timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now).values_list(
            "pk", flat=True
        )[:1000]
    )
    for pk in ids:
        deliver_webhook.delay(pk)
    return ids
