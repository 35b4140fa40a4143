"""Scopes, session CSRF and throttling, shared by every endpoint through portal.api_common."""

import pytest
from django.core.cache import cache

from projects.models import Project

from .helpers import assert_error_shape

pytestmark = pytest.mark.django_db


def test_a_read_scoped_token_cannot_write(owner, project, template, token_client):
    body = assert_error_shape(
        token_client(owner, "read").post("/api/v1/projects", {"template": template.pk, "name": "X"}, format="json"),
        403,
    )
    assert "scope" in body["message"]
    assert not Project.objects.filter(name="X").exists()


def test_a_signoff_scoped_token_cannot_write_gates_or_projects(owner, template, token_client):
    assert_error_shape(
        token_client(owner, "signoff").post("/api/v1/projects", {"template": template.pk, "name": "X"}, format="json"),
        403,
    )


def test_a_write_token_creates_a_project_from_a_template(editor, template, token_client):
    response = token_client(editor, "write").post(
        "/api/v1/projects", {"template": template.pk, "name": "Zephyr", "slug": "zephyr"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "zephyr" and body["owner"] == "eddie-editor"
    assert Project.objects.get(slug="zephyr").gates.count() == 6


def test_session_writes_need_the_csrf_token(owner, template, api):
    client = api(user=owner, csrf=True)
    body = assert_error_shape(
        client.post("/api/v1/projects", {"template": template.pk, "name": "X"}, format="json"), 403
    )
    assert "CSRF" in body["message"]
    assert not Project.objects.filter(name="X").exists()


def test_tokens_are_throttled_with_retry_after(owner, project, token_client, settings):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "token": "3/min"}
    SimpleRateThrottle.THROTTLE_RATES = rates
    try:
        cache.clear()
        client = token_client(owner)
        other = token_client(owner)
        assert [client.get("/api/v1/projects").status_code for _ in range(3)] == [200, 200, 200]
        response = client.get("/api/v1/projects")
        assert_error_shape(response, 429)
        assert 1 <= int(response["Retry-After"]) <= 60
        assert other.get("/api/v1/projects").status_code == 200  # per token, not per user
    finally:
        SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


def test_anonymous_clients_are_throttled_per_address(api):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    SimpleRateThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "anon": "2/min"}
    try:
        cache.clear()
        client = api("pf_guessing_tokens")
        statuses = [client.get("/api/v1/projects").status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
        other = api()
        assert other.get("/api/v1/projects", REMOTE_ADDR="10.0.0.9").status_code == 401
    finally:
        SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
