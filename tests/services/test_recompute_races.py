"""Recomputes that overlap (the sweep beside a queued task) write a change once: one snapshot,
one readiness-moved follow-up, and an older result never overwrites a newer one."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.db.models import F
from django.utils import timezone

from audits.models import ReadinessSnapshot
from audits.services import Actor
from notifications.models import Kind, Notification
from projects import services
from projects.models import Membership, Project, ProjectGate

pytestmark = pytest.mark.django_db


def recompute_snapshots(project):
    return ReadinessSnapshot.objects.filter(project=project, kind=ReadinessSnapshot.Kind.RECOMPUTE).count()


def verdict_notices(project):
    """Verdict-changed notifications per member (the follow-up a duplicate announcement repeats)."""
    counts = dict.fromkeys(Membership.objects.filter(project=project).values_list("user_id", flat=True), 0)
    for user_id in Notification.objects.filter(project=project, kind=Kind.VERDICT_CHANGED).values_list(
        "user_id", flat=True
    ):
        counts[user_id] += 1
    return sorted(counts.values())


def close_blocker_and_t2(project, editor):
    """NO-GO → CONDITIONAL GO, written without running the recompute (the cache is now behind)."""
    for code in ("T1", "T2"):
        gate = ProjectGate.objects.get(project=project, code=code)
        services.gate_update(actor=Actor(editor), gate=gate, version=gate.version, status="closed")
    project.refresh_from_db()
    assert project.computed_seq < project.change_seq and project.verdict == "no_go"


@pytest.mark.parametrize("force", [False, True])
def test_a_run_that_read_before_another_wrote_writes_nothing_more(project, editor, run_on_commit, force):
    close_blocker_and_t2(project, editor)
    snapshots, now = recompute_snapshots(project), timezone.now()
    # Run A has read the state and evaluated it; run B reads the same change and writes it first.
    run_a = services._recompute_evaluate([project.pk], now=now, force=force)
    with run_on_commit():
        assert services.readiness_recompute(project_ids=[project.pk], force=force) == 1
    with run_on_commit():
        written = services._recompute_write(run_a, now=now, force=force)
    # Forced, A rewrites the same values (nothing moved); unforced, it has nothing to advance.
    assert written == (1 if force else 0)
    assert recompute_snapshots(project) == snapshots + 1
    assert verdict_notices(project) == [1, 1, 1, 1]
    project.refresh_from_db()
    assert (project.verdict, project.computed_seq) == ("conditional_go", project.change_seq)


def test_an_older_result_never_overwrites_a_newer_one(project, editor, owner, run_on_commit):
    close_blocker_and_t2(project, editor)
    now = timezone.now()
    older = services._recompute_evaluate([project.pk], now=now, force=False)
    gate = ProjectGate.objects.get(project=project, code="S1")
    services.gate_update(actor=Actor(editor), gate=gate, version=gate.version, status="closed")
    with run_on_commit():
        assert services.readiness_recompute(project_ids=[project.pk]) == 1
    project.refresh_from_db()
    newer = (project.state_hash, project.score, project.computed_seq)
    assert services._recompute_write(older, now=now, force=False) == 0
    project.refresh_from_db()
    assert (project.state_hash, project.score, project.computed_seq) == newer


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_recomputing_one_change_together_snapshot_it_once(project, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent recomputes need row locks")
    # The change as it stands between its commit and its recompute: written, cache behind.
    ProjectGate.objects.filter(project=project, code__in=["T1", "T2"]).update(status="closed")
    Project.objects.filter(pk=project.pk).update(change_seq=F("change_seq") + 1)
    snapshots = recompute_snapshots(project)
    # Both runs read the state before either writes: the overlap the sweep and a task can have.
    both_read = threading.Barrier(2)
    read = services.readiness_inputs

    def read_then_meet(ids):
        inputs = read(ids)
        both_read.wait(timeout=60)
        return inputs

    monkeypatch.setattr(services, "readiness_inputs", read_then_meet)

    def recompute(_):
        try:
            return services.readiness_recompute(project_ids=[project.pk])
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        written = sorted(pool.map(recompute, range(2)))
    assert written == [0, 1]
    assert recompute_snapshots(project) == snapshots + 1
    assert verdict_notices(project) == [1, 1, 1, 1]
    project.refresh_from_db()
    assert (project.verdict, project.computed_seq) == ("conditional_go", project.change_seq)
