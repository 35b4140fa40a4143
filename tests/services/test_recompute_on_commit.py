"""Every write service marks its project changed and queues a recompute once it commits.

The table below holds one real call per service; a new service in projects/services.py that is
neither in the table nor exempted (with the reason) fails `test_every_write_service_is_walked`.
"""

import inspect
from datetime import timedelta
from functools import partial

import pytest
from django.utils import timezone

from audits.services import Actor
from projects import services
from projects.models import Membership, Project, ProjectGate, SignOffRole, Stage

from ..factories import UserFactory

pytestmark = pytest.mark.django_db

# Writes that cannot change readiness: the rules read none of the fields they touch.
EXEMPT = {
    "project_update": "name, description, launch date and lifecycle are not read by the readiness rules",
}


def _gate(project, code):
    return ProjectGate.objects.select_related("project").get(project=project, code=code)


def _role(project, name="Product Owner"):
    return SignOffRole.objects.get(project=project, name=name)


def _member(project, user):
    return Membership.objects.select_related("project", "user").get(project=project, user=user)


def _create(p):
    return lambda: services.project_create_from_template(
        actor=Actor(p.owner), template=p.template, name="Walked", slug="walked"
    )


def _change_stage(p):
    ga = Stage.objects.get(project=p.project, name="GA")
    return lambda: services.project_change_stage(actor=Actor(p.owner), project=p.project, stage=ga)


def _gate_update(p):
    t2 = _gate(p.project, "T2")
    return lambda: services.gate_update(actor=Actor(p.editor), gate=t2, version=t2.version, notes="walked")


def _gate_update_status(p):
    t2 = _gate(p.project, "T2")
    return lambda: services.gate_update_status(actor=Actor(p.editor), gate=t2, version=t2.version, status="partial")


def _waive(p):
    t2 = _gate(p.project, "T2")
    expires = timezone.now() + timedelta(days=7)
    return lambda: services.gate_waive(
        actor=Actor(p.owner), gate=t2, version=t2.version, reason="Out of scope", expires_at=expires
    )


def _unwaive(p):
    t2 = _gate(p.project, "T2")
    t2 = services.gate_waive(
        actor=Actor(p.owner), gate=t2, version=t2.version, reason="Later", expires_at=timezone.now() + timedelta(days=1)
    )
    return lambda: services.gate_unwaive(actor=Actor(p.owner), gate=t2, version=t2.version)


def _member_add(p):
    newcomer = UserFactory(username="nina-newcomer")
    return lambda: services.member_add(
        actor=Actor(p.owner),
        project=p.project,
        user=newcomer,
        role=Membership.Role.SIGNER,
        signoff_roles=[_role(p.project, "Backend Lead")],
    )


def _member_update(p):
    membership = _member(p.project, p.editor)
    return lambda: services.member_update(
        actor=Actor(p.owner), membership=membership, role=Membership.Role.SIGNER, signoff_roles=[_role(p.project)]
    )


def _member_remove(p):
    membership = _member(p.project, p.signer)
    return lambda: services.member_remove(actor=Actor(p.owner), membership=membership)


def _signoff_give(p):
    return lambda: services.signoff_give(
        actor=Actor(p.signer),
        project=p.project,
        stage=p.project.current_stage,
        role=_role(p.project),
        decision="go",
    )


def _signoff_revoke(p):
    signoff = services.signoff_give(
        actor=Actor(p.signer), project=p.project, stage=p.project.current_stage, role=_role(p.project), decision="go"
    )
    return lambda: services.signoff_revoke(actor=Actor(p.signer), signoff=signoff)


def _stage_update(p):
    return lambda: services.stage_update(actor=Actor(p.owner), stage=p.project.current_stage, min_score=10)


def _check_result(p):
    ProjectGate.objects.filter(project=p.project, code="T2").update(is_automated=True)
    t2 = _gate(p.project, "T2")
    return lambda: services.check_result_record(actor=Actor(p.editor), gate=t2, passed=True, source="ci")


WRITES = {
    "project_create_from_template": _create,
    "project_change_stage": _change_stage,
    "gate_update": _gate_update,
    "gate_update_status": _gate_update_status,
    "gate_waive": _waive,
    "gate_unwaive": _unwaive,
    "member_add": _member_add,
    "member_update": _member_update,
    "member_remove": _member_remove,
    "signoff_give": _signoff_give,
    "signoff_revoke": _signoff_revoke,
    "stage_update": _stage_update,
    "check_result_record": _check_result,
}


def _write_services():
    """Public functions of projects.services that take an `actor`: the module's write services."""
    return {
        name
        for name, fn in inspect.getmembers(services, inspect.isfunction)
        if fn.__module__ == services.__name__
        and not name.startswith("_")
        and "actor" in inspect.signature(fn).parameters
    }


def test_every_write_service_is_walked():
    assert _write_services() == set(WRITES) | set(EXEMPT)


class People:
    def __init__(self, project, template, owner, editor, signer):
        self.project, self.template, self.owner, self.editor, self.signer = project, template, owner, editor, signer


@pytest.mark.parametrize("name", sorted(WRITES))
def test_write_service_queues_a_recompute_on_commit(
    name, project, template, owner, editor, signer, django_capture_on_commit_callbacks
):
    people = People(project, template, owner, editor, signer)
    with django_capture_on_commit_callbacks(execute=True):
        write = WRITES[name](people)  # setup writes commit (and recompute) here, not below
    seq_before = Project.objects.get(pk=project.pk).change_seq

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = write()

    target = result if isinstance(result, Project) else project
    recomputes = [
        cb.args for cb in callbacks if isinstance(cb, partial) and cb.func is services.readiness_request_recompute
    ]
    assert recomputes == [(target.pk,)], f"{name} queued {recomputes}"
    fresh = Project.objects.get(pk=target.pk)
    if target.pk == project.pk:
        assert fresh.change_seq > seq_before, f"{name} did not mark the project changed"
    # The queued recompute ran on commit and caught the cache up with the change.
    assert fresh.computed_seq == fresh.change_seq >= 1
