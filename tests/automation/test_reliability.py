"""Reliability of the background work against real parts: a Celery worker on Redis, PostgreSQL.

Each test skips cleanly without REDIS_URL and PostgreSQL (the CI's second run has both).
"""

import os
import signal
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
import redis as redis_client
from django.db import connection
from django.db.models import F

from audits.models import ReadinessSnapshot
from audits.services import Actor
from projects import services
from projects.models import Project, ProjectGate

from ..processes import db_url, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _fresh(project):
    return Project.objects.filter(pk=project.pk, computed_seq=F("change_seq")).first()


def _new_project(template, owner, name):
    project = services.project_create_from_template(actor=Actor(owner), template=template, name=name)
    assert wait_for(lambda: _fresh(project), timeout=30), "the worker never computed the new project"
    return project


def test_a_burst_of_500_gate_updates_ends_in_a_handful_of_recomputes(workers, template, owner):
    workers.start()
    project = _new_project(template, owner, "Burst 500")
    before = ReadinessSnapshot.objects.filter(project=project).count()
    gates = list(ProjectGate.objects.select_related("project").filter(project=project).order_by("code"))
    statuses = ["partial", "closed", "open"]
    for i in range(500):
        k = i % len(gates)
        gates[k] = services.gate_update(
            actor=Actor(owner), gate=gates[k], version=gates[k].version, status=statuses[i % 3]
        )
    final = wait_for(lambda: _fresh(project), timeout=90)
    assert final is not None, "the worker never caught up with the burst"
    # Every recompute that moved the state left one snapshot: a handful, not 500.
    recomputes = ReadinessSnapshot.objects.filter(project=project).count() - before
    assert 1 <= recomputes <= 25, recomputes
    from projects.selectors import project_readiness

    assert final.state_hash == project_readiness(final).state_hash


@pytest.fixture
def app_on_private_redis(private_redis, settings):
    """Point this process's broker and cache at the private Redis (the workers get it by URL)."""
    from portal.celery import app

    saved = app.conf.broker_url
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": private_redis.url}
    }
    app.conf.broker_url = private_redis.url
    app._pool = None
    app.amqp._producer_pool = None
    yield private_redis
    app.conf.broker_url = saved
    app._pool = None
    app.amqp._producer_pool = None


def _backends_waiting_on_lock(application_name):
    """The PostgreSQL backends of one worker (named by its connections) waiting for a lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s AND wait_event_type = 'Lock'",
            [application_name],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _terminate_backend(pid):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        return cursor.fetchone()[0]


def _backend_exists(pid):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] > 0


def _children(pid):
    """Process ids whose parent is `pid` (the pool children of a prefork worker)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid …": comm may hold spaces, so split after its closing parenthesis.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return sorted(children)


def _gates_locked():
    """A connection of our own holding the gates table exclusively until the block ends, so a
    recompute blocks in the middle of its work (reading the gates) until we let go.

    (A lock on the project's row would not do: a recompute skips a locked row, since whoever
    holds it is a write that queues its own recompute.)"""
    blocker = psycopg.connect(db_url().replace("postgres://", "postgresql://"), autocommit=False)
    blocker.execute("LOCK TABLE projects_projectgate IN ACCESS EXCLUSIVE MODE")
    return blocker


def _behind(project):
    project.refresh_from_db()
    return project.computed_seq < project.change_seq


def test_a_pool_child_killed_mid_recompute_has_the_recompute_redone(app_on_private_redis, workers, template, owner):
    """Like an out-of-memory kill: the pool child running a recompute dies; the worker replaces
    it, and the message (acks_late, reject_on_worker_lost) is requeued and redone by the new child."""
    tag = f"preflight-child-{os.getpid()}"
    worker = workers.start(
        redis_url=app_on_private_redis.url,
        name="prefork",
        pool="prefork",
        concurrency=1,
        database_options={"application_name": tag},
    )
    project = _new_project(template, owner, "Child killed mid-task")
    Project.objects.filter(pk=project.pk).update(change_seq=F("change_seq") + 1)
    from projects.tasks import recompute_readiness

    blocker = _gates_locked()
    try:
        recompute_readiness.delay(project.pk)
        waiting = wait_for(lambda: _backends_waiting_on_lock(tag), timeout=20)
        assert len(waiting) == 1, f"the recompute never reached the locked gates: {waiting}\n{workers.output()}"
        [orphan] = waiting
        children = _children(worker.pid)
        assert len(children) == 1, f"expected one pool child, found {children}\n{workers.output()}"
        [child] = children
        os.kill(child, signal.SIGKILL)
        # PostgreSQL only notices a vanished client when it next talks to it: end its backend,
        # which rolls back whatever the killed child had written.
        assert _terminate_backend(orphan)
        assert wait_for(lambda: not _backend_exists(orphan), timeout=10), "the killed child's backend lived on"
        replacement = wait_for(lambda: [c for c in _children(worker.pid) if c != child], timeout=20)
        assert replacement, f"the worker did not replace its killed child\n{workers.output()}"
        # The requeued message reaches the new child, which blocks on the same lock: the redo.
        redo = wait_for(lambda: [p for p in _backends_waiting_on_lock(tag) if p != orphan], timeout=20)
        assert redo, f"the killed child's recompute was not handed to the new child\n{workers.output()}"
        assert _behind(project), "nothing may be committed while the gates are locked"
    finally:
        blocker.rollback()
        blocker.close()
    assert wait_for(lambda: _fresh(project), timeout=30), f"the recompute was not redone\n{workers.output()}"
    assert worker.poll() is None, "the worker itself must survive the loss of a child"


def test_a_worker_killed_mid_recompute_leaves_its_message_for_the_next_worker(
    app_on_private_redis, workers, template, owner
):
    """The whole worker dies mid-recompute: its unacknowledged message stays in the broker and,
    once the visibility timeout passes, the next worker takes it and redoes the work."""
    private = app_on_private_redis
    broker = redis_client.Redis.from_url(private.url)
    redelivery = {
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        "PREFLIGHT_RECOMPUTE_DELAY": "0",
    }
    tag = f"preflight-doomed-{os.getpid()}"
    doomed = workers.start(
        redis_url=private.url, env=redelivery, name="doomed", database_options={"application_name": tag}
    )
    project = _new_project(template, owner, "Worker killed mid-task")
    Project.objects.filter(pk=project.pk).update(change_seq=F("change_seq") + 1)
    from projects.tasks import recompute_readiness

    def held():
        return [v for v in broker.hvals("unacked") if b"recompute_readiness" in v and str(project.pk).encode() in v]

    blocker = _gates_locked()
    try:
        recompute_readiness.delay(project.pk)
        waiting = wait_for(lambda: _backends_waiting_on_lock(tag), timeout=20)
        assert waiting, f"the recompute never reached the locked gates\n{workers.output()}"
        assert wait_for(held, timeout=10), "the running recompute's message is not held unacknowledged"
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        for pid in waiting:
            _terminate_backend(pid)
        assert wait_for(lambda: not _backends_waiting_on_lock(tag), timeout=10), "the killed worker's backend lived on"
    finally:
        blocker.rollback()
        blocker.close()
    time.sleep(1)
    assert _behind(project), "the killed worker's transaction must be gone with it"
    assert held(), "the killed worker's message must still be in the broker"

    workers.start(redis_url=private.url, env=redelivery, name="heir")
    assert wait_for(lambda: _fresh(project), timeout=30), (
        f"the next worker did not redo the recompute\n{workers.output()}"
    )
    assert wait_for(lambda: not held(), timeout=10), "the redone message was not acknowledged"


def test_with_redis_down_gate_updates_succeed_and_the_sweep_catches_up(workers, app_on_private_redis, template, owner):
    redis = app_on_private_redis
    worker = workers.start(redis_url=redis.url, name="outage")
    project = _new_project(template, owner, "Redis outage")
    # The worker holds a message when Redis goes (a sweep due in a minute): closing its channel
    # then has unacknowledged messages to put back, which is what once stopped the worker.
    from projects.tasks import recompute_due_projects

    broker = redis_client.Redis.from_url(redis.url)
    recompute_due_projects.apply_async(countdown=60)
    assert wait_for(lambda: broker.hlen("unacked"), timeout=10), "the worker did not take the scheduled message"
    redis.stop()

    gate = ProjectGate.objects.select_related("project").get(project=project, code="T2")
    started = time.monotonic()
    for status in ("partial", "closed"):
        gate = services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status=status)
    assert time.monotonic() - started < 15  # no request hangs on the missing broker
    gate.refresh_from_db()
    assert gate.status == "closed" and gate.version == 3
    project.refresh_from_db()
    assert project.computed_seq < project.change_seq and project.score == 0.0

    redis.start()  # back on the same port, empty: the worker reconnects
    assert worker.poll() is None, f"the worker stopped with the broker\n{workers.output()}"
    recompute_due_projects.delay()  # what beat sends every minute
    caught_up = wait_for(lambda: _fresh(project), timeout=60)
    assert caught_up is not None and caught_up.score > 0, (
        f"the sweep did not catch up after the outage\n{workers.output()}"
    )
    assert worker.poll() is None, "the worker that lived through the outage did the work"


def test_terminated_database_connections_cost_the_web_app_no_failed_request(web_processes, project, owner):
    """What a PostgreSQL restart does to the app's persistent connections, without restarting the
    shared server: every backend of the web process is terminated between requests."""
    from tokens.services import token_create

    _, secret = token_create(actor=Actor(owner), user=owner, name="probe", scope="read")
    tag = f"preflight-web-{os.getpid()}"
    base = web_processes.start(env={"DATABASE_URL": db_url(application_name=tag), "CONN_MAX_AGE": "600"})

    def get():
        request = urllib.request.Request(
            f"{base}/api/v1/projects/{project.slug}", headers={"Authorization": f"Bearer {secret}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status

    assert get() == 200
    for _ in range(3):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s", [tag]
            )
            assert cursor.fetchone()[0] >= 1  # the persistent connection existed and is now gone
        assert get() == 200, web_processes.output()
