"""Every list endpoint runs the same number of queries at page size 1 and 50."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits.services import Actor
from gates.models import GateTemplate
from notifications import webhooks
from notifications.models import Kind
from notifications.services import notify
from projects import services
from projects.models import ProjectGate, SignOffRole, Stage

pytestmark = pytest.mark.django_db

P = "/api/v1/projects/apollo"
LISTS = [
    "/api/v1/projects",
    f"{P}/gates",
    f"{P}/gates/T1/check-results",
    f"{P}/stages",
    f"{P}/members",
    f"{P}/signoffs",
    f"{P}/snapshots",
    f"{P}/audit-events",
    f"{P}/webhooks",
    f"{P}/webhooks/{{webhook}}/deliveries",
    "/api/v1/gate-templates",
    "/api/v1/categories",
    "/api/v1/notifications",
]


@pytest.fixture
def busy_project(project, owner, editor, template, run_on_commit):
    """At least two rows in every list (three where the fixture allows), with owners, waivers and sign-offs filled in."""
    actor = Actor(owner)
    with run_on_commit():
        for i in range(3):
            services.project_create_from_template(actor=actor, template=template, name=f"Extra {i}")
            GateTemplate.objects.create(key=f"extra-{i}", name=f"Extra template {i}")
        for gate in ProjectGate.objects.filter(project=project):
            services.gate_update(actor=actor, gate=gate, version=gate.version, owner=editor, status="partial")
        gate = ProjectGate.objects.get(project=project, code="S1")
        services.gate_waive(
            actor=actor, gate=gate, version=gate.version, reason="r", expires_at=timezone.now() + timedelta(days=2)
        )
        t1 = ProjectGate.objects.select_related("project").get(project=project, code="T1")
        for i in range(3):
            services.check_result_record(actor=actor, gate=t1, passed=bool(i % 2), source=f"ci-{i}")
        stage = Stage.objects.get(project=project, order=1)
        for role in SignOffRole.objects.filter(project=project):
            services.signoff_give(actor=actor, project=project, stage=stage, role=role, decision="go")
    # Subscriptions and test deliveries after the block above: the changes there are not sent to
    # them, and the sending of the test deliveries is queued on a commit that never comes, so no
    # request leaves the machine.
    for i in range(3):
        subscription = webhooks.webhook_subscription_create(
            actor=actor, project=project, url=f"https://hooks.example.com/{i}", events=["gate.status_changed"]
        )
    for _ in range(3):
        webhooks.webhook_send_test(actor=actor, subscription=subscription)
    # The owner's notifications: about the project and about none (each row reads its project's slug).
    for i in range(3):
        notify(user_ids=[owner.pk], kind=Kind.VERDICT_CHANGED, title=f"Verdict {i}", project=project)
    notify(user_ids=[owner.pk], kind=Kind.WEEKLY_DIGEST, title="Digest")
    project.webhook = subscription
    return project


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("auth", ["token", "session"])
def test_list_query_count_is_independent_of_page_size(url, auth, busy_project, owner, token_client, api):
    client = token_client(owner) if auth == "token" else api(user=owner)
    url = url.format(webhook=busy_project.webhook.pk)
    client.get(url)  # warm: the token's last-used stamp is written at most once a minute
    counts = {}
    for size in (1, 50):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{url}?page_size={size}")
        assert response.status_code == 200, response.content
        rows = len(response.json()["results"])
        assert rows == 1 if size == 1 else rows >= 2, (url, rows)
        counts[size] = len(ctx.captured_queries)
    assert counts[1] == counts[50], (url, counts)
    assert counts[50] <= 9, (url, counts)
