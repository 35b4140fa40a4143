"""The API tokens page: create (secret shown once), list with prefix/last used/expiry/scope, revoke."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from audits.services import Actor
from tokens.models import ApiToken, hash_token
from tokens.services import token_create

pytestmark = pytest.mark.django_db

URL = "/tokens/"


def secret_in(html):
    match = re.search(r'id="new-token-secret"[^>]*value="([^"]+)"', html)
    return match.group(1) if match else None


def test_login_required(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_create_shows_the_secret_once_and_stores_its_hash(client, owner, project):
    client.force_login(owner)
    expires = (timezone.localdate() + timedelta(days=30)).isoformat()
    response = client.post(
        URL, {"name": "Deploy job", "scope": "read", "expires_on": expires, "projects": [project.pk]}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    secret = secret_in(html)
    token = ApiToken.objects.get(user=owner, name="Deploy job")
    assert secret and token.key_hash == hash_token(secret) and secret.startswith(token.prefix)
    assert token.expires_at.date().isoformat() == expires
    assert list(token.projects.all()) == [project]
    # Nothing keeps it: not the session, not a message waiting for the next page.
    from django.contrib.sessions.models import Session

    assert all(secret not in str(s.get_decoded()) for s in Session.objects.all())
    assert secret not in str(client.cookies)
    again = client.get(URL).content.decode()
    assert secret not in again and secret_in(again) is None
    assert token.prefix in again and "Read" in again and "Never" in again  # never used yet
    # The secret works against the API.
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/projects/apollo/readiness").status_code == 200
    assert token.prefix in client.get(URL).content.decode()
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_form_errors_are_shown_and_nothing_is_created(client, owner, outsider, project):
    client.force_login(outsider)
    response = client.post(
        URL, {"name": "", "scope": "root", "expires_on": timezone.localdate().isoformat(), "projects": [project.pk]}
    )
    html = response.content.decode()
    assert response.status_code == 200 and "field-errors" in html
    assert "This field is required." in html and "Choose a day after today." in html
    assert not ApiToken.objects.exists()


def test_list_shows_only_my_tokens_and_revoke(client, owner, editor):
    mine, _ = token_create(actor=Actor(owner), user=owner, name="Mine", scope="write")
    theirs, _ = token_create(actor=Actor(editor), user=editor, name="Theirs", scope="read")
    client.force_login(owner)
    html = client.get(URL).content.decode()
    assert mine.prefix in html and theirs.prefix not in html
    assert client.post(f"/tokens/{theirs.pk}/revoke/").status_code == 404
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    response = client.post(f"/tokens/{mine.pk}/revoke/", follow=True)
    assert "revoked" in response.content.decode()
    assert ApiToken.objects.get(pk=mine.pk).revoked_at is not None
    assert client.get(f"/tokens/{mine.pk}/revoke/").status_code == 405


def test_header_links_to_the_tokens_page(client, owner):
    client.force_login(owner)
    assert 'href="/tokens/"' in client.get(URL).content.decode()


def test_a_limited_token_whose_projects_are_gone_is_not_listed_as_seeing_all(client, owner, project):
    limited, _ = token_create(actor=Actor(owner), user=owner, name="Limited", scope="read", projects=[project])
    token_create(actor=Actor(owner), user=owner, name="Unlimited", scope="read")
    limited.projects.clear()
    client.force_login(owner)
    html = client.get(URL).content.decode()
    rows = {name: row for row in html.split("<tr")[1:] for name in ("Limited", "Unlimited") if f">{name}<" in row}
    assert "All of yours" in rows["Unlimited"]
    assert "All of yours" not in rows["Limited"] and "None any more" in rows["Limited"]
