"""Tokens in the back office: created through the service (the secret is shown once), revoked by action."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from audits.models import Channel
from audits.services import Actor
from portal.errors import DomainError

from . import services
from .models import ApiToken


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "name", "scope", "expires_at", "projects")

    def clean(self):
        # The service's own checks, so a refusal shows beside its field instead of failing the save.
        data = super().clean()
        errors = services.token_create_errors(
            user=data.get("user"),
            name=data.get("name"),
            scope=data.get("scope"),
            expires_at=data.get("expires_at"),
            projects=data.get("projects") or (),
        )
        for field, field_messages in errors.items():
            if field in self.errors:
                continue  # the field's own validation said it already
            for message in field_messages:
                self.add_error(field if field in self.fields else None, message)
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "user", "scope", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix", "name", "user__username", "user__email")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    filter_horizontal = ("projects",)
    readonly_fields = (
        "prefix",
        "user",
        "name",
        "scope",
        "expires_at",
        "projects",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke_tokens"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_fields(self, request, obj=None):
        return ApiTokenAddForm.Meta.fields if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        # Viewable, not editable: a token's scope and limits are fixed; revoke and create a new one.
        return False if obj is not None else super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        # The form ran the service's checks (ApiTokenAddForm.clean); what is left is a refusal
        # of the actor itself, which the admin's permissions already rule out.
        data = form.cleaned_data
        token, secret = services.token_create(
            actor=Actor(request.user, Channel.ADMIN),
            user=data["user"],
            name=data["name"],
            scope=data["scope"],
            expires_at=data.get("expires_at"),
            projects=data.get("projects") or (),
        )
        obj.pk, obj.prefix, obj.key_hash, obj.created_at = token.pk, token.prefix, token.key_hash, token.created_at
        # Kept on the request only, for the page that shows it once; never in the session or a message.
        request._new_token_secret = secret

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "token": obj,
            "secret": request._new_token_secret,
            "title": "Token created",
        }
        response = TemplateResponse(request, "admin/tokens/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def save_related(self, request, form, formsets, change):
        pass  # the service set the project limits

    @admin.action(description="Revoke selected tokens")
    def revoke_tokens(self, request, queryset):
        revoked = 0
        for token in queryset:
            try:
                services.token_revoke(actor=Actor(request.user, Channel.ADMIN), token=token)
                revoked += 1
            except DomainError as exc:
                self.message_user(request, f"{token.prefix}: {exc.message}", level=messages.ERROR)
        self.message_user(request, f"{revoked} token(s) revoked.")
