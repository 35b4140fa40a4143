"""The write services: transactions, permissions, optimistic locking, audit, recompute."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits.models import AuditEvent, ReadinessSnapshot
from audits.services import Actor, audit_verify_chain
from portal.errors import Conflict, InvalidInput, NotAllowed, StaleVersion
from projects import readiness, services
from projects.models import Membership, Project, ProjectGate, SignOff, SignOffRole
from projects.selectors import project_readiness

pytestmark = pytest.mark.django_db


def gate(project, code):
    return ProjectGate.objects.select_related("project").get(project=project, code=code)


def test_create_from_template_copies_gates_roles_stages(project, owner):
    assert project.gates.count() == 6
    assert set(project.signoff_roles.values_list("name", flat=True)) == {"Backend Lead", "DevOps Lead", "Product Owner"}
    soft, ga = project.stages.order_by("order")
    assert (soft.name, soft.min_closed, ga.name) == ("Soft launch", 2, "GA")
    assert set(soft.required_roles.values_list("name", flat=True)) == {"Backend Lead", "Product Owner"}
    assert project.current_stage == soft
    assert Membership.objects.get(project=project, user=owner).role == "owner"
    t1 = gate(project, "T1")
    assert (t1.severity, t1.weight, t1.status) == ("blocker", 8, "open")
    # The recompute ran on commit: everything open, a blocker open → NO-GO.
    assert project.score == 0.0
    assert project.verdict == readiness.NO_GO
    assert project.computed_seq == project.change_seq
    assert AuditEvent.objects.filter(project=project, action="project.created").count() == 1


def test_create_refuses_taken_slug_and_writes_nothing(project, template, owner):
    before = Project.objects.count()
    with pytest.raises(InvalidInput) as err:
        services.project_create_from_template(actor=Actor(owner), template=template, name="Other", slug="apollo")
    assert "slug" in err.value.field_errors
    assert Project.objects.count() == before


def test_gate_update_bumps_version_audits_and_recomputes(project, editor, run_on_commit):
    t2 = gate(project, "T2")
    with run_on_commit():
        updated = services.gate_update(
            actor=Actor(editor),
            gate=t2,
            version=t2.version,
            status="closed",
            evidence_url="https://ci.example.com/run/1",
        )
    assert updated.version == 2
    assert updated.verified_at is not None
    event = AuditEvent.objects.filter(project=project, action="gate.status_changed").get()
    assert event.before["status"] == "open" and event.after["status"] == "closed"
    assert event.actor_label == editor.username
    project.refresh_from_db()
    # T2 (medium, 2) closed out of 8+2+5+2+1+2 = 20 → 10.0
    assert project.score == 10.0


def test_stale_version_is_refused_and_nothing_changes(project, editor, owner):
    t2 = gate(project, "T2")
    services.gate_update(actor=Actor(owner), gate=t2, version=1, notes="first writer")
    with pytest.raises(StaleVersion) as err:
        services.gate_update(actor=Actor(editor), gate=t2, version=1, notes="second writer")
    assert err.value.current.notes == "first writer"
    t2.refresh_from_db()
    assert t2.notes == "first writer" and t2.version == 2
    assert AuditEvent.objects.filter(action="gate.updated").count() == 1


def test_viewer_and_signer_cannot_change_gates(project, viewer, signer):
    t2 = gate(project, "T2")
    for user in (viewer, signer):
        with pytest.raises(NotAllowed):
            services.gate_update(actor=Actor(user), gate=t2, version=1, status="closed")
    t2.refresh_from_db()
    assert t2.status == "open"


def test_invalid_gate_input_is_refused_with_field_errors(project, editor, outsider):
    t2 = gate(project, "T2")
    with pytest.raises(InvalidInput) as err:
        services.gate_update(
            actor=Actor(editor), gate=t2, version=1, status="done", evidence_url="not a link", owner=outsider
        )
    assert set(err.value.field_errors) == {"status", "evidence_url", "owner"}
    with pytest.raises(InvalidInput):
        services.gate_update(actor=Actor(editor), gate=t2, version=1, title="renamed")
    t2.refresh_from_db()
    assert (t2.status, t2.version) == ("open", 1)


def test_reopening_a_gate_clears_verification(project, editor):
    t2 = gate(project, "T2")
    t2 = services.gate_update(actor=Actor(editor), gate=t2, version=1, status="closed")
    assert t2.verified_at is not None
    t2 = services.gate_update(actor=Actor(editor), gate=t2, version=2, status="partial")
    assert t2.verified_at is None


def test_waive_needs_owner_reason_and_future_expiry(project, owner, editor, run_on_commit):
    t1 = gate(project, "T1")
    later = timezone.now() + timedelta(days=14)
    with pytest.raises(NotAllowed):
        services.gate_waive(actor=Actor(editor), gate=t1, version=1, reason="later", expires_at=later)
    with pytest.raises(InvalidInput) as err:
        services.gate_waive(actor=Actor(owner), gate=t1, version=1, reason=" ", expires_at=timezone.now())
    assert set(err.value.field_errors) == {"reason", "expires_at"}
    with run_on_commit():
        t1 = services.gate_waive(actor=Actor(owner), gate=t1, version=1, reason="Accepted risk", expires_at=later)
    assert (t1.status, t1.waiver_approver, t1.version) == ("waived", owner, 2)
    project.refresh_from_db()
    # The blocker is waived: no blocker reason any more.
    assert not any("blocker" in r for r in project.reasons)
    with run_on_commit():
        t1 = services.gate_unwaive(actor=Actor(owner), gate=t1, version=2)
    assert (t1.status, t1.waiver_reason, t1.waiver_expires_at) == ("open", "", None)
    assert [
        e.action for e in AuditEvent.objects.filter(object_type="projectgate", object_id=str(t1.pk)).order_by("id")
    ] == [
        "gate.waived",
        "gate.unwaived",
    ]


@pytest.mark.parametrize("who", ["editor", "owner"])
def test_a_waived_gate_changes_status_only_by_lifting_its_waiver(project, owner, editor, who):
    later = timezone.now() + timedelta(days=14)
    t1 = services.gate_waive(actor=Actor(owner), gate=gate(project, "T1"), version=1, reason="Risk", expires_at=later)
    actor = Actor(editor if who == "editor" else owner)
    with pytest.raises(Conflict) as err:
        services.gate_update(actor=actor, gate=t1, version=t1.version, status="closed")
    assert "lifts the waiver" in err.value.message and "status" in err.value.field_errors
    t1.refresh_from_db()
    assert (t1.status, t1.waiver_reason, t1.waiver_approver, t1.version) == ("waived", "Risk", owner, 2)
    # Other fields of a waived gate stay editable, and the waiver with them.
    t1 = services.gate_update(actor=actor, gate=t1, version=t1.version, status="waived", notes="Revisit after GA")
    assert (t1.status, t1.notes, t1.waiver_reason) == ("waived", "Revisit after GA", "Risk")


def test_members_add_update_remove_keep_an_owner(project, owner, outsider, editor):
    with pytest.raises(Conflict):
        services.member_add(actor=Actor(owner), project=project, user=editor, role="viewer")
    with pytest.raises(NotAllowed):
        services.member_add(actor=Actor(editor), project=project, user=outsider, role="viewer")
    m = services.member_add(actor=Actor(owner), project=project, user=outsider, role="viewer")
    role = SignOffRole.objects.get(project=project, name="DevOps Lead")
    m = services.member_update(actor=Actor(owner), membership=m, role="signer", signoff_roles=[role])
    assert m.role == "signer" and list(m.signoff_roles.all()) == [role]
    services.member_remove(actor=Actor(owner), membership=m)
    assert not Membership.objects.filter(project=project, user=outsider).exists()
    own = Membership.objects.get(project=project, user=owner)
    with pytest.raises(Conflict):
        services.member_remove(actor=Actor(owner), membership=own)
    with pytest.raises(Conflict):
        services.member_update(actor=Actor(owner), membership=own, role="viewer")
    assert [e.action for e in AuditEvent.objects.filter(object_type="membership", object_id=str(m.pk))] == [
        "member.removed",
        "member.updated",
        "member.added",
    ]


def test_signoff_only_for_held_roles_and_needs_comment_unless_go(project, signer, editor):
    stage = project.current_stage
    po = SignOffRole.objects.get(project=project, name="Product Owner")
    backend = SignOffRole.objects.get(project=project, name="Backend Lead")
    with pytest.raises(NotAllowed):
        services.signoff_give(actor=Actor(signer), project=project, stage=stage, role=backend, decision="go")
    with pytest.raises(NotAllowed):
        services.signoff_give(actor=Actor(editor), project=project, stage=stage, role=po, decision="go")
    with pytest.raises(InvalidInput) as err:
        services.signoff_give(actor=Actor(signer), project=project, stage=stage, role=po, decision="no_go")
    assert "comment" in err.value.field_errors
    assert SignOff.objects.count() == 0


def test_signoff_binds_state_hash_and_goes_stale_when_a_gate_changes(project, signer, editor, run_on_commit):
    stage = project.current_stage
    po = SignOffRole.objects.get(project=project, name="Product Owner")
    with run_on_commit():
        so = services.signoff_give(
            actor=Actor(signer), project=project, stage=stage, role=po, decision="conditional_go", comment="After T1"
        )
    project.refresh_from_db()
    assert so.state_hash == project.state_hash
    assert so.snapshot.kind == ReadinessSnapshot.Kind.SIGNOFF
    po_state = next(s for s in project.readiness["signoffs"] if s["role"] == "Product Owner")
    assert po_state["state"] == readiness.CURRENT
    t2 = gate(project, "T2")
    with run_on_commit():
        services.gate_update(actor=Actor(editor), gate=t2, version=1, status="closed")
    project.refresh_from_db()
    po_state = next(s for s in project.readiness["signoffs"] if s["role"] == "Product Owner")
    assert po_state["state"] == readiness.STALE
    assert project.state_hash != so.state_hash


def test_signoff_again_replaces_and_revoke_is_audited(project, signer, owner):
    stage = project.current_stage
    po = SignOffRole.objects.get(project=project, name="Product Owner")
    services.signoff_give(actor=Actor(signer), project=project, stage=stage, role=po, decision="no_go", comment="x")
    so = services.signoff_give(actor=Actor(signer), project=project, stage=stage, role=po, decision="go")
    assert SignOff.objects.filter(project=project).count() == 1
    services.signoff_revoke(actor=Actor(owner), signoff=so)
    assert SignOff.objects.count() == 0
    assert list(
        AuditEvent.objects.filter(project=project, action__startswith="signoff").values_list("action", flat=True)
    ) == [
        "signoff.revoked",
        "signoff.given",
        "signoff.given",
    ]


def test_change_stage_judges_against_the_new_stage(project, owner, run_on_commit):
    ga = project.stages.get(name="GA")
    with run_on_commit():
        services.project_change_stage(actor=Actor(owner), project=project, stage=ga)
    project.refresh_from_db()
    assert project.current_stage == ga
    assert any("GA" in r for r in project.reasons)


def test_every_write_extends_one_valid_hash_chain(project, owner, editor):
    t2 = gate(project, "T2")
    services.gate_update(actor=Actor(editor), gate=t2, version=1, status="partial")
    checked, broken, why = audit_verify_chain()
    assert checked == AuditEvent.objects.count() >= 5
    assert broken is None and why == ""


def test_audit_events_refuse_update_and_delete_through_the_orm(project):
    event = AuditEvent.objects.first()
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()


def test_recompute_is_idempotent_and_snapshots_only_on_change(project):
    before = ReadinessSnapshot.objects.filter(project=project).count()
    assert services.readiness_recompute(project_ids=[project.pk]) == 0  # already current
    assert services.readiness_recompute(project_ids=[project.pk], force=True) == 1
    assert services.readiness_recompute(project_ids=[project.pk], force=True) == 1
    assert ReadinessSnapshot.objects.filter(project=project).count() == before


def test_cached_readiness_equals_live_evaluation(project, editor, run_on_commit):
    with run_on_commit():
        services.gate_update(actor=Actor(editor), gate=gate(project, "S1"), version=1, status="partial")
    project.refresh_from_db()
    live = project_readiness(project)
    assert (project.score, project.verdict, project.state_hash) == (live.score, live.verdict, live.state_hash)


def test_sweep_recomputes_projects_left_behind(project, editor):
    # Written without running on-commit callbacks: the cache is now behind the change.
    services.gate_update(actor=Actor(editor), gate=gate(project, "T2"), version=1, status="closed")
    project.refresh_from_db()
    assert project.computed_seq < project.change_seq
    assert services.readiness_recompute_due() == 1
    project.refresh_from_db()
    assert project.computed_seq == project.change_seq and project.score == 10.0


def test_recompute_query_count_does_not_grow_with_projects(template, owner, django_assert_max_num_queries):
    ids = [
        services.project_create_from_template(actor=Actor(owner), template=template, name=f"P{i}").pk for i in range(30)
    ]
    Project.objects.filter(pk__in=ids).update(computed_seq=0)
    with django_assert_max_num_queries(12):
        assert services.readiness_recompute(project_ids=ids) == 30
