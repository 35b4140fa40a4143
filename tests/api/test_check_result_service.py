"""projects.services.check_result_record: results drive automated gates, audited, idempotent."""

import pytest

from audits.models import AuditEvent
from audits.services import Actor
from portal.errors import Conflict, InvalidInput, NotAllowed
from projects import readiness, services
from projects.models import CheckResult, Project, ProjectGate

pytestmark = pytest.mark.django_db


@pytest.fixture
def automated_gate(project):
    ProjectGate.objects.filter(project=project, code="T2").update(is_automated=True)
    return ProjectGate.objects.select_related("project").get(project=project, code="T2")


def test_a_pass_closes_and_a_fail_reopens_an_automated_gate(owner, automated_gate, run_on_commit):
    project = automated_gate.project
    seq = Project.objects.get(pk=project.pk).change_seq
    with run_on_commit():
        result = services.check_result_record(
            actor=Actor(owner), gate=automated_gate, passed=True, source="ci/smoke", details="12/12 green"
        )
    assert result.created
    gate = ProjectGate.objects.get(pk=automated_gate.pk)
    assert gate.status == readiness.CLOSED and gate.verified_at == result.received_at
    assert gate.version == automated_gate.version + 1
    project.refresh_from_db()
    assert project.change_seq == seq + 1
    assert project.computed_seq == project.change_seq  # recomputed on commit
    assert list(AuditEvent.objects.filter(project=project).order_by("-id").values_list("action", flat=True)[:2]) == [
        "gate.status_changed",
        "check.recorded",
    ]
    with run_on_commit():
        services.check_result_record(actor=Actor(owner), gate=gate, passed=False, source="ci/smoke")
    gate.refresh_from_db()
    assert gate.status == readiness.OPEN and gate.verified_at is None


def test_repeated_outcomes_do_not_touch_the_gate(owner, automated_gate):
    services.check_result_record(actor=Actor(owner), gate=automated_gate, passed=False, source="ci")
    gate = ProjectGate.objects.get(pk=automated_gate.pk)
    assert gate.version == automated_gate.version  # already open: nothing to change
    assert CheckResult.objects.filter(gate=gate).count() == 1


def test_manual_and_waived_gates_keep_their_status(owner, project):
    manual = ProjectGate.objects.select_related("project").get(project=project, code="T1")
    services.check_result_record(actor=Actor(owner), gate=manual, passed=True, source="ci")
    assert ProjectGate.objects.get(pk=manual.pk).status == readiness.OPEN
    ProjectGate.objects.filter(pk=manual.pk).update(
        is_automated=True, status=readiness.WAIVED, waiver_reason="accepted risk"
    )
    manual = ProjectGate.objects.select_related("project").get(pk=manual.pk)
    services.check_result_record(actor=Actor(owner), gate=manual, passed=False, source="ci")
    assert ProjectGate.objects.get(pk=manual.pk).status == readiness.WAIVED
    assert CheckResult.objects.filter(gate=manual).count() == 2


def test_same_key_and_fingerprint_replays_without_writing(owner, automated_gate):
    first = services.check_result_record(
        actor=Actor(owner), gate=automated_gate, passed=True, source="ci", idempotency_key="k1", request_fingerprint="f"
    )
    events = AuditEvent.objects.count()
    again = services.check_result_record(
        actor=Actor(owner), gate=automated_gate, passed=True, source="ci", idempotency_key="k1", request_fingerprint="f"
    )
    assert again.pk == first.pk and not again.created
    assert AuditEvent.objects.count() == events
    assert CheckResult.objects.count() == 1


def test_same_key_with_another_request_is_a_conflict(owner, automated_gate):
    services.check_result_record(
        actor=Actor(owner), gate=automated_gate, passed=True, source="ci", idempotency_key="k1", request_fingerprint="a"
    )
    with pytest.raises(Conflict):
        services.check_result_record(
            actor=Actor(owner),
            gate=automated_gate,
            passed=False,
            source="ci",
            idempotency_key="k1",
            request_fingerprint="b",
        )
    assert CheckResult.objects.count() == 1
    assert ProjectGate.objects.get(pk=automated_gate.pk).status == readiness.CLOSED


def test_viewers_cannot_record_and_the_system_can(viewer, automated_gate):
    with pytest.raises(NotAllowed):
        services.check_result_record(actor=Actor(viewer), gate=automated_gate, passed=True, source="ci")
    services.check_result_record(actor=Actor.system(), gate=automated_gate, passed=True, source="probe")
    assert CheckResult.objects.get().source == "probe"


def test_bad_input_records_nothing(owner, automated_gate):
    with pytest.raises(InvalidInput) as err:
        services.check_result_record(
            actor=Actor(owner), gate=automated_gate, passed="yes", source=" ", data=[1], idempotency_key="k" * 201
        )
    assert set(err.value.field_errors) == {"passed", "source", "data", "idempotency_key"}
    assert not CheckResult.objects.exists()
