"""Accounts: login, lockout after five failures, TOTP two-factor, recovery codes, password
change and reset, and the admin behind the same protected login with two-factor required."""

import os
import re
import subprocess
import sys
import time

import pytest
from allauth.mfa import app_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.core import mail
from django.urls import reverse

from portal.accounts import ADDRESS_LOCKOUT_MESSAGE, LOCKOUT_MESSAGE

pytestmark = pytest.mark.django_db

PASSWORD = "preflight-test-pw"
LOGIN = reverse("account_login")


def current_totp(secret):
    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


def totp_now(secret, min_remaining=5):
    """The current TOTP code, with at least `min_remaining` seconds left in its period.

    Waiting out the end of a period keeps a test from submitting a code that has just expired
    (which would be refused for the wrong reason).
    """
    period = app_settings.TOTP_PERIOD
    left = period - time.time() % period
    if left < min_remaining:
        time.sleep(left + 0.1)
    return current_totp(secret)


def test_login_and_logout(client, owner, project):
    page = client.get(LOGIN).content.decode()
    assert 'for="id_login"' in page and 'for="id_password"' in page
    assert "/accounts/signup/" not in page
    response = client.post(LOGIN, {"login": owner.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert 'id="project-apollo"' in client.get("/").content.decode()
    assert client.post(reverse("account_logout")).status_code == 302
    assert client.get("/").status_code == 302


def test_signup_is_closed_by_default(client):
    response = client.get(reverse("account_signup"))
    assert "Sign Up Closed" in response.content.decode()
    client.post(
        reverse("account_signup"),
        {"username": "mallory", "email": "m@example.com", "password1": "x9!long-pass", "password2": "x9!long-pass"},
    )
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="mallory").exists()


def test_sixth_failed_login_is_refused_even_with_the_right_password(client, owner):
    for attempt in range(5):
        response = client.post(LOGIN, {"login": owner.username, "password": f"wrong-{attempt}"})
        assert response.status_code == 200
        assert LOCKOUT_MESSAGE not in response.content.decode()
    response = client.post(LOGIN, {"login": owner.username, "password": PASSWORD})
    assert response.status_code == 200
    assert LOCKOUT_MESSAGE in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_counts_username_and_email_as_one_account(client, owner, editor):
    for attempt in range(3):
        client.post(LOGIN, {"login": owner.username, "password": f"wrong-{attempt}"})
    for attempt in range(2):
        client.post(LOGIN, {"login": owner.email.upper(), "password": f"wrong-{attempt}"})
    response = client.post(LOGIN, {"login": owner.email, "password": PASSWORD})
    assert LOCKOUT_MESSAGE in response.content.decode()
    # Another account is not affected.
    response = client.post(LOGIN, {"login": editor.username, "password": PASSWORD})
    assert response.status_code == 302


@pytest.fixture
def frozen_rate_limit_clock(monkeypatch):
    """The rate limits' clock stands still, so a limit per minute holds however slow the run is."""
    from types import SimpleNamespace

    from allauth.core.internal import ratelimit

    now = time.time()
    monkeypatch.setattr(
        ratelimit, "time", SimpleNamespace(time=lambda: now, monotonic=time.monotonic, sleep=time.sleep)
    )


def test_one_address_trying_many_accounts_is_refused(client, owner, editor, frozen_rate_limit_clock):
    # Ten accounts, one wrong password each: no account reaches its own limit of five.
    for attempt in range(10):
        response = client.post(LOGIN, {"login": f"someone-{attempt}", "password": "guess"})
        assert response.status_code == 200
        assert ADDRESS_LOCKOUT_MESSAGE not in response.content.decode()
    # The next login from that address is refused, even with the right password, and says why.
    response = client.post(LOGIN, {"login": owner.username, "password": PASSWORD})
    body = response.content.decode()
    assert ADDRESS_LOCKOUT_MESSAGE in body and LOCKOUT_MESSAGE not in body
    assert "_auth_user_id" not in client.session
    # The account itself is not locked: from another address it logs in.
    response = client.post(LOGIN, {"login": owner.username, "password": PASSWORD}, REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_address_limit_counts_the_client_behind_a_trusted_proxy(client, owner, settings, frozen_rate_limit_clock):
    """Behind NUM_PROXIES proxies every request comes from the proxy: the client address counts."""
    shown = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings as s; print(s.ALLAUTH_TRUSTED_PROXY_COUNT)",
        ],
        cwd=settings.BASE_DIR,
        env={**os.environ, "NUM_PROXIES": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.stdout.strip().splitlines()[-1] == "1", shown.stderr
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    for attempt in range(10):
        client.post(LOGIN, {"login": f"someone-{attempt}", "password": "guess"}, HTTP_X_FORWARDED_FOR="203.0.113.5")
    response = client.post(LOGIN, {"login": owner.username, "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert ADDRESS_LOCKOUT_MESSAGE in response.content.decode()
    response = client.post(LOGIN, {"login": owner.username, "password": PASSWORD}, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 302


def test_admin_login_goes_through_the_site_login(client, staff):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    # Valid credentials posted to the admin's own form log nobody in: the admin sends them to the
    # site's login, with its lockout and two-factor step.
    response = client.post(
        reverse("admin:login"), {"username": staff.username, "password": PASSWORD, "next": reverse("admin:index")}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(f"{LOGIN}?next=")
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("admin:index")).status_code == 302


def test_admin_lockout_applies_too(client, staff):
    for attempt in range(5):
        client.post(f"{LOGIN}?next=/admin/", {"login": staff.username, "password": f"wrong-{attempt}"})
    response = client.post(f"{LOGIN}?next=/admin/", {"login": staff.username, "password": PASSWORD})
    assert LOCKOUT_MESSAGE in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302


def test_staff_without_two_factor_is_sent_to_enrol(client, django_user_model):
    user = django_user_model.objects.create_user("nick-staff", "nick@example.com", PASSWORD, is_staff=True)
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "x"})
    assert client.get(reverse("admin:index")).status_code == 200


def test_non_staff_cannot_use_the_admin(client, owner):
    client.force_login(owner)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert client.get(reverse("admin:login")).status_code == 403


def test_totp_login_and_code_reuse_is_refused(client, staff):
    response = client.post(LOGIN, {"login": staff.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session
    code = totp_now(staff.totp_secret)
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    client.post(reverse("account_logout"))
    # The same code, a second time, within its period: refused.
    client.post(LOGIN, {"login": staff.username, "password": PASSWORD})
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 200
    assert "Incorrect code" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert current_totp(staff.totp_secret) == code  # refused as reused, not as expired


def test_enrol_totp_and_use_a_recovery_code(client, owner):
    client.post(LOGIN, {"login": owner.username, "password": PASSWORD})
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    page = client.get(reverse("mfa_activate_totp")).content.decode()
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', page) or re.search(r"([A-Z2-7]{32})", page)
    assert secret, page
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_now(secret.group(1))})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=owner, type="totp").exists()
    codes_page = client.get(reverse("mfa_view_recovery_codes")).content.decode()
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    codes = RecoveryCodes(Authenticator.objects.get(user=owner, type="recovery_codes")).get_unused_codes()
    assert len(codes) >= 8
    assert all(code in codes_page for code in codes)
    client.post(reverse("account_logout"))
    client.post(LOGIN, {"login": owner.username, "password": PASSWORD})
    response = client.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_password_change(client, owner):
    client.force_login(owner)
    page = client.get(reverse("account_change_password"))
    assert page.status_code == 200
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": "wrong", "password1": "N3w-launch-pass!", "password2": "N3w-launch-pass!"},
    )
    assert response.status_code == 200 and 'id="id_oldpassword_error"' in response.content.decode()
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "N3w-launch-pass!", "password2": "N3w-launch-pass!"},
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("N3w-launch-pass!")


def test_password_reset_sends_a_mail(client, owner):
    response = client.post(reverse("account_reset_password"), {"email": owner.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert owner.email in mail.outbox[0].to
    assert "/accounts/password/reset/key/" in mail.outbox[0].body
