"""With REDIS_URL set, a real Celery worker does the recompute (not the web process)."""

import pytest
from django.conf import settings

from audits.services import Actor
from projects import services
from projects.models import Project, ProjectGate

from ..conftest import wait_for

pytestmark = [pytest.mark.worker]


def test_gate_change_ends_in_updated_score_computed_by_the_worker(celery_worker_process, template, owner):
    assert not settings.CELERY_TASK_ALWAYS_EAGER
    project = services.project_create_from_template(actor=Actor(owner), template=template, name="Worker run")
    fresh = wait_for(lambda: Project.objects.filter(pk=project.pk, computed_seq__gte=1).first())
    assert fresh is not None and fresh.score == 0.0

    gate = ProjectGate.objects.select_related("project").get(project=project, code="T2")
    services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
    # The web process did not compute it: the cache is behind until the worker catches up.
    updated = wait_for(lambda: Project.objects.filter(pk=project.pk, score=10.0).first())
    assert updated is not None, "the worker never recomputed the score"
    assert updated.computed_seq == updated.change_seq
