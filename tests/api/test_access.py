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
        assert 1 <= int(client.get("/api/v1/projects")["Retry-After"]) <= 60
        other = api()
        assert other.get("/api/v1/projects", REMOTE_ADDR="10.0.0.9").status_code == 401
    finally:
        SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


@pytest.fixture
def anon_rate_of_two():
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    SimpleRateThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "anon": "2/min"}
    cache.clear()
    yield
    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


def test_requests_without_credentials_are_throttled_with_retry_after(api, anon_rate_of_two):
    client = api()
    statuses = [client.get("/api/v1/projects").status_code for _ in range(2)]
    assert statuses == [401, 401]
    response = client.get("/api/v1/projects")
    assert_error_shape(response, 429)
    assert 1 <= int(response["Retry-After"]) <= 60


def test_a_forged_x_forwarded_for_does_not_escape_the_anonymous_throttle(api, anon_rate_of_two):
    client = api()
    responses = [client.get("/api/v1/projects", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}") for i in range(1, 5)]
    assert [r.status_code for r in responses] == [401, 401, 429, 429]
    assert 1 <= int(responses[-1]["Retry-After"]) <= 60
    guessing = api("pf_guessing_tokens")  # a bad token from the same address, forging another one
    assert guessing.get("/api/v1/projects", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_throttled(api, anon_rate_of_two, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = api()
    first = [client.get("/api/v1/projects", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code for _ in range(3)]
    assert first == [401, 401, 429]
    # Another client behind the same proxy: the proxy appended its address, the forged part is ignored.
    other = client.get("/api/v1/projects", HTTP_X_FORWARDED_FOR="203.0.113.1, 203.0.113.2")
    assert other.status_code == 401
