"""List pages cost a fixed number of queries, however many projects or gates there are."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audits.services import Actor
from gates.models import Category
from projects import readiness, services
from projects.models import Membership, ProjectGate, SignOffRole
from tests.factories import GateDefinitionFactory, GateTemplateFactory, UserFactory

pytestmark = pytest.mark.django_db

# Both include the header's notification count; the dashboard also counts its projects (pages of 100).
DASHBOARD_MAX_QUERIES = 11
PROJECT_PAGE_MAX_QUERIES = 16


def make_projects(owner, template, count, run_on_commit):
    for i in range(count):
        with run_on_commit():
            project = services.project_create_from_template(
                actor=Actor(owner), template=template, name=f"Launch {i:03}", target_launch_date=None
            )
        gate = ProjectGate.objects.get(project=project, code="S1")
        with run_on_commit():  # a second snapshot, so every project has a trend line
            services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, owner=owner, status="partial")


@pytest.mark.parametrize("count", [3, 200])
def test_dashboard_queries_do_not_grow_with_projects(
    client, owner, template, count, run_on_commit, django_assert_max_num_queries
):
    make_projects(owner, template, count, run_on_commit)
    client.force_login(owner)
    with django_assert_max_num_queries(DASHBOARD_MAX_QUERIES):
        response = client.get(reverse("projects:dashboard"), {"sort": "-score"})
    body = response.content.decode()
    shown = min(count, 100)  # a page of projects
    assert body.count('<tr id="project-') == shown
    assert body.count('<svg class="trend"') == shown  # every project has a trend of two or more points
    assert "S1 Secrets in vault" in body  # the attention panel
    if count > 100:
        assert f"Projects 1–100 of {count}" in body
        with django_assert_max_num_queries(DASHBOARD_MAX_QUERIES):
            body = client.get(reverse("projects:dashboard"), {"sort": "-score", "page": 2}).content.decode()
        assert body.count('<tr id="project-') == 100 and f"Projects 101–200 of {count}" in body


@pytest.fixture
def big_template(db):
    tpl = GateTemplateFactory(name="Hundred gates", key="hundred-gates")
    categories = list(Category.objects.order_by("order")[:5])
    for i in range(100):
        GateDefinitionFactory(
            template=tpl,
            code=f"G{i + 1}",
            title=f"Gate number {i + 1}",
            category=categories[i % len(categories)],
            severity=readiness.SEVERITIES[i % len(readiness.SEVERITIES)],
            order=i,
        )
    return tpl


@pytest.mark.parametrize("gates", [5, 100])
def test_project_page_queries_do_not_grow_with_gates(
    client, owner, signer, editor, big_template, gates, run_on_commit, django_assert_max_num_queries
):
    with run_on_commit():
        project = services.project_create_from_template(actor=Actor(owner), template=big_template, name="Big")
        ProjectGate.objects.filter(project=project).exclude(code__in=[f"G{i + 1}" for i in range(gates)]).delete()
        role = SignOffRole.objects.get(project=project, name="Product Owner")
        services.member_add(actor=Actor(owner), project=project, user=signer, role="signer", signoff_roles=[role])
        services.member_add(actor=Actor(owner), project=project, user=editor, role=Membership.Role.EDITOR)
        for gate in ProjectGate.objects.filter(project=project)[: gates // 2]:
            services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, owner=editor)
        services.signoff_give(
            actor=Actor(signer), project=project, stage=project.current_stage, role=role, decision="go"
        )
        gate = ProjectGate.objects.get(project=project, code="G1")
        services.gate_update_status(actor=Actor(editor), gate=gate, version=gate.version, status="closed")
    client.force_login(editor)
    with django_assert_max_num_queries(PROJECT_PAGE_MAX_QUERIES):
        response = client.get(reverse("projects:detail", args=[project.slug]))
    body = response.content.decode()
    assert body.count('data-code="') == gates
    assert "Changed since it was given: G1" in body
    gate = ProjectGate.objects.get(project=project, code="G2")
    with django_assert_max_num_queries(PROJECT_PAGE_MAX_QUERIES + 9):  # the audited write and the in-process recompute
        response = client.post(
            reverse("projects:gate_status", args=[project.slug, "G2"]),
            {"status": "partial", "version": gate.version},
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 200


# --- members, history, gate and sign-off pages ---------------------------------------------------

# Each includes the session, the user and the header's notification count.
MEMBERS_PAGE_MAX_QUERIES = 9
HISTORY_PAGE_MAX_QUERIES = 11
GATE_PAGE_MAX_QUERIES = 16
SIGNOFF_PAGE_MAX_QUERIES = 15


@pytest.mark.parametrize("extra", [2, 40])
def test_members_page_queries_do_not_grow_with_members(client, project, owner, extra, django_assert_max_num_queries):
    roles = list(SignOffRole.objects.filter(project=project))
    for i in range(extra):
        user = UserFactory(username=f"member-{i:02}")
        services.member_add(
            actor=Actor(owner),
            project=project,
            user=user,
            role=Membership.Role.SIGNER,
            signoff_roles=roles[: i % 3 + 1],
        )
    client.force_login(owner)  # an owner gets a form per member
    with django_assert_max_num_queries(MEMBERS_PAGE_MAX_QUERIES):
        response = client.get(reverse("projects:members", args=[project.slug]))
    body = response.content.decode()
    assert body.count('<tr id="member-') == 4 + extra
    assert body.count("Remove member-") == extra


@pytest.mark.parametrize("changes", [2, 60])
def test_history_page_queries_do_not_grow_with_events(
    client, project, owner, editor, changes, django_assert_max_num_queries
):
    gates = list(ProjectGate.objects.filter(project=project).order_by("order"))
    for i in range(changes):
        gate = ProjectGate.objects.get(pk=gates[i % len(gates)].pk)
        actor = owner if i % 2 else editor
        status = "partial" if gate.status != "partial" else "closed"
        services.gate_update(
            actor=Actor(actor), gate=gate, version=gate.version, status=status, notes=f"Change {i}", owner=editor
        )
    client.force_login(editor)
    with django_assert_max_num_queries(HISTORY_PAGE_MAX_QUERIES):
        response = client.get(reverse("projects:history", args=[project.slug]))
    body = response.content.decode()
    assert body.count('<li id="event-') == min(50, changes + 4)  # + created and three members added
    assert "Notes: " in body


@pytest.mark.parametrize("results", [1, 60])
def test_gate_page_queries_do_not_grow_with_check_results(
    client, project, owner, editor, results, django_assert_max_num_queries
):
    gate = ProjectGate.objects.get(project=project, code="T1")
    for i in range(results):
        services.check_result_record(
            actor=Actor(owner), gate=gate, passed=bool(i % 2), source=f"ci-{i % 3}", details=f"Run {i}"
        )
        gate.refresh_from_db()
        services.gate_update(actor=Actor(editor), gate=gate, version=gate.version, notes=f"Looked at run {i}")
    client.force_login(editor)
    with django_assert_max_num_queries(GATE_PAGE_MAX_QUERIES):
        response = client.get(reverse("projects:gate", args=[project.slug, "T1"]))
    body = response.content.decode()
    assert body.count('<span class="muted">Run ') == min(results, 50)  # the latest 50 results
    assert body.count("<strong>eddie-editor</strong>") == results  # the gate's history, with who changed it


@pytest.mark.parametrize("gates", [5, 100])
def test_signoff_page_queries_do_not_grow_with_gates_and_signoffs(
    client, owner, signer, editor, big_template, gates, run_on_commit, django_assert_max_num_queries
):
    with run_on_commit():
        project = services.project_create_from_template(actor=Actor(owner), template=big_template, name="Big")
        ProjectGate.objects.filter(project=project).exclude(code__in=[f"G{i + 1}" for i in range(gates)]).delete()
        roles = list(SignOffRole.objects.filter(project=project))
        services.member_add(actor=Actor(owner), project=project, user=signer, role="signer", signoff_roles=roles)
        services.member_add(actor=Actor(owner), project=project, user=editor, role="signer", signoff_roles=roles)
        for i, gate in enumerate(ProjectGate.objects.filter(project=project).order_by("order")):
            if i % 3 == 0:
                services.gate_update_status(actor=Actor(owner), gate=gate, version=gate.version, status="partial")
            elif i % 3 == 1 and i % 2:
                services.gate_waive(
                    actor=Actor(owner),
                    gate=gate,
                    version=gate.version,
                    reason="Later",
                    expires_at=timezone.now() + timedelta(days=9),
                )
        for user, role in zip([signer, editor, signer], roles, strict=True):
            services.signoff_give(
                actor=Actor(user),
                project=project,
                stage=project.current_stage,
                role=role,
                decision="no_go",
                comment="No",
            )
    client.force_login(signer)
    with django_assert_max_num_queries(SIGNOFF_PAGE_MAX_QUERIES):
        response = client.get(reverse("projects:signoff", args=[project.slug]))
    assert response.status_code == 200
    body = response.content.decode()
    partial = (gates + 2) // 3
    waived = len([i for i in range(gates) if i % 3 == 1 and i % 2])
    assert f"Partial gates ({partial})" in body
    assert f"Waivers ({waived})" in body
    assert f"Open gates ({gates - partial - waived})" in body
    assert body.count("NO-GO by ") == 2  # the two required sign-offs (Backend Lead, Product Owner), with who gave them
    assert body.count(">Withdraw</button>") == 2  # the signer's own two
