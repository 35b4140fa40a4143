"""Accounts: the allauth adapter (closed sign-up, lockout keyed by account) and the admin guard.

Failed-login counters, TOTP codes already used and the other rate limits live in Django's cache,
which is Redis when REDIS_URL is set, so they hold across every web process.
"""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.shortcuts import redirect
from django.urls import reverse

LOCKOUT_MESSAGE = (
    "Too many failed logins for this account: it is locked for 15 minutes. Wait and try again, or reset your password."
)


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {**DefaultAccountAdapter.error_messages, "too_many_login_attempts": LOCKOUT_MESSAGE}

    def is_open_for_signup(self, request):
        return settings.ACCOUNT_ALLOW_REGISTRATION

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
