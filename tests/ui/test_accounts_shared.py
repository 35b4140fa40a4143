"""Lockout and TOTP reuse hold across web processes: their counters live in the shared cache.

Two real web processes serve the same PostgreSQL database and Redis: the test's live server
and a gunicorn started here. Needs DATABASE_URL (PostgreSQL) and REDIS_URL; skipped otherwise.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from django.conf import settings

from portal.accounts import LOCKOUT_MESSAGE

from .test_accounts import PASSWORD, current_totp, totp_now

ROOT = Path(__file__).resolve().parents[2]

# Committed data is shared with the second process; serialized rollback restores the seeded rows
# for the tests that follow.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class WebClient:
    """A cookie-keeping HTTP client that does not follow redirects, with Django's CSRF token."""

    def __init__(self, base):
        self.base = base.rstrip("/")
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def request(self, path, data=None):
        body = None
        if data is not None:
            token = next((c.value for c in self.jar if c.name == "csrftoken"), "")
            body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        req = urllib.request.Request(self.base + path, data=body, headers={"Referer": self.base + path})
        try:
            with self.opener.open(req, timeout=20) as response:
                return response.status, response.read().decode(), response.headers.get("Location", "")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers.get("Location", "")

    def login(self, username, password):
        self.request("/accounts/login/")
        return self.request("/accounts/login/", {"login": username, "password": password})


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def second_web_process(transactional_db):
    db = settings.DATABASES["default"]
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: the shared cache is what this test is about")
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL: a second web process must share the test database")
    port = _free_port()
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL, "DEBUG": "True"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the second web process exited:\n{proc.stdout.read().decode()}")
        try:
            urllib.request.urlopen(base + "/accounts/login/", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the second web process did not answer within 30 s")
            time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def _password_hasher_for_both(settings):
    # The second process hashes with the default hasher; keep the test users' hashes readable there.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]


def test_lockout_counted_on_one_process_refuses_on_another(
    _password_hasher_for_both, second_web_process, live_server, django_user_model
):
    django_user_model.objects.create_user("pat", "pat@example.com", PASSWORD)
    django_user_model.objects.create_user("quinn", "quinn@example.com", PASSWORD)
    status, _, location = WebClient(second_web_process).login("quinn", PASSWORD)
    assert (status, location) == (302, "/")  # the second process logs people in
    first = WebClient(live_server.url)
    for attempt in range(5):
        status, body, _ = first.login("pat", f"wrong-{attempt}")
        assert status == 200 and LOCKOUT_MESSAGE not in body
    status, body, _ = WebClient(second_web_process).login("pat", PASSWORD)
    assert status == 200
    assert LOCKOUT_MESSAGE in body


def test_a_totp_code_used_on_one_process_is_refused_on_another(
    _password_hasher_for_both, second_web_process, live_server, django_user_model
):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    user = django_user_model.objects.create_user("rae", "rae@example.com", PASSWORD, is_staff=True)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    code = totp_now(secret, min_remaining=15)
    first = WebClient(live_server.url)
    status, _, location = first.login("rae", PASSWORD)
    assert (status, location) == (302, "/accounts/2fa/authenticate/")
    status, _, location = first.request("/accounts/2fa/authenticate/", {"code": code})
    assert status == 302 and location == "/"
    second = WebClient(second_web_process)
    status, _, location = second.login("rae", PASSWORD)
    assert (status, location) == (302, "/accounts/2fa/authenticate/")
    status, body, _ = second.request("/accounts/2fa/authenticate/", {"code": code})
    assert status == 200
    assert "Incorrect code" in body
    assert current_totp(secret) == code  # refused as reused, not as expired
