"""Writes and the one lookup of API tokens. The secret is returned once, at creation, and never stored."""

import secrets
import string
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from audits.services import audit_record
from portal.errors import InvalidInput, NotAllowed

from .models import TOKEN_PREFIX, ApiToken, hash_token

_PREFIX_ALPHABET = string.ascii_letters + string.digits
# last_used_at is refreshed at most this often, so a busy integration costs no write per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _new_secret():
    prefix = TOKEN_PREFIX + "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def _token_state(token):
    return {
        "name": token.name,
        "prefix": token.prefix,
        "scope": token.scope,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "projects": sorted(p.slug for p in token.projects.all()),
    }


def token_create_errors(*, user, name, scope, expires_at=None, projects=()):
    """What is wrong with these token settings, as {field: [messages]} (empty when nothing is).

    token_create refuses the same; forms call it to show the messages beside their fields.
    """
    from projects.selectors import user_can

    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Give the token a name that says what it is for."]
    elif len(name) > 100:
        errors["name"] = ["At most 100 characters."]
    if scope not in ApiToken.Scope.values:
        errors["scope"] = ["Choose read, write or signoff."]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["The expiry must be in the future."]
    if user is not None and any(not user_can(user, p) for p in projects or ()):
        errors["projects"] = ["A token can only be limited to projects its user can see."]
    return errors


@transaction.atomic
def token_create(*, actor, user, name, scope, expires_at=None, projects=()):
    """Create a token for `user` and return (token, secret). The secret is shown once, never stored.

    People create their own tokens; staff may create one for anybody (the back office). Project
    limits must be projects the user can see.
    """
    if actor.user is not None and actor.user.pk != user.pk and not actor.user.is_staff:
        raise NotAllowed("You may only create tokens for yourself.")
    name = (name or "").strip()
    projects = list(projects or [])
    errors = token_create_errors(user=user, name=name, scope=scope, expires_at=expires_at, projects=projects)
    if errors:
        raise InvalidInput("The token was not created.", field_errors=errors)
    for _ in range(5):
        prefix, secret = _new_secret()
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    name=name,
                    prefix=prefix,
                    key_hash=hash_token(secret),
                    scope=scope,
                    expires_at=expires_at,
                )
            break
        except IntegrityError:  # a prefix collision: draw again
            continue
    else:  # pragma: no cover - five collisions in 62**8 values
        raise RuntimeError("Could not draw a unique token prefix.")
    token.projects.set(projects)
    if projects:
        token.has_project_limits = True
        token.save(update_fields=["has_project_limits"])
    audit_record(actor=actor, action="token.created", obj=token, object_repr=str(token), after=_token_state(token))
    return token, secret


@transaction.atomic
def token_revoke(*, actor, token):
    """Revoke a token (its user or staff). Revoking twice is harmless."""
    if actor.user is not None and actor.user.pk != token.user_id and not actor.user.is_staff:
        raise NotAllowed("You may only revoke your own tokens.")
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor, action="token.revoked", obj=token, object_repr=str(token), before=_token_state(token), after=None
    )
    return token


def token_authenticate(raw):
    """The active token for a presented secret, or None. Refreshes last_used_at (coarsely)."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(raw)).first()
    if token is None or not token.is_active or not token.user.is_active:
        return None
    if not token.has_project_limits:
        token.__dict__["_allowed_project_ids"] = None  # no need to ask again
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def tokens_for_user(user):
    """A user's tokens, newest first, with their project limits."""
    return ApiToken.objects.filter(user=user).prefetch_related("projects").order_by("-created_at")
