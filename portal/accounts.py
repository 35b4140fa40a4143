"""Accounts: the allauth adapter (closed sign-up, lockout by account and by address) and the admin guard.

Failed-login counters, TOTP codes already used and the other rate limits live in Django's cache,
which is Redis when REDIS_URL is set, so they hold across every web process.
"""

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal import ratelimit
from allauth.mfa.utils import is_mfa_enabled
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.shortcuts import redirect
from django.urls import reverse

LOCKOUT_MESSAGE = (
    "Too many failed logins for this account: it is locked for 15 minutes. Wait and try again, or reset your password."
)
ADDRESS_LOCKOUT_MESSAGE = "Too many failed logins from your network address. Wait a minute and try again."


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "too_many_login_attempts": LOCKOUT_MESSAGE,
        "too_many_login_attempts_from_address": ADDRESS_LOCKOUT_MESSAGE,
    }

    def is_open_for_signup(self, request):
        return settings.ACCOUNT_ALLOW_REGISTRATION

    def pre_authenticate(self, request, **credentials):
        """Refuse a login once either failed-login limit is spent, saying which one.

        ACCOUNT_RATE_LIMITS["login_failed"] has a per-address part (one address trying many
        accounts) and a per-account part; allauth refuses both with one message, which would
        tell someone whose account is fine that it is locked.
        """
        try:
            super().pre_authenticate(request, **credentials)
        except forms.ValidationError:
            if self._account_locked(request, **credentials):
                raise
            raise self.validation_error("too_many_login_attempts_from_address") from None

    def _account_locked(self, request, **credentials):
        """Whether the per-account part of the failed-login limit is spent (checked, not counted)."""
        rates = account_settings.RATE_LIMITS.get("login_failed") or ""
        per_account = ",".join(part for part in rates.split(",") if part.strip().endswith("/key"))
        if not per_account:
            return False
        usage = ratelimit.consume(
            request,
            app="allauth.account",
            action="login_failed",
            config={"login_failed": per_account},
            key=self._get_login_attempts_cache_key(request, **credentials),
            dry_run=True,
        )
        return usage is None

    def _get_login_attempts_cache_key(self, request, **credentials):
        """Count failed logins per account, whether it was named by username or by email.

        Without this, five tries by username and five more by email would be ten tries on
        one account. Unknown logins keep a key of their own so they are limited too.
        """
        login = (credentials.get("email") or credentials.get("username") or "").strip()
        user = (
            get_user_model()
            .objects.filter(Q(username__iexact=login) | Q(email__iexact=login))
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
            if login
            else None
        )
        return f"account:{user}" if user is not None else f"login:{login.lower()}"


class AdminRequiresTwoFactorMiddleware:
    """Staff reach the admin only with two-factor authentication enrolled.

    The admin's own login page is replaced by the site's login (see portal/urls.py), so the
    lockout and the TOTP step apply there too.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.admin_prefix = reverse("admin:index")

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            request.path.startswith(self.admin_prefix)
            and user is not None
            and user.is_authenticated
            and user.is_staff
            and not is_mfa_enabled(user)
        ):
            messages.warning(request, "The back office needs two-factor authentication: set it up first.")
            return redirect(f"{reverse('mfa_activate_totp')}?next={request.path}")
        return self.get_response(request)
