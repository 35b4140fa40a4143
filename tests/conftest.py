"""Shared fixtures: the named personas of every permission test, and a small project.

Personas on `project`: owner, editor, signer (holds the Product Owner sign-off role), viewer;
outsider is a member of nothing; staff is a staff user with no membership.
"""

import pytest
from django.conf import settings

from audits.services import Actor
from gates.models import Category
from projects import readiness, services
from projects.models import Membership, SignOffRole

from .factories import GateDefinitionFactory, GateTemplateFactory, UserFactory


@pytest.fixture(autouse=True)
def _eager_celery(request, settings):
    """Tasks run in-process unless a test is marked `worker` (those use a real worker)."""
    from portal.celery import app

    if request.node.get_closest_marker("worker"):
        yield
        return

    settings.CELERY_TASK_ALWAYS_EAGER = True
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def owner(db):
    return UserFactory(username="olivia-owner")


@pytest.fixture
def editor(db):
    return UserFactory(username="eddie-editor")


@pytest.fixture
def signer(db):
    return UserFactory(username="sam-signer")


@pytest.fixture
def viewer(db):
    return UserFactory(username="vera-viewer")


@pytest.fixture
def outsider(db):
    return UserFactory(username="oscar-outsider")


@pytest.fixture
def staff(db):
    """A superuser with TOTP two-factor enrolled (the admin refuses staff without it).

    `staff.totp_secret` is the enrolled secret, for tests that log in with a code.
    """
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    user = UserFactory(username="stella-staff", is_staff=True, is_superuser=True)
    user.totp_secret = generate_totp_secret()
    TOTP.activate(user, user.totp_secret)
    return user


@pytest.fixture
def template(db):
    """Six gates over three categories: one blocker, one critical, the rest medium/low."""
    tpl = GateTemplateFactory(name="Small launch", key="small-launch")
    cats = {c.key: c for c in Category.objects.filter(key__in=["technical", "security", "observability"])}
    specs = [
        ("T1", "Health check green", "technical", readiness.BLOCKER),
        ("T2", "CI green on main", "technical", readiness.MEDIUM),
        ("S1", "Secrets in vault", "security", readiness.CRITICAL),
        ("S2", "Rate limiting", "security", readiness.MEDIUM),
        ("O1", "Error tracking wired", "observability", readiness.LOW),
        ("O2", "SLO defined", "observability", readiness.MEDIUM),
    ]
    for i, (code, title, cat, sev) in enumerate(specs):
        GateDefinitionFactory(template=tpl, code=code, title=title, category=cats[cat], severity=sev, order=i)
    return tpl


@pytest.fixture
def project(template, owner, editor, signer, viewer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        proj = services.project_create_from_template(
            actor=Actor(owner), template=template, name="Apollo", slug="apollo"
        )
        product_owner = SignOffRole.objects.get(project=proj, name="Product Owner")
        services.member_add(actor=Actor(owner), project=proj, user=editor, role=Membership.Role.EDITOR)
        services.member_add(
            actor=Actor(owner), project=proj, user=signer, role=Membership.Role.SIGNER, signoff_roles=[product_owner]
        )
        services.member_add(actor=Actor(owner), project=proj, user=viewer, role=Membership.Role.VIEWER)
    proj.refresh_from_db()
    return proj


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run a block and then its on-commit callbacks (the recompute), as a real request would."""

    def runner():
        return django_capture_on_commit_callbacks(execute=True)

    return runner


def pytest_report_header(config):
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"preflight: database={db} redis={'yes' if settings.REDIS_URL else 'no'}"


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real `celery worker` subprocess on the test database and Redis (PostgreSQL only).

    Skips with a reason when REDIS_URL is unset or the database is SQLite (a separate process
    cannot share the test database there).
    """
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    db = settings.DATABASES["default"]
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: a real Celery worker runs against Redis")
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL: the worker process must share the test database")
    from portal.celery import app

    app.control.purge()
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL, "PREFLIGHT_RECOMPUTE_DELAY": "0.3"}
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the worker exited early:\n{proc.stdout.read().decode()}")
        if app.control.ping(timeout=0.5):
            break
    else:
        proc.kill()
        pytest.fail("the worker did not answer a ping within 30 s")
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_for(predicate, timeout=30.0, interval=0.2):
    """Poll until predicate() is truthy; return its last value."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
