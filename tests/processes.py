"""Real processes for the tests that need them: Celery workers, a second web process, a private
Redis. Each one writes its output to a file (a pipe nobody reads would fill and block it), and
stopping is always bounded: SIGTERM, then SIGKILL after a grace period.

The fixtures built on these live in `tests/conftest.py`.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate, timeout=30.0, interval=0.2):
    """Poll until predicate() is truthy; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def db_url(**options):
    """The test database as a DATABASE_URL for another process (PostgreSQL only)."""
    db = settings.DATABASES["default"]
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}" + (f"?{query}" if query else "")


def needs_postgres_and_redis(why_redis="a real Celery worker runs against Redis"):
    """Skip unless a second process can share this test's database and Redis."""
    if not settings.REDIS_URL:
        pytest.skip(f"needs REDIS_URL: {why_redis}")
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL: another process must share the test database")


def _stop(procs, grace=10):
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)


class _Logged:
    """Processes started with their output in a file under `log_dir`."""

    def __init__(self, log_dir):
        self.log_dir = Path(log_dir)
        self.procs = []
        self.logs = {}

    def _spawn(self, name, argv, env):
        log_path = self.log_dir / f"{name}-{len(self.procs)}.log"
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        self.logs[proc.pid] = log_path
        return proc

    def output(self, proc=None):
        """What the process (or every process) printed, for a failure message."""
        parts = []
        for p in [proc] if proc is not None else self.procs:
            path = self.logs.get(p.pid)
            text = path.read_text(errors="replace") if path and path.exists() else ""
            parts.append(f"--- {p.args[2:4]} {p.pid} (exit {p.poll()}) ---\n{text[-4000:]}")
        return "\n".join(parts)

    def stop_all(self):
        _stop(self.procs)


class WorkerProcesses(_Logged):
    """Real `celery worker` processes on the test database."""

    def start(self, *, redis_url=None, env=None, name="w", pool="solo", concurrency=1, database_options=None):
        """Start a worker and return its process once it answers a ping."""
        from celery import Celery

        redis_url = redis_url or settings.REDIS_URL
        full_env = {
            **os.environ,
            "DATABASE_URL": db_url(**(database_options or {})),
            "REDIS_URL": redis_url,
            "PREFLIGHT_RECOMPUTE_DELAY": "0.3",
            "PREFLIGHT_DISPATCH_DELAY": "0.2",
            **(env or {}),
        }
        node = f"auto-{name}-{os.getpid()}-{len(self.procs)}"
        argv = [sys.executable, "-m", "celery", "-A", "portal", "worker", f"--pool={pool}"]
        argv += [f"--concurrency={concurrency}", "--loglevel=WARNING", "--without-gossip", "--without-mingle"]
        argv += ["--without-heartbeat", "-n", f"{node}@%h"]
        proc = self._spawn(f"worker-{name}", argv, full_env)
        probe = Celery(broker=redis_url, set_as_current=False)
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    pytest.fail(f"the worker exited early:\n{self.output(proc)}")
                if any(node in next(iter(reply)) for reply in probe.control.ping(timeout=0.5)):
                    return proc
            pytest.fail(f"the worker did not answer a ping within 30 s:\n{self.output(proc)}")
        finally:
            probe.close()


class WebProcesses(_Logged):
    """A second web process (gunicorn, one worker) on the test database and Redis."""

    def start(self, *, env=None, name="web", probe_path="/accounts/login/"):
        """Start gunicorn and return its base URL once `probe_path` answers."""
        port = free_port()
        full_env = {**os.environ, "DATABASE_URL": db_url(), "REDIS_URL": settings.REDIS_URL, "DEBUG": "True"}
        full_env.update(env or {})
        argv = [sys.executable, "-m", "gunicorn", "portal.wsgi:application", "-b", f"127.0.0.1:{port}"]
        argv += ["-w", "1", "--threads", "1", "--log-level", "warning"]
        proc = self._spawn(name, argv, full_env)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the web process exited:\n{self.output(proc)}")
            try:
                urllib.request.urlopen(base + probe_path, timeout=2)
                return base
            except urllib.error.HTTPError:
                return base  # it answered, if not with 200
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"the web process did not answer within 30 s:\n{self.output(proc)}")


class PrivateRedis:
    """A redis-server of our own on a free port, to stop and start without touching the shared one."""

    def __init__(self):
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        import redis

        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail("the private redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
