"""The schema and its docs pages are served by the app itself, with no third-party origin."""

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_schema_is_served(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/projects" in schema["paths"]
    assert schema["components"]["securitySchemes"]["tokenAuth"]["scheme"] == "bearer"


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_docs_pages_load_assets_from_the_app_only(client, url):
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    assert all(s.startswith("/") for s in sources), sources
    assert "<script>" not in html  # no inline script: the CSP allows same-origin scripts only
    for src in sources:
        if src.startswith("/static/"):  # shipped by the sidecar package, served by the app
            assert finders.find(src.split("?")[0].removeprefix("/static/")), src


def test_swagger_setup_script_is_served(client):
    response = client.get("/api/v1/docs/?script=")
    assert response.status_code == 200
    assert "SwaggerUIBundle" in response.content.decode()


def test_unknown_api_urls_answer_in_the_error_shape(client):
    response = client.get("/api/v1/nothing/here")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
