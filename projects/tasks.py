"""Background work on projects. Thin: ids in, a service call, a retry policy."""

import contextlib

from celery import shared_task
from django.core.cache import cache

from . import services


@shared_task(
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
    soft_time_limit=120,
    time_limit=180,
)
def recompute_readiness(project_id):
    """Recompute one project's cached readiness (idempotent: a current cache is left alone).

    The pending flag is cleared before reading, so a change that lands while we compute queues
    another run instead of being lost.
    """
    with contextlib.suppress(Exception):  # a cache outage must not stop the recompute itself
        cache.delete(services.RECOMPUTE_PENDING_KEY.format(project_id))
    return services.readiness_recompute(project_ids=[project_id])


@shared_task(
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=600,
    time_limit=660,
)
def recompute_due_projects():
    """The sweep: recompute every project whose readiness is behind its last change."""
    return services.readiness_recompute_due()


# --- periodic upkeep (scheduled by CELERY_BEAT_SCHEDULE in settings) ---------------------------

UPKEEP = {
    "acks_late": True,
    "autoretry_for": (Exception,),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 3,
}


@shared_task(soft_time_limit=300, time_limit=360, **UPKEEP)
def expire_evidence():
    """Closed gates whose evidence lapsed become stale: audited, owners told, readiness recomputed."""
    from . import upkeep

    return len(upkeep.evidence_expire_due())


@shared_task(soft_time_limit=300, time_limit=360, **UPKEEP)
def expire_waivers():
    """Gates whose waiver expired reopen: audited, owners told, readiness recomputed."""
    from . import upkeep

    return len(upkeep.waivers_expire_due())


@shared_task(soft_time_limit=600, time_limit=660, **UPKEEP)
def take_daily_snapshots():
    """Today's snapshot of every active project (one per project per day, by a constraint)."""
    from . import upkeep

    return upkeep.snapshots_take_daily()


@shared_task(soft_time_limit=60, time_limit=90, **UPKEEP)
def probe_due_checks():
    """Queue a probe of every automated gate whose HTTP check interval has passed."""
    from . import checks

    due = checks.checks_due()
    for gate_id in due:
        probe_gate_check.delay(gate_id)
    return len(due)


@shared_task(soft_time_limit=60, time_limit=90, **UPKEEP)
def probe_gate_check(gate_id):
    """Probe one gate's HTTP check and record the result (one result per interval slot)."""
    from . import checks

    result = checks.gate_probe(gate_id=gate_id)
    return getattr(result, "pk", None)
