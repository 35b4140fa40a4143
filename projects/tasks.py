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


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def recompute_due_projects():
    """The sweep: recompute every project whose readiness is behind its last change."""
    return services.readiness_recompute_due()
