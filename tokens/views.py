"""People's own API tokens: create (the secret is shown once), list, revoke."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from audits.models import Channel
from audits.services import Actor
from portal.errors import DomainError

from . import services
from .forms import TokenCreateForm


@login_required
@never_cache
def token_list(request):
    """The user's tokens; POST creates one and shows its secret on this response only."""
    secret = new_token = None
    if request.method == "POST":
        form = TokenCreateForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                new_token, secret = services.token_create(
                    actor=Actor(request.user, Channel.WEB),
                    user=request.user,
                    name=form.cleaned_data["name"],
                    scope=form.cleaned_data["scope"],
                    expires_at=form.expires_at,
                    projects=form.cleaned_data["projects"],
                )
            except DomainError as exc:
                for field, errors in exc.field_errors.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
                if not exc.field_errors:
                    form.add_error(None, exc.message)
            else:
                form = TokenCreateForm(user=request.user)
    else:
        form = TokenCreateForm(user=request.user)
    context = {
        "form": form,
        "tokens": services.tokens_for_user(request.user),
        "new_token": new_token,
        # Rendered into this one response (never stored, never redirected with): it cannot be shown again.
        "secret": secret,
    }
    return render(request, "tokens/list.html", context)


@login_required
@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(services.tokens_for_user(request.user), pk=pk)
    services.token_revoke(actor=Actor(request.user, Channel.WEB), token=token)
    messages.success(request, f"Token {token.prefix}… revoked; it no longer works.")
    return redirect("tokens:list")
