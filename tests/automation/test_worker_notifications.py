"""Notifications and webhooks through the real parts: Redis as the broker, a real Celery worker,
PostgreSQL shared with it, and a local receiver on 127.0.0.1 that verifies every signature.

Each test skips cleanly without REDIS_URL and PostgreSQL (the CI's second run has both).
"""

import json
from datetime import datetime, timedelta

import pytest
import redis as redis_client
from django.conf import settings

from audits.services import Actor
from notifications import webhooks
from notifications.models import Kind, Notification, WebhookDelivery
from projects import services
from projects.models import Membership, ProjectGate

from ..processes import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# The worker delivers to the receiver on 127.0.0.1: allowed explicitly, as the tests here do.
WORKER_ENV = {"PREFLIGHT_ALLOW_PRIVATE_URLS": "True"}


def _hooked_project(template, owner, editor, receiver, name):
    project = services.project_create_from_template(actor=Actor(owner), template=template, name=name)
    services.member_add(actor=Actor(owner), project=project, user=editor, role=Membership.Role.EDITOR)
    subscription = webhooks.webhook_subscription_create(
        actor=Actor(owner), project=project, url=receiver.url + "/hook", events=["gate.status_changed"]
    )
    receiver.secret = subscription.secret
    return project, subscription


def _update(project, code, actor, **changes):
    gate = ProjectGate.objects.select_related("project").get(project=project, code=code)
    return services.gate_update(actor=Actor(actor), gate=gate, version=gate.version, **changes)


def test_a_gate_change_ends_in_a_notification_and_a_signed_delivery(workers, template, owner, editor, receiver):
    workers.start(env=WORKER_ENV)
    project, subscription = _hooked_project(template, owner, editor, receiver, "Worker hooks")
    _update(project, "T2", owner, owner=editor, status="closed")
    _update(project, "T2", owner, status="open")  # the owner reopens the editor's gate

    # Nothing ran here (these tests queue to Redis): the worker fans the events out, tells the
    # gate's owner, emails them, and delivers both changes to the receiver.
    note = wait_for(
        lambda: Notification.objects.filter(user=editor, kind=Kind.GATE_REOPENED, emailed_at__isnull=False).first()
    )
    assert note is not None, f"the worker never told the gate's owner\n{workers.output()}"
    assert note.project_id == project.pk and "T2" in note.title and "olivia-owner" in note.body

    def delivered():
        return [p for e, p in receiver.verified() if e == "gate.status_changed"]

    payloads = wait_for(lambda: len(delivered()) >= 2 and delivered())
    assert payloads, f"the receiver never got both changes\n{workers.output()}"
    assert len(receiver.verified()) == len(receiver.requests) == 2  # every request correctly signed
    # Two deliveries, two tasks: they may arrive in either order.
    moves = sorted((p["audit_event"]["id"], p["before"]["status"], p["after"]["status"]) for p in payloads)
    assert [move[1:] for move in moves] == [("open", "closed"), ("closed", "open")]
    assert {p["project"]["slug"] for p in payloads} == {project.slug}
    deliveries = WebhookDelivery.objects.filter(subscription=subscription).order_by("pk")
    assert wait_for(lambda: all(d.status == "succeeded" for d in deliveries.all()))
    assert [(d.attempts, d.last_status_code) for d in deliveries] == [(1, 204), (1, 204)]
    assert {str(d.delivery_id) for d in deliveries} == {p["delivery_id"] for p in payloads}


def _queued_retries(delivery_pk):
    """The deliver_webhook messages for this delivery that Redis holds (waiting or taken), as headers."""
    broker = redis_client.Redis.from_url(settings.REDIS_URL)
    raw = [json.loads(v) for v in broker.lrange("celery", 0, -1)]
    raw += [json.loads(v)[0] for v in broker.hvals("unacked")]
    return [
        m["headers"]
        for m in raw
        if m.get("headers", {}).get("task") == "notifications.tasks.deliver_webhook"
        and m["headers"].get("argsrepr") == f"({delivery_pk},)"
    ]


def test_a_failed_delivery_is_retried_by_the_worker_after_its_backoff(workers, template, owner, editor, receiver):
    base = 4
    workers.start(env={**WORKER_ENV, "WEBHOOK_RETRY_BASE_SECONDS": str(base)})
    project, subscription = _hooked_project(template, owner, editor, receiver, "Worker retries")
    receiver.responses = [(503, b"busy"), (204, b"")]
    _update(project, "T2", owner, status="closed")

    first = wait_for(lambda: WebhookDelivery.objects.filter(subscription=subscription, attempts=1).first())
    assert first is not None, f"the worker never attempted the delivery\n{workers.output()}"
    assert (first.status, first.last_status_code) == ("pending", 503)
    failed_at = datetime.fromisoformat(first.log[0]["at"])
    assert first.next_attempt_at >= failed_at + timedelta(seconds=base)

    # The retry is a message in Redis, due no earlier than the backoff (no beat runs here: only
    # that message can bring the second attempt).
    queued = wait_for(lambda: _queued_retries(first.pk), timeout=base)
    assert queued, f"no retry was queued for the delivery\n{workers.output()}"
    assert all(datetime.fromisoformat(h["eta"]) >= failed_at + timedelta(seconds=base) for h in queued), queued

    done = wait_for(lambda: WebhookDelivery.objects.filter(pk=first.pk, status="succeeded").first(), timeout=30)
    assert done is not None, f"the worker never delivered the retry\n{workers.output()}"
    assert [entry["status_code"] for entry in done.log] == [503, 204] and done.attempts == 2
    assert datetime.fromisoformat(done.log[1]["at"]) >= failed_at + timedelta(seconds=base)
    verified = receiver.verified()
    assert len(verified) == len(receiver.requests) == 2
    assert {p["delivery_id"] for _, p in verified} == {str(done.delivery_id)}  # one delivery, retried
