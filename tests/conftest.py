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
from .processes import PrivateRedis, WebProcesses, WorkerProcesses, needs_postgres_and_redis


@pytest.fixture(autouse=True)
def _eager_celery(request, settings):
    """Tasks run in-process unless a test is marked `worker` (those queue to a real worker).

    Both modes are set explicitly: Celery reads its configuration lazily, on the first access
    to `app.conf`, so a value read back here after overriding the settings would be the
    override itself, and a worker test run after it would silently run its tasks in-process.
    """
    from portal.celery import app

    eager = request.node.get_closest_marker("worker") is None
    settings.CELERY_TASK_ALWAYS_EAGER = eager
    app.conf.task_always_eager = eager
    yield
    app.conf.task_always_eager = not settings.REDIS_URL


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """Tests never leave the machine: a name that is not local fails to resolve at once, as on a
    closed network, instead of waiting on a DNS timeout (example.com URLs in fixtures, say)."""
    import socket

    resolve = socket.getaddrinfo
    local = {None, "localhost", "::1", b"localhost"}

    def local_only(host, *args, **kwargs):
        if host in local or str(host).startswith(("127.", "b'127.")):
            return resolve(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"tests resolve no outside name ({host})")

    socket.getaddrinfo = local_only
    yield
    socket.getaddrinfo = resolve


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
def workers(transactional_db, tmp_path):
    """Start real Celery workers (`workers.start(...)`) on the test database; all stop at the end.

    Only for tests marked `worker`: those queue their tasks to Redis instead of running them
    in-process, which is checked here so a worker test can never pass on eager work.
    """
    from portal.celery import app

    needs_postgres_and_redis()
    assert not app.conf.task_always_eager, "a test that starts workers must be marked `worker`"
    app.control.purge()
    started = WorkerProcesses(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def web_processes(transactional_db, tmp_path):
    """Start second web processes (`web_processes.start()` returns the base URL); all stop at the end."""
    needs_postgres_and_redis("the shared cache and broker are what a second web process shares")
    started = WebProcesses(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def private_redis():
    """A redis-server of this test's own, free to stop and start."""
    import shutil

    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server on PATH to run a private Redis")
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()
