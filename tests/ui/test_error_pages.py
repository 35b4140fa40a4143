"""Error pages speak the site's language and keep its layout."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_404_page_in_site_style(login, project, settings):
    settings.DEBUG = False
    response = login("outsider").get(reverse("projects:detail", args=[project.slug]))
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body
    assert 'class="site-header"' in body


def test_403_page_says_why(login, project, settings):
    settings.DEBUG = False
    response = login("viewer").post(
        reverse("projects:gate_status", args=[project.slug, "T1"]), {"status": "closed", "version": 1}
    )
    assert response.status_code == 403
    body = response.content.decode()
    assert "You may view this project but not change it." in body
    assert 'class="site-header"' in body


def test_500_page_renders_without_a_request_context():
    from django.template import loader

    body = loader.get_template("500.html").render({})
    assert "Something went wrong" in body
    assert 'class="site-header"' in body
