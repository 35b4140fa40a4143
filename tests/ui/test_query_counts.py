"""List pages cost a fixed number of queries, however many projects or gates there are."""

import pytest
from django.urls import reverse

from audits.services import Actor
from gates.models import Category
from projects import readiness, services
from projects.models import Membership, ProjectGate, SignOffRole
from tests.factories import GateDefinitionFactory, GateTemplateFactory

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
