"""The non-eager recompute path: the pending flag, a broker that is down, and a task run twice.

The queue tests need REDIS_URL (the flag lives in the shared cache, the message in the broker)
and skip without it; no worker runs, so the queued message is read straight from Redis.
"""

import base64
import json
import socket
import time

import pytest
from django.core.cache import cache

from audits.models import ReadinessSnapshot
from audits.services import Actor
from projects import services
from projects.models import Project, ProjectGate
from projects.tasks import recompute_readiness

pytestmark = pytest.mark.django_db

QUEUE = "celery"  # Celery's default queue: no routes are configured


@pytest.fixture
def queued(settings):
    """Tasks go to the real Redis broker instead of running in-process; yields the queue reader."""
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: the pending flag and the queue live in Redis")
    import redis

    from portal.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    app.control.purge()

    def messages():
        return [json.loads(raw) for raw in broker.lrange(QUEUE, 0, -1)]

    yield messages
    app.control.purge()


@pytest.fixture
def broker_down(queued):
    """This process's broker points at a port nobody listens on; the cache stays up."""
    from portal.celery import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    saved = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{port}/0"
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.broker_url = saved
    app._pool = None
    app.amqp._producer_pool = None


def _recompute_messages(messages, project_id):
    found = []
    for message in messages():
        headers = message["headers"]
        if headers["task"] == recompute_readiness.name:
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            found.append((args, headers["eta"]))
    return [args for args, eta in found if args == [project_id] and eta]


def test_a_burst_of_changes_queues_one_delayed_recompute(project, queued):
    key = services.RECOMPUTE_PENDING_KEY.format(project.pk)
    assert cache.get(key) is None and _recompute_messages(queued, project.pk) == []
    for _ in range(25):
        services.readiness_request_recompute(project.pk)
    assert cache.get(key) == 1
    assert _recompute_messages(queued, project.pk) == [[project.pk]]  # one message, with a countdown

    # The task lowers the flag before it reads, so the next change queues another run.
    recompute_readiness.apply(args=[project.pk])
    assert cache.get(key) is None
    services.readiness_request_recompute(project.pk)
    services.readiness_request_recompute(project.pk)
    assert _recompute_messages(queued, project.pk) == [[project.pk], [project.pk]]


def test_with_the_broker_down_the_write_stands_and_the_sweep_catches_up(project, editor, broker_down, run_on_commit):
    gate = ProjectGate.objects.select_related("project").get(project=project, code="T2")
    started = time.monotonic()
    with run_on_commit():
        services.gate_update(actor=Actor(editor), gate=gate, version=gate.version, status="closed")
    assert time.monotonic() - started < 15  # the write does not hang on the missing broker

    gate.refresh_from_db()
    assert (gate.status, gate.version) == ("closed", 2)
    project.refresh_from_db()
    assert project.computed_seq < project.change_seq  # behind, so the sweep will find it
    assert project.score == 0.0
    # Nothing was queued, so the flag is down and the next change tries the broker again.
    assert cache.get(services.RECOMPUTE_PENDING_KEY.format(project.pk)) is None

    assert services.readiness_recompute_due() == 1
    project.refresh_from_db()
    assert project.computed_seq == project.change_seq
    assert project.score > 0.0


def test_running_the_recompute_task_twice_changes_nothing_the_second_time(project, editor):
    gate = ProjectGate.objects.select_related("project").get(project=project, code="T2")
    # Inside the test's transaction the on-commit recompute never runs: the project is left behind.
    services.gate_update(actor=Actor(editor), gate=gate, version=gate.version, status="closed")
    snapshots = ReadinessSnapshot.objects.filter(project=project).count()

    assert recompute_readiness.apply(args=[project.pk]).get() == 1
    first = Project.objects.get(pk=project.pk)
    assert first.computed_seq == first.change_seq and first.score > 0.0
    assert ReadinessSnapshot.objects.filter(project=project).count() == snapshots + 1

    assert recompute_readiness.apply(args=[project.pk]).get() == 0
    second = Project.objects.get(pk=project.pk)
    assert (second.computed_at, second.state_hash, second.score, second.readiness) == (
        first.computed_at,
        first.state_hash,
        first.score,
        first.readiness,
    )
    assert ReadinessSnapshot.objects.filter(project=project).count() == snapshots + 1

    # Even a forced recompute of an unchanged state takes no new snapshot.
    services.readiness_recompute(project_ids=[project.pk], force=True)
    forced = Project.objects.get(pk=project.pk)
    assert (forced.state_hash, forced.score) == (first.state_hash, first.score)
    assert ReadinessSnapshot.objects.filter(project=project).count() == snapshots + 1
