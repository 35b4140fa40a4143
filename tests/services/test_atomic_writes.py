"""A service is one transaction: when a step after the change fails (here the audit write, refused
by the database itself), nothing of the change is left behind and no recompute is queued."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from audits.models import AuditEvent, ReadinessSnapshot
from audits.services import Actor
from projects import services
from projects.models import Membership, Project, ProjectGate, SignOff, SignOffRole

pytestmark = pytest.mark.django_db

TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER test_audit_down BEFORE INSERT ON audits_auditevent "
        "BEGIN SELECT RAISE(ABORT, 'the audit store is down'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION test_audit_down() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'the audit store is down'; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER test_audit_down BEFORE INSERT ON audits_auditevent "
        "FOR EACH ROW EXECUTE FUNCTION test_audit_down()",
    ],
}


@pytest.fixture
def audit_down(project):
    """From here on the database refuses every audit event (the test's transaction undoes it)."""
    with connection.cursor() as cursor:
        for statement in TRIGGER[connection.vendor]:
            cursor.execute(statement)


def gate(project, code):
    return ProjectGate.objects.select_related("project").get(project=project, code=code)


def the_world(project):
    """Everything a write could leave behind."""
    return {
        "gates": list(ProjectGate.objects.filter(project=project).order_by("code").values()),
        "project": Project.objects.filter(pk=project.pk).values("change_seq", "current_stage_id").get(),
        "members": sorted(Membership.objects.filter(project=project).values_list("user_id", "role")),
        "signoffs": list(SignOff.objects.values_list("pk", "decision")),
        "snapshots": ReadinessSnapshot.objects.count(),
        "events": AuditEvent.objects.count(),
    }


WRITES = {
    "gate status": lambda p, who: services.gate_update(
        actor=Actor(who["editor"]), gate=gate(p, "T1"), version=1, status="closed", notes="done"
    ),
    "waiver": lambda p, who: services.gate_waive(
        actor=Actor(who["owner"]),
        gate=gate(p, "T2"),
        version=1,
        reason="later",
        expires_at=timezone.now() + timedelta(days=3),
    ),
    "sign-off": lambda p, who: services.signoff_give(
        actor=Actor(who["signer"]),
        project=p,
        stage=p.current_stage,
        role=SignOffRole.objects.get(project=p, name="Product Owner"),
        decision="go",
    ),
    "stage change": lambda p, who: services.project_change_stage(
        actor=Actor(who["owner"]), project=p, stage=p.stages.get(name="GA")
    ),
    "member": lambda p, who: services.member_add(
        actor=Actor(who["owner"]), project=p, user=who["outsider"], role="viewer"
    ),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_failed_audit_write_leaves_nothing_saved(
    write, project, owner, editor, signer, outsider, audit_down, django_capture_on_commit_callbacks
):
    before = the_world(project)
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(DatabaseError, match="audit store is down"):
        WRITES[write](project, {"owner": owner, "editor": editor, "signer": signer, "outsider": outsider})
    assert the_world(project) == before
    assert callbacks == []  # no recompute, mail or webhook for a change that did not happen


def test_without_the_failure_the_same_writes_are_saved(project, owner, editor, signer, outsider):
    """The control: each write above does change something when the audit store is up."""
    who = {"owner": owner, "editor": editor, "signer": signer, "outsider": outsider}
    for write in WRITES.values():
        before = the_world(project)
        write(project, who)
        after = the_world(project)
        assert after != before and after["events"] == before["events"] + 1
