"""Back office for notifications and webhooks. Subscription saves go through the webhook services."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseRedirect

from audits.models import Channel
from audits.services import Actor
from portal.admin import ReadOnlyAdmin
from portal.errors import DomainError

from . import webhooks
from .models import Notification, NotificationPreference, WebhookDelivery, WebhookSubscription


def _actor(request):
    return Actor(request.user, Channel.ADMIN)


class EmailStateFilter(admin.SimpleListFilter):
    title = "email"
    parameter_name = "email_state"

    def lookups(self, request, model_admin):
        return [("sent", "Sent"), ("pending", "Waiting"), ("retrying", "Failed, to retry"), ("failed", "Given up")]

    def queryset(self, request, queryset):
        match self.value():
            case "sent":
                return queryset.filter(emailed_at__isnull=False)
            case "pending":
                return queryset.filter(emailed_at__isnull=True, email_failed_at__isnull=True)
            case "retrying":
                return queryset.filter(emailed_at__isnull=True, email_failed_at__isnull=True, email_attempts__gt=0)
            case "failed":
                return queryset.filter(email_failed_at__isnull=False)
        return queryset


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "user",
        "kind",
        "project",
        "title",
        "email_mode",
        "emailed_at",
        "email_attempts",
        "email_failed_at",
        "read_at",
    )
    list_filter = ("kind", "email_mode", EmailStateFilter)
    search_fields = ("user__username", "title", "project__slug", "dedupe_key")
    list_select_related = ("user", "project")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyAdmin):
    list_display = ("user", "kind", "delivery")
    list_filter = ("kind", "delivery")
    search_fields = ("user__username",)
    list_select_related = ("user",)


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ("created_at", "event", "status", "attempts", "last_status_code", "last_error", "next_attempt_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    ordering = ("-created_at",)

    def get_queryset(self, request):
        # The newest twenty: the full log is on the delivery changelist.
        qs = super().get_queryset(request)
        ids = list(qs.order_by("-created_at").values_list("pk", flat=True)[:20])
        return qs.filter(pk__in=ids)


class WebhookSubscriptionForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=sorted(webhooks.EVENTS.items()), widget=forms.CheckboxSelectMultiple, required=True
    )

    class Meta:
        model = WebhookSubscription
        fields = ("project", "url", "events", "description", "is_active")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ("project", "url", "is_active", "consecutive_failures", "disabled_at", "created_at")
    list_filter = ("is_active",)
    search_fields = ("project__slug", "project__name", "url", "description")
    list_select_related = ("project",)
    autocomplete_fields = ("project",)
    readonly_fields = ("secret", "consecutive_failures", "disabled_at", "disabled_reason", "created_by")
    inlines = (WebhookDeliveryInline,)
    actions = ("send_test",)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (("project",) if obj else ())

    def changeform_view(self, request, *args, **kwargs):
        try:
            with transaction.atomic():
                return super().changeform_view(request, *args, **kwargs)
        except DomainError as exc:
            details = "; ".join(f"{f}: {' '.join(m)}" for f, m in exc.field_errors.items())
            self.message_user(request, f"Nothing was saved: {exc.message} {details}".strip(), level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            created = webhooks.webhook_subscription_create(
                actor=_actor(request),
                project=data["project"],
                url=data["url"],
                events=list(data["events"]),
                description=data.get("description", ""),
            )
            obj.pk = created.pk
            obj.refresh_from_db()
            return
        fields = {f: data[f] for f in ("url", "events", "description", "is_active") if f in form.changed_data}
        if "events" in fields:
            fields["events"] = list(fields["events"])
        if fields:
            fresh = WebhookSubscription.objects.select_related("project").get(pk=obj.pk)
            webhooks.webhook_subscription_update(actor=_actor(request), subscription=fresh, **fields)

    def delete_model(self, request, obj):
        webhooks.webhook_subscription_delete(actor=_actor(request), subscription=obj)

    def delete_queryset(self, request, queryset):
        for subscription in queryset.select_related("project"):
            webhooks.webhook_subscription_delete(actor=_actor(request), subscription=subscription)

    @admin.action(description="Send a test delivery")
    def send_test(self, request, queryset):
        for subscription in queryset.select_related("project"):
            webhooks.webhook_send_test(actor=_actor(request), subscription=subscription)
        self.message_user(request, f"Queued a test delivery to {queryset.count()} webhook(s).")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "subscription", "event", "status", "attempts", "last_status_code", "delivered_at")
    list_filter = ("status", "event")
    search_fields = ("subscription__url", "subscription__project__slug", "event", "delivery_id")
    list_select_related = ("subscription", "subscription__project")
    date_hierarchy = "created_at"
    show_full_result_count = False
