"""Web pages of notifications, preferences and webhooks. Reads through selectors, writes through services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from audits.models import Channel
from audits.services import Actor
from portal.errors import DomainError
from projects.selectors import project_get_for_user

from . import selectors, services, webhooks
from .forms import PreferencesForm, WebhookForm


def _actor(request):
    return Actor(request.user, Channel.WEB)


def _apply_errors(form, exc):
    for name, errors in exc.field_errors.items():
        for error in errors:
            form.add_error(name if name in form.fields else None, error)
    if not exc.field_errors:
        form.add_error(None, exc.message)


@login_required
def notification_list(request):
    """The user's notifications, newest first, unread ones marked."""
    only_unread = request.GET.get("unread") == "1"
    qs = selectors.notifications_for_user(request.user)
    if only_unread:
        qs = qs.filter(read_at__isnull=True)
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/list.html",
        {"page": page, "only_unread": only_unread, "unread": selectors.unread_count(request.user)},
    )


@login_required
@require_POST
def notification_mark_read(request):
    """Mark one notification (id=…) or all of them read."""
    ids = None
    if request.POST.get("id"):
        try:
            ids = [int(request.POST["id"])]
        except ValueError:
            ids = []
    services.notification_mark_read(user=request.user, ids=ids)
    return redirect("notifications:list")


@login_required
def preferences(request):
    """Choose, per kind of notification, immediately, a daily digest, or off."""
    table = services.preference_table(request.user)
    form = PreferencesForm(request.POST or None, table=table)
    if request.method == "POST" and form.is_valid():
        try:
            services.preferences_set(user=request.user, choices=form.choices())
        except DomainError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Your notification preferences were saved.")
            return redirect("notifications:preferences")
    return render(request, "notifications/preferences.html", {"form": form})


@login_required
def webhook_list(request, slug):
    """A project's webhooks (owners): list, and a form to add one."""
    project = project_get_for_user(request.user, slug, own=True)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            subscription = webhooks.webhook_subscription_create(
                actor=_actor(request),
                project=project,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
            )
        except DomainError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Webhook added. Copy its secret to the receiver to verify signatures.")
            return redirect("notifications:webhook", slug=project.slug, pk=subscription.pk)
    return render(
        request,
        "notifications/webhooks.html",
        {"project": project, "subscriptions": selectors.webhooks_for_project(project), "form": form},
    )


@login_required
def webhook_detail(request, slug, pk):
    """One webhook (owners): its settings, secret, actions and delivery log."""
    project = project_get_for_user(request.user, slug, own=True)
    subscription = selectors.webhook_get(project, pk)
    initial = {"url": subscription.url, "events": subscription.events, "description": subscription.description}
    form = WebhookForm(request.POST or None, initial=initial)
    if request.method == "POST":
        action = request.POST.get("action", "save")
        actor = _actor(request)
        try:
            if action == "save" and form.is_valid():
                webhooks.webhook_subscription_update(actor=actor, subscription=subscription, **form.cleaned_data)
                messages.success(request, "Webhook saved.")
            elif action in ("enable", "disable"):
                webhooks.webhook_subscription_update(
                    actor=actor, subscription=subscription, is_active=action == "enable"
                )
                messages.success(request, f"Webhook {action}d.")
            elif action == "rotate":
                webhooks.webhook_subscription_update(actor=actor, subscription=subscription, rotate_secret=True)
                messages.success(request, "A new secret was generated; update the receiver.")
            elif action == "test":
                webhooks.webhook_send_test(actor=actor, subscription=subscription)
                messages.success(request, "A test delivery was queued; it appears in the log below.")
            elif action == "delete":
                webhooks.webhook_subscription_delete(actor=actor, subscription=subscription)
                messages.success(request, "Webhook deleted.")
                return redirect("notifications:webhooks", slug=project.slug)
            if not form.errors:
                return redirect("notifications:webhook", slug=project.slug, pk=subscription.pk)
        except DomainError as exc:
            _apply_errors(form, exc)
    return render(
        request,
        "notifications/webhook_detail.html",
        {
            "project": project,
            "subscription": subscription,
            "form": form,
            "deliveries": selectors.deliveries_for_webhook(subscription),
        },
    )


@login_required
@require_POST
def signoff_request(request, slug):
    """Ask the holders of the missing or stale sign-off roles to sign (owners)."""
    project = project_get_for_user(request.user, slug, own=True)
    try:
        users = services.signoff_request(actor=_actor(request), project=project)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Sign-off requested from {', '.join(users)}.")
    return redirect(project.get_absolute_url())
