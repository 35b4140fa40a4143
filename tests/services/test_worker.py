"""With REDIS_URL set, a real Celery worker does the recompute (not the web process)."""

import pytest
from django.db.models import F

from audits.models import ReadinessSnapshot
from audits.services import Actor
from projects import services
from projects.models import Project, ProjectGate
from projects.selectors import project_readiness

from ..processes import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_gate_change_ends_in_updated_score_computed_by_the_worker(workers, template, owner):
    workers.start()
    project = services.project_create_from_template(actor=Actor(owner), template=template, name="Worker run")
    fresh = wait_for(lambda: Project.objects.filter(pk=project.pk, computed_seq__gte=1).first())
    assert fresh is not None and fresh.score == 0.0

    gate = ProjectGate.objects.select_related("project").get(project=project, code="T2")
    services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
    # The write returned without computing: the cache stays behind until the worker catches up
    # (the task is queued with a countdown of PREFLIGHT_RECOMPUTE_DELAY, 2 s by default).
    project.refresh_from_db()
    assert project.computed_seq < project.change_seq and project.score == 0.0
    updated = wait_for(lambda: Project.objects.filter(pk=project.pk, score=10.0).first())
    assert updated is not None, f"the worker never recomputed the score\n{workers.output()}"
    assert updated.computed_seq == updated.change_seq


def test_a_burst_of_changes_is_recomputed_a_handful_of_times(workers, template, owner):
    workers.start()
    project = services.project_create_from_template(actor=Actor(owner), template=template, name="Burst")
    assert wait_for(lambda: Project.objects.filter(pk=project.pk, computed_seq__gte=1).exists())
    before = ReadinessSnapshot.objects.filter(project=project).count()
    gates = list(ProjectGate.objects.select_related("project").filter(project=project).order_by("code"))
    statuses = ["partial", "closed", "open"]
    for i in range(120):
        gate = gates[i % len(gates)]
        gates[i % len(gates)] = services.gate_update(
            actor=Actor(owner), gate=gate, version=gate.version, status=statuses[i % 3]
        )
    final = wait_for(lambda: Project.objects.filter(pk=project.pk, computed_seq=F("change_seq")).first(), timeout=60)
    assert final is not None, f"the worker never caught up with the burst\n{workers.output()}"
    # Every real recompute of a changed state leaves one snapshot: far fewer than 120 changes.
    recomputes = ReadinessSnapshot.objects.filter(project=project).count() - before
    assert 1 <= recomputes <= 20, recomputes
    assert final.state_hash == project_readiness(final).state_hash
