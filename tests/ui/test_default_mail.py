"""Mail of the accounts pages (password reset): the console by default in development."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT_BACKEND = (
    "from django.conf import settings; from django.core import mail; "
    "c = mail.get_connection(); print(settings.MAILERS['default']['BACKEND']); "
    "print(type(c).__module__ + '.' + type(c).__name__)"
)


def backend(**env):
    """The mail backend a fresh process computes from these variables (and no EMAIL_URL)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "EMAIL_URL"}
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PRINT_BACKEND],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_debug_without_email_url_writes_mail_to_the_console():
    assert backend(DEBUG="True") == ["django.core.mail.backends.console.EmailBackend"] * 2


def test_production_without_email_url_does_not_print_mail():
    settings = backend(DEBUG="False", SECRET_KEY=secrets.token_urlsafe(60), ALLOWED_HOSTS="preflight.example.com")
    assert settings == ["django.core.mail.backends.smtp.EmailBackend"] * 2
