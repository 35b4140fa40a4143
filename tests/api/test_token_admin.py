"""Tokens in the back office: created through the service, secret shown once, revoked by action."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audits.services import Actor
from tokens.models import ApiToken, hash_token
from tokens.services import token_create

pytestmark = pytest.mark.django_db


def test_admin_creates_a_token_and_shows_the_secret_once(client, staff, owner, project):
    client.force_login(staff)
    response = client.post(
        reverse("admin:tokens_apitoken_add"),
        {"user": owner.pk, "name": "Deploy job", "scope": "read", "projects": [project.pk]},
    )
    assert response.status_code == 200, response.content
    token = ApiToken.objects.get(name="Deploy job")
    html = response.content.decode()
    secret = html.split("<code>")[1].split("</code>")[0]
    assert secret.startswith(token.prefix) and token.key_hash == hash_token(secret)
    assert list(token.projects.all()) == [project]
    assert "no-store" in response["Cache-Control"]
    change = client.get(reverse("admin:tokens_apitoken_change", args=[token.pk])).content.decode()
    assert token.prefix in change and secret not in change


def test_admin_revokes_tokens(client, staff, owner):
    token, _ = token_create(actor=Actor(owner), user=owner, name="CI", scope="write")
    client.force_login(staff)
    client.post(
        reverse("admin:tokens_apitoken_changelist"), {"action": "revoke_tokens", "_selected_action": [token.pk]}
    )
    token.refresh_from_db()
    assert token.revoked_at is not None


def _add_form_errors(response):
    assert response.status_code == 200, response.content  # the add page again, not the "created" page
    return response.context["adminform"].form.errors


def _field_error_html(field, errors):
    """The error list the admin renders beside a field."""
    return f'<ul class="errorlist" id="id_{field}_error"><li>{errors[field][0]}</li></ul>'


def test_admin_refuses_a_limit_to_a_project_the_user_cannot_see(client, staff, outsider, project):
    client.force_login(staff)
    response = client.post(
        reverse("admin:tokens_apitoken_add"),
        {"user": outsider.pk, "name": "Deploy job", "scope": "read", "projects": [project.pk]},
    )
    errors = _add_form_errors(response)
    assert errors["projects"] == ["A token can only be limited to projects its user can see."]
    assert _field_error_html("projects", errors) in response.content.decode()
    assert not ApiToken.objects.exists()


def test_admin_refuses_an_expiry_in_the_past(client, staff, owner):
    client.force_login(staff)
    past = timezone.localtime() - timedelta(days=1)
    response = client.post(
        reverse("admin:tokens_apitoken_add"),
        {
            "user": owner.pk,
            "name": "Deploy job",
            "scope": "read",
            "expires_at_0": past.date().isoformat(),
            "expires_at_1": past.time().strftime("%H:%M:%S"),
        },
    )
    errors = _add_form_errors(response)
    assert errors["expires_at"] == ["The expiry must be in the future."]
    assert _field_error_html("expires_at", errors) in response.content.decode()
    assert not ApiToken.objects.exists()
