"""Outbound requests never reach internal addresses unless PREFLIGHT_ALLOW_PRIVATE_URLS says so.

HTTP checks and webhooks are URLs that any editor (checks) or owner (webhooks) chooses, fetched
by the server: without this rule they could read the cloud metadata endpoint or probe the
internal network and see the status and JSON value come back. The rule holds when a URL is saved
(a clear field error), and again on every connection (a name may resolve elsewhere later).
Webhooks never follow a redirect.
"""

import pytest
from django.utils import timezone

from audits.services import Actor
from notifications import webhooks
from notifications.models import WebhookDelivery, WebhookSubscription
from portal.errors import InvalidInput
from projects import checks, services
from projects.models import CheckResult, ProjectGate

from .conftest import LocalServer

pytestmark = pytest.mark.django_db

INTERNAL_URLS = [
    ("http://127.0.0.1:8080/health", "loopback"),
    ("http://[::1]/health", "loopback"),
    ("http://localhost:8080/health", "resolves to 127.0.0.1"),  # refused after DNS resolution
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.1.2.3/", "private"),
    ("http://192.168.0.10/", "private"),
    ("http://[::ffff:10.0.0.1]/", "private"),  # an IPv4 address dressed as IPv6
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://0.0.0.0:8000/", "unspecified"),
    ("http://100.64.0.1/", "not a public address"),
]


@pytest.fixture
def refusing(settings):
    settings.PREFLIGHT_ALLOW_PRIVATE_URLS = False


def _gate(project, code="T1"):
    return ProjectGate.objects.select_related("project").get(project=project, code=code)


@pytest.mark.parametrize(("url", "why"), INTERNAL_URLS)
def test_a_check_on_an_internal_address_is_refused_with_a_field_error(refusing, url, why):
    with pytest.raises(InvalidInput) as exc:
        checks.check_spec_clean({"url": url})
    assert set(exc.value.field_errors) == {"url"}
    assert why in exc.value.field_errors["url"][0] and "Refused" in exc.value.field_errors["url"][0]


def test_public_addresses_are_accepted_when_internal_ones_are_refused(refusing):
    assert checks.check_spec_clean({"url": "http://8.8.8.8/health"})["url"] == "http://8.8.8.8/health"
    # A name that does not resolve now is accepted: every connection checks it again.
    assert checks.check_spec_clean({"url": "https://status.example.com/h"})["url"] == "https://status.example.com/h"


def test_setting_a_check_on_an_internal_address_changes_nothing(refusing, project, owner):
    gate = _gate(project)
    with pytest.raises(InvalidInput) as exc:
        checks.gate_set_check(
            actor=Actor(owner), gate=gate, version=gate.version, spec={"url": "http://169.254.169.254/latest/"}
        )
    assert "link-local" in exc.value.field_errors["url"][0]
    gate.refresh_from_db()
    assert not gate.is_automated and gate.check_spec is None
    assert not gate.project.audit_events.filter(action="gate.check_changed").exists()


def test_a_probe_never_connects_to_an_internal_address(refusing, local_server):
    """The connection itself is guarded: a spec that got past validation (the setting changed,
    or the name now resolves elsewhere) still never reaches the address, and nothing comes back."""
    local_server.responses = [(200, {"secret": "instance-credentials"})]
    port = local_server.httpd.server_address[1]
    for url in (local_server.url + "/meta", f"http://localhost:{port}/meta"):
        spec = {"url": url, "expected_status": 200, "timeout": 2.0, "json_field": "secret", "json_value": "x"}
        passed, details, data = checks.http_probe(spec)
        assert not passed and details.startswith("Not probed:") and "loopback" in details
        assert data["status"] is None and "json_value" not in data
    assert local_server.requests == []


def test_a_stored_check_on_an_internal_address_fails_without_a_request(
    settings, project, owner, local_server, run_on_commit
):
    gate = _gate(project)
    gate = checks.gate_set_check(actor=Actor(owner), gate=gate, version=gate.version, spec={"url": local_server.url})
    settings.PREFLIGHT_ALLOW_PRIVATE_URLS = False
    with run_on_commit():
        result = checks.gate_probe(gate_id=gate.pk)
    assert not result.passed and "loopback" in result.details
    assert local_server.requests == []
    assert CheckResult.objects.filter(gate=gate).count() == 1


def test_local_checks_run_when_internal_addresses_are_allowed(settings, project, owner, local_server, run_on_commit):
    settings.PREFLIGHT_ALLOW_PRIVATE_URLS = True
    gate = _gate(project)
    gate = checks.gate_set_check(
        actor=Actor(owner), gate=gate, version=gate.version, spec={"url": local_server.url + "/health"}
    )
    with run_on_commit():
        result = checks.gate_probe(gate_id=gate.pk)
    assert result.passed and local_server.requests[0]["path"] == "/health"


def test_a_template_check_on_an_internal_address_refuses_the_project(refusing, template, owner):
    t1 = template.definitions.get(code="T1")
    t1.check_spec = {"url": "http://169.254.169.254/latest/meta-data/"}
    t1.save()
    with pytest.raises(InvalidInput) as exc:
        services.project_create_from_template(actor=Actor(owner), template=template, name="Metadata")
    assert "T1" in exc.value.message and "link-local" in exc.value.message


# --- webhooks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "why"), INTERNAL_URLS[:5])
def test_a_webhook_to_an_internal_address_is_refused_with_a_field_error(refusing, project, owner, url, why):
    with pytest.raises(InvalidInput) as exc:
        webhooks.webhook_subscription_create(actor=Actor(owner), project=project, url=url, events=["gate.waived"])
    assert set(exc.value.field_errors) == {"url"} and why in exc.value.field_errors["url"][0]
    assert not WebhookSubscription.objects.exists()


def test_changing_a_webhook_url_to_an_internal_address_is_refused(refusing, project, owner):
    sub = webhooks.webhook_subscription_create(
        actor=Actor(owner), project=project, url="https://hooks.example.com/a", events=["gate.waived"]
    )
    with pytest.raises(InvalidInput) as exc:
        webhooks.webhook_subscription_update(actor=Actor(owner), subscription=sub, url="http://10.0.0.8/hook")
    assert "private" in exc.value.field_errors["url"][0]
    sub.refresh_from_db()
    assert sub.url == "https://hooks.example.com/a"


def test_a_delivery_never_connects_to_an_internal_address(settings, project, owner, receiver, run_on_commit):
    sub = webhooks.webhook_subscription_create(
        actor=Actor(owner), project=project, url=receiver.url + "/hook", events=["gate.status_changed"]
    )
    settings.PREFLIGHT_ALLOW_PRIVATE_URLS = False
    gate = _gate(project, "T2")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
    delivery = WebhookDelivery.objects.get(subscription=sub)
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code is None
    assert delivery.last_error.startswith("Not sent:") and "loopback" in delivery.last_error
    assert receiver.requests == []
    # The owner can still switch the subscription off though its (unchanged) URL is now refused.
    webhooks.webhook_subscription_update(actor=Actor(owner), subscription=sub, is_active=False)
    sub.refresh_from_db()
    assert not sub.is_active


def test_webhooks_to_local_receivers_work_when_internal_addresses_are_allowed(
    settings, project, owner, receiver, run_on_commit
):
    settings.PREFLIGHT_ALLOW_PRIVATE_URLS = True
    sub = webhooks.webhook_subscription_create(
        actor=Actor(owner), project=project, url=receiver.url + "/hook", events=["gate.status_changed"]
    )
    receiver.secret = sub.secret
    gate = _gate(project, "T2")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
    assert [event for event, _ in receiver.verified()] == ["gate.status_changed"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_is_not_followed(project, owner, receiver, run_on_commit, status):
    target = LocalServer()
    try:
        receiver.responses = [(status, b"", {"Location": target.url + "/elsewhere"})]
        sub = webhooks.webhook_subscription_create(
            actor=Actor(owner), project=project, url=receiver.url + "/hook", events=["gate.status_changed"]
        )
        gate = _gate(project, "T2")
        with run_on_commit():
            services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
        delivery = WebhookDelivery.objects.get(subscription=sub)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, status)
        assert "redirects are not followed" in delivery.last_error
        assert delivery.next_attempt_at > timezone.now()  # retried later, like any failure
        assert len(receiver.requests) == 1 and target.requests == []
    finally:
        target.close()
