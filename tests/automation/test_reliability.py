"""Reliability of the background work against real parts: a Celery worker on Redis, PostgreSQL.

Each test skips cleanly without REDIS_URL and PostgreSQL (the CI's second run has both).
"""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import F

from audits.models import ReadinessSnapshot
from audits.services import Actor
from projects import services
from projects.models import Project, ProjectGate

from ..conftest import wait_for
from .conftest import _db_url, free_port

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


def test_with_redis_down_gate_updates_succeed_and_the_sweep_catches_up(workers, app_on_private_redis, template, owner):
    redis = app_on_private_redis
    workers.start(redis_url=redis.url, name="outage")
    project = _new_project(template, owner, "Redis outage")
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

    redis.start()  # back on the same port: the worker reconnects
    from projects.tasks import recompute_due_projects

    recompute_due_projects.delay()  # what beat sends every minute
    caught_up = wait_for(lambda: _fresh(project), timeout=60)
    assert caught_up is not None and caught_up.score > 0, "the sweep did not catch up after the outage"


def test_terminated_database_connections_cost_the_web_app_no_failed_request(transactional_db, project, owner):
    """What a PostgreSQL restart does to the app's persistent connections, without restarting the
    shared server: every backend of the web process is terminated between requests."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: its connections are what this test terminates")
    from tokens.services import token_create

    _, secret = token_create(actor=Actor(owner), user=owner, name="probe", scope="read")
    tag = f"preflight-web-{os.getpid()}"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _db_url(application_name=tag),
        "CONN_MAX_AGE": "600",
        "DEBUG": "True",
        "REDIS_URL": settings.REDIS_URL,
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--threads",
            "1",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def get():
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/projects/{project.slug}", headers={"Authorization": f"Bearer {secret}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status

    try:
        assert wait_for(lambda: _try(get), timeout=30) == 200, "the web app did not start"
        for _ in range(3):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s", [tag]
                )
                assert cursor.fetchone()[0] >= 1  # the persistent connection existed and is now gone
            assert get() == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def _try(fn):
    try:
        return fn()
    except OSError:
        return None
