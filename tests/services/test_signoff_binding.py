"""A sign-off binds to the state its signer saw: the hash is compared under the project lock."""

import pytest

from audits.models import AuditEvent, ReadinessSnapshot
from audits.services import Actor
from portal.errors import Conflict
from projects import services
from projects.models import ProjectGate, SignOff, SignOffRole
from projects.selectors import project_readiness

pytestmark = pytest.mark.django_db


def give(project, signer, **kwargs):
    role = SignOffRole.objects.get(project=project, name="Product Owner")
    return services.signoff_give(
        actor=Actor(signer), project=project, stage=project.current_stage, role=role, decision="go", **kwargs
    )


def test_a_sign_off_on_a_state_that_moved_signs_nothing(project, signer, editor):
    seen = project_readiness(project).state_hash
    gate = ProjectGate.objects.get(project=project, code="T2")
    services.gate_update(actor=Actor(editor), gate=gate, version=gate.version, status="closed")
    events, snapshots = AuditEvent.objects.count(), ReadinessSnapshot.objects.count()
    with pytest.raises(Conflict) as err:
        give(project, signer, state_hash=seen)
    now = project_readiness(project)
    assert err.value.current.state_hash == now.state_hash != seen
    assert "Nothing was signed" in err.value.message and "state_hash" in err.value.field_errors
    assert not SignOff.objects.exists()
    assert (AuditEvent.objects.count(), ReadinessSnapshot.objects.count()) == (events, snapshots)


def test_a_sign_off_on_the_current_state_binds_to_it(project, signer):
    seen = project_readiness(project).state_hash
    signoff = give(project, signer, state_hash=seen)
    assert signoff.state_hash == signoff.snapshot.state_hash == seen


def test_without_a_hash_the_sign_off_binds_to_the_state_of_the_moment(project, signer, editor):
    gate = ProjectGate.objects.get(project=project, code="T2")
    services.gate_update(actor=Actor(editor), gate=gate, version=gate.version, status="closed")
    assert give(project, signer).state_hash == project_readiness(project).state_hash
