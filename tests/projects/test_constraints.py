"""The database itself refuses rows that break the domain's invariants, whoever writes them."""

import pytest
from django.db import IntegrityError, transaction

from gates.models import GateDefinition
from projects.models import Membership, Project, ProjectGate, SignOff

pytestmark = pytest.mark.django_db


def refused(queryset, **values):
    with pytest.raises(IntegrityError), transaction.atomic():
        queryset.update(**values)


@pytest.mark.parametrize(
    "values",
    [
        {"status": "done"},
        {"severity": "huge"},
        {"weight": 0},
        {"status": "waived", "waiver_reason": ""},
    ],
)
def test_project_gate_invariants(project, values):
    refused(ProjectGate.objects.filter(project=project, code="T2"), **values)


def test_gate_code_unique_per_project_and_per_template(project, template):
    with pytest.raises(IntegrityError), transaction.atomic():
        ProjectGate.objects.filter(project=project, code="T2").update(code="T1")
    with pytest.raises(IntegrityError), transaction.atomic():
        GateDefinition.objects.filter(template=template, code="T2").update(code="T1")


def test_definition_invariants(template):
    refused(GateDefinition.objects.filter(template=template), severity="huge")
    refused(GateDefinition.objects.filter(template=template), weight=0)


def test_project_score_range_membership_role_and_signoff_decision(project, signer):
    refused(Project.objects.filter(pk=project.pk), score=101)
    refused(Membership.objects.filter(project=project), role="admin")
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(project=project, user=signer, role="viewer")
    stage = project.current_stage
    role = project.signoff_roles.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        SignOff.objects.create(project=project, stage=stage, role=role, user=signer, decision="maybe", state_hash="x")


def test_recompute_and_dashboard_queries_have_indexes():
    names = {i.name for i in Project._meta.indexes} | {i.name for i in ProjectGate._meta.indexes}
    assert {
        "project_lifecycle_verdict",
        "project_recompute_due",
        "projectgate_project_status",
        "projectgate_owner_status",
        "projectgate_evidence_expiry",
        "projectgate_waiver_expiry",
    } <= names
