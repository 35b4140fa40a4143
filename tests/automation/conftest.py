"""Fixtures of the automation tests: local HTTP servers on 127.0.0.1 (health endpoints, webhook
receivers) and helpers to run the periodic work as beat would."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications import webhooks


class LocalServer:
    """A real HTTP server on an ephemeral port of 127.0.0.1, answering from a script.

    `responses` is a list of (status, body-dict-or-bytes) answered in turn (the last repeats);
    every request is recorded with its headers and raw body.
    """

    def __init__(self):
        self.responses = [(200, {"status": "ok"})]
        self.requests = []
        self.delay = 0.0
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.release.set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                server.arrived.set()
                server.release.wait(30)
                index = min(len(server.requests) - 1, len(server.responses) - 1)
                status, payload = server.responses[index]
                if server.delay:
                    import time

                    time.sleep(server.delay)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def local_server():
    server = LocalServer()
    yield server
    server.close()


class Receiver(LocalServer):
    """A webhook receiver that verifies each request's signature the way the README says."""

    def __init__(self, secret=""):
        super().__init__()
        self.secret = secret
        self.responses = [(204, b"")]

    def verified(self):
        """The requests whose signature checks out, as (event, payload)."""
        out = []
        for r in self.requests:
            h = {k.lower(): v for k, v in r["headers"].items()}
            if webhooks.signature_verify(
                self.secret, r["body"], h.get("preflight-timestamp"), h.get("preflight-signature")
            ):
                out.append((h.get("preflight-event"), json.loads(r["body"])))
        return out


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


# --- real processes: workers, a private Redis, the web app ------------------------------------


def _db_url(**options):
    from django.conf import settings

    db = settings.DATABASES["default"]
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}" + (f"?{query}" if query else "")


def needs_postgres_and_redis():
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: a real Celery worker runs against Redis")
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL: the worker process must share the test database")


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerProcesses:
    """Start real `celery worker` processes on the test database; stop them all at the end.

    Each worker writes its output to a file under `log_dir` (a pipe nobody reads would fill and
    block the worker); `output()` returns it for failure messages.
    """

    def __init__(self, log_dir):
        self.procs = []
        self.log_dir = log_dir
        self.logs = {}

    def start(self, *, redis_url=None, env=None, name="w", pool="solo", concurrency=1, database_options=None):
        import os
        import subprocess
        import sys
        import time
        from pathlib import Path

        from django.conf import settings

        redis_url = redis_url or settings.REDIS_URL
        full_env = {
            **os.environ,
            "DATABASE_URL": _db_url(**(database_options or {})),
            "REDIS_URL": redis_url,
            "PREFLIGHT_RECOMPUTE_DELAY": "0.3",
            "PREFLIGHT_DISPATCH_DELAY": "0.2",
            **(env or {}),
        }
        log_path = Path(self.log_dir) / f"worker-{name}-{len(self.procs)}.log"
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    f"--pool={pool}",
                    f"--concurrency={concurrency}",
                    "--loglevel=WARNING",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-n",
                    f"auto-{name}-{os.getpid()}-{len(self.procs)}@%h",
                ],
                cwd=Path(__file__).resolve().parents[2],
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        self.logs[proc.pid] = log_path
        from celery import Celery

        probe = Celery(broker=redis_url, set_as_current=False)
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    pytest.fail(f"the worker exited early:\n{self.output(proc)}")
                replies = probe.control.ping(timeout=0.5)
                if any(f"auto-{name}-" in next(iter(r)) for r in replies):
                    return proc
            pytest.fail(f"the worker did not answer a ping within 30 s:\n{self.output(proc)}")
        finally:
            probe.close()

    def output(self, proc=None):
        """What the worker (or every worker) printed, for a failure message."""
        procs = [proc] if proc is not None else self.procs
        parts = []
        for p in procs:
            path = self.logs.get(p.pid)
            text = path.read_text(errors="replace") if path and path.exists() else ""
            parts.append(f"--- worker {p.pid} (exit {p.poll()}) ---\n{text[-4000:]}")
        return "\n".join(parts)

    def stop_all(self):
        """SIGTERM every worker still running, then SIGKILL what is left after 10 s: always bounded."""
        import subprocess

        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def workers(transactional_db, tmp_path):
    needs_postgres_and_redis()
    from portal.celery import app

    app.control.purge()
    started = WorkerProcesses(tmp_path)
    yield started
    started.stop_all()


class PrivateRedis:
    """A redis-server of our own on a free port, to stop and start without touching the shared one."""

    def __init__(self):
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        import subprocess
        import time

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


@pytest.fixture
def private_redis():
    import shutil

    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server on PATH to run a private Redis")
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()
