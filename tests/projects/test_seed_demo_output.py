"""seed_demo, as `make run` shows it: a line per project and the demo logins, no demo email."""

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import call_command

from notifications.models import Notification

# Real commits (as in `make run`), so the demo's notifications and their emails happen inside the
# command; serialized rollback brings the seeded categories back for the tests after this one.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CONSOLE = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}


def test_output_is_the_projects_and_the_logins_and_no_email_is_sent(settings, capsys):
    settings.MAILERS = CONSOLE  # the embedded default: mail is printed where the command prints
    call_command("seed_demo")
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) <= 15, out[:2000]
    assert "Content-Type:" not in out and "Subject:" not in out
    assert "Dealix sales platform: 33 gates (11 closed, 4 partial, 18 open)" in out
    assert "Demo logins (password: preflight-demo):" in out
    for username in ("olivia", "eddie", "devon", "sam", "vera", "admin"):
        assert any(line.split()[:1] == [username] for line in lines), username
    assert not err
    # The demo users still find their notifications in the app, none of them waiting for an email.
    assert Notification.objects.filter(user__username="eddie").exists()
    assert not Notification.objects.filter(email_mode="immediate", emailed_at__isnull=True).exists()
    # Mail works as configured again once the command is done.
    assert django_settings.MAILERS == CONSOLE
    mail.send_mail("After the seed", "Body", "from@example.com", ["to@example.com"])
    assert "Subject: After the seed" in capsys.readouterr().out
