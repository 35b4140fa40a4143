"""Lockout and TOTP reuse hold across web processes: their counters live in the shared cache.

Two real web processes serve the same PostgreSQL database and Redis: the test's live server
and a gunicorn started here. Needs DATABASE_URL (PostgreSQL) and REDIS_URL; skipped otherwise.
"""

import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest

from portal.accounts import LOCKOUT_MESSAGE

from .test_accounts import PASSWORD, current_totp, totp_now

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


@pytest.fixture
def second_web_process(web_processes):
    return web_processes.start()


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
