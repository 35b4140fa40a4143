"""Tokens in the back office: created through the service, secret shown once, revoked by action."""

import pytest
from django.urls import reverse

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
