"""Outbound webhooks: signed payloads to a local receiver, retries with backoff, the delivery log,
disabling a subscription that keeps failing, and the owners-only web pages."""

import json
import time
from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from audits.services import Actor
from notifications import webhooks
from notifications.models import Kind, Notification, WebhookDelivery, WebhookSubscription
from portal.errors import InvalidInput, NotAllowed
from projects import services
from projects.models import ProjectGate

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscription(project, owner, receiver):
    sub = webhooks.webhook_subscription_create(
        actor=Actor(owner),
        project=project,
        url=receiver.url + "/hook",
        events=["gate.status_changed", "readiness.changed"],
    )
    receiver.secret = sub.secret
    return sub


def _time_passes(seconds):
    """Move every pending delivery's next attempt `seconds` into the past, as if time went by."""
    WebhookDelivery.objects.filter(status="pending").update(
        next_attempt_at=F("next_attempt_at") - timedelta(seconds=seconds)
    )


def _change(project, owner, run_on_commit, code="T2", status="closed"):
    gate = ProjectGate.objects.select_related("project").get(project=project, code=code)
    with run_on_commit():
        return services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status=status)


def test_a_gate_change_reaches_the_receiver_signed(project, owner, subscription, receiver, run_on_commit):
    _change(project, owner, run_on_commit)
    verified = receiver.verified()
    events = [e for e, _ in verified]
    assert events.count("gate.status_changed") == 1
    assert "readiness.changed" in events
    assert len(verified) == len(receiver.requests)  # every request carried a valid signature
    payload = next(p for e, p in verified if e == "gate.status_changed")
    assert payload["project"]["slug"] == "apollo"
    assert payload["before"]["status"] == "open" and payload["after"]["status"] == "closed"
    assert payload["actor"]["label"] == "olivia-owner"
    readiness_payload = next(p for e, p in verified if e == "readiness.changed")
    assert readiness_payload["after"]["score"] > readiness_payload["before"]["score"]
    delivery = WebhookDelivery.objects.get(event="gate.status_changed")
    assert delivery.status == "succeeded" and delivery.last_status_code == 204 and delivery.attempts == 1
    headers = {k.lower(): v for k, v in receiver.requests[0]["headers"].items()}
    assert headers["preflight-delivery"] == str(WebhookDelivery.objects.order_by("created_at").first().delivery_id)


def test_events_not_subscribed_are_not_sent(project, owner, subscription, receiver, run_on_commit):
    gate = ProjectGate.objects.select_related("project").get(project=project, code="T2")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, notes="just a note")
    assert not [e for e, _ in receiver.verified() if e == "gate.updated"]
    assert not WebhookDelivery.objects.filter(event="gate.updated").exists()


def test_signature_rejects_tampering_other_secrets_and_replays():
    body = b'{"event":"gate.status_changed"}'
    now = time.time()
    headers = webhooks.signature_headers("s3cret-s3cret-s3cret", body, event="x", delivery_id="d", timestamp=now)
    ts, sig = headers["Preflight-Timestamp"], headers["Preflight-Signature"]
    assert webhooks.signature_verify("s3cret-s3cret-s3cret", body, ts, sig, now=now)
    assert not webhooks.signature_verify("s3cret-s3cret-s3cret", body + b" ", ts, sig, now=now)
    assert not webhooks.signature_verify("another-secret-000000", body, ts, sig, now=now)
    assert not webhooks.signature_verify("s3cret-s3cret-s3cret", body, str(int(ts) + 1), sig, now=now)
    # The same request replayed ten minutes later is refused.
    assert not webhooks.signature_verify("s3cret-s3cret-s3cret", body, ts, sig, now=now + 600)
    assert not webhooks.signature_verify("s3cret-s3cret-s3cret", body, "not-a-number", sig, now=now)


def test_failures_retry_with_exponential_backoff_then_succeed(
    project, owner, subscription, receiver, run_on_commit, settings
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    receiver.responses = [(500, b"boom"), (503, b"busy"), (200, b"ok")]
    subscription.events = ["gate.status_changed"]
    subscription.save()
    _change(project, owner, run_on_commit)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    first_wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 8 <= first_wait <= 10.5

    # Not due yet: nothing is sent.
    assert webhooks.deliveries_retry_due() == []
    _time_passes(11)
    webhooks.deliveries_retry_due()
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code) == (2, 503)
    second_wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 18 <= second_wait <= 20.5  # doubled

    _time_passes(21)
    webhooks.deliveries_retry_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 200)
    assert [entry["status_code"] for entry in delivery.log] == [500, 503, 200]
    # Every attempt carried the same delivery id and a valid signature.
    ids = {{k.lower(): v for k, v in r["headers"].items()}["preflight-delivery"] for r in receiver.requests}
    assert ids == {str(delivery.delivery_id)} and len(receiver.verified()) == 3
    # A redelivered task finds nothing to do.
    assert webhooks.delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 3


def test_a_duplicate_message_before_the_due_time_does_not_skip_the_backoff(
    project, owner, subscription, receiver, run_on_commit, settings
):
    """Beat's retry sweep and the delayed retry (or a redelivery) may both reach a worker: an
    attempt that arrives before the delivery is due sends nothing and burns no attempt."""
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    receiver.responses = [(500, b"boom"), (200, b"ok")]
    subscription.events = ["gate.status_changed"]
    subscription.save()
    _change(project, owner, run_on_commit)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    due = delivery.next_attempt_at

    for _ in range(3):
        assert webhooks.delivery_attempt(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("pending", 1, due)
    assert len(receiver.requests) == 1

    _time_passes(61)
    assert webhooks.delivery_attempt(delivery_id=delivery.pk).status == "succeeded"
    assert webhooks.delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 2


def test_fanning_out_many_events_reads_the_subscriptions_once(
    project, owner, subscription, django_assert_max_num_queries
):
    """A re-import writes thousands of audit events; fanning them out costs the same few queries."""
    from notifications.services import events_dispatch

    def burst(count):
        gates = list(ProjectGate.objects.select_related("project").filter(project=project).order_by("code"))
        for i in range(count):
            gate = gates[i % len(gates)]
            services.gate_update(
                actor=Actor(owner),
                gate=gate,
                version=gate.version,
                status="open" if gate.status == "closed" else "closed",
            )
            gates[i % len(gates)] = ProjectGate.objects.select_related("project").get(pk=gate.pk)

    events_dispatch()  # the project's own creation events
    for count in (2, 40):
        burst(count)
        before = WebhookDelivery.objects.filter(event="gate.status_changed").count()
        with django_assert_max_num_queries(12):
            assert events_dispatch() >= count
        assert WebhookDelivery.objects.filter(event="gate.status_changed").count() == before + count


def test_fanning_out_reads_each_project_once_and_never_its_cached_readiness(
    project, owner, subscription, django_assert_max_num_queries
):
    """A re-import's fan-out once decoded the project's cached readiness (hundreds of KB for a
    large project) for every audit event: only the few project fields it uses are read, once."""
    from notifications.services import events_dispatch

    events_dispatch()
    gates = list(ProjectGate.objects.select_related("project").filter(project=project).order_by("code"))
    for i in range(30):
        gate = gates[i % len(gates)]
        gates[i % len(gates)] = services.gate_update(
            actor=Actor(owner), gate=gate, version=gate.version, status="open" if gate.status == "closed" else "closed"
        )
    assert project.readiness  # the cached readiness exists, and is big for real projects
    with django_assert_max_num_queries(12) as captured:
        assert events_dispatch() >= 30
    project_reads = [q["sql"] for q in captured.captured_queries if '"projects_project"' in q["sql"]]
    assert not [sql for sql in project_reads if '"projects_project"."readiness"' in sql], project_reads
    assert WebhookDelivery.objects.filter(event="gate.status_changed").count() == 30


def test_a_subscription_that_keeps_failing_is_disabled_and_its_owner_told(
    project, owner, subscription, receiver, run_on_commit, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    settings.WEBHOOK_RETRY_BASE_SECONDS = 1
    receiver.responses = [(500, b"down")]
    subscription.events = ["gate.status_changed"]
    subscription.save()
    for status in ("closed", "open"):
        _change(project, owner, run_on_commit, status=status)
        _time_passes(5)
        webhooks.deliveries_retry_due()
    subscription.refresh_from_db()
    assert list(subscription.deliveries.values_list("status", flat=True)) == ["failed", "failed"]
    assert not subscription.is_active and subscription.disabled_at and "500" in subscription.disabled_reason
    note = Notification.objects.get(user=owner, kind=Kind.WEBHOOK_DISABLED)
    assert subscription.url in note.title
    # The automatic disable is a write like any other: audited, by the system, on the worker channel.
    disabled = AuditEvent.objects.get(action="webhook.disabled")
    assert (disabled.actor_user_id, disabled.actor_label, disabled.channel) == (None, "system", "worker")
    assert disabled.project_id == project.pk and disabled.object_id == str(subscription.pk)
    assert disabled.before["is_active"] is True and disabled.after["is_active"] is False
    assert disabled.after["reason"] == subscription.disabled_reason and disabled.after["consecutive_failures"] == 2
    from audits.services import audit_verify_chain

    assert audit_verify_chain()[1] is None
    sent = len(receiver.requests)
    _change(project, owner, run_on_commit, status="closed")
    assert len(receiver.requests) == sent  # disabled: nothing more is sent

    # Re-enabling clears the failure count.
    webhooks.webhook_subscription_update(actor=Actor(owner), subscription=subscription, is_active=True)
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.consecutive_failures == 0


def test_a_success_resets_the_failure_count(project, owner, subscription, receiver, run_on_commit, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.responses = [(500, b""), (204, b"")]
    subscription.events = ["gate.status_changed"]
    subscription.save()
    _change(project, owner, run_on_commit, status="closed")
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 1
    _change(project, owner, run_on_commit, status="open")
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0 and subscription.is_active


def test_unreachable_receiver_is_logged_not_raised(project, owner, run_on_commit):
    sub = webhooks.webhook_subscription_create(
        actor=Actor(owner), project=project, url="http://127.0.0.1:9/hook", events=["gate.status_changed"]
    )
    _change(project, owner, run_on_commit)
    delivery = sub.deliveries.get()
    assert delivery.status == "pending" and delivery.last_status_code is None and delivery.last_error


def test_subscriptions_are_validated_and_owners_only(project, owner, editor):
    with pytest.raises(InvalidInput) as exc:
        webhooks.webhook_subscription_create(actor=Actor(owner), project=project, url="ftp://x", events=["nope"])
    assert set(exc.value.field_errors) == {"url", "events"}
    with pytest.raises(NotAllowed):
        webhooks.webhook_subscription_create(
            actor=Actor(editor), project=project, url="https://example.com/h", events=["gate.waived"]
        )
    assert not WebhookSubscription.objects.exists()


def test_subscription_changes_are_audited_without_the_secret(project, owner, subscription):
    webhooks.webhook_subscription_update(actor=Actor(owner), subscription=subscription, rotate_secret=True)
    events = AuditEvent.objects.filter(action__startswith="webhook.").order_by("id")
    assert [e.action for e in events] == ["webhook.created", "webhook.updated"]
    assert subscription.secret not in json.dumps([e.after for e in events])


def test_owner_manages_webhooks_in_the_ui(project, owner, receiver, client, run_on_commit):
    client.force_login(owner)
    url = reverse("notifications:webhooks", args=[project.slug])
    assert client.get(url).status_code == 200
    bad = client.post(url, {"url": "not a url", "events": ["gate.waived"]})
    assert bad.status_code == 200 and b"field-errors" in bad.content
    response = client.post(url, {"url": receiver.url + "/h", "events": ["gate.status_changed"], "description": "CI"})
    sub = WebhookSubscription.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "notifications:webhook", args=[project.slug, sub.pk]
    )
    receiver.secret = sub.secret
    detail = reverse("notifications:webhook", args=[project.slug, sub.pk])
    with run_on_commit():
        client.post(detail, {"action": "test"})
    assert [e for e, _ in receiver.verified()] == ["webhook.test"]
    page = client.get(detail).content.decode()
    assert "webhook.test" in page and "Delivered" in page and sub.secret in page
    client.post(detail, {"action": "disable"})
    sub.refresh_from_db()
    assert not sub.is_active
    client.post(detail, {"action": "delete"})
    assert not WebhookSubscription.objects.exists()


def test_webhook_pages_editor_403_outsider_404(project, editor, outsider, viewer, client, subscription):
    for user, status in ((editor, 403), (viewer, 403), (outsider, 404)):
        client.force_login(user)
        assert client.get(reverse("notifications:webhooks", args=[project.slug])).status_code == status
        assert client.get(reverse("notifications:webhook", args=[project.slug, subscription.pk])).status_code == status
        assert (
            client.post(
                reverse("notifications:webhook", args=[project.slug, subscription.pk]), {"action": "delete"}
            ).status_code
            == status
        )
    assert WebhookSubscription.objects.filter(pk=subscription.pk).exists()


def test_webhook_log_query_count_does_not_grow(project, owner, subscription, client, django_assert_max_num_queries):
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(subscription=subscription, event="gate.waived", event_key=f"k{i}", payload={})
            for i in range(30)
        ]
    )
    client.force_login(owner)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("notifications:webhook", args=[project.slug, subscription.pk])).status_code == 200


def test_admin_lists_and_creates_subscriptions_through_the_service(project, staff, client, receiver):
    client.force_login(staff)
    for model in ("webhooksubscription", "webhookdelivery", "notification", "notificationpreference"):
        assert client.get(f"/admin/notifications/{model}/", {"q": "apollo"}).status_code == 200
    response = client.post(
        "/admin/notifications/webhooksubscription/add/",
        {
            "project": project.pk,
            "url": receiver.url + "/a",
            "events": ["gate.waived"],
            "description": "",
            "is_active": "on",
            "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "0",
            "deliveries-MIN_NUM_FORMS": "0",
            "deliveries-MAX_NUM_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    sub = WebhookSubscription.objects.get()
    assert sub.created_by == staff and len(sub.secret) >= 32
    assert AuditEvent.objects.filter(action="webhook.created", channel="admin").exists()


def test_the_readme_receiver_example_accepts_a_real_delivery_once(
    project, owner, subscription, receiver, run_on_commit
):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = re.search(r"A receiver verifies it like this:\n\n```python\n(.*?)```", readme, re.S).group(1)
    namespace = {}
    exec(code, namespace)  # the example as documented
    verify = namespace["verify"]
    _change(project, owner, run_on_commit)
    request = receiver.requests[0]
    h = {k.lower(): v for k, v in request["headers"].items()}
    args = (subscription.secret, request["body"], h["preflight-timestamp"], h["preflight-signature"])
    seen = set()
    assert verify(*args, seen, h["preflight-delivery"])
    assert not verify(*args, seen, h["preflight-delivery"])  # the same delivery again: refused
    assert not verify("wrong-secret-wrong-secret", *args[1:], set(), h["preflight-delivery"])
    assert not verify(subscription.secret, request["body"] + b" ", *args[2:], set(), h["preflight-delivery"])
