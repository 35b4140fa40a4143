"""Automated HTTP checks: the spec is validated, probes hit a local server on 127.0.0.1, each
probe is a stored check result, and the gate follows it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits.services import Actor
from portal.errors import InvalidInput, NotAllowed, StaleVersion
from projects import checks, tasks
from projects.models import CheckResult, ProjectGate

pytestmark = pytest.mark.django_db


def _gate(project, code="T1"):
    return ProjectGate.objects.select_related("project").get(project=project, code=code)


def _automate(project, owner, spec, code="T1"):
    gate = _gate(project, code)
    return checks.gate_set_check(actor=Actor(owner), gate=gate, version=gate.version, spec=spec)


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ({}, {"url"}),
        ({"url": "ftp://example.com"}, {"url"}),
        ({"url": "https://example.com", "expected_status": 99}, {"expected_status"}),
        ({"url": "https://example.com", "timeout": 0}, {"timeout"}),
        ({"url": "https://example.com", "timeout": "5"}, {"timeout"}),
        ({"url": "https://example.com", "interval_minutes": 0}, {"interval_minutes"}),
        ({"url": "https://example.com", "json_field": "status"}, {"json_value"}),
        ({"url": "https://example.com", "json_field": "a..b", "json_value": 1}, {"json_field"}),
        ({"url": "https://example.com", "method": "DELETE"}, {"check_spec"}),
    ],
)
def test_bad_specs_are_refused_with_a_field_error(spec, fields):
    with pytest.raises(InvalidInput) as exc:
        checks.check_spec_clean(spec)
    assert set(exc.value.field_errors) == fields


def test_a_good_spec_is_normalised():
    assert checks.check_spec_clean({"url": "https://example.com/health"}) == {
        "url": "https://example.com/health",
        "expected_status": 200,
        "timeout": 5.0,
        "interval_minutes": 5,
    }


def test_setting_a_check_is_versioned_audited_and_for_writers_only(project, owner, viewer):
    gate = _gate(project)
    with pytest.raises(NotAllowed):
        checks.gate_set_check(actor=Actor(viewer), gate=gate, version=gate.version, spec={"url": "https://x.example"})
    with pytest.raises(StaleVersion):
        checks.gate_set_check(
            actor=Actor(owner), gate=gate, version=gate.version + 1, spec={"url": "https://x.example"}
        )
    with pytest.raises(InvalidInput):
        checks.gate_set_check(actor=Actor(owner), gate=gate, version=gate.version, spec={"url": "nope"})
    gate.refresh_from_db()
    assert not gate.is_automated and gate.check_spec is None
    gate = checks.gate_set_check(actor=Actor(owner), gate=gate, version=gate.version, spec={"url": "https://x.example"})
    assert gate.is_automated and gate.check_spec["url"] == "https://x.example"
    assert gate.project.audit_events.filter(action="gate.check_changed").count() == 1


def test_model_validation_uses_the_same_rules(project):
    from django.core.exceptions import ValidationError

    gate = _gate(project)
    gate.check_spec = {"url": "javascript:alert(1)"}
    with pytest.raises(ValidationError) as exc:
        gate.full_clean()
    assert "check_spec" in exc.value.message_dict


def test_a_passing_probe_closes_the_gate_and_a_failing_one_reopens_it(project, owner, local_server, run_on_commit):
    gate = _automate(
        project, owner, {"url": local_server.url + "/health", "json_field": "checks.db", "json_value": "ok"}
    )
    local_server.responses = [(200, {"checks": {"db": "ok"}})]
    with run_on_commit():
        result = checks.gate_probe(gate_id=gate.pk)
    assert result.passed and result.source == "http-probe" and "checks.db" in result.details
    gate.refresh_from_db()
    assert gate.status == "closed" and gate.check_probed_at is not None
    project.refresh_from_db()
    assert next(g for g in project.readiness["gates"] if g["code"] == "T1")["status"] == "closed"
    assert local_server.requests[0]["path"] == "/health"

    local_server.responses = [(200, {"checks": {"db": "degraded"}})]
    with run_on_commit():
        result = checks.gate_probe(gate_id=gate.pk, now=timezone.now() + timedelta(minutes=6))
    assert not result.passed and '"degraded"' in result.details
    gate.refresh_from_db()
    assert gate.status == "open"
    assert CheckResult.objects.filter(gate=gate).count() == 2


@pytest.mark.parametrize(
    ("answer", "expected", "detail"),
    [
        ((500, {"status": "ok"}), False, "HTTP 500, expected 200"),
        ((200, b"<html>not json</html>"), False, "not JSON"),
        ((200, {"other": 1}), False, "no field status"),
        ((200, {"status": "ok"}), True, "status"),
    ],
)
def test_probe_outcomes(local_server, answer, expected, detail):
    local_server.responses = [answer]
    passed, details, data = checks.http_probe(
        checks.check_spec_clean({"url": local_server.url, "json_field": "status", "json_value": "ok"})
    )
    assert passed is expected and detail in details
    assert data["status"] == answer[0]


def test_a_slow_endpoint_fails_on_the_timeout(local_server):
    local_server.delay = 1.5
    passed, details, data = checks.http_probe(checks.check_spec_clean({"url": local_server.url, "timeout": 0.3}))
    assert not passed and "No answer" in details and data["status"] is None


def test_an_unreachable_endpoint_fails_without_raising():
    passed, details, _ = checks.http_probe(checks.check_spec_clean({"url": "http://127.0.0.1:9/health", "timeout": 1}))
    assert not passed and "No answer" in details


def test_the_schedule_probes_due_gates_once_per_interval(project, owner, local_server, run_on_commit):
    gate = _automate(project, owner, {"url": local_server.url, "interval_minutes": 10})
    other = _automate(project, owner, {"url": local_server.url + "/b", "interval_minutes": 1}, code="T2")
    assert set(checks.checks_due()) == {gate.pk, other.pk}
    with run_on_commit():
        assert tasks.probe_due_checks.delay().get() == 2
    assert len(local_server.requests) == 2
    assert checks.checks_due() == []
    assert checks.checks_due(now=timezone.now() + timedelta(minutes=2)) == [other.pk]
    assert set(checks.checks_due(now=timezone.now() + timedelta(minutes=11))) == {gate.pk, other.pk}


def test_a_probe_run_twice_in_one_slot_stores_one_result(project, owner, local_server, run_on_commit):
    gate = _automate(project, owner, {"url": local_server.url, "interval_minutes": 60})
    now = timezone.now().replace(minute=1)
    with run_on_commit():
        checks.gate_probe(gate_id=gate.pk, now=now)
        checks.gate_probe(gate_id=gate.pk, now=now + timedelta(minutes=2))
    assert CheckResult.objects.filter(gate=gate).count() == 1


def test_archived_projects_and_manual_gates_are_not_probed(project, owner, local_server):
    from projects import services

    _automate(project, owner, {"url": local_server.url})
    services.project_update(actor=Actor(owner), project=project, lifecycle="archived")
    assert checks.checks_due() == []


def test_a_check_that_cannot_run_is_recorded_once_per_slot(project, owner, local_server, run_on_commit):
    """A spec that no longer validates is stored as a failure, under the same probing-slot key as
    a real probe: a retried or redelivered probe task records it once, not once per run."""
    gate = _automate(project, owner, {"url": local_server.url, "interval_minutes": 60})
    ProjectGate.objects.filter(pk=gate.pk).update(check_spec={"url": "ftp://nope", "interval_minutes": 60})
    now = timezone.now().replace(minute=1)
    with run_on_commit():
        first = checks.gate_probe(gate_id=gate.pk, now=now)
        again = checks.gate_probe(gate_id=gate.pk, now=now + timedelta(minutes=2))
    assert not first.passed and "cannot run" in first.details and "url" in first.data["field_errors"]
    assert again.pk == first.pk
    assert CheckResult.objects.filter(gate=gate).count() == 1
    assert gate.project.audit_events.filter(action="check.recorded").count() == 1
    assert local_server.requests == []
    # The next slot is another probe.
    with run_on_commit():
        checks.gate_probe(gate_id=gate.pk, now=now + timedelta(minutes=61))
    assert CheckResult.objects.filter(gate=gate).count() == 2


def test_a_template_check_is_validated_and_normalised_when_a_project_is_created(template, owner):
    from projects import services

    t1 = template.definitions.get(code="T1")
    t1.check_spec = {"url": "https://status.example.com/health"}
    t1.save()
    project = services.project_create_from_template(actor=Actor(owner), template=template, name="Checked")
    gate = ProjectGate.objects.get(project=project, code="T1")
    assert gate.is_automated
    assert gate.check_spec == checks.check_spec_clean({"url": "https://status.example.com/health"})
    assert gate.check_spec["interval_minutes"] == 5  # defaults filled in

    t1.check_spec = {"url": "javascript:alert(1)", "timeout": 99}
    t1.save()
    with pytest.raises(InvalidInput) as exc:
        services.project_create_from_template(actor=Actor(owner), template=template, name="Broken")
    assert "T1" in exc.value.message and "T1" in exc.value.field_errors["template"][0]
    assert "timeout" in exc.value.message
    from projects.models import Project

    assert not Project.objects.filter(name="Broken").exists()
