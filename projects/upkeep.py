"""Services of the periodic upkeep: evidence that ages, waivers that lapse, daily snapshots.

Each one is idempotent: it finds the rows that need work from their current state, changes each
in its own transaction (with the audit event, like any other write), and leaves alone what an
earlier or concurrent run already handled. Celery beat runs them (see projects/tasks.py).
"""

import logging

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from audits.models import ReadinessSnapshot
from audits.services import Actor, audit_record, snapshot_build
from portal.errors import Conflict

from . import readiness
from .models import Project, ProjectGate
from .selectors import readiness_inputs

log = logging.getLogger(__name__)


def _lapsed_evidence(now):
    """Closed gates whose evidence expired and whose lapse has not been handled yet."""
    return ProjectGate.objects.filter(status=readiness.CLOSED, evidence_expires_at__lte=now).filter(
        Q(evidence_lapse_handled_at__isnull=True) | Q(evidence_lapse_handled_at__lt=F("evidence_expires_at"))
    )


@transaction.atomic
def gate_expire_evidence(*, gate_id, now=None, actor=None):
    """Mark one gate's evidence lapse as handled: audited, readiness recomputed on commit.

    The gate's stored status stays `closed`; the rules count it as partial (stale) from now on.
    Returns the gate, or None when there was nothing (left) to do.
    """
    from .services import _mark_changed

    now = now or timezone.now()
    gate = (
        _lapsed_evidence(now)
        .select_for_update(of=("self",))
        .select_related("project", "owner")
        .filter(pk=gate_id)
        .first()
    )
    if gate is None:
        return None
    ProjectGate.objects.filter(pk=gate.pk).update(evidence_lapse_handled_at=now)
    audit_record(
        actor=actor or Actor.system(),
        action="gate.evidence_expired",
        project=gate.project,
        obj=gate,
        before={"status": readiness.CLOSED, "effective_status": readiness.CLOSED},
        after={
            "status": readiness.CLOSED,
            "effective_status": readiness.PARTIAL,
            "verified_at": gate.verified_at.isoformat() if gate.verified_at else None,
            "evidence_expires_at": gate.evidence_expires_at.isoformat(),
            "owner": gate.owner.get_username() if gate.owner_id else None,
        },
    )
    _mark_changed(gate.project)
    return gate


def evidence_expire_due(*, now=None):
    """Handle every lapsed evidence not handled yet. Returns the ids of the gates handled."""
    now = now or timezone.now()
    handled = []
    for gate_id in list(_lapsed_evidence(now).values_list("pk", flat=True)):
        if gate_expire_evidence(gate_id=gate_id, now=now) is not None:
            handled.append(gate_id)
    return handled


def waivers_expire_due(*, now=None):
    """Reopen every gate whose waiver has expired. Returns the ids of the gates reopened."""
    from .services import gate_unwaive

    now = now or timezone.now()
    reopened = []
    ids = ProjectGate.objects.filter(status=readiness.WAIVED, waiver_expires_at__lte=now).values_list("pk", flat=True)
    for gate_id in list(ids):
        gate = ProjectGate.objects.select_related("project").get(pk=gate_id)
        try:
            with transaction.atomic():
                locked = ProjectGate.objects.select_for_update().get(pk=gate_id)
                if locked.status != readiness.WAIVED or not locked.waiver_expires_at or locked.waiver_expires_at > now:
                    continue  # renewed or lifted since we looked
                gate_unwaive(actor=Actor.system(), gate=gate, version=None, status=readiness.OPEN)
        except Conflict:
            continue
        reopened.append(gate_id)
    return reopened


def snapshots_take_daily(*, now=None):
    """Take today's snapshot of every active project (one per project per day: a constraint).

    Set-based: every project is evaluated from the same fixed number of queries, and rows that
    already exist for today are skipped by the database. Returns the number of projects covered.
    """
    now = now or timezone.now()
    day = timezone.localdate(now)
    # One subquery for both conditions: `.exclude(snapshots__kind=…, snapshots__day=…)` on a
    # multi-valued relation tests them in two separate subqueries, so a project with yesterday's
    # daily snapshot and any snapshot of today would wrongly count as covered.
    taken_today = ReadinessSnapshot.objects.filter(project=OuterRef("pk"), kind=ReadinessSnapshot.Kind.DAILY, day=day)
    ids = list(
        Project.objects.filter(lifecycle=Project.Lifecycle.ACTIVE)
        .filter(~Exists(taken_today))
        .values_list("pk", flat=True)
    )
    taken = 0
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        snapshots = []
        for pid, (stage, gates, signoffs, category_order, _seq) in readiness_inputs(batch).items():
            result = readiness.evaluate(gates, stage, signoffs, now, category_order=category_order)
            snapshots.append(
                snapshot_build(
                    project_id=pid,
                    result=result,
                    kind=ReadinessSnapshot.Kind.DAILY,
                    stage_name=stage.name if stage else "",
                    now=now,
                )
            )
        ReadinessSnapshot.objects.bulk_create(snapshots, ignore_conflicts=True)
        taken += len(snapshots)
    return taken
