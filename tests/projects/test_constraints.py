"""The database itself refuses rows that break the domain's invariants, whoever writes them."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits.services import Actor
from gates.models import GateDefinition
from projects import services
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


def test_only_a_waived_gate_carries_a_waiver(project, owner):
    later = timezone.now() + timedelta(days=7)
    gate = ProjectGate.objects.get(project=project, code="T2")
    gate = services.gate_waive(actor=Actor(owner), gate=gate, version=gate.version, reason="r", expires_at=later)
    waived = ProjectGate.objects.filter(pk=gate.pk)
    for status in ("open", "partial", "closed", "not_applicable"):
        refused(waived, status=status)  # leaving "waived" with the waiver still on the row
    for leftover in ({"waiver_reason": "r"}, {"waiver_expires_at": later}, {"waiver_approver": owner}):
        refused(ProjectGate.objects.filter(project=project, code="T1"), **leftover)
    # The one door out of a waiver clears it, and the database accepts that.
    gate = services.gate_unwaive(actor=Actor(owner), gate=gate, version=gate.version)
    gate.refresh_from_db()
    assert (gate.status, gate.waiver_reason, gate.waiver_expires_at, gate.waiver_approver) == ("open", "", None, None)


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


def test_the_every_minute_sweep_is_answered_by_its_partial_index(project):
    """The plan of the query the sweep really runs uses project_recompute_due, an index holding
    only the projects behind (computed_seq < change_seq), on whichever database runs the tests."""
    (due,) = (i for i in Project._meta.indexes if i.name == "project_recompute_due")
    assert due.condition == Q(computed_seq__lt=F("change_seq"))
    Project.objects.filter(pk=project.pk).update(change_seq=F("change_seq") + 1)
    with CaptureQueriesContext(connection) as queries:
        services.readiness_recompute_due()
    (sweep,) = (
        q["sql"] for q in queries.captured_queries if '"computed_seq" <' in q["sql"] and "lifecycle" in q["sql"]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A handful of test rows make a sequential scan cheapest; forbid it to ask whether
            # the index can answer the query at all (it cannot unless its condition is implied).
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sweep}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sweep}")
        plan = "\n".join(" ".join(str(col) for col in row) for row in cursor.fetchall())
        # In the database, too, the index is partial: a full index on these columns would be
        # scanned whole (SQLite reads one as a covering index), not only the projects behind.
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'project_recompute_due'")
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'project_recompute_due'")
        (definition,) = cursor.fetchone()
    assert "project_recompute_due" in plan, plan
    unquoted = definition.translate(str.maketrans("", "", '"()'))
    assert "WHERE computed_seq < change_seq" in unquoted, definition
